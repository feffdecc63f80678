// How graph cards are drawn (product.md §4.6, "usable with 500 nodes"): the cytoscape stylesheet,
// and the card pictures. Pictures are SVG images; decoding hundreds of them at once stalls the
// browser, so a card shows as a plain box until its picture has been decoded, pictures are decoded
// only for cards in view, a few per frame, and at overview zoom on big maps every card stays a
// plain box (names appear as soon as they are legible).

const LOD_ZOOM = 0.45;      // below this zoom, maps of more than LOD_MIN cards draw plain boxes
const LOD_MIN = 80;
const DECODE_BATCH = 8;
export const FONT = 'ui-sans-serif, system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';

export function graphStyles() {
  return [
    { selector: 'node', style: {
      shape: 'rectangle', width: 'data(w)', height: 'data(h)', label: '',
      'background-opacity': 0, 'background-image': 'data(image)', 'background-fit': 'contain', 'background-clip': 'none',
      'background-image-smoothing': 'yes', 'border-width': 0, 'overlay-opacity': 0,
      'underlay-color': '#3b82f6', 'underlay-opacity': 0, 'underlay-padding': 6, 'underlay-shape': 'round-rectangle',
      'transition-property': 'opacity', 'transition-duration': '400ms',
    } },
    // Plain cards: at overview zoom on big maps, and until a card's picture is decoded.
    { selector: 'node.plain', style: {
      'background-image': 'none', 'background-opacity': 1, 'background-color': '#1e293b', shape: 'round-rectangle',
      'border-width': 2, 'border-color': 'data(border)', 'border-style': (e) => (e.data('dashed') ? 'dashed' : 'solid'),
      label: 'data(name)', color: '#f1f5f9', 'font-family': FONT, 'font-size': 14, 'font-weight': 600,
      'text-valign': 'center', 'text-halign': 'center', 'text-max-width': 220, 'text-wrap': 'ellipsis', 'min-zoomed-font-size': 7,
    } },
    { selector: 'node:selected', style: { 'underlay-opacity': 0.22 } },
    { selector: 'edge', style: {
      width: 'data(width)', 'line-color': 'data(color)', 'line-style': (e) => e.data('style'), 'line-dash-pattern': [7, 4],
      'line-cap': 'round', 'target-arrow-shape': 'triangle', 'target-arrow-color': 'data(color)', 'arrow-scale': 0.85,
      'curve-style': 'unbundled-bezier', 'edge-distances': 'endpoints',
      'source-endpoint': (e) => e.data('sep'), 'target-endpoint': (e) => e.data('tep'),
      'control-point-distances': (e) => e.data('cpd'), 'control-point-weights': (e) => e.data('cpw'),
      label: 'data(label)', 'font-family': FONT, 'font-size': 9.5, 'font-weight': 600, color: 'data(color)',
      'text-background-color': '#0f172a', 'text-background-opacity': 0.94, 'text-background-shape': 'round-rectangle', 'text-background-padding': 3,
      'text-border-color': 'data(healthColor)', 'text-border-width': 1, 'text-border-opacity': 0.9, 'min-zoomed-font-size': 7,
      'overlay-opacity': 0, 'transition-property': 'opacity', 'transition-duration': '400ms',
    } },
    { selector: 'edge:selected', style: { 'underlay-color': '#3b82f6', 'underlay-opacity': 0.25, 'underlay-padding': 4 } },
    { selector: '.faded', style: { opacity: 0.2 } },
    { selector: '.entering, .leaving', style: { opacity: 0 } },
  ];
}

export class CardPictures {
  constructor(cy, container) {
    this.cy = cy;
    this.container = container;
    this.ready = new Set();
    this.pending = new Map();
    this.decoding = false;
    this.timer = null;
  }

  viewportChanged() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.applyDetail();
      this.decode();
    }, 140);
  }

  /** Show this picture on the card once it is decoded (the old one stays until then, so live
   *  changes never flash). Decoding first keeps cytoscape from redrawing once per image load. */
  want(id, uri) {
    const ele = this.cy.getElementById(id);
    if (ele.empty() || ele.data('image') === uri) {
      this.pending.delete(id);
      return;
    }
    if (this.ready.has(uri)) {
      ele.data('image', uri);
      this.pending.delete(id);
    } else this.pending.set(id, uri);
  }

  /** Decode the waiting pictures of the cards in view (a few per frame, so the page stays
   *  responsive); cards out of view, or every card at overview zoom, wait until they are seen. */
  async decode() {
    if (this.decoding || this.pending.size === 0) return;
    this.decoding = true;
    try {
      for (;;) {
        if (!this.cy || this.cy.destroyed() || this.isOverview()) return;
        const view = this.cy.extent();
        const margin = 200;
        const wanted = [];
        for (const [id, uri] of this.pending) {
          if (this.ready.has(uri)) { wanted.push(uri); continue; }
          const ele = this.cy.getElementById(id);
          if (ele.empty()) { this.pending.delete(id); continue; }
          const p = ele.position();
          if (p.x > view.x1 - margin && p.x < view.x2 + margin && p.y > view.y1 - margin && p.y < view.y2 + margin) wanted.push(uri);
          if (wanted.length >= DECODE_BATCH) break;
        }
        if (wanted.length === 0) return;
        await Promise.all(wanted.filter((u) => !this.ready.has(u)).map((uri) => {
          const img = new Image();
          img.src = uri;
          return img.decode().catch(() => {});
        }));
        if (this.ready.size > 6000) this.ready.clear();
        for (const uri of wanted) this.ready.add(uri);
        if (!this.cy || this.cy.destroyed()) return;
        this.cy.batch(() => {
          for (const [id, uri] of [...this.pending]) {
            if (!this.ready.has(uri)) continue;
            this.pending.delete(id);
            const ele = this.cy.getElementById(id);
            if (ele.nonempty()) ele.data('image', uri);
          }
        });
        this.applyDetail();
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }
    } finally {
      this.decoding = false;
    }
  }

  isOverview() {
    return this.cy.zoom() < LOD_ZOOM && this.cy.nodes().length > LOD_MIN;
  }

  /** Plain boxes at overview zoom on big maps, and for cards whose picture is not decoded yet. */
  applyDetail() {
    const cy = this.cy;
    const overview = this.isOverview();
    if (this.container.dataset.detail !== (overview ? 'overview' : 'cards')) this.container.dataset.detail = overview ? 'overview' : 'cards';
    cy.batch(() => {
      cy.nodes().forEach((n) => {
        const plain = overview || n.data('image') === 'none';
        if (n.hasClass('plain') !== plain) n.toggleClass('plain', plain);
      });
    });
  }
}
