// Tables under the flow view (product.md §4.6): LOCAL FLOWS (drag handle ≡ with the order saved
// as the `flow_table_order` preference, flow and node, state, signal-path chips, bitrate, health,
// 120×68 preview) and UNMATCHED TUNNELS. Rows update in place so previews and drags survive the
// 2 s refresh.

import { h, replace } from '../../dom.js';
import { formatBitrate, plural } from '../../format.js';

const THUMB_MS = 5000;
const PROTO_CLASS = { srt: 'proto-srt', rtp: 'proto-rtp', udp: 'proto-rtp', rtmp: 'proto-rtmp', rtmps: 'proto-rtmp' };
const HEALTH = { healthy: ['dot dot-ok', 'Healthy', 'text-ok'], warning: ['dot dot-warn', 'Warning', 'text-warn'], critical: ['dot dot-crit', 'Critical', 'text-crit'] };

function protoClass(protocol) {
  const p = String(protocol || '').toLowerCase();
  return p.includes('tunnel') ? 'proto-tunnel' : PROTO_CLASS[p] || 'proto-other';
}

function portChip(port, { showActive }) {
  return h('span', { class: `path-chip ${protoClass(port.protocol)}${port.active === false ? ' is-standby' : ''}`, title: `${port.label || port.protocol} ${port.address || ''} ${port.role || ''}`.trim() },
    h('span', { class: 'path-chip-proto' }, String(port.protocol || '?').toUpperCase()),
    h('span', { class: 'truncate' }, port.address || '—'),
    port.role ? h('span', { class: 'text-muted' }, `(${port.role})`) : null,
    showActive ? h('span', { class: port.active === false ? 'tag tag-muted' : 'tag tag-ok' }, port.active === false ? 'Standby' : 'Active') : null);
}

function healthCell(flow, online) {
  if (!online || flow.state !== 'running') return h('span', { class: 'inline-flex items-center gap-1.5 text-xs text-muted' }, h('span', { class: 'dot dot-offline', 'aria-hidden': 'true' }), 'Idle');
  const [dot, word, cls] = HEALTH[flow.health] || ['dot dot-offline', 'Unknown', 'text-muted'];
  return h('span', { class: `inline-flex items-center gap-1.5 text-xs font-medium ${cls}` }, h('span', { class: dot, 'aria-hidden': 'true' }), word);
}

// Previews load only for rows on screen (a plant can have hundreds of flows).
const visibleRows = new WeakSet();
let observer = null;
function watchRow(row) {
  if (typeof IntersectionObserver !== 'function') {
    visibleRows.add(row.tr);
    return;
  }
  observer ||= new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        visibleRows.add(entry.target);
        entry.target.flowRow?.refreshThumb();
      } else visibleRows.delete(entry.target);
    }
  }, { rootMargin: '200px 0px' });
  row.tr.flowRow = row;
  observer.observe(row.tr);
}

