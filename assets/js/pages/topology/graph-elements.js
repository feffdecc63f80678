// Turns a GET /api/v1/topology document into cytoscape element specs for the graph view: one card
// per node (ports as rows) and per external endpoint, one wire per link, attached to the port
// rows' connectors. Pure data; graph.js adds, updates and removes the elements.

import { nodeCard, externalCard } from './cards.js';
import { protocolStyle, healthColor, linkWidth, cardBorder, C } from './colors.js';
import { formatBitrate } from '../../format.js';

export const NODE_CAP = 500;
export const PORT_CAP = 200;

const STATUS_ORDER = { online: 0, pending: 1, offline: 2 };
const cardCache = new Map();

/** nodeCard() measured text for every row; the same node draws the same picture, so keep it. */
function cachedNodeCard(node, pinned, maxPorts) {
  const key = JSON.stringify([node.name, node.status, node.health, node.color, node.accent, node.device_type, node.id,
    node.target && [node.target.status, node.target.address], (node.ports || []).map((p) => [p.id, p.direction, p.protocol, p.label, p.address, p.role, p.active]), pinned, maxPorts]);
  let card = cardCache.get(key);
  if (!card) {
    if (cardCache.size > 4000) cardCache.clear();
    card = nodeCard(node, { pinned, maxPorts });
    cardCache.set(key, card);
  }
  return card;
}

function nodeSearchText(node) {
  const bits = [node.name, node.device_type, node.status];
  for (const p of node.ports || []) bits.push(p.address, p.protocol, p.label, p.role);
  for (const f of node.flows || []) bits.push(f.name, f.id);
  return bits.filter(Boolean).join(' ').toLowerCase();
}

/**
 * buildElements(doc, {pinned: Set, showAll}) →
 *   {nodes: Map<id, spec>, edges: Map<id, spec>, total, shown, capped}
 * A node spec: {id, kind: 'node'|'ext', image, w, h, card, ref, search}
 * An edge spec: {id, source, target, sep, tep, color, style, width, label, healthColor, flowing, search, ref}
 */
export function buildElements(doc, { pinned, showAll = false }) {
  const all = [...(doc.nodes || [])].sort((a, b) => (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3)
    || String(a.name).localeCompare(String(b.name)) || String(a.id).localeCompare(String(b.id)));
  const capped = !showAll && all.length > NODE_CAP;
  const shownNodes = capped ? all.slice(0, NODE_CAP) : all;
  const nodes = new Map();
  for (const node of shownNodes) {
    const card = cachedNodeCard(node, pinned.has(node.id), showAll ? Infinity : PORT_CAP);
    nodes.set(node.id, { id: node.id, kind: 'node', image: card.uri, w: card.w, h: card.h, card, ref: node, search: nodeSearchText(node),
      name: node.name || node.id, border: cardBorder(node), dashed: node.status !== 'online' });
  }

  // Links whose managed ends are drawn; externals only when something drawn uses them.
  const links = (doc.links || []).filter((l) => (!l.from.node_id || nodes.has(l.from.node_id)) && (!l.to.node_id || nodes.has(l.to.node_id)));
  const extSides = new Map();
  for (const l of links) {
    if (l.from.external_id) extSides.set(l.from.external_id, { ...(extSides.get(l.from.external_id) || {}), right: true });
    if (l.to.external_id) extSides.set(l.to.external_id, { ...(extSides.get(l.to.external_id) || {}), left: true });
  }
  for (const ext of doc.external || []) {
    const sides = extSides.get(ext.id);
    if (!sides && capped) continue;
    const card = externalCard(ext, { ...(sides || {}), pinned: pinned.has(ext.id) });
    const search = [ext.address, ext.protocol, ext.label, ext.role, 'external'].filter(Boolean).join(' ').toLowerCase();
    nodes.set(ext.id, { id: ext.id, kind: 'ext', image: card.uri, w: card.w, h: card.h, card, ref: ext, search,
      name: ext.address || ext.id, border: C.warn, dashed: true });
  }

  const edges = new Map();
  for (const link of links) {
    const source = link.from.node_id || link.from.external_id;
    const target = link.to.node_id || link.to.external_id;
    const src = nodes.get(source);
    const tgt = nodes.get(target);
    if (!src || !tgt || source === target) continue;
    const sep = endpoint(src, link.from.port_id, 'right');
    const tep = endpoint(tgt, link.to.port_id, 'left');
    const ps = protocolStyle(link.protocol, link.kind);
    const idle = link.health === 'idle' || !(link.bitrate_bps > 0);
    const rate = link.bitrate_bps > 0 ? ` · ${formatBitrate(link.bitrate_bps)}` : '';
    const label = `${link.label || ps.name}${rate}`;
    const search = [link.protocol, link.label, src.search, tgt.search].join(' ');
    edges.set(link.id, {
      id: link.id, source, target, sep, tep,
      color: idle ? C.dim : ps.color,
      style: ps.style,
      width: linkWidth(link.bitrate_bps, idle),
      label,
      healthColor: healthColor(link.health),
      flowing: !idle,
      search: search.toLowerCase(),
      ref: link,
    });
  }
  return { nodes, edges, total: all.length, shown: shownNodes.length, capped };
}

/** Offset of a wire's end from the card centre: the port connector, else the card's side. */
function endpoint(spec, portId, side) {
  if (spec.kind === 'node' && portId && spec.card.ports[portId]) return spec.card.ports[portId];
  if (spec.kind === 'ext') return { x: side === 'right' ? spec.card.right : spec.card.left, y: 0 };
  return { x: side === 'right' ? (spec.w - 8) / 2 : -(spec.w - 8) / 2, y: -spec.h / 2 + 15 };
}

/** Control points that make a wire leave its output rightwards and enter its input from the left. */
export function curveFor(p1, p2) {
  const dx = p2.x - p1.x;
  const dy = p2.y - p1.y;
  const L = Math.hypot(dx, dy);
  if (L < 1) return { cpd: '0 0', cpw: '0.25 0.75' };
  const k = dx >= 0 ? Math.min(200, Math.max(30, dx * 0.5)) : Math.min(260, 60 + Math.abs(dx) * 0.25);
  const ux = dx / L;
  const uy = dy / L;
  const w1 = (k * ux) / L;
  const w2 = 1 - (k * ux) / L;
  const d1 = -k * uy;
  const d2 = k * uy;
  const r = (v) => Math.round(v * 1000) / 1000;
  return { cpd: `${r(d1)} ${r(d2)}`, cpw: `${r(w1)} ${r(w2)}` };
}
