// The HTML around the graph canvas: the legend (top-left), the floating +, − and fit buttons
// (bottom-right) and the hover tooltip (address, state, bitrate, last change).

import { h, svg } from '../../dom.js';
import { formatBitrate, formatRelative } from '../../format.js';
import { portAt } from './cards.js';
import { C } from './colors.js';

function lineSample(color, dash) {
  return svg('svg', { class: 'h-2 w-7 shrink-0', viewBox: '0 0 28 8', 'aria-hidden': 'true' },
    svg('line', { x1: '1', y1: '4', x2: '27', y2: '4', stroke: color, 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-dasharray': dash }));
}

function dotSample(color, dashed = false) {
  return svg('svg', { class: 'size-2.5 shrink-0', viewBox: '0 0 10 10', 'aria-hidden': 'true' },
    svg('circle', { cx: '5', cy: '5', r: '4', fill: dashed ? 'none' : color, stroke: color, 'stroke-width': dashed ? '1.5' : '0', 'stroke-dasharray': dashed ? '2 1.5' : null }));
}

export function legend() {
  const item = (sample, text) => h('li', { class: 'flex items-center gap-2' }, sample, h('span', {}, text));
  const body = h('ul', { class: 'space-y-1' },
    item(dotSample(C.edge), 'Edge (online)'),
    item(dotSample(C.relay), 'Relay'),
    item(dotSample(C.gateway), 'Gateway'),
    item(dotSample(C.offline), 'Offline'),
    item(dotSample(C.warn, true), 'External'),
    item(lineSample('#60a5fa', '5 3'), 'SRT'),
    item(lineSample('#2dd4bf', '5 3'), 'RTP/UDP'),
    item(lineSample('#fb923c', '1 3'), 'RTMP'),
    item(lineSample('#a78bfa', '5 3'), 'Tunnel'),
    item(lineSample(C.dim, null), 'Idle'));
  const toggle = h('button', { type: 'button', class: 'topo-legend-toggle', 'aria-expanded': 'true' }, 'Legend');
  toggle.addEventListener('click', () => {
    body.hidden = !body.hidden;
    toggle.setAttribute('aria-expanded', String(!body.hidden));
  });
  return h('div', { class: 'topo-legend', role: 'group', 'aria-label': 'Legend' }, toggle, body);
}

export function zoomControls({ onIn, onOut, onFit }) {
  const button = (label, text, fn, icon) => {
    const b = h('button', { type: 'button', class: 'topo-zoom-btn', 'aria-label': label, title: label }, icon || text);
    b.addEventListener('click', fn);
    return b;
  };
  const fitIcon = svg('svg', { class: 'size-4', viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.75', 'stroke-linecap': 'round', 'aria-hidden': 'true' },
    svg('path', { d: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5' }));
  return h('div', { class: 'topo-zoom', role: 'group', 'aria-label': 'Zoom' },
    button('Zoom in', '+', onIn), button('Zoom out', '−', onOut), button('Fit to screen', '', onFit, fitIcon));
}

export class Tooltip {
  constructor() {
    this.node = h('div', { class: 'topo-tooltip', role: 'tooltip', hidden: true });
  }

  show(content, at) {
    this.node.replaceChildren(...content);
    this.node.hidden = false;
    this.move(at);
  }

  move(at) {
    if (this.node.hidden || !at) return;
    const parent = this.node.parentElement;
    const maxX = (parent?.clientWidth || 800) - this.node.offsetWidth - 8;
    const maxY = (parent?.clientHeight || 600) - this.node.offsetHeight - 8;
    const x = Math.max(8, Math.min(maxX, at.x + 14));
    const y = Math.max(8, Math.min(maxY, at.y + 14));
    // Positioning through the CSSOM (not a style attribute), which the CSP allows.
    this.node.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  hide() {
    this.node.hidden = true;
  }
}

const line = (label, value, cls = '') => h('div', { class: 'flex justify-between gap-4' }, h('span', { class: 'text-muted' }, label), h('span', { class: `text-right ${cls}` }, value));

export function nodeTooltip(spec, dy, changedAt = null) {
  const ref = spec.ref || {};
  if (spec.kind === 'ext') {
    return [h('p', { class: 'font-semibold text-white' }, ref.address || ref.id),
      line('Endpoint', ref.label || ref.role || 'External'), line('Protocol', String(ref.protocol || '—').toUpperCase())];
  }
  const portId = portAt(spec.card, dy);
  const port = portId ? (ref.ports || []).find((p) => p.id === portId) : null;
  const out = [h('p', { class: 'font-semibold text-white' }, ref.name || ref.id)];
  if (port) {
    const flow = (ref.flows || []).find((f) => f.id === port.flow_id);
    out.push(h('p', { class: 'mb-1 font-mono text-xs text-link' }, port.label || port.protocol));
    out.push(line('Address', port.address || '—'), line('Role', port.role || '—'), line('State', port.state || '—'),
      line('Bitrate', formatBitrate(port.bitrate_bps)));
    if (flow) out.push(line('Flow', flow.name || flow.id));
    if (port.active === false) out.push(line('Input', 'standby'));
  } else {
    out.push(line('Type', ref.device_type || '—'), line('Status', ref.status || '—'), line('Health', ref.health || 'unknown'),
      line('Bitrate', formatBitrate(ref.bitrate_bps)));
    if (Number.isFinite(ref.flows_running)) out.push(line('Flows running', String(ref.flows_running)));
    if (ref.target) out.push(line(ref.target.label || 'Target', `${ref.target.address || ''} · ${ref.target.status}`));
  }
  if (changedAt) out.push(line('Last change', formatRelative(changedAt)));
  out.push(h('p', { class: 'mt-1.5 text-[11px] text-muted' }, 'Drag to pin · double-click to open or unpin'));
  return out;
}

export function edgeTooltip(link, cy) {
  if (!link) return [];
  const name = (end) => {
    if (end.external_id) return cy.getElementById(end.external_id).data('ref')?.address || end.external_id;
    return cy.getElementById(end.node_id).data('ref')?.name || end.node_id;
  };
  return [h('p', { class: 'font-semibold text-white' }, link.label || String(link.protocol || '').toUpperCase()),
    line('From', name(link.from)), line('To', name(link.to)), line('Bitrate', formatBitrate(link.bitrate_bps)),
    line('Health', link.health || '—'), line('Found by', String(link.inferred_by || '—').replace(/_/g, ' '))];
}
