// Graph view of the topology (product.md §4.6): cytoscape on canvas, port-level node cards and
// external endpoints, protocol-coloured wires sized by bitrate, a legend, zoom buttons, hover
// tooltips, drag-to-pin (saved per user), double-click to unpin or open a node, a filter that
// fades what does not match, and live updates that fade cards in and out (10 s vanish grace).

import { createCy } from './cy.js';
import { h } from '../../dom.js';
import { buildElements, curveFor } from './graph-elements.js';
import { layoutGraph, placeNear } from './layout.js';
import { nodeCard, externalCard } from './cards.js';
import { legend, zoomControls, Tooltip, nodeTooltip, edgeTooltip } from './graph-chrome.js';
import { healthColor } from './colors.js';
import { graphStyles, CardPictures } from './graph-detail.js';

const VANISH_GRACE_MS = 10000;
const reducedMotion = () => window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;

export class GraphView {
  /**
   * @param panel  element that receives the canvas, legend, zoom buttons and tooltip
   * @param opts   {positions: PositionStore, onOpenNode(id), onCapped({shown,total})}
   */
  constructor(panel, { positions, onOpenNode, onCapped }) {
    this.panel = panel;
    this.positions = positions;
    this.onOpenNode = onOpenNode;
    this.onCapped = onCapped;
    this.showAll = false;
    this.filterTerm = '';
    this.vanished = new Map();
    this.changes = new Map();
    this.specs = new Map();
    this.laidOut = false;
    this.container = h('div', { class: 'topo-canvas', role: 'img', 'aria-label': 'Topology graph' });
    this.list = h('ul', { class: 'sr-only', 'aria-label': 'Cards on the map' });
    this.tooltip = new Tooltip();
    this.zoom = zoomControls({ onIn: () => this.zoomBy(1.25), onOut: () => this.zoomBy(0.8), onFit: () => this.fit() });
    panel.append(this.container, legend(), this.zoom, this.tooltip.node, this.list);
    this.cy = createCy({
      container: this.container, style: graphStyles(), minZoom: 0.2, maxZoom: 3, boxSelectionEnabled: false,
      selectionType: 'single', autoungrabify: false, pixelRatio: 'auto',
    });
    this.pictures = new CardPictures(this.cy, this.container);
    this.bindEvents();
    this.dashTimer = null;
    if (!reducedMotion()) this.dashTimer = setInterval(() => this.animateDashes(), 90);
    this.dashOffset = 0;
  }

  bindEvents() {
    const cy = this.cy;
    cy.on('drag', 'node', (e) => this.reshape(e.target.connectedEdges()));
    cy.on('dragfree', 'node', (e) => {
      const node = e.target;
      const p = node.position();
      const wasPinned = this.positions.has(node.id());
      this.positions.set(node.id(), p.x, p.y);
      if (!wasPinned) this.refreshCard(node.id());
      this.syncList();
    });
    cy.on('dbltap', 'node', (e) => {
      const node = e.target;
      if (this.positions.has(node.id())) {
        this.positions.delete(node.id());
        this.refreshCard(node.id());
        this.syncList();
      } else if (node.data('kind') === 'node') {
        this.onOpenNode(node.id());
      }
    });
    cy.on('mouseover', 'node', (e) => this.hover(e));
    cy.on('mousemove', 'node', (e) => this.hover(e));
    cy.on('mouseover', 'edge', (e) => this.tooltip.show(edgeTooltip(e.target.data('ref'), this.cy), e.renderedPosition));
    cy.on('mousemove', 'edge', (e) => this.tooltip.move(e.renderedPosition));
    cy.on('mouseout', 'node, edge', () => this.tooltip.hide());
    cy.on('grab', 'node', () => this.tooltip.hide());
    cy.on('viewport', () => {
      this.syncListSoon();
      this.pictures.viewportChanged();
    });
  }

  hover(e) {
    const node = e.target;
    const spec = this.specs.get(node.id());
    if (!spec) return;
    const dy = e.position.y - node.position().y;
    this.tooltip.show(nodeTooltip(spec, dy, this.changes.get(node.id())), e.renderedPosition);
  }

