// Flows (/flows): every flow on every visible node in one table (product.md §4.6 LOCAL FLOWS),
// with signal-path chips, bitrate, health and lazily loaded thumbnails (§5.6), plus the tunnels
// whose far end was not found and gateway endpoints with no port. Data: GET /api/v1/topology,
// re-read every 3 s while the tab is visible and at once when a node changes status.

import { h, replace } from '../dom.js';
import { pageHeader, errorState, skeletonRows, toastError } from '../ui.js';
import { formatBitrate, formatCount } from '../format.js';
import { loadDeviceTypes, hasFeature, STATUS_META } from '../components/node-badges.js';
import { createFlowTable } from '../components/flow-table.js';

const REFRESH_MS = 3000;
const PREF_ORDER = 'flow_table_order';

export async function mount(root, ctx) {
  ctx.setTitle('Flows');
  const filter = h('input', { id: 'flows-filter', type: 'search', class: 'input w-64 py-1.5', placeholder: 'Filter by flow, node, address, protocol…', maxlength: '256', autocomplete: 'off' });
  const hideOffline = h('input', { id: 'flows-hide-offline', type: 'checkbox', class: 'size-4 cursor-pointer accent-blue-500' });
  const pills = {
    online: pill('online'),
    flows: pill('flows'),
    running: pill('running'),
    links: pill('links'),
  };
  const toolbar = h('div', { class: 'flex flex-wrap items-center gap-2' },
    h('label', { class: 'sr-only', for: 'flows-filter' }, 'Filter flows'), filter,
    h('label', { class: 'mx-2 inline-flex cursor-pointer items-center gap-2 text-sm text-slate-300', for: 'flows-hide-offline' }, hideOffline, 'Hide offline nodes'),
    pills.online.el, pills.flows.el, pills.running.el, pills.links.el);

  let types = new Map();
  const table = createFlowTable({
    thumbnails: (deviceType) => types.size === 0 ? deviceType === 'edge' : hasFeature(types, deviceType, 'thumbnails'),
    onReorder: (keys) => saveOrder(keys),
  });
  const flowCount = h('span', { class: 'tag tag-pending ml-2' }, '0');
  const tunnelsSection = h('section', { class: 'mt-8', hidden: true, 'aria-labelledby': 'tunnels-heading' });
  const unboundSection = h('section', { class: 'mt-8', hidden: true, 'aria-labelledby': 'unbound-heading' });
  const tableHolder = h('div', {}, skeletonRows(4));

  root.append(
    pageHeader({ title: 'Flows', subtitle: 'Signal paths, local flows and tunnel connections across all nodes', actions: [toolbar] }),
    h('section', { 'aria-labelledby': 'local-flows-heading' },
      h('h2', { id: 'local-flows-heading', class: 'mb-2 flex items-center text-xs font-semibold tracking-wider text-muted uppercase' }, 'Local flows', flowCount),
      tableHolder),
    tunnelsSection,
    unboundSection,
  );

  let topology = null;
  let order = null;
  let loaded = false;

  const render = () => {
    if (!topology) return;
    const result = table.update(topology, { order, filter: filter.value, hideOffline: hideOffline.checked });
    order = null; // the table keeps the current order from now on
    flowCount.textContent = formatCount(result.total);
    const counts = topology.counts || {};
    pills.online.set(counts.online);
    pills.flows.set(result.total);
    pills.running.set(result.running);
    pills.links.set(counts.links);
    if (tableHolder.firstChild !== table.el) replace(tableHolder, table.el);
    renderTunnels(tunnelsSection, topology);
    renderUnbound(unboundSection, topology);
  };

  let inflight = false;
  const refresh = async () => {
    if (inflight || document.visibilityState === 'hidden') return;
    inflight = true;
    try {
      topology = await ctx.api.get('/api/v1/topology');
      loaded = true;
      render();
    } catch (err) {
      if (!loaded) replace(tableHolder, errorState(err, refresh));
    } finally {
      inflight = false;
    }
  };

  let saveTimer = null;
  function saveOrder(keys) {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      ctx.api.put(`/api/v1/preferences/${PREF_ORDER}`, { value: keys }).catch((err) => toastError(err));
    }, 500);
  }

  const [typesResult, prefsResult] = await Promise.allSettled([loadDeviceTypes(ctx.api), ctx.api.get('/api/v1/preferences')]);
  if (typesResult.status === 'fulfilled') types = typesResult.value;
  if (prefsResult.status === 'fulfilled' && Array.isArray(prefsResult.value?.[PREF_ORDER])) order = prefsResult.value[PREF_ORDER];

  filter.addEventListener('input', render);
  hideOffline.addEventListener('change', render);
  await refresh();
  setInterval(refresh, REFRESH_MS);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });
  let statusTimer = null;
  ctx.socket.on('node_status', () => {
    clearTimeout(statusTimer);
    statusTimer = setTimeout(refresh, 300);
  });
}

