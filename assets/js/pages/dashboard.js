// Dashboard (product.md §4.5): four stat cards from the live counts and a grid of driver-aware
// device cards fed by /ws/dashboard (api.md §15). Cards are built once and updated in place; a
// one-second tick keeps "No data for 12 s" and "Last seen 4m ago" current between frames.

import { h, replace } from '../dom.js';
import { pageHeader, emptyState, toastError, toastSuccess, confirmDialog } from '../ui.js';
import { formatCount } from '../format.js';
import { compareNodes } from '../components/node-badges.js';
import { nodeStatusToasts } from '../components/node-status-toasts.js';
import { createCard } from './dashboard/card.js';

const PREF_HIDE_OFFLINE = 'dashboard_hide_offline';
const GRID_CLASS = 'grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4';

export function mount(root, ctx) {
  ctx.setTitle('Dashboard');
  const isAdmin = ctx.hasRole('admin');
  const stats = {
    total: statCard('Total nodes', 'Registered devices', 'text-white'),
    online: statCard('Online', 'Currently connected', 'text-ok'),
    offline: statCard('Offline', 'Not responding', 'text-slate-400'),
    alarms: statCard('Active alarms', 'Requires attention', 'text-crit', '/events?acknowledged=false'),
  };
  stats.alarms.node.title = 'Open the unacknowledged alarms in Events';

  const hideToggle = h('input', { id: 'hide-offline', type: 'checkbox', class: 'size-4 cursor-pointer accent-blue-500' });
  const hiddenNote = h('p', { class: 'mb-3 text-xs text-muted', hidden: true, role: 'status' });
  const grid = h('div', { class: GRID_CLASS, id: 'device-grid' });
  const gridState = h('div');
  root.append(
    pageHeader({ title: 'Dashboard', subtitle: 'Overview of all managed devices' }),
    h('section', { class: 'mb-8 grid grid-cols-1 gap-4 sm:grid-cols-2 xl:grid-cols-4', 'aria-label': 'Summary' },
      stats.total.node, stats.online.node, stats.offline.node, stats.alarms.node),
    h('section', { 'aria-labelledby': 'devices-heading' },
      h('div', { class: 'mb-3 flex items-center justify-between gap-4' },
        h('h2', { id: 'devices-heading', class: 'section-title' }, 'Devices'),
        h('label', { class: 'inline-flex cursor-pointer items-center gap-2 text-sm text-slate-300', for: 'hide-offline' }, hideToggle, 'Hide offline nodes')),
      hiddenNote,
      gridState,
      grid),
  );
  replace(gridState, h('div', { class: GRID_CLASS, 'aria-busy': 'true', 'aria-label': 'Loading devices' },
    h('div', { class: 'skeleton h-36' }), h('div', { class: 'skeleton h-36' }), h('div', { class: 'skeleton h-36' })));

  // Browser clock vs server clock, from frame timestamps, so "No data for 12 s" is right on a
  // laptop whose clock drifts.
  let clockOffset = 0;
  const serverNow = () => Date.now() + clockOffset;
  const noteClock = (frame) => {
    const ts = Date.parse(frame?.ts);
    if (Number.isFinite(ts)) clockOffset = ts - Date.now();
  };
  ctx.socket.on('snapshot', noteClock);
  ctx.socket.on('update', noteClock);

  let hideOffline = false;
  const cards = new Map();

  const onDelete = async (node) => {
    const ok = await confirmDialog({
      title: 'Delete node', action: 'Delete', objectName: node.name, typeToConfirm: node.name,
      message: 'This disconnects the node and removes its events, stats history, cached config and thumbnails. Audit rows are kept.',
    });
    if (!ok) return;
    try {
      await ctx.api.del(`/api/v1/nodes/${encodeURIComponent(node.id)}`);
      toastSuccess(`Deleted ${node.name}`);
    } catch (err) {
      toastError(err);
    }
  };

  const render = () => {
    const live = ctx.socket.live;
    const counts = live.counts;
    if (counts) {
      stats.total.set(counts.nodes_total);
      stats.online.set(counts.online);
      stats.offline.set(counts.offline, counts.pending ? `Not responding · +${counts.pending} pending` : 'Not responding');
      stats.alarms.set(counts.unacked_alarms);
      const alarmed = counts.unacked_alarms > 0;
      stats.alarms.node.classList.toggle('bg-red-500/5', alarmed);
      stats.alarms.node.classList.toggle('border-red-400/30', alarmed);
    }
    if (!live.snapshotAt) return;
    const all = [...live.nodes.values()].sort(compareNodes);
    if (all.length === 0) {
      grid.hidden = true;
      hiddenNote.hidden = true;
      replace(gridState, isAdmin
        ? emptyState({ text: 'No nodes yet — Add Node to register your first edge, relay or gateway.', action: { label: 'Add Node', href: '/admin/nodes?add=1' } })
        : emptyState({ text: 'No nodes yet — an administrator adds them under Nodes.' }));
      return;
    }
    const nodes = hideOffline ? all.filter((n) => n.status === 'online') : all;
    const hiddenCount = all.length - nodes.length;
    hiddenNote.hidden = hiddenCount === 0;
    hiddenNote.textContent = `${formatCount(hiddenCount)} offline or pending node${hiddenCount === 1 ? '' : 's'} hidden.`;
    grid.hidden = nodes.length === 0;
    replace(gridState, nodes.length === 0
      ? h('p', { class: 'card px-4 py-6 text-center text-sm text-muted' }, 'Every node is offline. Untick “Hide offline nodes” to see them.')
      : null);

    const now = serverNow();
    const seen = new Set();
    nodes.forEach((node, index) => {
      seen.add(node.id);
      let card = cards.get(node.id);
      if (!card) {
        card = createCard(node, { canDelete: isAdmin, onDelete });
        cards.set(node.id, card);
      }
      card.update(node, now);
      if (grid.children[index] !== card.el) grid.insertBefore(card.el, grid.children[index] || null);
    });
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.el.remove();
        if (!live.nodes.has(id)) cards.delete(id);
      }
    }
  };

  const setHideOffline = (value) => {
    hideOffline = !!value;
    hideToggle.checked = hideOffline;
    render();
  };
  hideToggle.addEventListener('change', async () => {
    const value = hideToggle.checked;
    setHideOffline(value);
    try {
      await ctx.api.put(`/api/v1/preferences/${PREF_HIDE_OFFLINE}`, { value });
    } catch (err) {
      toastError(err);
    }
  });
  ctx.api.get('/api/v1/preferences')
    .then((prefs) => {
      if (prefs && typeof prefs[PREF_HIDE_OFFLINE] === 'boolean') setHideOffline(prefs[PREF_HIDE_OFFLINE]);
    })
    .catch(() => {});

  render();
  ctx.socket.on('live', render);
  nodeStatusToasts(ctx.socket);
  setInterval(() => {
    const now = serverNow();
    for (const card of cards.values()) if (card.el.isConnected) card.tick(now);
  }, 1000);
  ctx.socket.on('state', (state) => {
    if (state === 'disconnected' && !ctx.socket.live.snapshotAt) {
      replace(gridState, h('p', { class: 'card px-4 py-6 text-center text-sm text-muted', role: 'status' },
        'Live data is not available yet — waiting for the connection to the manager.'));
    }
  });
}

function statCard(label, caption, valueClass, href = null) {
  const value = h('p', { class: `stat-value ${valueClass}` }, '--');
  const captionNode = h('p', { class: 'stat-caption' }, caption);
  const body = [h('p', { class: 'stat-label' }, label), value, captionNode];
  const node = href
    ? h('a', { class: 'card block p-5 text-fg no-underline transition-colors hover:border-slate-500 hover:no-underline', href }, body)
    : h('div', { class: 'card p-5' }, body);
  return {
    node,
    set(count, newCaption) {
      const text = formatCount(count);
      if (value.textContent !== text) value.textContent = text;
      if (newCaption && captionNode.textContent !== newCaption) captionNode.textContent = newCaption;
    },
  };
}
