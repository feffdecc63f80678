// Managed Nodes (product.md §4.7): the roster of every visible node with filters, and for admins
// Add / Edit / Token / Rotate secret / Delete. Rows come from GET /api/v1/nodes and are kept live
// by /ws/dashboard: a pending node turns ONLINE without a reload.

import { h, replace } from '../dom.js';
import { pageHeader, emptyState, errorState, skeletonRows, toastError, toastSuccess, confirmDialog } from '../ui.js';
import { formatAbsolute, formatRelative, formatCount } from '../format.js';
import { typeTag, liveDot, healthInfo, loadDeviceTypes, hasFeature } from '../components/node-badges.js';
import { nodeStatusToasts } from '../components/node-status-toasts.js';
import { openNodeForm } from './admin-nodes/node-form.js';
import { openEnrolDialog } from './admin-nodes/enrol.js';
import { fadeIn } from '../motion.js';

const STATUS_TAG = {
  online: ['tag tag-ok', 'Online'],
  offline: ['tag tag-offline', 'Offline'],
  pending: ['tag tag-pending', 'Pending'],
  expired: ['tag tag-warn', 'Expired'],
};

const nodePath = (id) => `/api/v1/nodes/${encodeURIComponent(id)}`;

export async function mount(root, ctx) {
  ctx.setTitle('Managed Nodes');
  const isAdmin = ctx.hasRole('admin');
  const restricted = Array.isArray(ctx.user.allowed_node_ids);

  const addButton = isAdmin
    ? h('button', { type: 'button', class: 'btn btn-primary', id: 'add-node', disabled: restricted,
      title: restricted ? 'Admins limited to a node allowlist cannot add nodes' : null }, h('span', { 'aria-hidden': 'true' }, '+'), 'Add Node')
    : null;

  const typeFilter = h('select', { id: 'filter-type', class: 'input w-auto py-1.5' }, h('option', { value: '' }, 'All types'));
  const statusFilter = h('select', { id: 'filter-status', class: 'input w-auto py-1.5' },
    h('option', { value: '' }, 'All statuses'),
    ['online', 'offline', 'pending', 'expired'].map((s) => h('option', { value: s }, STATUS_TAG[s][1])));
  const capFilter = h('select', { id: 'filter-capability', class: 'input w-auto max-w-56 py-1.5' }, h('option', { value: '' }, 'Any capability'));
  const search = h('input', { id: 'filter-search', type: 'search', class: 'input w-56 py-1.5', placeholder: 'Search by name…', maxlength: '256', autocomplete: 'off' });
  const countNote = h('span', { class: 'ml-auto text-xs text-muted', role: 'status' });
  const filters = h('div', { class: 'mb-4 flex flex-wrap items-center gap-3', role: 'search', 'aria-label': 'Filter nodes' },
    labelled('Type', typeFilter), labelled('Status', statusFilter), labelled('Capability', capFilter),
    h('label', { class: 'sr-only', for: 'filter-search' }, 'Search nodes'), search, countNote);

  const headers = ['Name', 'Type', 'Status', 'Health', 'Version', 'Expires', 'Last seen'];
  if (isAdmin) headers.push('Actions');
  const tbody = h('tbody');
  const table = h('div', { class: 'card overflow-x-auto' },
    h('table', { class: 'table', id: 'nodes-table' },
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      tbody));
  const body = h('div', {}, skeletonRows(5));

  root.append(
    pageHeader({ title: 'Managed Nodes', subtitle: isAdmin ? 'Register and manage edge nodes, relay servers and gateways' : 'Edge nodes, relay servers and gateways managed here', actions: addButton ? [addButton] : [] }),
    filters,
    body,
  );

  let types = new Map();
  try {
    types = await loadDeviceTypes(ctx.api);
  } catch {
    // The roster still works without the catalogue; rotation stays hidden.
  }
  for (const t of types.values()) typeFilter.append(h('option', { value: t.device_type }, t.display_name || t.device_type));

  const rows = new Map(); // id → {tr, node, update(node)}
  let loaded = false;

  const openEnrol = (node, enrolment) => openEnrolDialog({ node, enrolment, setCertFingerprint: ctx.setCertFingerprint });

  const actions = {
    edit: (node) => openNodeForm({ api: ctx.api, types, node, onSaved: (saved) => {
      toastSuccess(`Saved ${saved.name}`);
      refresh();
    } }),
    token: async (node) => {
      const ok = await confirmDialog({
        title: 'Regenerate registration token', action: 'Regenerate the token of', objectName: node.name, confirmLabel: 'Regenerate token',
        message: "The node's current credentials stop working and it will be disconnected. It goes back to PENDING until it registers with the new token.",
      });
      if (!ok) return;
      try {
        const enrolment = await ctx.api.post(`${nodePath(node.id)}/token`, {});
        refresh();
        openEnrol(node, enrolment);
      } catch (err) {
        toastError(err);
      }
    },
    rotate: async (node, button) => {
      const ok = await confirmDialog({
        title: 'Rotate node secret', action: 'Rotate the secret of', objectName: node.name, confirmLabel: 'Rotate secret', danger: false,
        message: 'The manager sends the node a new secret. The old one stays accepted until the node has authenticated with the new one.',
      });
      if (!ok) return;
      button.disabled = true;
      button.dataset.busy = 'true';
      try {
        await ctx.api.post(`${nodePath(node.id)}/rotate-secret`, {});
        toastSuccess(`Rotated the secret of ${node.name}`);
      } catch (err) {
        toastError(err);
      } finally {
        delete button.dataset.busy;
        button.disabled = false;
        rows.get(node.id)?.update(rows.get(node.id).node);
      }
    },
    remove: async (node) => {
      const ok = await confirmDialog({
        title: 'Delete node', action: 'Delete', objectName: node.name, typeToConfirm: node.name,
        message: 'This disconnects the node and removes its events, stats history, cached config, thumbnails and saved positions. Audit rows are kept.',
      });
      if (!ok) return;
      try {
        await ctx.api.del(nodePath(node.id));
        toastSuccess(`Deleted ${node.name}`);
        dropRow(node.id);
        renderFilters();
      } catch (err) {
        toastError(err);
      }
    },
  };

  const dropRow = (id) => {
    rows.get(id)?.tr.remove();
    rows.delete(id);
  };

  const matches = (node) => {
    const status = node.expired ? 'expired' : node.status;
    if (typeFilter.value && node.device_type !== typeFilter.value) return false;
    if (statusFilter.value && status !== statusFilter.value) return false;
    if (capFilter.value && !(node.capabilities || []).includes(capFilter.value)) return false;
    const q = search.value.trim().toLowerCase();
    if (q && !String(node.name || '').toLowerCase().includes(q) && !String(node.id).startsWith(q)) return false;
    return true;
  };

  const renderFilters = () => {
    let shown = 0;
    for (const row of rows.values()) {
      const visible = matches(row.node);
      row.tr.hidden = !visible;
      if (visible) shown += 1;
    }
    const total = rows.size;
    countNote.textContent = total === shown ? `${formatCount(total)} node${total === 1 ? '' : 's'}` : `${formatCount(shown)} of ${formatCount(total)} nodes`;
    if (loaded && total === 0) {
      replace(body, isAdmin && !restricted
        ? emptyState({ text: 'No nodes yet — Add Node to register your first edge, relay or gateway.', action: { label: 'Add Node', onClick: () => addButton.click() } })
        : emptyState({ text: 'No nodes yet — an administrator adds them here.' }));
    } else if (loaded) {
      if (table.parentNode !== body) replace(body, table);
      const none = total > 0 && shown === 0;
      noMatch.hidden = !none;
      if (none && noMatch.parentNode !== body) body.append(noMatch);
    }
  };
  const noMatch = h('p', { class: 'mt-3 text-center text-sm text-muted', hidden: true }, 'No node matches these filters.');

  const renderCapabilities = () => {
    const caps = new Set();
    for (const row of rows.values()) for (const c of row.node.capabilities || []) caps.add(c);
    const current = capFilter.value;
    const wanted = [...caps].sort();
    const have = [...capFilter.options].slice(1).map((o) => o.value);
    if (wanted.join('\n') === have.join('\n')) return;
    replace(capFilter, h('option', { value: '' }, 'Any capability'), wanted.map((c) => h('option', { value: c }, c)));
    capFilter.value = wanted.includes(current) ? current : '';
  };

  const apply = (nodes) => {
    const seen = new Set();
    nodes.forEach((node, index) => {
      seen.add(node.id);
      let row = rows.get(node.id);
      if (!row) {
        row = createRow(node, { isAdmin, types, actions });
        rows.set(node.id, row);
      } else {
        row.update({ ...row.node, ...node });
      }
      if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
    });
    for (const id of [...rows.keys()]) if (!seen.has(id)) dropRow(id);
    renderCapabilities();
    renderFilters();
  };

  let inflight = null;
  let again = false;
  async function refresh() {
    if (inflight) {
      again = true;
      return inflight;
    }
    inflight = (async () => {
      try {
        const nodes = await ctx.api.get('/api/v1/nodes');
        loaded = true;
        apply(Array.isArray(nodes) ? nodes : []);
      } catch (err) {
        if (!loaded) replace(body, errorState(err, () => refresh()));
        else toastError(err);
      }
    })();
    await inflight;
    inflight = null;
    if (again) {
      again = false;
      refresh();
    }
  }

  let refreshTimer = null;
  const scheduleRefresh = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  };

  // Live: patch rows from the merged socket state; a node we do not know (or one that is gone)
  // means the roster changed elsewhere, so re-read it.
  ctx.socket.on('live', (live) => {
    if (!loaded || !live.snapshotAt) return;
    let membershipChanged = false;
    for (const liveNode of live.nodes.values()) {
      const row = rows.get(liveNode.id);
      if (!row) {
        membershipChanged = true;
        continue;
      }
      const patch = {};
      for (const key of ['name', 'status', 'stale', 'health', 'software_version', 'last_seen_at', 'connected_since']) {
        if (key in liveNode) patch[key] = liveNode[key];
      }
      row.update({ ...row.node, ...patch });
    }
    for (const id of rows.keys()) if (!live.nodes.has(id)) membershipChanged = true;
    if (membershipChanged) scheduleRefresh();
    renderFilters();
  });
  ctx.socket.on('node_status', scheduleRefresh);
  nodeStatusToasts(ctx.socket);
  setInterval(() => { for (const row of rows.values()) row.tick(); }, 15000);

  for (const control of [typeFilter, statusFilter, capFilter]) control.addEventListener('change', renderFilters);
  search.addEventListener('input', renderFilters);

  const openAdd = () => openNodeForm({ api: ctx.api, types, onSaved: (created) => {
    refresh();
    openEnrol(created, created);
  } });
  if (addButton) addButton.addEventListener('click', openAdd);

  await refresh();
  if (ctx.query.get('add') === '1' && addButton && !restricted) {
    history.replaceState(null, '', location.pathname);
    openAdd();
  }
}

