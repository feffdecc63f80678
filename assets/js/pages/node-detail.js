// Node detail (product.md §4.8): /nodes/{id}. Header and stat cards for every node; then, by
// device type, resources and network interfaces plus one card per flow (edge), the relay
// overview (relay) or the gateway module (appear_x); recent events at the bottom.
//
// Live data: the page watches its node on the dashboard socket (api.md §15.3), so node_stats
// frames arrive at 1 Hz; NodeLive updates drive the header; the health report is re-read every
// 15 s. When the node is offline the page keeps the last known data, greyed, with "offline since".

import { h, replace } from '../dom.js';
import { emptyState, errorState, skeletonRows } from '../ui.js';
import { debounce } from './node-detail/common.js';
import { buildHeader, buildStatCards } from './node-detail/header.js';
import { buildResources, buildInterfaces } from './node-detail/resources.js';
import { createFlowCard } from './node-detail/flow-card.js';
import { createRelayView } from './node-detail/relay.js';
import { createAppearXView } from './node-detail/appearx.js';
import { createRecentEvents } from './node-detail/events.js';

const HEALTH_POLL_MS = 15000;
const FLOW_STATS_MAX_AGE_MS = 5000;

export async function mount(root, ctx) {
  const nodeId = ctx.params.nodeId;
  ctx.setTitle('Node');
  root.append(h('div', { class: 'mb-6' }, h('div', { class: 'skeleton h-8 w-64' }), h('div', { class: 'skeleton mt-2 h-4 w-96' })), skeletonRows(6));
  const enc = encodeURIComponent(nodeId || '');

  let node;
  let deviceTypes;
  try {
    [node, deviceTypes] = await Promise.all([
      ctx.api.get(`/api/v1/nodes/${enc}`),
      ctx.api.get('/api/v1/device-types'),
    ]);
  } catch (err) {
    replace(root, err.status === 404
      ? emptyState({ title: 'Node not found', text: 'This node does not exist or is not visible to you.', action: { label: 'Back to Nodes', href: '/admin/nodes' } })
      : errorState(err, () => location.reload()));
    return;
  }
  const deviceType = (deviceTypes?.device_types || []).find((t) => t.device_type === node.device_type) || null;
  const features = new Set(deviceType?.features || []);
  const isEdge = features.has('flows');
  const hasGetConfig = (deviceType?.supported_commands || []).some((c) => c.name === 'get_config');

  const state = {
    node,
    deviceType,
    health: null,
    stats: null,
    statsTs: null,
    config: null,
    nodeNames: new Map(),
    liveFlows: new Map(), // flow_id -> {flow, at}
    isOnline: () => state.node.status === 'online',
    onNodeChanged: () => {},
    onConfigChanged: () => {},
  };

  const [health, stats, config, nodes] = await Promise.all([
    ctx.api.get(`/api/v1/nodes/${enc}/health`).catch(() => null),
    ctx.api.get(`/api/v1/nodes/${enc}/stats`).catch(() => null),
    isEdge && hasGetConfig ? ctx.api.get(`/api/v1/nodes/${enc}/config`).catch(() => null) : null,
    node.device_type === 'relay' ? ctx.api.get('/api/v1/nodes').catch(() => []) : null,
  ]);
  state.health = health;
  state.stats = stats?.stats || null;
  state.statsTs = stats?.received_at ? Date.parse(stats.received_at) / 1000 : null;
  state.config = config;
  for (const n of nodes || []) state.nodeNames.set(n.id, n.name);
  recordFlows(state, state.stats);

  // ---- layout --------------------------------------------------------------------------------
  const head = buildHeader(ctx, state);
  const cards = buildStatCards(state);
  const content = h('div', { class: 'flex flex-col gap-4' });
  const events = createRecentEvents(ctx, nodeId);
  replace(root, head.header, head.banner, cards.node, content);

  const report = () => state.health?.report || {};
  const sysRes = () => state.stats?.system_resources || report().system_resources;
  let resources = null;
  let interfaces = null;
  let variant = null;
  let flowsSection = null;
  const flowCards = new Map();
  const flowList = h('div', { class: 'flex flex-col gap-4' });

  const ensureResources = () => {
    if (!resources && sysRes()) {
      resources = buildResources(ctx, state);
      resourcesHost.append(resources.node);
      resources.update(sysRes(), state.statsTs || Date.now() / 1000, { record: false });
      resources.setBudget(report().resource_budget);
    }
    const ifaces = report().network_interfaces;
    if (!interfaces && Array.isArray(ifaces)) {
      interfaces = buildInterfaces();
      resourcesHost.append(interfaces.node);
      interfaces.update(ifaces, state.health?.received_at);
      resourcesHost.classList.toggle('xl:grid-cols-[minmax(20rem,1fr)_2fr]', !!resources);
    }
  };
  const resourcesHost = h('div', { class: 'grid grid-cols-1 gap-4' });

  if (isEdge) {
    flowsSection = h('section', { 'aria-labelledby': 'nd-flows-title' },
      h('div', { class: 'mb-3 flex items-center justify-between' },
        h('h2', { id: 'nd-flows-title', class: 'section-title' }, 'Flows'),
        hasGetConfig && ctx.hasRole('operator') ? h('a', { class: 'text-sm', href: `/nodes/${enc}/config#flows` }, 'Manage flows →') : null),
      flowList);
    content.append(resourcesHost, flowsSection, events.node);
  } else if (node.device_type === 'relay') {
    variant = createRelayView(ctx, state);
    content.append(variant.node, events.node);
  } else if (node.device_type === 'appear_x') {
    variant = createAppearXView(ctx, state);
    content.append(variant.node, resourcesHost, events.node);
  } else {
    const pre = h('pre', { class: 'nd-json' });
    variant = { node: h('section', { class: 'nd-panel' }, h('h2', { class: 'nd-panel-title' }, 'Last health report'), pre),
      update: () => { pre.textContent = JSON.stringify(state.health?.report ?? null, null, 2); } };
    variant.update();
    content.append(variant.node, resourcesHost, events.node);
  }
  ensureResources();

  // ---- flows ---------------------------------------------------------------------------------
  const renderFlows = () => {
    if (!isEdge) return;
    const cfg = state.config;
    const now = Date.now();
    const live = new Map();
    for (const [id, entry] of state.liveFlows) if (now - entry.at <= FLOW_STATS_MAX_AGE_MS) live.set(id, entry.flow);
    const ids = cfg && Array.isArray(cfg.flows) ? cfg.flows.map((f) => f.id) : [];
    for (const id of live.keys()) if (!ids.includes(id)) ids.push(id);
    if (ids.length === 0) {
      for (const card of flowCards.values()) card.destroy();
      flowCards.clear();
      if (!cfg && state.node.status !== 'online') {
        replace(flowList, emptyState({ text: 'No configuration has been received from this node yet; its flows appear once it connects.' }));
        return;
      }
      replace(flowList, emptyState({
        text: ctx.hasRole('operator') && hasGetConfig ? 'No flows on this node yet — add one in its configuration.' : 'No flows on this node yet.',
        action: ctx.hasRole('operator') && hasGetConfig ? { label: 'Configure', href: `/nodes/${enc}/config#flows` } : null,
      }));
      return;
    }
    if (flowList.firstChild && !flowList.firstChild.dataset?.flowId) replace(flowList);
    const inputsById = new Map((cfg?.inputs || []).map((i) => [i.id, i]));
    const outputsById = new Map((cfg?.outputs || []).map((o) => [o.id, o]));
    const tunnelAddrs = new Set((state.stats?.tunnels || cfg?.tunnels || []).map((t) => t.local_addr).filter(Boolean));
    ids.forEach((id, index) => {
      let card = flowCards.get(id);
      if (!card) {
        card = createFlowCard(ctx, state, id);
        flowCards.set(id, card);
      }
      if (flowList.children[index] !== card.node) flowList.insertBefore(card.node, flowList.children[index] || null);
      const fc = (cfg?.flows || []).find((f) => f.id === id) || null;
      const inputs = (fc?.input_ids || []).map((i) => inputsById.get(i) || { id: i, name: i, type: '?' });
      const outputs = (fc?.output_ids || []).map((o) => outputsById.get(o) || { id: o, name: o, type: '?' });
      const liveFlow = live.get(id) || null;
      card.update({
        name: fc?.name || liveFlow?.flow_name || id, cfg: fc, inputs, outputs, live: liveFlow,
        online: state.isOnline(), ts: state.statsTs,
        tunnel: [...inputs, ...outputs].some((e) => tunnelAddrs.has(e.local_addr) || tunnelAddrs.has(e.dest_addr) || tunnelAddrs.has(e.bind_addr)),
      });
    });
    for (const [id, card] of flowCards) {
      if (!ids.includes(id)) {
        card.destroy();
        card.node.remove();
        flowCards.delete(id);
      }
    }
    if (cfg && [...live.keys()].some((id) => !cfg.flows?.some((f) => f.id === id))) state.onConfigChanged();
  };

  const loadConfig = async () => {
    if (!isEdge || !hasGetConfig) return;
    try {
      state.config = await ctx.api.get(`/api/v1/nodes/${enc}/config`);
    } catch {
      // Keep what we have; the node may be busy or offline.
    }
    renderFlows();
  };
  state.onConfigChanged = debounce(loadConfig, 400);
  renderFlows();

  // ---- live updates --------------------------------------------------------------------------
  const applyOffline = () => content.classList.toggle('nd-offline', state.node.status !== 'online');
  applyOffline();
  state.onNodeChanged = () => {
    head.update();
    cards.update();
    applyOffline();
    variant?.update?.(state.stats || (node.device_type === 'relay' ? state.health?.report : undefined));
  };

  ctx.socket.watch([nodeId]);
  ctx.socket.on('node_stats', (frame) => {
    if (frame.node_id !== nodeId) return;
    state.stats = frame.stats || null;
    state.statsTs = frame.received_at ? Date.parse(frame.received_at) / 1000 : Date.now() / 1000;
    recordFlows(state, state.stats);
    cards.update();
    if (state.stats?.system_resources) {
      ensureResources();
      resources?.update(state.stats.system_resources, state.statsTs);
    }
    renderFlows();
    if (variant && node.device_type !== 'appear_x') variant.update(state.stats);
    else variant?.update();
  });

  let lastEntry = null;
  const mergeLive = (live) => {
    const entry = live.nodes.get(nodeId);
    if (!entry || entry === lastEntry) return; // ws.js replaces the object only when it changed
    lastEntry = entry;
    const before = state.node.status;
    state.node = { ...state.node, ...entry, summary: entry.summary || state.node.summary };
    state.onNodeChanged();
    if (before !== state.node.status) {
      if (state.node.status === 'online') {
        refreshHealth();
        loadConfig();
      } else {
        state.liveFlows.clear();
        renderFlows();
      }
    }
  };
  ctx.socket.on('live', mergeLive);
  if (ctx.socket.live.nodes.has(nodeId)) mergeLive(ctx.socket.live);
  // Re-watch after a reconnect (ws.js re-sends the watched set itself) and after a resync.
  ctx.socket.on('snapshot', () => ctx.socket.watch([nodeId]));

  const refreshHealth = async () => {
    try {
      state.health = await ctx.api.get(`/api/v1/nodes/${enc}/health`);
    } catch {
      return;
    }
    ensureResources();
    resources?.setBudget(report().resource_budget);
    if (!state.stats?.system_resources && sysRes()) resources?.update(sysRes(), Date.parse(state.health.received_at) / 1000 || Date.now() / 1000);
    if (Array.isArray(report().network_interfaces)) interfaces?.update(report().network_interfaces, state.health.received_at);
    cards.update();
    if (node.device_type === 'appear_x' || !features.has('flows')) variant?.update?.(state.stats || undefined);
    if (node.device_type === 'relay' && !state.stats) variant?.update(report());
  };
  setInterval(refreshHealth, HEALTH_POLL_MS);

  setInterval(() => {
    for (const card of flowCards.values()) card.tick();
    events.tick();
    if (state.node.stale) head.update();
    // Age out flow stats that stopped arriving (the node went quiet or the flow was removed).
    if (isEdge && [...state.liveFlows.values()].some((e) => Date.now() - e.at > FLOW_STATS_MAX_AGE_MS && !e.aged)) {
      for (const e of state.liveFlows.values()) if (Date.now() - e.at > FLOW_STATS_MAX_AGE_MS) e.aged = true;
      renderFlows();
    }
  }, 1000);
}

/** Keep per-flow stats keyed by flow_id with their arrival time (node-protocol.md §4.2: an empty
 *  `flows` array from the timer path does not mean the flows are gone). */
function recordFlows(state, stats) {
  const flows = stats?.flows;
  if (!Array.isArray(flows) || flows.length === 0) return;
  const at = Date.now();
  for (const flow of flows) if (flow && flow.flow_id) state.liveFlows.set(flow.flow_id, { flow, at });
}
