// Force-directed layout of the graph view (product.md §4.6), seeded from node ids so a reload
// draws the same picture. A small purpose-built simulation rather than a generic one, because the
// cards are large rectangles and signal should read left to right:
//   - cards start at a column from their longest upstream path, with a seeded vertical jitter;
//   - wires are springs that want their target one column to the right of their source;
//   - cards repel their neighbours (spatial grid, so 500+ cards stay fast) and never overlap;
//   - a weak gravity keeps islands together; pinned cards never move.
// Every step is deterministic: elements are visited in id order and all randomness is seeded.

const COLUMN = 390;       // ideal horizontal distance along a wire
const GAP_X = 48;         // minimum clear space between cards
const GAP_Y = 28;
const CELL = 420;         // spatial-grid cell for repulsion

/** 32-bit FNV-1a hash of a string. */
export function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seeded PRNG returning [0, 1). */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ranks(count, edges) {
  const rank = new Array(count).fill(0);
  for (let pass = 0; pass < Math.min(count, 24); pass += 1) {
    let changed = false;
    for (const [s, t] of edges) {
      if (rank[t] < rank[s] + 1 && rank[s] + 1 < count) {
        rank[t] = rank[s] + 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return rank;
}

function gridOf(items) {
  const grid = new Map();
  items.forEach((it, i) => {
    const key = `${Math.floor(it.x / CELL)},${Math.floor(it.y / CELL)}`;
    if (!grid.has(key)) grid.set(key, []);
    grid.get(key).push(i);
  });
  return grid;
}

function forNeighbours(items, grid, fn) {
  items.forEach((a, i) => {
    const cx = Math.floor(a.x / CELL);
    const cy = Math.floor(a.y / CELL);
    for (let gx = cx - 1; gx <= cx + 1; gx += 1) {
      for (let gy = cy - 1; gy <= cy + 1; gy += 1) {
        for (const j of grid.get(`${gx},${gy}`) || []) if (j > i) fn(i, j);
      }
    }
  });
}

/**
 * layoutGraph(cy, {pinned: Set<id>}) — place every unpinned card. Deterministic for the same set of
 * elements, sizes and pins.
 */
export function layoutGraph(cy, { pinned }) {
  const nodes = cy.nodes().sort((a, b) => (a.id() < b.id() ? -1 : 1));
  const n = nodes.length;
  if (n === 0) return;
  const index = new Map();
  const items = nodes.map((node, i) => {
    index.set(node.id(), i);
    const p = node.position();
    return { id: node.id(), x: p.x, y: p.y, w: node.outerWidth(), h: node.outerHeight(), fixed: pinned.has(node.id()), dx: 0, dy: 0 };
  });
  const pairs = new Set();
  const edges = [];
  cy.edges().forEach((e) => {
    const s = index.get(e.source().id());
    const t = index.get(e.target().id());
    if (s === undefined || t === undefined || s === t || pairs.has(`${s}>${t}`)) return;
    pairs.add(`${s}>${t}`);
    edges.push([s, t]);
  });
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

  // Start: a column per longest-upstream-path rank, rows ordered by seeded hash and then by
  // 4 barycentre sweeps (fewer crossings), cards stacked by their real heights.
  const rank = ranks(n, edges);
  const preds = items.map(() => []);
  const succs = items.map(() => []);
  for (const [s, t] of edges) { preds[t].push(s); succs[s].push(t); }
  const linked = items.map((_, i) => preds[i].length + succs[i].length > 0);
  const columns = [];
  items.forEach((it, i) => {
    if (it.fixed) return;
    const c = linked[i] ? rank[i] : 0;
    (columns[c] ||= []).push(i);
    it.order = seeded(hash(it.id))();
  });
  const stack = (col) => {
    const total = col.reduce((sum, i) => sum + items[i].h + GAP_Y * 2, 0);
    let y = -total / 2;
    for (const i of col) {
      items[i].y = y + items[i].h / 2;
      y += items[i].h + GAP_Y * 2;
    }
  };
  const centre = (i, near) => (near[i].length ? near[i].reduce((sum, j) => sum + items[j].y, 0) / near[i].length : null);
  const sortBy = (col, near) => {
    col.sort((a, b) => {
      // Unlinked cards go last; the rest follow the mean row of their neighbours, then the seed.
      if (linked[a] !== linked[b]) return linked[a] ? -1 : 1;
      const ca = centre(a, near);
      const cb = centre(b, near);
      return (ca ?? items[a].y) - (cb ?? items[b].y) || items[a].order - items[b].order;
    });
    stack(col);
  };
  columns.forEach((col) => { if (col) { col.sort((a, b) => items[a].order - items[b].order); stack(col); } });
  for (let sweep = 0; sweep < 4; sweep += 1) {
    for (let c = 1; c < columns.length; c += 1) if (columns[c]) sortBy(columns[c], preds);
    for (let c = columns.length - 2; c >= 0; c -= 1) if (columns[c]) sortBy(columns[c], succs);
  }
  columns.forEach((col, c) => col && col.forEach((i) => { items[i].x = c * COLUMN; }));

  const iterations = n > 400 ? 80 : n > 150 ? 120 : 200;
  let temperature = 40;
  const cooling = (1 / temperature) ** (1 / iterations);
  for (let step = 0; step < iterations; step += 1) {
    for (const it of items) { it.dx = 0; it.dy = 0; }
    // Repulsion between near cards, much stronger when their padded boxes overlap.
    forNeighbours(items, gridOf(items), (i, j) => {
      const a = items[i];
      const b = items[j];
      let dx = b.x - a.x;
      let dy = b.y - a.y;
      if (dx === 0 && dy === 0) { dx = ((i * 7 + j) % 5) - 2 || 1; dy = ((i + j * 3) % 5) - 2 || 1; }
      const ox = (a.w + b.w) / 2 + GAP_X - Math.abs(dx);
      const oy = (a.h + b.h) / 2 + GAP_Y - Math.abs(dy);
      let fx = 0;
      let fy = 0;
      if (ox > 0 && oy > 0) {
        // Overlap: push apart along the cheaper axis.
        if (ox * 0.6 < oy) fx = Math.sign(dx) * ox * 0.5;
        else fy = Math.sign(dy) * oy * 0.5;
      } else {
        const d2 = Math.max(dx * dx + dy * dy, 400);
        const f = 6e4 / d2;
        const d = Math.sqrt(d2);
        fx = (dx / d) * f;
        fy = (dy / d) * f;
      }
      a.dx -= fx; a.dy -= fy;
      b.dx += fx; b.dy += fy;
    });
    // Directed springs: a wire's target sits one column to the right of its source, level with it.
    for (const [s, t] of edges) {
      const a = items[s];
      const b = items[t];
      const fx = ((b.x - a.x) - COLUMN) * 0.06;
      const fy = (b.y - a.y) * 0.05;
      a.dx += fx; a.dy += fy;
      b.dx -= fx; b.dy -= fy;
    }
    let cx = 0;
    let cy = 0;
    for (const it of items) { cx += it.x; cy += it.y; }
    cx /= n;
    cy /= n;
    for (const it of items) {
      if (it.fixed) continue;
      it.dx -= (it.x - cx) * 0.002;
      it.dy -= (it.y - cy) * 0.01;
      const len = Math.hypot(it.dx, it.dy);
      if (len > temperature) { it.dx *= temperature / len; it.dy *= temperature / len; }
      it.x += it.dx;
      it.y += it.dy;
    }
    temperature *= cooling;
  }

  // Final passes: no two cards overlap.
  for (let pass = 0; pass < 30; pass += 1) {
    let moved = false;
    forNeighbours(items, gridOf(items), (i, j) => {
      const a = items[i];
      const b = items[j];
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const ox = (a.w + b.w) / 2 + GAP_X / 2 - Math.abs(dx);
      const oy = (a.h + b.h) / 2 + GAP_Y / 2 - Math.abs(dy);
      if (ox <= 0 || oy <= 0) return;
      moved = true;
      const share = a.fixed || b.fixed ? 1 : 0.5;
      const vertical = oy < ox;
      const push = (vertical ? oy : ox) * share + 0.5;
      const sx = vertical ? 0 : (Math.sign(dx) || 1) * push;
      const sy = vertical ? (Math.sign(dy) || 1) * push : 0;
      if (!a.fixed) { a.x -= sx; a.y -= sy; }
      if (!b.fixed) { b.x += sx; b.y += sy; }
    });
    if (!moved) break;
  }

  cy.batch(() => {
    items.forEach((it, i) => {
      if (!it.fixed) nodes[i].position({ x: Math.round(it.x), y: Math.round(it.y) });
    });
  });
}

/** Somewhere free for a card that appears after the first layout: right of a card that feeds it,
 *  left of one it feeds, else below everything. */
export function placeNear(cy, node) {
  const rnd = seeded(hash(node.id()));
  const upstream = node.incomers('node').filter((o) => o.id() !== node.id())[0];
  const downstream = node.outgoers('node').filter((o) => o.id() !== node.id())[0];
  let pos;
  if (upstream) pos = { x: upstream.position().x + COLUMN, y: upstream.position().y + (rnd() - 0.5) * 120 };
  else if (downstream) pos = { x: downstream.position().x - COLUMN, y: downstream.position().y + (rnd() - 0.5) * 120 };
  else {
    const bb = cy.nodes().not(node).boundingBox();
    pos = Number.isFinite(bb.y2) ? { x: bb.x1 + rnd() * Math.max(100, bb.w), y: bb.y2 + 80 } : { x: 0, y: 0 };
  }
  // Step down until the spot is clear.
  const w = node.outerWidth();
  const h = node.outerHeight();
  for (let tries = 0; tries < 40; tries += 1) {
    const clash = cy.nodes().not(node).some((o) => {
      const p = o.position();
      return Math.abs(p.x - pos.x) < (w + o.outerWidth()) / 2 + 20 && Math.abs(p.y - pos.y) < (h + o.outerHeight()) / 2 + 16;
    });
    if (!clash) break;
    pos = { x: pos.x, y: pos.y + h / 2 + 40 };
  }
  return pos;
}