function labelled(text, control) {
  return h('label', { class: 'inline-flex items-center gap-2' }, h('span', { class: 'text-[11px] font-semibold tracking-wider text-muted uppercase' }, text), control);
}

function createRow(initial, { isAdmin, types, actions }) {
  let node = initial;
  const link = h('a', { class: 'font-medium', href: `/nodes/${encodeURIComponent(node.id)}` });
  const description = h('p', { class: 'max-w-64 truncate text-xs text-muted' });
  const statusTag = h('span', { class: 'tag tag-muted' });
  const staleNote = h('span', { class: 'ml-1.5 text-[11px] text-warn', hidden: true }, 'stale');
  const health = liveDot();
  const version = h('td', { class: 'font-mono text-xs text-slate-200' });
  const expires = h('td', { class: 'text-xs whitespace-nowrap text-slate-200' });
  const lastSeen = h('td', { class: 'text-xs whitespace-nowrap text-slate-200' });
  const cells = [
    h('td', {}, link, description),
    h('td', {}, typeTag(node.device_type)),
    h('td', { class: 'whitespace-nowrap' }, statusTag, staleNote),
    h('td', {}, health.el),
    version, expires, lastSeen,
  ];

  let rotateButton = null;
  if (isAdmin) {
    const btn = (label, aria, onClick, extra = '') => {
      const b = h('button', { type: 'button', class: `btn btn-secondary btn-sm ${extra}`, 'aria-label': `${aria} ${node.name}` }, label);
      b.addEventListener('click', () => onClick(node, b));
      return b;
    };
    const group = [btn('Edit', 'Edit', actions.edit), btn('Token', 'Regenerate token for', actions.token)];
    if (hasFeature(types, node.device_type, 'secret_rotation')) {
      rotateButton = btn('Rotate secret', 'Rotate secret of', actions.rotate);
      group.push(rotateButton);
    }
    group.push(btn('Delete', 'Delete', actions.remove, 'hover:border-red-400/60 hover:text-crit'));
    cells.push(h('td', { class: 'whitespace-nowrap' }, h('div', { class: 'flex items-center gap-1.5' }, group)));
  }
  const tr = h('tr', { dataset: { nodeId: node.id } }, cells);

  let lastStatus = null;
  function update(next) {
    node = next;
    link.textContent = node.name || node.id;
    description.textContent = node.description || '';
    description.hidden = !node.description;
    const statusKey = node.expired ? 'expired' : node.status;
    const [cls, word] = STATUS_TAG[statusKey] || ['tag tag-muted', String(statusKey || 'unknown')];
    if (statusTag.className !== cls) statusTag.className = cls;
    statusTag.textContent = word;
    if (lastStatus !== null && lastStatus !== statusKey) {
      fadeIn(tr);
    }
    lastStatus = statusKey;
    staleNote.hidden = !(node.status === 'online' && node.stale);
    const info = node.status === 'online' ? healthInfo(node.health) : { kind: 'offline', text: '--' };
    health.set(info.kind, info.text);
    version.textContent = node.software_version || '--';
    expires.textContent = node.expires_at ? formatAbsolute(node.expires_at) : '--';
    expires.title = node.expires_at ? formatRelative(node.expires_at) : '';
    if (rotateButton && !rotateButton.dataset.busy) {
      const online = node.status === 'online';
      rotateButton.disabled = !online;
      rotateButton.title = online ? 'Send the node a new secret' : 'The node must be online to rotate its secret';
    }
    tick();
  }
  function tick() {
    lastSeen.textContent = node.last_seen_at ? formatAbsolute(node.last_seen_at) : '--';
    lastSeen.title = node.last_seen_at ? formatRelative(node.last_seen_at) : 'Never connected';
  }
  update(node);
  return { tr, update, tick, get node() { return node; } };
}
