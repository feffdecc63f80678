// Small builders shared by the node detail and node configuration pages: status and health tags,
// protocol chips, labelled values, error toasts with their code chip, and the tiny SVG pieces
// (meters, sparklines) that need no chart library. Everything is built with h()/textContent.

import { h, svg } from '../../dom.js';
import { toast } from '../../ui.js';
import { formatBitrate } from '../../format.js';

export const TYPE_TAG = { edge: 'tag tag-edge', relay: 'tag tag-relay', appear_x: 'tag tag-appear-x' };

const STATUS_TAG = {
  online: ['tag tag-ok', 'Online'],
  offline: ['tag tag-muted', 'Offline'],
  pending: ['tag tag-muted', 'Pending'],
};
const HEALTH_TAG = {
  healthy: ['tag tag-ok', 'Healthy'],
  warning: ['tag tag-warn', 'Warning'],
  critical: ['tag tag-crit', 'Critical'],
  error: ['tag tag-crit', 'Error'],
};

export function typeTag(type, label) {
  return h('span', { class: TYPE_TAG[type] || 'tag tag-muted' }, label || type || 'node');
}

export function statusTag(status) {
  const [cls, text] = STATUS_TAG[status] || ['tag tag-muted', status || 'Unknown'];
  return h('span', { class: cls }, text);
}

/** Health tag for node health (healthy/warning/critical) or flow health (Healthy/Warning/Error/Critical). */
export function healthTag(health) {
  if (!health) return h('span', { class: 'tag tag-muted' }, 'Health unknown');
  const [cls, text] = HEALTH_TAG[String(health).toLowerCase()] || ['tag tag-muted', String(health)];
  return h('span', { class: cls }, text);
}

export function flowStateTag(running) {
  return running ? h('span', { class: 'tag bg-blue-500/20 text-link' }, 'Running') : h('span', { class: 'tag tag-muted' }, 'Idle');
}

const PROTO_CLASS = {
  srt: 'nd-proto nd-proto-srt', rtp: 'nd-proto nd-proto-rtp', udp: 'nd-proto nd-proto-rtp', rtp_audio: 'nd-proto nd-proto-rtp',
  rist: 'nd-proto nd-proto-rtp', rtmp: 'nd-proto nd-proto-rtmp', tcp: 'nd-proto nd-proto-tunnel', tunnel: 'nd-proto nd-proto-tunnel',
};

export function protoTag(proto, suffix = '') {
  const key = String(proto || '').toLowerCase();
  return h('span', { class: PROTO_CLASS[key] || 'nd-proto nd-proto-other' }, `${key || '?'}${suffix ? ` ${suffix}` : ''}`);
}

/** A labelled value: small uppercase label over a bold value. */
export function kv(label, value, { title = null, valueClass = '', key = null } = {}) {
  const dd = h('dd', { class: valueClass || null, title, dataset: key ? { stat: key } : null }, value ?? '--');
  return {
    node: h('div', { class: 'nd-kv' }, h('dt', {}, label), dd),
    set: (v, cls) => {
      const text = v ?? '--';
      dd.textContent = text;
      if (!title) dd.title = String(text).length > 14 ? String(text) : '';
      if (cls !== undefined) dd.className = cls;
    },
  };
}

/** Show an API failure: its error text, with the node's error code (or the manager's code) as a chip. */
export function showError(err, prefix = '') {
  const text = err?.error || err?.message || String(err || 'Something went wrong');
  return toast(prefix ? `${prefix}: ${text}` : text, { kind: 'error', code: errorCode(err) });
}

const GENERIC_CODES = new Set(['network_error', 'internal_error', 'node_rejected']);

/** The chip for an error: node_error_code when the node sent one, else a meaningful manager code. */
export function errorCode(err) {
  if (!err || typeof err !== 'object') return null;
  if (err.node_error_code) return err.node_error_code;
  const code = err.code;
  if (!code || GENERIC_CODES.has(code) || /^http_\d+$/.test(code)) return null;
  return code;
}