class FlowRow {
  constructor(key, { onMove }) {
    this.key = key;
    this.handle = h('button', { type: 'button', class: 'drag-handle', 'aria-label': 'Move row (use the arrow keys)', title: 'Drag to reorder' }, '≡');
    this.thumb = h('div', { class: 'thumb-box' }, h('span', { class: 'thumb-stopped' }, 'Preview'));
    this.cells = { flow: h('td'), state: h('td'), path: h('td'), rate: h('td', { class: 'whitespace-nowrap tabular-nums' }), health: h('td') };
    this.tr = h('tr', { draggable: 'true', dataset: { flowKey: key } },
      h('td', { class: 'w-8 pr-0' }, this.handle), this.cells.flow, this.cells.state, this.cells.path, this.cells.rate, this.cells.health, h('td', { class: 'w-[136px]' }, this.thumb));
    this.handle.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
        e.preventDefault();
        onMove(this.key, e.key === 'ArrowUp' ? -1 : 1);
        this.handle.focus();
      }
    });
    this.img = null;
    this.thumbUrl = null;
    this.wantUrl = null;
    this.lastThumb = 0;
    watchRow(this);
  }

  refreshThumb() {
    this.setThumb(this.wantUrl);
  }

  update(node, flow, ports) {
    const online = node.status === 'online';
    const running = online && flow.state === 'running';
    replace(this.cells.flow, h('div', { class: 'font-semibold whitespace-nowrap text-white' }, flow.name || flow.id),
      h('a', { class: 'text-xs text-muted hover:text-link', href: `/nodes/${encodeURIComponent(node.id)}` }, node.name));
    replace(this.cells.state, h('span', { class: running ? 'tag tag-ok' : 'tag tag-muted' }, running ? 'Running' : 'Idle'));
    const inputs = ports.filter((p) => p.direction === 'in');
    const outputs = ports.filter((p) => p.direction === 'out');
    replace(this.cells.path, h('div', { class: 'flex flex-wrap items-center gap-1.5' },
      h('span', { class: 'flex flex-col gap-1' }, inputs.length ? inputs.map((p) => portChip(p, { showActive: true })) : h('span', { class: 'text-xs text-muted' }, 'no input')),
      h('span', { class: 'flex items-center gap-1 whitespace-nowrap text-xs text-muted' }, '→',
        h('a', { class: 'inline-flex items-center gap-1 font-medium text-fg hover:text-link', href: `/nodes/${encodeURIComponent(node.id)}` },
          h('span', { class: online ? 'dot dot-ok' : 'dot dot-offline', 'aria-hidden': 'true' }), node.name), '→'),
      h('span', { class: 'flex flex-col gap-1' }, outputs.length ? outputs.map((p) => portChip(p, { showActive: false })) : h('span', { class: 'text-xs text-muted' }, 'no output'))));
    this.cells.rate.textContent = running ? formatBitrate(flow.bitrate_bps) : '--';
    replace(this.cells.health, healthCell(flow, online));
    this.wantUrl = running ? `/api/v1/nodes/${encodeURIComponent(node.id)}/flows/${encodeURIComponent(flow.id)}/thumbnail` : null;
    this.setThumb(this.wantUrl);
  }

  setThumb(url) {
    if (url && !visibleRows.has(this.tr)) return;
    if (!url) {
      this.thumbUrl = null;
      this.img = null;
      replace(this.thumb, h('span', { class: 'thumb-stopped' }, 'Stopped'));
      return;
    }
    const now = Date.now();
    if (url === this.thumbUrl && now - this.lastThumb < THUMB_MS) return;
    this.lastThumb = now;
    if (url !== this.thumbUrl || !this.img) {
      this.thumbUrl = url;
      this.img = h('img', { class: 'thumb-img', width: '120', height: '68', alt: 'Flow preview', decoding: 'async' });
      this.img.addEventListener('error', () => {
        if (this.thumbUrl === url) replace(this.thumb, h('span', { class: 'thumb-stopped' }, 'No preview'));
        this.img = null;
      });
      this.img.addEventListener('load', () => {
        if (this.img && !this.img.isConnected) replace(this.thumb, this.img);
      });
    }
    this.img.src = `${url}?t=${now}`;
  }
}

/**
 * flowTables({api, order}) → {node, update(doc), count}
 * `order` is the saved flow_table_order (array of "nodeId/flowId").
 */
