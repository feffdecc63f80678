// Card pictures for the topology canvas. Each card is an SVG drawn as a cytoscape node's background
// image (a data: URI, allowed by the CSP's img-src), so a canvas card can show a header, port rows
// with protocol chips and connectors, exactly like an HTML card would. Node-supplied text is
// XML-escaped and only ever rendered as SVG text inside an image, where no script can run.
//
// Geometry: a card is W px wide; the SVG has 4 px of margin left and right for the connectors, so
// the cytoscape node is W + 8 wide and port endpoints sit at ±W/2 from its centre.

import { C, protocolStyle, healthColor, typeColor, cardBorder } from './colors.js';

export const NODE_W = 240;
export const EXT_W = 200;
export const HEADER = 30;
export const ROW = 20;
const SANS = 'ui-sans-serif, system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';
const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, DejaVu Sans Mono, monospace';

let measureCtx = null;
function textWidth(text, font) {
  if (!measureCtx) measureCtx = document.createElement('canvas').getContext('2d');
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

/** Cut text with an ellipsis to fit maxWidth at this font. */
export function fit(text, font, maxWidth) {
  const s = String(text ?? '');
  if (maxWidth <= 0) return '';
  if (textWidth(s, font) <= maxWidth) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(`${s.slice(0, mid)}…`, font) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${s.slice(0, lo)}…`;
}

export function xml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function text(x, y, value, { size = 10, weight = 400, fill = C.text, anchor = 'start', mono = false, spacing = 0, opacity = 1 } = {}) {
  return `<text x="${x}" y="${y}" font-family="${mono ? MONO : SANS}" font-size="${size}" font-weight="${weight}" fill="${fill}"`
    + `${anchor !== 'start' ? ` text-anchor="${anchor}"` : ''}${spacing ? ` letter-spacing="${spacing}"` : ''}${opacity !== 1 ? ` opacity="${opacity}"` : ''}>${xml(value)}</text>`;
}

function font(size, weight = 400, mono = false) {
  return `${weight} ${size}px ${mono ? MONO : SANS}`;
}

function svgUri(w, h, body) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w * 2}" height="${h * 2}" viewBox="-4 0 ${w} ${h}">${body}</svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** A protocol chip ("SRT IN") at x, centred on cy; returns [svg, width]. */
function chip(x, cy, label, color, { size = 8.5 } = {}) {
  const f = font(size, 700, true);
  const t = fit(String(label || '').toUpperCase(), f, 96);
  const w = Math.ceil(textWidth(t, f)) + 10;
  return [`<rect x="${x}" y="${cy - 7}" width="${w}" height="14" rx="3" fill="${color}" fill-opacity="0.16"/>`
    + text(x + 5, cy + 3, t, { size, weight: 700, fill: color, mono: true }), w];
}

function portOrder(ports) {
  return [...ports].sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'in' ? -1 : 1));
}

const TARGET_STATUS = { reachable: ['Reachable', C.ok], unreachable: ['Unreachable', C.warn], unknown: ['Unknown', C.dim] };

/**
 * nodeCard(node, {pinned, maxPorts}) → {uri, w, h, ports: {portId: {x, y, side}}}
 * x/y of a port are offsets of its connector from the node centre (for source/target-endpoint).
 */
export function nodeCard(node, { pinned = false, maxPorts = 200 } = {}) {
  const W = NODE_W;
  const online = node.status === 'online';
  const all = portOrder(node.ports || []);
  const shown = all.slice(0, maxPorts);
  const more = all.length - shown.length;
  const targetRow = node.target ? 1 : 0;
  const rows = Math.max(1, shown.length) + (more > 0 ? 1 : 0);
  const H = HEADER + (targetRow + rows) * ROW + 6;
  const border = cardBorder(node);
  const parts = [];
  parts.push(`<rect x="0.75" y="0.75" width="${W - 1.5}" height="${H - 1.5}" rx="8" fill="${C.surface}" stroke="${border}" stroke-width="1.5"${online ? '' : ' stroke-dasharray="5 3"'}/>`);
  parts.push(`<line x1="1" y1="${HEADER}" x2="${W - 1}" y2="${HEADER}" stroke="${C.line}" stroke-width="1"/>`);
  // Header: type dot, name, accent tag, health dot and status.
  parts.push(`<circle cx="13" cy="15" r="4" fill="${typeColor(node)}"/>`);
  const status = online ? 'ONLINE' : String(node.status || 'offline').toUpperCase();
  const statusFont = font(8.5, 700, true);
  const statusW = textWidth(status, statusFont);
  parts.push(text(W - 10, 18.5, status, { size: 8.5, weight: 700, fill: online ? C.ok : C.dim, anchor: 'end', mono: true }));
  const hx = W - 10 - statusW - 7;
  parts.push(`<circle cx="${hx}" cy="15" r="3" fill="${online ? healthColor(node.health) : C.dim}"/>`);
  let right = hx - 8;
  if (node.accent) {
    const tag = String(node.device_type || '').toUpperCase();
    const tf = font(8, 700, true);
    const tw = Math.ceil(textWidth(tag, tf)) + 8;
    right -= tw;
    parts.push(`<rect x="${right}" y="8" width="${tw}" height="13" rx="3" fill="${node.accent}" fill-opacity="0.2"/>`
      + text(right + 4, 17.5, tag, { size: 8, weight: 700, fill: node.accent, mono: true }));
    right -= 6;
  }
  parts.push(text(23, 19, fit(node.name || node.id, font(12, 600), right - 23), { size: 12, weight: 600, fill: online ? '#ffffff' : C.muted }));
  if (pinned) parts.push(`<path d="M${W - 13} 0.75 H${W - 8.75} A8 8 0 0 1 ${W - 0.75} 8.75 V13 Z" fill="${C.link}" opacity="0.9"/>`);

  let y = HEADER;
  if (node.target) {
    const [word, color] = TARGET_STATUS[node.target.status] || TARGET_STATUS.unknown;
    const cy = y + ROW / 2 + 1;
    parts.push(text(10, cy + 3, 'TARGET', { size: 8, weight: 700, fill: C.muted, mono: true, spacing: 0.4 }),
      `<circle cx="52" cy="${cy}" r="3" fill="${color}"/>`,
      text(59, cy + 3.5, word, { size: 10, weight: 600, fill: color }),
      text(W - 10, cy + 3.5, fit(node.target.address || '', font(10), 90), { size: 10, fill: C.muted, anchor: 'end' }));
    y += ROW;
  }
  const ports = {};
  if (shown.length === 0) {
    parts.push(text(10, y + ROW / 2 + 5, online ? 'No ports reported' : 'No ports known', { size: 10, fill: C.dim }));
    y += ROW;
  }
  for (const port of shown) {
    const cy = y + ROW / 2 + 2;
    const ps = protocolStyle(port.protocol, port.protocol && String(port.protocol).includes('tunnel') ? 'tunnel' : null);
    const color = ps.color;
    const isIn = port.direction === 'in';
    const dim = port.active === false || !online;
    const group = [];
    group.push(`<rect x="${isIn ? -3.5 : W - 3.5}" y="${cy - 3.5}" width="7" height="7" rx="1.5" fill="${color}" stroke="${C.page}" stroke-width="1"/>`);
    const [chipSvg, chipW] = chip(10, cy, port.label || `${port.protocol} ${port.direction}`, color);
    group.push(chipSvg);
    const x = 10 + chipW + 6;
    const detail = `${port.address || '—'}${port.role ? ` (${port.role})` : ''}`;
    group.push(text(x, cy + 3.5, fit(detail, font(10), W - x - 10), { size: 10, fill: '#cbd5e1' }));
    parts.push(`<g${dim ? ' opacity="0.5"' : ''}>${group.join('')}</g>`);
    ports[port.id] = { x: isIn ? -W / 2 : W / 2, y: cy - H / 2, side: isIn ? 'left' : 'right' };
    y += ROW;
  }
  if (more > 0) {
    parts.push(text(10, y + ROW / 2 + 5, `+${more} more ports — “Show all” in the toolbar`, { size: 10, fill: C.muted }));
    y += ROW;
  }
  return { uri: svgUri(W + 8, H, parts.join('')), w: W + 8, h: H, ports };
}

/** External endpoint: dashed amber card with a globe, the address, EXTERNAL and the role line. */
export function externalCard(ext, { left = false, right = false, pinned = false } = {}) {
  const W = EXT_W;
  const H = 46;
  const parts = [];
  parts.push(`<rect x="0.75" y="0.75" width="${W - 1.5}" height="${H - 1.5}" rx="7" fill="${C.surface}" fill-opacity="0.92" stroke="${C.warn}" stroke-width="1.3" stroke-dasharray="4 3"/>`);
  parts.push(`<g fill="none" stroke="${C.warn}" stroke-width="1.1"><circle cx="14" cy="16" r="5.5"/><ellipse cx="14" cy="16" rx="2.3" ry="5.5"/><line x1="8.5" y1="16" x2="19.5" y2="16"/></g>`);
  const tag = 'EXTERNAL';
  const tf = font(7.5, 700, true);
  const tw = Math.ceil(textWidth(tag, tf)) + 8;
  parts.push(`<rect x="${W - 8 - tw}" y="9" width="${tw}" height="13" rx="3" fill="${C.warn}" fill-opacity="0.15"/>`
    + text(W - 4 - tw, 18.5, tag, { size: 7.5, weight: 700, fill: C.warn, mono: true }));
  parts.push(text(25, 20, fit(ext.address || ext.id, font(11, 600), W - 25 - tw - 14), { size: 11, weight: 600, fill: '#ffffff' }));
  const proto = String(ext.protocol || '').toUpperCase();
  const roleLine = ext.role === 'multicast' ? `Multicast group · ${proto}` : ext.label || `${proto} ${ext.role || ''}`;
  parts.push(text(10, 37, fit(roleLine, font(10), W - 20), { size: 10, fill: C.muted }));
  if (left) parts.push(`<circle cx="0" cy="${H / 2}" r="3.5" fill="${C.warn}" stroke="${C.page}" stroke-width="1"/>`);
  if (right) parts.push(`<circle cx="${W}" cy="${H / 2}" r="3.5" fill="${C.warn}" stroke="${C.page}" stroke-width="1"/>`);
  if (pinned) parts.push(`<path d="M${W - 12} 0.75 H${W - 7.75} A7 7 0 0 1 ${W - 0.75} 7.75 V12 Z" fill="${C.link}" opacity="0.9"/>`);
  return { uri: svgUri(W + 8, H, parts.join('')), w: W + 8, h: H, left: -W / 2, right: W / 2 };
}

/**
 * Flow-view vertex (200 × 40): a port, flow, tunnel, external or bare node element.
 * spec: {kind, title, subtitle, chipLabel, color, dashed, state: 'ok'|'warn'|'crit'|'idle'|null, pinned}
 */
export function flowCard({ kind, title, subtitle = '', chipLabel = null, color = C.line, dashed = false, fillColor = null, state = null, pinned = false }) {
  const W = 200;
  const H = 42;
  const parts = [];
  parts.push(`<rect x="0.75" y="0.75" width="${W - 1.5}" height="${H - 1.5}" rx="6" fill="${fillColor || C.surface}" stroke="${color}" stroke-width="1.2"${dashed ? ' stroke-dasharray="4 3"' : ''}/>`);
  let x = 9;
  if (chipLabel) {
    const [chipSvg, chipW] = chip(x, 14, chipLabel, color, { size: 8 });
    parts.push(chipSvg);
    x += chipW + 6;
  } else if (kind === 'external') {
    parts.push(`<g fill="none" stroke="${C.warn}" stroke-width="1"><circle cx="14" cy="14" r="5"/><ellipse cx="14" cy="14" rx="2" ry="5"/><line x1="9" y1="14" x2="19" y2="14"/></g>`);
    x = 24;
  }
  const stateColor = { ok: C.ok, warn: C.warn, crit: C.crit, idle: C.dim }[state];
  const titleRight = stateColor ? W - 18 : W - 9;
  parts.push(text(x, 18, fit(title, font(10.5, 600), titleRight - x), { size: 10.5, weight: 600, fill: '#ffffff' }));
  if (stateColor) parts.push(`<circle cx="${W - 11}" cy="14" r="3.2" fill="${stateColor}"/>`);
  parts.push(text(9, 33, fit(subtitle, font(9.5), W - 18), { size: 9.5, fill: C.muted }));
  if (pinned) parts.push(`<path d="M${W - 11} 0.75 H${W - 6.75} A6 6 0 0 1 ${W - 0.75} 6.75 V11 Z" fill="${C.link}" opacity="0.9"/>`);
  return { uri: svgUri(W + 8, H, parts.join('')), w: W + 8, h: H };
}

/** Port index at a model-space y offset from the card centre (for hover tooltips); -1 for none. */
export function portAt(card, dy) {
  let best = null;
  for (const [id, p] of Object.entries(card.ports || {})) {
    if (Math.abs(p.y - dy) <= ROW / 2) best = id;
  }
  return best;
}