function pill(label) {
  const value = h('b', {}, '--');
  return {
    el: h('span', { class: 'counter-pill' }, value, label),
    set(n) {
      const text = formatCount(n);
      if (value.textContent !== text) value.textContent = text;
    },
  };
}

function sectionHeading(id, title, count) {
  return h('h2', { id, class: 'mb-2 flex items-center text-xs font-semibold tracking-wider text-muted uppercase' },
    title, h('span', { class: 'tag tag-pending ml-2' }, formatCount(count)));
}

function nodeRef(nodesById, nodeId, addr) {
  const node = nodesById.get(nodeId);
  if (!node) return h('span', { class: 'text-muted' }, '?');
  const meta = STATUS_META[node.status] || STATUS_META.offline;
  return h('span', { class: 'inline-flex items-center gap-1.5' },
    h('span', { class: `dot ${meta.kind === 'ok' ? 'dot-ok' : 'dot-offline'}`, 'aria-hidden': 'true' }),
    h('a', { class: 'font-semibold text-white', href: `/nodes/${encodeURIComponent(node.id)}` }, node.name),
    node.device_type === 'relay' ? h('span', { class: 'tag tag-relay' }, 'relay') : null,
    addr ? h('span', { class: 'font-mono text-xs text-muted' }, addr) : null);
}

function renderTunnels(section, topology) {
  const tunnels = (topology.tunnels || []).filter((t) => !t.matched);
  section.hidden = tunnels.length === 0;
  if (!tunnels.length) return;
  const nodesById = new Map((topology.nodes || []).map((n) => [n.id, n]));
  const arrow = () => h('span', { class: 'path-arrow', 'aria-hidden': 'true' }, '→');
  replace(section, sectionHeading('tunnels-heading', 'Unmatched tunnels', tunnels.length),
    h('div', { class: 'card overflow-x-auto' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['Tunnel', 'Protocol', 'State', 'Path', 'Throughput'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, tunnels.map((t) => h('tr', {},
        h('td', { class: 'font-semibold text-white' }, t.name || t.id),
        h('td', {}, h('span', { class: 'tag tag-relay' }, t.protocol || 'tunnel')),
        h('td', {}, h('span', { class: ['ready', 'active', 'connected'].includes(t.state) ? 'tag tag-ok' : 'tag tag-muted' }, t.state || 'unknown')),
        h('td', {}, h('div', { class: 'flex flex-wrap items-center gap-2' },
          t.ingress?.node_id ? nodeRef(nodesById, t.ingress.node_id, t.ingress.local_addr) : h('span', { class: 'text-muted' }, '?'),
          arrow(),
          t.relay_node_id ? [nodeRef(nodesById, t.relay_node_id), arrow()] : null,
          t.egress?.node_id ? nodeRef(nodesById, t.egress.node_id, t.egress.local_addr) : h('span', { class: 'text-muted' }, '?'))),
        h('td', { class: 'tabular-nums' }, t.bitrate_bps ? formatBitrate(t.bitrate_bps) : '--')))))));
}

function renderUnbound(section, topology) {
  const items = [];
  for (const node of topology.nodes || []) {
    for (const port of node.ports || []) if (port.state === 'unbound') items.push({ node, port });
  }
  section.hidden = items.length === 0;
  if (!items.length) return;
  replace(section, sectionHeading('unbound-heading', 'Unbound chassis endpoints', items.length),
    h('div', { class: 'card overflow-x-auto' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['Endpoint', 'Direction', 'Protocol', 'Chassis', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map(({ node, port }) => h('tr', {},
        h('td', { class: 'font-mono text-xs text-slate-200', title: port.entity_id || port.id }, port.entity_id ? `${port.label || 'Endpoint'} ${String(port.entity_id).slice(0, 8)}` : (port.label || port.id)),
        h('td', {}, h('span', { class: 'tag tag-muted' }, port.direction === 'in' ? 'input' : 'output')),
        h('td', { class: 'uppercase' }, port.protocol || '--'),
        h('td', {}, h('a', { href: `/nodes/${encodeURIComponent(node.id)}` }, node.name)),
        h('td', {}, h('span', { class: 'tag tag-warn' }, 'No port configured'))))))));
}
