// Flow view canvas (product.md §4.6, §5.3): draws the server's deterministic `flow_layout` —
// external sources → inputs → flows → tunnels → outputs → external destinations, left to right,
// fan-outs stacked — with tunnels as violet boxes naming their relay. Single cards can be dragged
// to pin them (saved per user for the flow view); double-click unpins, or opens the node.

import { createCy } from './cy.js';
import { h } from '../../dom.js';
import { flowCard } from './cards.js';
import { C, protocolStyle } from './colors.js';
import { curveFor } from './graph-elements.js';
import { zoomControls, Tooltip } from './graph-chrome.js';
import { formatBitrate } from '../../format.js';

const HALF = 100; // half a flow card's width: wires leave and enter at the card sides

/** Position keys must be node ids or `ext:` ids (api.md §10.2): flow-view vertices get an `ext:fv:` key. */
export function flowKey(vertexId) {
  return vertexId.startsWith('ext:') ? vertexId : `ext:fv:${vertexId}`;
}

function stateOf(health, active) {
  if (!active) return 'idle';
  return { healthy: 'ok', warning: 'warn', critical: 'crit' }[health] || 'ok';
}

function describe(vertex, byNode, extById, tunnelById) {
  const node = vertex.node_id ? byNode.get(vertex.node_id) : null;
  const nodeName = node?.name || '';
  switch (vertex.kind) {
    case 'external': {
      const ext = extById.get(vertex.ref) || { address: vertex.ref };
      return { kind: 'external', title: ext.address || vertex.ref, subtitle: ext.role === 'multicast' ? `Multicast · ${String(ext.protocol || '').toUpperCase()}` : ext.label || 'External', color: C.warn, dashed: true, info: ext };
    }
    case 'port': {
      const port = (node?.ports || []).find((p) => p.id === vertex.ref) || {};
      const ps = protocolStyle(port.protocol);
      const active = node?.status === 'online' && port.active !== false && ['receiving', 'active', 'listening', 'connected'].includes(port.state);
      return { kind: 'port', chipLabel: port.label || vertex.ref, title: port.address || '—', subtitle: `${nodeName}${port.role ? ` · ${port.role}` : ''}${port.active === false ? ' · standby' : ''}`, color: ps.color, state: stateOf(null, active), info: { ...port, node: nodeName }, protocol: port.protocol };
    }
    case 'flow': {
      const flow = (node?.flows || []).find((f) => f.id === vertex.ref) || { name: vertex.ref };
      const running = flow.state === 'running' && node?.status === 'online';
      return { kind: 'flow', chipLabel: 'FLOW', title: flow.name || flow.id, subtitle: `${nodeName} · ${running ? formatBitrate(flow.bitrate_bps) : String(flow.state || 'idle')}`, color: '#3b82f6', state: stateOf(flow.health, running), info: { ...flow, node: nodeName } };
    }
    case 'tunnel': {
      const t = tunnelById.get(vertex.ref) || { name: vertex.ref };
      const relay = t.relay_node_id ? byNode.get(t.relay_node_id)?.name || 'relay' : null;
      return { kind: 'tunnel', chipLabel: `${String(t.protocol || 'tcp').toUpperCase()} TUNNEL`, title: t.name || t.id, subtitle: relay ? `via ${relay}` : 'direct', color: C.relay, fillColor: '#231f3d', state: t.state === 'ready' || t.state === 'active' ? 'ok' : 'idle', info: t, protocol: 'tunnel' };
    }
    default:
      return { kind: 'node', title: nodeName || vertex.ref, subtitle: node?.device_type || '', color: C.line, info: node || {} };
  }
}