  /** Draw (or update to) a topology document. */
  update(doc) {
    const pinned = new Set([...this.positions.positions.keys()]);
    const built = buildElements(doc, { pinned, showAll: this.showAll });
    this.onCapped?.({ shown: built.shown, total: built.total, capped: built.capped });
    const cy = this.cy;
    const now = Date.now();
    const added = [];
    const healthChanged = [];
    cy.batch(() => {
      for (const [id, spec] of [...built.nodes, ...built.edges]) {
        this.vanished.delete(id);
        const prev = this.specs.get(id);
        this.specs.set(id, spec);
        let ele = cy.getElementById(id);
        if (ele.nonempty() && ele.hasClass('leaving')) ele.removeClass('leaving');
        const data = this.dataOf(spec);
        if (ele.empty()) {
          const pos = spec.source ? undefined : (this.positions.get(id) || { x: 0, y: 0 });
          if (!spec.source) data.image = 'none';
          ele = cy.add({ group: spec.source ? 'edges' : 'nodes', data, position: pos, classes: `${this.laidOut ? 'entering' : ''} plain` });
          added.push(ele);
        } else {
          for (const [key, value] of Object.entries(data)) if (ele.data(key) !== value) ele.data(key, value);
          if (prev && !spec.source && (prev.ref?.health !== spec.ref?.health || prev.ref?.status !== spec.ref?.status)) {
            this.changes.set(id, now);
            if (prev.ref?.status === spec.ref?.status) healthChanged.push(ele);
          }
        }
      }
      // Vanished elements fade out only after the grace period (so flapping does not blink).
      for (const ele of cy.elements()) {
        const id = ele.id();
        if (built.nodes.has(id) || built.edges.has(id)) continue;
        if (!this.vanished.has(id)) this.vanished.set(id, now);
        if (now - this.vanished.get(id) >= VANISH_GRACE_MS) this.fadeOut(ele);
      }
    });
    if (this.vanished.size) {
      clearTimeout(this.vanishTimer);
      this.vanishTimer = setTimeout(() => this.sweepVanished(), VANISH_GRACE_MS + 100);
    }

    if (!this.laidOut) {
      layoutGraph(cy, { pinned });
      this.reshape(cy.edges());
      this.fit();
      this.laidOut = cy.nodes().length > 0;
    } else if (added.length) {
      for (const ele of added) {
        if (ele.isNode() && !this.positions.has(ele.id())) ele.position(placeNear(cy, ele));
      }
      const newEdges = cy.collection(added).edges().union(cy.collection(added).nodes().connectedEdges());
      this.reshape(newEdges);
      requestAnimationFrame(() => cy.collection(added).removeClass('entering'));
    }
    for (const spec of built.nodes.values()) this.pictures.want(spec.id, spec.image);
    this.pictures.decode();
    this.pictures.applyDetail();
    for (const ele of healthChanged) this.pulse(ele);
    this.applyFilter();
    this.syncList();
    this.container.dataset.nodeCount = String(cy.nodes('[kind = "node"]').length);
    this.container.dataset.externalCount = String(cy.nodes('[kind = "ext"]').length);
    this.container.dataset.linkCount = String(cy.edges().length);
  }

  dataOf(spec) {
    if (spec.source) {
      return {
        id: spec.id, source: spec.source, target: spec.target, ref: spec.ref, color: spec.color, style: spec.style, width: spec.width,
        label: spec.label, healthColor: spec.healthColor, flowing: spec.flowing,
        sep: `${spec.sep.x}px ${spec.sep.y}px`, tep: `${spec.tep.x}px ${spec.tep.y}px`,
        cpd: this.cy.getElementById(spec.id).data('cpd') || '0 0', cpw: this.cy.getElementById(spec.id).data('cpw') || '0.25 0.75',
      };
    }
    return { id: spec.id, kind: spec.kind, w: spec.w, h: spec.h, ref: spec.ref, name: spec.name, border: spec.border, dashed: spec.dashed };
  }

  /** Recompute the S-curves of these wires from where their ends now are. */
  reshape(edges) {
    this.cy.batch(() => {
      edges.forEach((edge) => {
        const spec = this.specs.get(edge.id());
        if (!spec) return;
        const s = edge.source().position();
        const t = edge.target().position();
        const curve = curveFor({ x: s.x + spec.sep.x, y: s.y + spec.sep.y }, { x: t.x + spec.tep.x, y: t.y + spec.tep.y });
        edge.data(curve);
        edge.toggleClass('flowing', !!spec.flowing);
      });
    });
  }

  /** Re-render one card's picture (pin marker changed). */
  refreshCard(id) {
    const spec = this.specs.get(id);
    if (!spec) return;
    const pinned = this.positions.has(id);
    const ele = this.cy.getElementById(id);
    const card = spec.kind === 'node'
      ? nodeCard(spec.ref, { pinned, maxPorts: this.showAll ? Infinity : 200 })
      : externalCard(spec.ref, { left: ele.incomers('edge').length > 0, right: ele.outgoers('edge').length > 0, pinned });
    spec.image = card.uri;
    this.pictures.want(id, card.uri);
    this.pictures.decode();
  }

  fadeOut(ele) {
    if (ele.hasClass('leaving')) return;
    ele.addClass('leaving');
    setTimeout(() => {
      if (ele.hasClass('leaving') && !ele.removed()) {
        this.specs.delete(ele.id());
        this.vanished.delete(ele.id());
        ele.remove();
        this.syncList();
      }
    }, 450);
  }