export function flowTables({ api, order = [] }) {
  let saved = Array.isArray(order) ? order.slice(0, 500) : [];
  const rows = new Map();
  const flowCount = h('span', { class: 'count-badge', 'aria-label': 'flows' }, '0');
  const tunnelCount = h('span', { class: 'count-badge' }, '0');
  const tbody = h('tbody');
  const flowsBody = h('div', { class: 'overflow-x-auto' });
  const table = h('table', { class: 'table table-compact table-tight', 'aria-label': 'Local flows' },
    h('thead', {}, h('tr', {}, h('th', { class: 'w-8 pr-0' }, h('span', { class: 'sr-only' }, 'Order')), h('th', {}, 'Flow'), h('th', {}, 'State'),
      h('th', {}, 'Signal path'), h('th', {}, 'Bitrate'), h('th', {}, 'Health'), h('th', {}, 'Preview'))),
    tbody);
  const tunnelsBody = h('div', { class: 'overflow-x-auto' });
  const node = h('div', { class: 'mt-6 space-y-6' },
    h('section', { class: 'card overflow-hidden', 'aria-labelledby': 'local-flows-title' },
      h('header', { class: 'flex items-center gap-2 border-b border-line px-4 py-3' }, h('h2', { id: 'local-flows-title', class: 'table-title' }, 'Local flows'), flowCount),
      flowsBody),
    h('section', { class: 'card overflow-hidden', 'aria-labelledby': 'unmatched-title' },
      h('header', { class: 'flex items-center gap-2 border-b border-line px-4 py-3' }, h('h2', { id: 'unmatched-title', class: 'table-title' }, 'Unmatched tunnels'), tunnelCount),
      tunnelsBody));

  let saveTimer = null;
  const saveOrder = () => {
    saved = [...tbody.children].map((tr) => tr.dataset.flowKey).slice(0, 500);
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => api.put('/api/v1/preferences/flow_table_order', { value: saved }).catch(() => {}), 400);
  };
  const move = (key, delta) => {
    const tr = rows.get(key)?.tr;
    if (!tr) return;
    if (delta < 0 && tr.previousElementSibling) tbody.insertBefore(tr, tr.previousElementSibling);
    else if (delta > 0 && tr.nextElementSibling) tbody.insertBefore(tr.nextElementSibling, tr);
    saveOrder();
  };

  // Drag and drop of rows (started from anywhere on the row; the handle shows the affordance).
  let dragging = null;
  tbody.addEventListener('dragstart', (e) => {
    dragging = e.target.closest?.('tr');
    if (!dragging) return;
    dragging.classList.add('is-dragging');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', dragging.dataset.flowKey);
  });
  tbody.addEventListener('dragover', (e) => {
    if (!dragging) return;
    e.preventDefault();
    const over = e.target.closest?.('tr');
    if (!over || over === dragging) return;
    const rect = over.getBoundingClientRect();
    tbody.insertBefore(dragging, e.clientY > rect.top + rect.height / 2 ? over.nextElementSibling : over);
  });
  tbody.addEventListener('dragend', () => {
    if (!dragging) return;
    dragging.classList.remove('is-dragging');
    dragging = null;
    saveOrder();
  });

  function update(doc) {
    const entries = [];
    for (const n of doc.nodes || []) {
      for (const flow of n.flows || []) {
        entries.push({ key: `${n.id}/${flow.id}`, node: n, flow, ports: (n.ports || []).filter((p) => p.flow_id === flow.id) });
      }
    }
    const rank = new Map(saved.map((k, i) => [k, i]));
    entries.sort((a, b) => (rank.get(a.key) ?? 1e9) - (rank.get(b.key) ?? 1e9)
      || String(a.node.name).localeCompare(String(b.node.name)) || String(a.flow.name).localeCompare(String(b.flow.name)));
    flowCount.textContent = String(entries.length);
    flowCount.setAttribute('aria-label', plural(entries.length, 'flow'));
    if (entries.length === 0) {
      replace(flowsBody, h('p', { class: 'px-4 py-6 text-center text-sm text-muted' }, 'No flows yet — create one on an edge under its Configuration page.'));
    } else if (table.parentElement !== flowsBody) {
      replace(flowsBody, table);
    }
    const seen = new Set();
    for (const entry of entries) {
      seen.add(entry.key);
      let row = rows.get(entry.key);
      if (!row) {
        row = new FlowRow(entry.key, { onMove: move });
        rows.set(entry.key, row);
        tbody.append(row.tr);
      }
      row.update(entry.node, entry.flow, entry.ports);
    }
    for (const [key, row] of rows) {
      if (!seen.has(key)) {
        row.tr.remove();
        rows.delete(key);
      }
    }
    // Keep the saved order for rows that were never moved by hand this visit.
    if (!dragging) {
      entries.forEach((entry, i) => {
        const tr = rows.get(entry.key).tr;
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
      });
    }
    renderTunnels(doc);
  }

  function renderTunnels(doc) {
    const byNode = new Map((doc.nodes || []).map((n) => [n.id, n]));
    const unmatched = (doc.tunnels || []).filter((t) => !t.matched);
    tunnelCount.textContent = String(unmatched.length);
    if (unmatched.length === 0) {
      replace(tunnelsBody, h('p', { class: 'px-4 py-5 text-center text-sm text-muted' }, 'Every tunnel has both ends matched.'));
      return;
    }
    const end = (side) => {
      const n = side?.node_id ? byNode.get(side.node_id) : null;
      if (!n) return h('span', { class: 'text-muted' }, '?');
      return h('span', { class: 'inline-flex items-center gap-1' }, h('span', { class: n.status === 'online' ? 'dot dot-ok' : 'dot dot-offline', 'aria-hidden': 'true' }),
        h('a', { href: `/nodes/${encodeURIComponent(n.id)}`, class: 'text-fg hover:text-link' }, n.name), side.local_addr ? h('span', { class: 'font-mono text-xs text-muted' }, side.local_addr) : null);
    };
    replace(tunnelsBody, h('table', { class: 'table table-compact', 'aria-label': 'Unmatched tunnels' },
      h('thead', {}, h('tr', {}, ['Tunnel', 'Protocol', 'State', 'Path', 'Throughput'].map((t) => h('th', {}, t)))),
      h('tbody', {}, unmatched.map((t) => {
        const relay = t.relay_node_id ? byNode.get(t.relay_node_id) : null;
        return h('tr', {},
          h('td', { class: 'font-medium text-white' }, t.name || t.id),
          h('td', {}, h('span', { class: 'tag tag-relay' }, String(t.protocol || '').toUpperCase())),
          h('td', { class: 'text-slate-300' }, t.state || '—'),
          h('td', {}, h('span', { class: 'flex flex-wrap items-center gap-1.5 text-sm' }, end(t.ingress), '→',
            relay ? [h('span', { class: 'inline-flex items-center gap-1' }, h('span', { class: 'dot bg-type-relay', 'aria-hidden': 'true' }), relay.name), '→'] : null,
            end(t.egress))),
          h('td', { class: 'tabular-nums' }, formatBitrate(t.bitrate_bps)));
      }))));
  }

  return { node, update };
}
