// The LOCAL FLOWS table (product.md §4.6): one row per flow on every visible node, built from
// GET /api/v1/topology (nodes[].flows and nodes[].ports). Columns: drag handle (order saved by
// the caller, e.g. as the preference flow_table_order), FLOW (name, node under it), STATE,
// SIGNAL PATH (input chips → ● node → output chips), BITRATE, HEALTH, PREVIEW (lazy thumbnail).
// Rows are keyed by node/flow and updated in place, so a refresh never makes the table jump.
//
// const table = createFlowTable({thumbnails: (deviceType) => bool, onReorder: (keys) => {}});
// table.update(topology, {order, filter, hideOffline}); parent.append(table.el); table.count

import { h, replace } from '../dom.js';
import { formatBitrate } from '../format.js';
import { liveDot, healthInfo, portChip, STATUS_META } from './node-badges.js';
import { createThumbnail } from './thumbnail.js';

export const flowKey = (nodeId, flowId) => `${nodeId}/${flowId}`;

function text(el, value) {
  if (el.textContent !== value) el.textContent = value;
}

function nodeChip(node) {
  const meta = STATUS_META[node.status] || STATUS_META.offline;
  return h('a', { class: 'inline-flex shrink-0 items-center gap-1.5 font-semibold text-white no-underline hover:text-link hover:no-underline', href: `/nodes/${encodeURIComponent(node.id)}`, title: `Open ${node.name} (${meta.text})` },
    h('span', { class: `dot ${meta.kind === 'ok' ? 'dot-ok' : 'dot-offline'}`, 'aria-hidden': 'true' }),
    node.name, h('span', { class: 'sr-only' }, ` (${meta.text})`));
}

function signalPath(node, inputs, outputs) {
  const many = inputs.length > 1;
  const inCol = h('div', { class: 'flex min-w-0 flex-col items-start gap-1' },
    inputs.length
      ? inputs.map((p) => portChip(p, many ? h('span', { class: `font-mono text-[10px] font-semibold tracking-wider ${p.active ? 'text-ok' : 'text-slate-500'}` }, p.active ? 'ACTIVE' : 'STANDBY') : null))
      : h('span', { class: 'text-xs text-muted' }, 'No inputs'));
  const outCol = h('div', { class: 'flex min-w-0 flex-col items-start gap-1' },
    outputs.length ? outputs.map((p) => portChip(p)) : h('span', { class: 'text-xs text-muted' }, 'No outputs'));
  return h('div', { class: 'flex min-w-0 flex-wrap items-center gap-x-1.5 gap-y-1' },
    h('div', { class: 'flex items-center gap-1.5' }, inCol, h('span', { class: 'path-arrow', 'aria-hidden': 'true' }, '→')),
    h('div', { class: 'flex items-center gap-1.5' }, nodeChip(node), h('span', { class: 'path-arrow', 'aria-hidden': 'true' }, '→'), outCol));
}

function createRow(key, { thumbnails, onDragStart, onKeyMove }) {
  const handle = h('button', { type: 'button', class: 'drag-handle', draggable: 'true', 'aria-label': 'Reorder flow (Alt+Up / Alt+Down)', title: 'Drag to reorder' }, '≡');
  const name = h('p', { class: 'max-w-56 truncate font-semibold text-white' });
  const nodeLink = h('a', { class: 'text-xs' });
  const state = h('span', { class: 'tag tag-muted' });
  const path = h('td', { class: 'py-2', dataset: { col: 'path' } });
  const bitrate = h('td', { class: 'font-semibold whitespace-nowrap text-white tabular-nums', dataset: { col: 'bitrate' } });
  const health = liveDot();
  const preview = h('td', { class: 'py-2' });
  const tr = h('tr', { dataset: { flowKey: key } },
    h('td', { class: 'w-8 pr-0' }, handle),
    h('td', {}, name, nodeLink),
    h('td', {}, state),
    path, bitrate,
    h('td', {}, health.el),
    preview);
  handle.addEventListener('dragstart', (event) => onDragStart(event, tr, key));
  handle.addEventListener('keydown', (event) => {
    if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      event.preventDefault();
      onKeyMove(key, event.key === 'ArrowUp' ? -1 : 1, handle);
    }
  });

  let thumb = null;
  let pathSig = null;
  return {
    tr,
    update(node, flow, ports) {
      text(name, flow.name || flow.id);
      name.title = `${flow.name || flow.id} (${flow.id})`;
      text(nodeLink, node.name);
      nodeLink.href = `/nodes/${encodeURIComponent(node.id)}`;
      const running = flow.state === 'running' && node.status === 'online';
      const stateWord = node.status !== 'online' ? 'Offline' : running ? 'Running' : (flow.state || 'Idle');
      state.className = running ? 'tag tag-ok' : 'tag tag-muted';
      text(state, stateWord);
      text(bitrate, running ? formatBitrate(flow.bitrate_bps) : '--');
      const info = running ? healthInfo(flow.health) : { kind: 'offline', text: node.status === 'online' ? 'Idle' : 'Offline' };
      health.set(info.kind, info.text);

      const inputs = ports.filter((p) => p.direction === 'in');
      const outputs = ports.filter((p) => p.direction === 'out');
      const sig = JSON.stringify([node.name, node.status, ports.map((p) => [p.direction, p.protocol, p.address, p.role, p.active])]);
      if (sig !== pathSig) {
        pathSig = sig;
        replace(path, signalPath(node, inputs, outputs));
      }

      if (thumbnails(node.device_type)) {
        if (!thumb) {
          thumb = createThumbnail({ nodeId: node.id, flowId: flow.id, label: `Preview of ${flow.name || flow.id}` });
          replace(preview, thumb.el);
        }
        thumb.setActive(running, node.status === 'online' ? 'Stopped' : 'Offline');
      } else if (!preview.firstChild) {
        replace(preview, h('span', { class: 'thumb' }, h('span', { class: 'thumb-placeholder' }, 'No preview')));
      }
    },
    destroy() {
      thumb?.destroy();
      tr.remove();
    },
  };
}