  sweepVanished() {
    const now = Date.now();
    for (const [id, since] of this.vanished) {
      const ele = this.cy.getElementById(id);
      if (ele.empty()) this.vanished.delete(id);
      else if (now - since >= VANISH_GRACE_MS) this.fadeOut(ele);
    }
  }

  pulse(node) {
    if (reducedMotion()) return;
    const color = healthColor(node.data('ref')?.health);
    node.stop(true).style({ 'underlay-color': color, 'underlay-opacity': 0 });
    node.animate({ style: { 'underlay-opacity': 0.45, 'underlay-padding': 12 } }, { duration: 350 })
      .animate({ style: { 'underlay-opacity': 0, 'underlay-padding': 6 } }, { duration: 900, complete: () => node.removeStyle('underlay-color underlay-opacity underlay-padding') });
  }

  animateDashes() {
    if (document.hidden || !this.cy || this.panel.closest('[hidden]')) return;
    const flowing = this.cy.edges('.flowing');
    if (flowing.length === 0 || flowing.length > 400) return;
    this.dashOffset = (this.dashOffset - 1) % 1100;
    flowing.style('line-dash-offset', this.dashOffset);
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
      // A matching card keeps its wires and their far ends; a matching wire keeps both ends.
      const hit = new Set();
      for (const [id, spec] of this.specs) if (!spec.source && spec.search?.includes(term)) hit.add(id);
      const shown = new Set(hit);
      const wires = new Set();
      this.cy.edges().forEach((e) => {
        const spec = this.specs.get(e.id());
        const own = spec && `${spec.ref?.protocol || ''} ${spec.label || ''}`.toLowerCase().includes(term);
        if (own || hit.has(e.source().id()) || hit.has(e.target().id())) {
          wires.add(e.id());
          shown.add(e.source().id());
          shown.add(e.target().id());
        }
      });
      this.cy.nodes().forEach((n) => n.toggleClass('faded', !shown.has(n.id())));
      this.cy.edges().forEach((e) => e.toggleClass('faded', !wires.has(e.id())));
    });
  }

  zoomBy(factor) {
    const cy = this.cy;
    const level = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), cy.zoom() * factor));
    cy.zoom({ level, renderedPosition: { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 } });
  }

  /** Fit everything into the free part of the canvas, right of the legend, at most 1.25×. */
  fit() {
    const cy = this.cy;
    const eles = cy.nodes();
    if (eles.length === 0) return;
    const cw = this.container.clientWidth;
    const ch = this.container.clientHeight;
    const legendBox = this.panel.querySelector('.topo-legend');
    const left = legendBox && !legendBox.hidden ? legendBox.offsetLeft + legendBox.offsetWidth + 16 : 32;
    const pad = 32;
    const bb = eles.boundingBox();
    const zoom = Math.max(cy.minZoom(), Math.min(1.25, (cw - left - pad) / Math.max(1, bb.w), (ch - 2 * pad) / Math.max(1, bb.h)));
    const usedW = bb.w * zoom;
    const x = left + Math.max(0, (cw - left - pad - usedW) / 2);
    cy.viewport({ zoom, pan: { x: x - bb.x1 * zoom, y: (ch - bb.h * zoom) / 2 - bb.y1 * zoom } });
  }

  /** Clear every pin of this view and lay the map out again. */
  async resetLayout() {
    await this.positions.reset();
    for (const id of this.specs.keys()) this.refreshCard(id);
    layoutGraph(this.cy, { pinned: new Set() });
    this.reshape(this.cy.edges());
    this.fit();
    this.syncList();
  }

  setShowAll(flag, doc) {
    this.showAll = flag;
    this.update(doc);
  }

  resize() {
    this.cy.resize();
  }

  syncListSoon() {
    clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => this.syncList(), 150);
  }

  /** A screen-reader list of the cards on the map, with each card's on-screen centre. */
  syncList() {
    const items = [];
    this.cy.nodes().forEach((n) => {
      if (n.hasClass('leaving')) return;
      const ref = n.data('ref') || {};
      const rp = n.renderedPosition();
      const text = n.data('kind') === 'node'
        ? `${ref.name} (${ref.device_type}), ${ref.status}${ref.health ? `, ${ref.health}` : ''}${this.positions.has(n.id()) ? ', pinned' : ''}`
        : `External ${ref.address} — ${ref.label || ref.role || ''}`;
      items.push(h('li', { dataset: { id: n.id(), kind: n.data('kind'), name: ref.name || ref.address || '', x: String(Math.round(rp.x)), y: String(Math.round(rp.y)), pinned: this.positions.has(n.id()) ? '1' : '0' } }, text));
    });
    this.list.replaceChildren(...items);
  }

  destroy() {
    clearInterval(this.dashTimer);
    this.cy.destroy();
  }
}
