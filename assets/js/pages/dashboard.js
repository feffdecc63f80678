// Dashboard (product.md §4.5): stat cards and the device grid, fed by the live socket state.
// This first version shows counts and one simple card per node (name, type, status); the
// driver-aware cards (flows, bitrate, uptime, CPU/RAM, gateway target) replace renderCard later.

import { h, replace } from '../dom.js';
import { pageHeader, emptyState, statusDot } from '../ui.js';
import { formatCount, formatRelative } from '../format.js';

const STATUS = {
  online: { kind: 'ok', text: 'Online', order: 0 },
  offline: { kind: 'offline', text: 'Offline', order: 1 },
  pending: { kind: 'offline', text: 'Pending', order: 2 },
};
const HEALTH_ORDER = { critical: 0, warning: 1, healthy: 2 };
const TYPE_TAG = { edge: 'tag tag-edge', relay: 'tag tag-relay', appear_x: 'tag tag-appear-x' };

export function mount(root, ctx) {
  ctx.setTitle('Dashboard');
  const stats = {
    total: statCard('Total nodes', 'Registered devices', 'text-white'),
    online: statCard('Online', 'Currently connected', 'text-ok'),
    offline: statCard('Offline', 'Not responding', 'text-slate-400'),
    alarms: statCard('Active alarms', 'Requires attention', 'text-crit', '/events?acknowledged=false'),
  };
  const grid = h('div', { class: 'grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4', 'aria-live': 'off' });
  const gridState = h('div');
  root.append(
    pageHeader({ title: 'Dashboard', subtitle: 'Overview of all managed devices' }),
    h('section', { class: 'mb-8 grid grid-cols-1 gap-4 sm:grid-cols-2 xl:grid-cols-4', 'aria-label': 'Summary' },
      stats.total.node, stats.online.node, stats.offline.node, stats.alarms.node),
    h('section', { 'aria-labelledby': 'devices-heading' },
      h('div', { class: 'mb-3 flex items-center justify-between' }, h('h2', { id: 'devices-heading', class: 'section-title' }, 'Devices')),
      gridState,
      grid),
  );
  replace(gridState, loadingCards());

  const cards = new Map();
  const update = (live) => {
    const counts = live.counts;
    if (counts) {
      stats.total.set(counts.nodes_total);
      stats.online.set(counts.online);
      stats.offline.set(counts.offline, counts.pending ? `Not responding · +${counts.pending} pending` : 'Not responding');
      stats.alarms.set(counts.unacked_alarms);
      stats.alarms.node.classList.toggle('bg-red-500/5', counts.unacked_alarms > 0);
      stats.alarms.node.classList.toggle('border-red-400/30', counts.unacked_alarms > 0);
    }
    if (!live.snapshotAt) return;
    const nodes = [...live.nodes.values()].sort(compareNodes);
    if (nodes.length === 0) {
      grid.hidden = true;
      replace(gridState, ctx.hasRole('admin')
        ? emptyState({ text: 'No nodes yet — Add Node to register your first edge, relay or gateway.', action: { label: 'Add Node', href: '/admin/nodes?add=1' } })
        : emptyState({ text: 'No nodes yet — an administrator adds them under Nodes.' }));
      return;
    }
    replace(gridState);
    grid.hidden = false;
    const seen = new Set();
    nodes.forEach((node, index) => {
      seen.add(node.id);
      let card = cards.get(node.id);
      if (!card) {
        card = h('a', { class: 'card block p-4 text-fg no-underline transition-colors hover:border-slate-500 hover:no-underline', href: `/nodes/${encodeURIComponent(node.id)}` });
        cards.set(node.id, card);
      }
      fillCard(card, node);
      if (grid.children[index] !== card) grid.insertBefore(card, grid.children[index] || null);
    });
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
  };
  update(ctx.socket.live);
  ctx.socket.on('live', update);
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
      value.textContent = formatCount(count);
      if (newCaption) captionNode.textContent = newCaption;
    },
  };
}

function compareNodes(a, b) {
  return (STATUS[a.status]?.order ?? 9) - (STATUS[b.status]?.order ?? 9)
    || (HEALTH_ORDER[a.health] ?? 3) - (HEALTH_ORDER[b.health] ?? 3)
    || String(a.name || '').localeCompare(String(b.name || ''));
}

function fillCard(card, node) {
  const status = STATUS[node.status] || { kind: 'offline', text: node.status || 'Unknown' };
  card.classList.toggle('opacity-60', node.status === 'offline');
  card.classList.toggle('border-dashed', node.status === 'pending');
  card.classList.toggle('border-amber-400/60', node.health === 'warning');
  card.classList.toggle('border-red-400/60', node.health === 'critical');
  let detail;
  if (node.status === 'pending') detail = 'Waiting for first connection';
  else if (node.status === 'offline') detail = node.last_seen_at ? `Last seen ${formatRelative(node.last_seen_at)}` : 'Never seen';
  else detail = node.software_version ? `Version ${node.software_version}` : '';
  replace(card,
    h('div', { class: 'flex items-start justify-between gap-3' },
      h('h3', { class: 'truncate font-semibold text-white' }, node.name || node.id),
      h('div', { class: 'flex shrink-0 items-center gap-2' },
        h('span', { class: TYPE_TAG[node.device_type] || 'tag tag-muted' }, node.device_type || 'node'),
        statusDot(status.kind, status.text))),
    h('p', { class: 'mt-3 text-xs text-muted' }, detail));
}

function loadingCards() {
  return h('div', { class: 'grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4', 'aria-busy': 'true', 'aria-label': 'Loading devices' },
    h('div', { class: 'skeleton h-24' }), h('div', { class: 'skeleton h-24' }), h('div', { class: 'skeleton h-24' }));
}
