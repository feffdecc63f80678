// Small shared pieces for showing nodes: type tags, status and health words, protocol chips and
// the cached /api/v1/device-types catalogue. Every colour-coded thing also carries its text.

import { h } from '../dom.js';

const TYPE_TAG_CLASS = { edge: 'tag tag-edge', relay: 'tag tag-relay', appear_x: 'tag tag-appear-x' };

/** Mono type tag in the driver colour (grey for types without a built-in style). */
export function typeTag(deviceType, title = null) {
  return h('span', { class: TYPE_TAG_CLASS[deviceType] || 'tag tag-muted', title }, deviceType || 'unknown');
}

export const STATUS_META = {
  online: { kind: 'ok', text: 'Online', tag: 'tag tag-ok', order: 0 },
  offline: { kind: 'offline', text: 'Offline', tag: 'tag tag-offline', order: 1 },
  pending: { kind: 'offline', text: 'Pending', tag: 'tag tag-pending', order: 2 },
};

export const HEALTH_META = {
  healthy: { kind: 'ok', text: 'Healthy', order: 2 },
  warning: { kind: 'warn', text: 'Warning', order: 1 },
  critical: { kind: 'crit', text: 'Critical', order: 0 },
};

const DOT_CLASS = { ok: 'dot dot-ok', warn: 'dot dot-warn', crit: 'dot dot-crit', offline: 'dot dot-offline' };
const TEXT_CLASS = { ok: 'text-ok', warn: 'text-warn', crit: 'text-crit', offline: 'text-muted' };

/**
 * A dot with its word whose kind and text can change in place (no node replacement, so no
 * layout jump): const d = liveDot(); d.set('ok', 'Online').
 */
export function liveDot(extraClass = '') {
  const dot = h('span', { class: 'dot dot-offline', 'aria-hidden': 'true' });
  const text = h('span', {}, '--');
  const el = h('span', { class: `inline-flex items-center gap-1.5 text-xs font-medium whitespace-nowrap text-muted ${extraClass}` }, dot, text);
  let current = null;
  return {
    el,
    set(kind, word) {
      const key = `${kind}|${word}`;
      if (key === current) return false;
      current = key;
      dot.className = DOT_CLASS[kind] || DOT_CLASS.offline;
      el.classList.remove('text-ok', 'text-warn', 'text-crit', 'text-muted');
      el.classList.add(TEXT_CLASS[kind] || 'text-muted');
      text.textContent = word;
      return true;
    },
  };
}

/** Health as {kind, text}; unknown health reads "Unknown". */
export function healthInfo(health) {
  return HEALTH_META[health] || { kind: 'offline', text: 'Unknown', order: 3 };
}

/** Sort order of product.md §4.5: online, offline, pending; then critical, warning, healthy; then name. */
export function compareNodes(a, b) {
  return (STATUS_META[a.status]?.order ?? 9) - (STATUS_META[b.status]?.order ?? 9)
    || healthInfo(a.health).order - healthInfo(b.health).order
    || String(a.name || '').localeCompare(String(b.name || ''), undefined, { numeric: true, sensitivity: 'base' });
}

/** Protocol colour class: SRT blue, RTP/UDP teal, RTMP orange, tunnels violet, others slate. */
export function protoClass(protocol) {
  const p = String(protocol || '').toLowerCase();
  if (p.startsWith('srt')) return 'proto-srt';
  if (p === 'rtp' || p === 'udp' || p.startsWith('st2110') || p === 'multicast') return 'proto-rtp';
  if (p.startsWith('rtmp')) return 'proto-rtmp';
  if (p.includes('tunnel') || p === 'quic' || p === 'tcp') return 'proto-tunnel';
  return 'proto-other';
}

/** A port chip: [SRT] 0.0.0.0:9000 (listener) and an optional trailing tag. */
export function portChip(port, trailing = null) {
  const protocol = port.protocol || 'port';
  const parts = [h('span', { class: `proto-tag ${protoClass(protocol)}` }, protocol)];
  parts.push(h('span', { class: 'font-mono whitespace-nowrap text-slate-200' }, port.address || 'no address'));
  if (port.role) parts.push(h('span', { class: 'shrink-0 text-muted' }, `(${port.role})`));
  const chip = h('span', { class: 'port-chip', title: [port.label, port.address, port.role, port.state].filter(Boolean).join(' · ') }, parts);
  return trailing ? h('span', { class: 'inline-flex min-w-0 items-center gap-2' }, chip, trailing) : chip;
}

let deviceTypesPromise = null;

/** GET /api/v1/device-types once per page; resolves to a Map device_type → descriptor (empty on error). */
export function loadDeviceTypes(api) {
  if (!deviceTypesPromise) {
    deviceTypesPromise = api.get('/api/v1/device-types')
      .then((body) => new Map((body?.device_types || []).map((t) => [t.device_type, t])))
      .catch((err) => {
        deviceTypesPromise = null;
        throw err;
      });
  }
  return deviceTypesPromise;
}

/** True when the driver declares a feature (secret_rotation, thumbnails, target_status, …). */
export function hasFeature(types, deviceType, feature) {
  return !!types?.get(deviceType)?.features?.includes(feature);
}

/** Value of a summary metric by key (null when absent). */
export function metricValue(summary, key) {
  const metric = (summary?.metrics || []).find((m) => m && m.key === key);
  return metric && typeof metric.value === 'number' ? metric.value : null;
}
