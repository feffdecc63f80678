// Topology (product.md §4.6): Graph | Flow tabs (remembered as `topology_view`), Reset layout,
// Hide offline nodes (`topology_hide_offline`), a filter box and counter pills. Both views draw
// GET /api/v1/topology; the page re-fetches it on socket update/node_status frames, at most once
// every 2 s, so the map follows the plant without a reload.

import { h, replace } from '../dom.js';
import { pageHeader, emptyState, errorState, confirmDialog, toastError } from '../ui.js';
import { formatCount } from '../format.js';
import { PositionStore } from './topology/positions.js';

const REFRESH_MS = 2000;

export async function mount(root, ctx) {
  ctx.setTitle('Topology');
  const { api } = ctx;

  // Toolbar
  // Controls start disabled and are enabled once the page has wired them (below).
  const tabGraph = h('button', { type: 'button', role: 'tab', class: 'seg-btn', id: 'tab-graph', 'aria-controls': 'topo-graph', disabled: true }, 'Graph');
  const tabFlow = h('button', { type: 'button', role: 'tab', class: 'seg-btn', id: 'tab-flow', 'aria-controls': 'topo-flow', disabled: true }, 'Flow');
  const tabs = h('div', { class: 'seg', role: 'tablist', 'aria-label': 'View' }, tabGraph, tabFlow);
  const reset = h('button', { type: 'button', class: 'btn btn-secondary', disabled: true }, '↺ Reset layout');
  const hideOffline = h('input', { type: 'checkbox', class: 'checkbox', id: 'topo-hide-offline', disabled: true });
  const filter = h('input', { type: 'search', class: 'input w-64 py-1.5', placeholder: 'Filter node, address, protocol, flow…', 'aria-label': 'Filter the map', maxlength: '256', disabled: true });
  const pill = (label) => {
    const value = h('span', { class: 'text-base font-bold text-white tabular-nums' }, '–');
    return { node: h('span', { class: 'count-pill' }, value, h('span', { class: 'text-xs text-muted' }, label)), value };
  };
  const pills = { online: pill('online'), nodes: pill('nodes'), flows: pill('flows'), links: pill('links') };
  pills.online.value.classList.replace('text-white', 'text-ok');
  const header = pageHeader({
    title: 'Network Topology',
    subtitle: 'Live map of edge nodes, relay servers, gateways and their connections',
    actions: [tabs, reset, h('label', { class: 'flex items-center gap-2 text-sm text-slate-300', for: 'topo-hide-offline' }, hideOffline, 'Hide offline nodes')],
  });
  const toolbar = h('div', { class: 'mb-3 flex flex-wrap items-center gap-2' }, filter,
    h('div', { class: 'ml-auto flex flex-wrap items-center gap-2', 'aria-live': 'polite' }, pills.online.node, pills.nodes.node, pills.flows.node, pills.links.node));
  const notice = h('div', { class: 'mb-3 flex items-center gap-3 rounded-md border border-amber-400/30 bg-amber-400/10 px-3 py-2 text-sm text-warn', hidden: true, role: 'status' });
  const graphPanel = h('section', { id: 'topo-graph', role: 'tabpanel', 'aria-labelledby': 'tab-graph', class: 'topo-panel topo-panel-graph' });
  const flowPanel = h('section', { id: 'topo-flow', role: 'tabpanel', 'aria-labelledby': 'tab-flow', class: 'topo-panel topo-panel-flow' });
  const flowWrap = h('div', { hidden: true }, flowPanel);
  const status = h('div');
  root.append(header, toolbar, notice, status, graphPanel, flowWrap);

  // Preferences, positions and the first document, in parallel with loading the canvas code.
  const graphPositions = new PositionStore(api, 'graph');
  const flowPositions = new PositionStore(api, 'flow');
  const [prefs, , , modules] = await Promise.all([
    api.get('/api/v1/preferences').catch(() => ({})),
    graphPositions.load(),
    flowPositions.load(),
    Promise.all([import('./topology/graph.js'), import('./topology/flow-graph.js'), import('./topology/flow-tables.js')]),
  ]);
  const [{ GraphView }, { FlowGraph }, { flowTables }] = modules;
  let view = prefs?.topology_view === 'flow' ? 'flow' : 'graph';
  hideOffline.checked = prefs?.topology_hide_offline === true;

  const openNode = (id) => location.assign(`/nodes/${encodeURIComponent(id)}`);
  let doc = null;
  let graph = null;
  let flow = null;
  let tables = null;

  const showNotice = ({ shown, total, capped }) => {
    notice.hidden = !capped;
    if (!capped) return;
    const button = h('button', { type: 'button', class: 'btn btn-secondary btn-sm ml-auto' }, 'Show all');
    button.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: 'Show every node', action: 'Draw all', objectName: `${formatCount(total)} nodes`, danger: false, confirmLabel: 'Show all',
        message: 'Beyond 500 cards and 200 ports per card the map can become slow to pan and zoom.',
      });
      if (ok) graph.setShowAll(true, doc);
    });
    replace(notice, h('span', {}, `Showing ${formatCount(shown)} of ${formatCount(total)} nodes (soft cap of 500 cards and 200 ports per card).`), button);
  };

  function ensureView() {
    if (view === 'graph' && !graph) graph = new GraphView(graphPanel, { positions: graphPositions, onOpenNode: openNode, onCapped: showNotice });
    if (view === 'flow' && !flow) {
      flow = new FlowGraph(flowPanel, { positions: flowPositions, onOpenNode: openNode });
      tables = flowTables({ api, order: prefs?.flow_table_order });
      flowWrap.append(tables.node);
    }
  }

  function draw() {
    if (!doc) return;
    const c = doc.counts || {};
    pills.online.value.textContent = formatCount(c.online ?? 0);
    pills.nodes.value.textContent = `${formatCount(c.nodes ?? 0)} + ${formatCount(c.external ?? 0)} ext`;
    pills.flows.value.textContent = formatCount(c.flows ?? 0);
    pills.links.value.textContent = formatCount(c.links ?? 0);
    const noNodes = (doc.nodes || []).length === 0 && !hideOffline.checked;
    if (noNodes) {
      replace(status, ctx.hasRole('admin')
        ? emptyState({ text: 'No nodes yet — Add Node to register your first edge, relay or gateway.', action: { label: 'Add Node', href: '/admin/nodes?add=1' } })
        : emptyState({ text: 'No nodes yet — an administrator adds them under Nodes.' }));
    } else if ((doc.nodes || []).length === 0) {
      replace(status, h('p', { class: 'mb-3 rounded-md border border-line bg-surface px-4 py-3 text-sm text-muted', role: 'status' },
        'Every node is offline right now — untick “Hide offline nodes” to see them.'));
    } else replace(status);
    graphPanel.hidden = noNodes || view !== 'graph';
    flowWrap.hidden = noNodes || view !== 'flow';
    if (noNodes) return;
    ensureView();
    if (view === 'graph') graph.update(doc);
    else {
      flow.update(doc);
      tables.update(doc);
    }
    if (filter.value) (view === 'graph' ? graph : flow).setFilter(filter.value);
  }

  function selectView(next, save = true) {
    view = next;
    tabGraph.setAttribute('aria-selected', String(view === 'graph'));
    tabFlow.setAttribute('aria-selected', String(view === 'flow'));
    tabGraph.tabIndex = view === 'graph' ? 0 : -1;
    tabFlow.tabIndex = view === 'flow' ? 0 : -1;
    draw();
    (view === 'graph' ? graph : flow)?.resize();
    if (save) api.put('/api/v1/preferences/topology_view', { value: view }).catch(() => {});
  }
  tabGraph.addEventListener('click', () => selectView('graph'));
  tabFlow.addEventListener('click', () => selectView('flow'));
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    selectView(view === 'graph' ? 'flow' : 'graph');
    (view === 'graph' ? tabGraph : tabFlow).focus();
  });

  reset.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Reset layout', action: 'Reset the saved layout of the', objectName: view === 'graph' ? 'Graph view' : 'Flow view', confirmLabel: 'Reset layout',
      message: 'Every card you pinned in this view goes back to the automatic layout.',
    });
    if (!ok) return;
    try {
      await (view === 'graph' ? graph : flow)?.resetLayout();
    } catch (err) {
      toastError(err);
    }
  });

  hideOffline.addEventListener('change', () => {
    api.put('/api/v1/preferences/topology_hide_offline', { value: hideOffline.checked }).catch(() => {});
    refresh(true);
  });
  let filterTimer = null;
  filter.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => (view === 'graph' ? graph : flow)?.setFilter(filter.value), 150);
  });
  window.addEventListener('resize', () => (view === 'graph' ? graph : flow)?.resize());

  // Fetching: at most one request in flight and at most one every 2 s.
  let inFlight = false;
  let lastFetch = 0;
  let timer = null;
  let again = false;
  async function refresh(now = false) {
    if (inFlight) {
      again = true;
      return;
    }
    const wait = now ? 0 : Math.max(0, lastFetch + REFRESH_MS - Date.now());
    if (wait > 0) {
      if (!timer) timer = setTimeout(() => { timer = null; refresh(); }, wait);
      return;
    }
    inFlight = true;
    lastFetch = Date.now();
    try {
      doc = await api.get('/api/v1/topology', { query: hideOffline.checked ? { hide_offline: 'true' } : undefined });
      draw();
    } catch (err) {
      if (!doc) replace(status, errorState(err, () => refresh(true)));
      else console.warn('topology refresh failed', err);
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  selectView(view, false);
  for (const control of [tabGraph, tabFlow, reset, hideOffline, filter]) control.disabled = false;
  await refresh(true);
  ctx.socket.on('update', () => refresh());
  ctx.socket.on('node_status', () => refresh());
  ctx.socket.on('snapshot', () => refresh());
  window.addEventListener('pagehide', () => {
    graphPositions.flushPending();
    flowPositions.flushPending();
  });
}