export class FlowGraph {
  constructor(panel, { positions, onOpenNode }) {
    this.panel = panel;
    this.positions = positions;
    this.onOpenNode = onOpenNode;
    this.layoutPos = new Map();
    this.meta = new Map();
    this.container = h('div', { class: 'topo-canvas', role: 'img', 'aria-label': 'Signal-flow diagram' });
    this.tooltip = new Tooltip();
    this.empty = h('p', { class: 'topo-empty', hidden: true }, 'No flows to draw yet — flows appear here once your edges report them.');
    panel.append(this.container, zoomControls({ onIn: () => this.zoomBy(1.25), onOut: () => this.zoomBy(0.8), onFit: () => this.fit() }), this.tooltip.node, this.empty);
    this.cy = createCy({
      container: this.container, minZoom: 0.2, maxZoom: 3, boxSelectionEnabled: false, autounselectify: true,
      style: [
        { selector: 'node', style: { shape: 'rectangle', width: 'data(w)', height: 'data(h)', label: '', 'background-opacity': 0, 'background-image': 'data(image)', 'background-fit': 'contain', 'background-clip': 'none', 'border-width': 0, 'overlay-opacity': 0 } },
        { selector: 'edge', style: {
          width: 1.6, 'line-color': 'data(color)', 'target-arrow-shape': 'triangle', 'target-arrow-color': 'data(color)', 'arrow-scale': 0.75,
          'curve-style': 'unbundled-bezier', 'edge-distances': 'endpoints', 'source-endpoint': `${HALF}px 0px`, 'target-endpoint': `-${HALF}px 0px`,
          'control-point-distances': (e) => e.data('cpd'), 'control-point-weights': (e) => e.data('cpw'), 'overlay-opacity': 0,
        } },
        { selector: 'edge[?back]', style: { 'line-style': 'dashed', 'line-dash-pattern': [4, 4], 'line-color': C.dim, 'target-arrow-color': C.dim } },
        { selector: '.faded', style: { opacity: 0.2 } },
      ],
    });
    this.cy.on('drag', 'node', (e) => this.reshape(e.target.connectedEdges()));
    this.cy.on('dragfree', 'node', (e) => {
      const p = e.target.position();
      this.positions.set(flowKey(e.target.id()), p.x, p.y);
      this.redrawCard(e.target.id());
    });
    this.cy.on('dbltap', 'node', (e) => {
      const id = e.target.id();
      const key = flowKey(id);
      if (this.positions.has(key)) {
        this.positions.delete(key);
        const home = this.layoutPos.get(id);
        if (home) e.target.position(home);
        this.reshape(e.target.connectedEdges());
        this.redrawCard(id);
      } else if (e.target.data('nodeId')) {
        this.onOpenNode(e.target.data('nodeId'));
      }
    });
    this.cy.on('mouseover', 'node', (e) => this.tooltip.show(this.tip(e.target.id()), e.renderedPosition));
    this.cy.on('mousemove', 'node', (e) => this.tooltip.move(e.renderedPosition));
    this.cy.on('mouseout grab', 'node', () => this.tooltip.hide());
    this.fitted = false;
  }

  tip(id) {
    const m = this.meta.get(id);
    if (!m) return [];
    const i = m.info || {};
    const lines = [h('p', { class: 'font-semibold text-white' }, m.title)];
    const add = (label, value) => value !== undefined && value !== null && value !== '' && lines.push(h('div', { class: 'flex justify-between gap-4' }, h('span', { class: 'text-muted' }, label), h('span', {}, String(value))));
    if (m.kind === 'port') { add('Port', i.label); add('Node', i.node); add('Role', i.role); add('State', i.state); add('Bitrate', formatBitrate(i.bitrate_bps)); }
    if (m.kind === 'flow') { add('Node', i.node); add('State', i.state); add('Health', i.health); add('Bitrate', formatBitrate(i.bitrate_bps)); }
    if (m.kind === 'tunnel') { add('Protocol', String(i.protocol || '').toUpperCase()); add('Mode', i.mode); add('State', i.state); add('Throughput', formatBitrate(i.bitrate_bps)); }
    if (m.kind === 'external') { add('Endpoint', i.label || i.role); add('Protocol', String(i.protocol || '').toUpperCase()); }
    return lines;
  }

  cardFor(id) {
    const m = this.meta.get(id);
    return flowCard({ ...m, pinned: this.positions.has(flowKey(id)) });
  }

  redrawCard(id) {
    const card = this.cardFor(id);
    this.cy.getElementById(id).data('image', card.uri);
  }

