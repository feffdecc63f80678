// Banners across the top of the content area (product.md §4.3):
//  - amber self-signed certificate banner when /health reports self_signed_cert (fingerprint for
//    admins from GET /api/v1/settings/tls, or set later through setCertFingerprint());
//  - red "Connection to the manager lost" after two failed /health polls (every 30 s) or once the
//    dashboard WebSocket has been down for 30 s.

import { get, hasRole } from './api.js';
import { byId } from './dom.js';

const POLL_MS = 30000;
let healthFailures = 0;
let socketDown = false;

/** Fill the fingerprint slot of the self-signed banner ("2d:71:…", full value in the tooltip). */
export function setCertFingerprint(fingerprint) {
  const slot = byId('cert-fingerprint-slot');
  const code = byId('cert-fingerprint');
  if (!slot || !code) return;
  if (!fingerprint) {
    slot.hidden = true;
    return;
  }
  const octets = String(fingerprint).split(':');
  code.textContent = octets.length > 2 ? `${octets.slice(0, 2).join(':')}:…` : fingerprint;
  code.title = `SHA-256 ${fingerprint}`;
  slot.hidden = false;
}

async function fetchHealth() {
  const response = await fetch('/health', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || body.status !== 'ok') throw new Error(`health ${response.status}`);
  return body;
}

function updateLostBanner() {
  byId('banner-connection-lost').hidden = !(healthFailures >= 2 || socketDown);
}

function showSelfSigned(user, health) {
  const banner = byId('banner-self-signed');
  banner.hidden = !health.self_signed_cert;
  if (!health.self_signed_cert) return;
  const admin = hasRole(user, 'admin');
  byId('cert-settings-link').hidden = !admin;
  if (admin && !byId('cert-fingerprint').textContent) {
    get('/api/v1/settings/tls', { redirectOn401: false })
      .then((tls) => setCertFingerprint(tls?.fingerprint_sha256))
      .catch(() => {});
  }
}

/** Start the banners: one /health read now, then a poll every 30 s; watch the socket state. */
export function initBanners(user, socket) {
  const poll = async () => {
    try {
      const health = await fetchHealth();
      healthFailures = 0;
      showSelfSigned(user, health);
    } catch {
      healthFailures += 1;
    }
    updateLostBanner();
  };
  poll();
  setInterval(poll, POLL_MS);
  socket.on('state', (state) => {
    socketDown = state === 'disconnected';
    updateLostBanner();
  });
}
