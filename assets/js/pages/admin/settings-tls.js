// Read-only TLS panel of the settings page (product.md §4.13, api.md §11 GET /settings/tls):
// mode and SELF-SIGNED / CA-SIGNED badge, subject, issuer, SANs, validity with days remaining
// (amber below 30, red below 7), SHA-256 fingerprint with Copy, and how to install a certificate.

import { h } from '../../dom.js';
import { toastSuccess, toastError } from '../../ui.js';
import { formatAbsolute } from '../../format.js';

const MODES = { self_signed: 'Self-signed (generated)', direct: 'Direct (certificate files)', behind_proxy: 'Behind a reverse proxy' };

function row(label, value) {
  return h('div', { class: 'grid grid-cols-[10rem_1fr] gap-3 py-2' },
    h('dt', { class: 'text-xs font-semibold uppercase tracking-wider text-muted' }, label),
    h('dd', { class: 'min-w-0 break-words text-sm text-fg' }, value));
}

export function tlsCard(tls, ctx) {
  const card = h('section', { class: 'card p-5', id: 'tls', 'aria-labelledby': 'tls-title' });
  const proxied = tls.mode === 'behind_proxy';
  const badge = proxied ? h('span', { class: 'tag tag-muted' }, 'Proxy terminates TLS')
    : tls.is_self_signed ? h('span', { class: 'tag tag-warn' }, 'Self-signed') : h('span', { class: 'tag tag-ok' }, 'CA-signed');
  card.append(h('header', { class: 'mb-3' },
    h('div', { class: 'flex items-center justify-between gap-2' }, h('h2', { id: 'tls-title', class: 'section-title' }, 'TLS'), badge),
    h('p', { class: 'hint mt-0.5' }, 'Read only. The certificate comes from files or is generated; it is never uploaded here.')));

  const items = [row('Mode', MODES[tls.mode] || tls.mode || '—')];
  if (!proxied) {
    const days = tls.days_remaining;
    const daysClass = !Number.isFinite(days) ? 'text-muted' : days < 7 ? 'text-crit font-semibold' : days < 30 ? 'text-warn font-semibold' : 'text-ok';
    items.push(
      row('Subject', tls.subject || '—'),
      row('Issuer', tls.issuer || '—'),
      row('Names (SAN)', (tls.san || []).length ? h('ul', { class: 'flex flex-wrap gap-1.5' }, tls.san.map((s) => h('li', { class: 'tag tag-muted normal-case' }, s))) : '—'),
      row('Valid', h('span', {}, `${formatAbsolute(tls.not_before)} → ${formatAbsolute(tls.not_after)} `,
        h('span', { class: daysClass }, Number.isFinite(days) ? `(${days} days remaining)` : ''))),
      row('SHA-256 fingerprint', fingerprintValue(tls.fingerprint_sha256)),
      row('Files', h('span', { class: 'font-mono text-xs text-slate-300' }, h('span', { class: 'block' }, tls.cert_path || '—'), tls.key_path ? h('span', { class: 'block' }, tls.key_path) : null)));
    if (tls.fingerprint_sha256 && ctx?.setCertFingerprint) ctx.setCertFingerprint(tls.fingerprint_sha256);
  }
  card.append(h('dl', { class: 'divide-y divide-line/60' }, items));
  card.append(h('details', { class: 'mt-4 rounded-md border border-line bg-page/50 px-4 py-3 text-sm' },
    h('summary', { class: 'cursor-pointer font-medium text-fg' }, 'How to install your own certificate'),
    h('ol', { class: 'mt-2 list-decimal space-y-1 pl-5 text-slate-300' },
      h('li', {}, 'Copy the PEM certificate (with its chain) and private key onto this machine, readable only by the manager’s user.'),
      h('li', {}, 'In config.toml set ', h('code', {}, 'tls.mode = "direct"'), ', ', h('code', {}, 'tls.cert_path'), ' and ', h('code', {}, 'tls.key_path'),
        ' (or the environment variables ', h('code', {}, 'BILBYCAST_TLS_CERT'), ' / ', h('code', {}, 'BILBYCAST_TLS_KEY'), ').'),
      h('li', {}, 'Restart the manager. Nodes that pinned the self-signed certificate need the new fingerprint or a trusted CA.'))));
  return card;
}

function fingerprintValue(fp) {
  if (!fp) return '—';
  const copy = h('button', { type: 'button', class: 'btn btn-secondary btn-sm ml-2 align-middle' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(fp);
      toastSuccess('Fingerprint copied');
    } catch {
      toastError('The browser did not allow copying; select the fingerprint and copy it by hand.');
    }
  });
  return h('span', {}, h('code', { class: 'break-all font-mono text-xs text-fg', id: 'tls-fingerprint' }, fp), copy);
}