  update(doc) {
    const layout = doc.flow_layout || { vertices: [], edges: [] };
    const byNode = new Map((doc.nodes || []).map((n) => [n.id, n]));
    const extById = new Map((doc.external || []).map((e) => [e.id, e]));
    const tunnelById = new Map((doc.tunnels || []).map((t) => [t.id, t]));
    const cy = this.cy;
    const want = new Set();
    cy.batch(() => {
      for (const v of layout.vertices || []) {
        want.add(v.id);
        const m = describe(v, byNode, extById, tunnelById);
        this.meta.set(v.id, m);
        const home = { x: v.x, y: v.y };
        this.layoutPos.set(v.id, home);
        const card = flowCard({ ...m, pinned: this.positions.has(flowKey(v.id)) });
        const data = { id: v.id, image: card.uri, w: card.w, h: card.h, nodeId: v.node_id || '', search: `${m.title} ${m.subtitle} ${m.chipLabel || ''}`.toLowerCase() };
        const ele = cy.getElementById(v.id);
        const pos = this.positions.get(flowKey(v.id)) || home;
        if (ele.empty()) cy.add({ group: 'nodes', data, position: pos });
        else {
          for (const [k, val] of Object.entries(data)) if (ele.data(k) !== val) ele.data(k, val);
          if (!this.positions.has(flowKey(v.id))) ele.position(pos);
        }
      }
      for (const e of layout.edges || []) {
        const id = `fe:${e.from}>${e.to}`;
        want.add(id);
        const from = this.meta.get(e.from);
        const to = this.meta.get(e.to);
        const proto = from?.protocol || to?.protocol;
        const color = proto ? protocolStyle(proto, proto === 'tunnel' ? 'tunnel' : null).color : '#64748b';
        const ele = cy.getElementById(id);
        if (ele.empty()) cy.add({ group: 'edges', data: { id, source: e.from, target: e.to, color, back: !!e.back, cpd: '0 0', cpw: '0.25 0.75' } });
        else if (ele.data('color') !== color) ele.data('color', color);
      }
      cy.elements().forEach((ele) => { if (!want.has(ele.id())) ele.remove(); });
    });
    this.reshape(cy.edges());
    this.empty.hidden = (layout.vertices || []).length > 0;
    this.container.dataset.vertexCount = String(cy.nodes().length);
    if (!this.fitted && cy.nodes().length) {
      this.fit();
      this.fitted = true;
    }
    this.applyFilter();
  }

  reshape(edges) {
    this.cy.batch(() => edges.forEach((edge) => {
      const s = edge.source().position();
      const t = edge.target().position();
      edge.data(curveFor({ x: s.x + HALF, y: s.y }, { x: t.x - HALF, y: t.y }));
    }));
  }

  setFilter(term) {
    this.filterTerm = String(term || '').trim().toLowerCase();
    this.applyFilter();
  }

  applyFilter() {
    const term = this.filterTerm;
    this.cy.batch(() => {
      if (!term) {
        this.cy.elements().removeClass('faded');
        return;
      }
      this.cy.nodes().forEach((n) => n.toggleClass('faded', !String(n.data('search')).includes(term)));
      this.cy.edges().forEach((e) => e.toggleClass('faded', e.source().hasClass('faded') || e.target().hasClass('faded')));
    });
  }

  async resetLayout() {
    await this.positions.reset();
    this.cy.nodes().forEach((n) => {
      const home = this.layoutPos.get(n.id());
      if (home) n.position(home);
      this.redrawCard(n.id());
    });
    this.reshape(this.cy.edges());
    this.fit();
  }

  zoomBy(factor) {
    const level = Math.max(0.2, Math.min(3, this.cy.zoom() * factor));
    this.cy.zoom({ level, renderedPosition: { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 } });
  }

  fit() {
    if (this.cy.nodes().length === 0) return;
    this.cy.fit(this.cy.elements(), 36);
    if (this.cy.zoom() > 1.1) {
      this.cy.zoom(1.1);
      this.cy.center();
    }
  }

  resize() {
    this.cy.resize();
  }
}