/** A red callout with the error text and code chip (used inside forms and dialogs). */
export function errorCallout(err) {
  const code = errorCode(err);
  return h('div', { class: 'form-error flex flex-wrap items-center gap-2', role: 'alert' },
    h('span', { class: 'min-w-0 break-words' }, err?.error || err?.message || 'Something went wrong'),
    code ? h('span', { class: 'chip-code' }, code) : null);
}

/** <progress> meter coloured by level. */
export function meter(label) {
  const node = h('progress', { class: 'nd-meter', max: '100', value: '0', 'aria-label': label });
  return {
    node,
    set(percent) {
      const p = Number.isFinite(percent) ? Math.max(0, Math.min(100, percent)) : 0;
      node.value = p;
      node.classList.toggle('nd-meter-warn', p >= 70 && p <= 90);
      node.classList.toggle('nd-meter-crit', p > 90);
    },
  };
}

/**
 * Sparkline in an SVG viewBox (no chart library): sparkline() → {node, set(values[, values2])}.
 * Values are plotted against their index; nulls break the line.
 */
export function sparkline(label, { max = null } = {}) {
  const node = svg('svg', { class: 'nd-spark', viewBox: '0 0 100 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  const set = (a = [], b = null) => {
    while (node.firstChild) node.firstChild.remove();
    const all = [...a, ...(b || [])].filter(Number.isFinite);
    if (all.length === 0) return;
    const top = max ?? Math.max(...all, 1e-9);
    const draw = (values, cls, area) => {
      const n = values.length;
      if (n === 0) return;
      const pts = [];
      const flush = () => {
        if (pts.length === 0) return;
        if (pts.length === 1) pts.push(`${Math.min(100, Number(pts[0].split(',')[0]) + 0.5)},${pts[0].split(',')[1]}`);
        if (area) node.append(svg('polygon', { class: 'nd-spark-area', points: `${pts[0].split(',')[0]},24 ${pts.join(' ')} ${pts[pts.length - 1].split(',')[0]},24` }));
        node.append(svg('polyline', { class: cls, points: pts.join(' ') }));
        pts.length = 0;
      };
      values.forEach((v, i) => {
        if (!Number.isFinite(v)) { flush(); return; }
        const x = n === 1 ? 100 : (i / (n - 1)) * 100;
        const y = 23 - (Math.max(0, Math.min(v, top)) / top) * 21;
        pts.push(`${x.toFixed(2)},${y.toFixed(2)}`);
      });
      flush();
    };
    draw(a, 'nd-spark-a', !b);
    if (b) draw(b, 'nd-spark-b', false);
  };
  return { node, set };
}

/** A small copy-to-clipboard button. */
export function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'icon-btn size-6 text-muted', 'aria-label': label, title: label },
    svg('svg', { class: 'size-3.5', viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.75', 'aria-hidden': 'true' },
      svg('rect', { x: '9', y: '9', width: '11', height: '11', rx: '2' }), svg('path', { d: 'M5 15V5a2 2 0 0 1 2-2h8' })));
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied to the clipboard', { kind: 'success' });
    } catch {
      toast('The browser did not allow copying; select the text instead', { kind: 'info' });
    }
  });
  return button;
}

export const bitrate = (bps) => formatBitrate(bps);

export function num(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Bytes with a binary unit: 4.11 GB (1 decimal below 100). */
export function formatBytes(bytes) {
  const b = num(bytes);
  if (b === null || b < 0) return '--';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = b;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 100 ? 2 : 1)} ${units[unit]}`;
}

/** Mbps figure from SRT stats (already in Mbps) as a bitrate string. */
export const mbps = (value) => (num(value) === null ? '--' : formatBitrate(value * 1e6));

/** The address an input or output is about, from stats or config, for display. */
export function entityAddress(obj) {
  if (!obj || typeof obj !== 'object') return '';
  return obj.local_addr || obj.bind_addr || obj.listen_addr || obj.remote_addr || obj.dest_addr || obj.dest_url
    || obj.ingest_url || obj.whip_url || obj.whep_url || obj.rtsp_url || '';
}

/** Debounce helper. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Find a command spec in a device-type description. */
export function commandSpec(deviceType, name) {
  return (deviceType?.supported_commands || []).find((c) => c.name === name) || null;
}