export function createFlowTable({ thumbnails = () => true, onReorder = null } = {}) {
  const tbody = h('tbody');
  const empty = h('p', { class: 'px-4 py-8 text-center text-sm text-muted', hidden: true });
  const table = h('table', { class: 'table table-compact', id: 'flows-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'w-8 pr-0' }, h('span', { class: 'sr-only' }, 'Order')),
      ['Flow', 'State', 'Signal path', 'Bitrate', 'Health', 'Preview'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const el = h('div', { class: 'card overflow-x-auto' }, table, empty);
  const rows = new Map();
  let orderKeys = [];
  let dragKey = null;

  const emitOrder = () => {
    orderKeys = [...tbody.children].map((tr) => tr.dataset.flowKey);
    if (onReorder) onReorder(orderKeys.slice(0, 500));
  };

  const onDragStart = (event, tr, key) => {
    dragKey = key;
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', key);
    event.dataTransfer.setDragImage(tr, 20, 20);
    tr.classList.add('row-dragging');
  };
  tbody.addEventListener('dragover', (event) => {
    if (!dragKey) return;
    const target = event.target.closest('tr');
    if (!target || target.dataset.flowKey === dragKey) return;
    event.preventDefault();
    const dragged = rows.get(dragKey)?.tr;
    if (!dragged) return;
    const rect = target.getBoundingClientRect();
    const after = event.clientY > rect.top + rect.height / 2;
    tbody.insertBefore(dragged, after ? target.nextSibling : target);
  });
  const endDrag = () => {
    if (!dragKey) return;
    rows.get(dragKey)?.tr.classList.remove('row-dragging');
    dragKey = null;
    emitOrder();
  };
  tbody.addEventListener('drop', (event) => {
    event.preventDefault();
    endDrag();
  });
  tbody.addEventListener('dragend', endDrag);

  const onKeyMove = (key, delta, handle) => {
    const tr = rows.get(key)?.tr;
    if (!tr) return;
    const visible = [...tbody.children].filter((r) => !r.hidden);
    const index = visible.indexOf(tr);
    const other = visible[index + delta];
    if (!other) return;
    tbody.insertBefore(tr, delta < 0 ? other : other.nextSibling);
    handle.focus();
    emitOrder();
  };

  const api = {
    el,
    count: 0,
    running: 0,
    /** topology: GET /api/v1/topology body. order: saved keys. filter: text. hideOffline: bool. */
    update(topology, { order = null, filter = '', hideOffline = false } = {}) {
      if (Array.isArray(order)) orderKeys = order;
      const rank = new Map(orderKeys.map((k, i) => [k, i]));
      const items = [];
      for (const node of topology?.nodes || []) {
        for (const flow of node.flows || []) {
          items.push({ key: flowKey(node.id, flow.id), node, flow, ports: (node.ports || []).filter((p) => p.flow_id === flow.id) });
        }
      }
      items.sort((a, b) => (rank.get(a.key) ?? Infinity) - (rank.get(b.key) ?? Infinity)
        || String(a.node.name).localeCompare(String(b.node.name), undefined, { numeric: true })
        || String(a.flow.name || a.flow.id).localeCompare(String(b.flow.name || b.flow.id), undefined, { numeric: true }));
      const q = filter.trim().toLowerCase();
      const seen = new Set();
      let shown = 0;
      let running = 0;
      items.forEach((item, index) => {
        seen.add(item.key);
        let row = rows.get(item.key);
        if (!row) {
          row = createRow(item.key, { thumbnails, onDragStart, onKeyMove });
          rows.set(item.key, row);
        }
        row.update(item.node, item.flow, item.ports);
        if (!dragKey && tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
        const haystack = [item.flow.name, item.flow.id, item.node.name, ...item.ports.flatMap((p) => [p.address, p.protocol, p.label])]
          .filter(Boolean).join(' ').toLowerCase();
        const visible = (!q || haystack.includes(q)) && !(hideOffline && item.node.status !== 'online');
        row.tr.hidden = !visible;
        if (visible) shown += 1;
        if (item.flow.state === 'running' && item.node.status === 'online') running += 1;
      });
      for (const [key, row] of rows) {
        if (!seen.has(key)) {
          row.destroy();
          rows.delete(key);
        }
      }
      api.count = items.length;
      api.running = running;
      table.hidden = shown === 0;
      empty.hidden = shown !== 0;
      empty.textContent = items.length === 0
        ? 'No flows yet — create one on an edge under Nodes → Configure.'
        : 'No flow matches this filter.';
      return { total: items.length, shown, running };
    },
  };
  return api;
}
