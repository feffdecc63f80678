// Users (product.md §4.12, admin and above): every account with role, status, expiry, node access
// and last login; Add, Edit, Disable/Enable, Set password and Delete. Admins never see controls
// for super_admins (the API refuses them anyway); nobody can delete or disable themselves.

import { h, replace, clear } from '../dom.js';
import { pageHeader, emptyState, errorState, skeletonRows, toastError, toastSuccess, confirmDialog, modal } from '../ui.js';
import { formatRelative, formatAbsolute, roleLabel, plural } from '../format.js';
import { openUserForm } from './admin/user-form.js';

const ROLE_TAG = { viewer: 'tag tag-muted', operator: 'tag tag-edge', admin: 'tag tag-relay', super_admin: 'tag tag-warn' };

export async function mount(root, ctx) {
  ctx.setTitle('Users');
  const { api } = ctx;
  const caller = ctx.user;
  const callerIsSuper = caller.role === 'super_admin';
  const callerList = Array.isArray(caller.allowed_node_ids) ? new Set(caller.allowed_node_ids) : null;

  const addButton = h('button', { type: 'button', class: 'btn btn-primary' }, '+ Add User');
  const search = h('input', { type: 'search', class: 'input w-64', placeholder: 'Filter users…', 'aria-label': 'Filter users' });
  const count = h('span', { class: 'text-sm text-muted' });
  const body = h('div', { class: 'overflow-x-auto' }, h('div', { class: 'p-4' }, skeletonRows(5)));
  root.append(
    pageHeader({ title: 'Users', subtitle: 'Accounts, roles, temporary access and per-user node allowlists', actions: [addButton] }),
    h('div', { class: 'mb-4 flex flex-wrap items-center gap-3' }, search, count),
    h('section', { class: 'card overflow-hidden' }, body));

  let users = [];
  let nodes = [];
  const nodeNames = new Map();

  const canManage = (user) => {
    if (user.role === 'super_admin' && !callerIsSuper) return false;
    if (callerList && (user.allowed_node_ids === null || user.allowed_node_ids?.some((id) => !callerList.has(id)))) return false;
    return true;
  };

  async function load() {
    try {
      const [list, nodeList] = await Promise.all([api.get('/api/v1/users'), api.get('/api/v1/nodes').catch(() => [])]);
      users = Array.isArray(list) ? list : [];
      nodes = (Array.isArray(nodeList) ? nodeList : nodeList?.items || []).map((n) => ({ id: n.id, name: n.name, device_type: n.device_type }))
        .sort((a, b) => String(a.name).localeCompare(String(b.name)));
      nodeNames.clear();
      for (const n of nodes) nodeNames.set(n.id, n.name);
      render();
    } catch (err) {
      replace(body, h('div', { class: 'p-4' }, errorState(err, load)));
    }
  }

  function render() {
    const term = search.value.trim().toLowerCase();
    const shown = users.filter((u) => !term || [u.username, u.display_name, u.email, u.role].some((v) => String(v || '').toLowerCase().includes(term)));
    count.textContent = term ? `${shown.length} of ${plural(users.length, 'user')}` : plural(users.length, 'user');
    if (shown.length === 0) {
      replace(body, emptyState({ text: term ? 'No users match this filter.' : 'No users yet — Add User to create the first account.' }));
      body.firstChild.classList.add('border-0');
      return;
    }
    const tbody = h('tbody');
    for (const user of shown) tbody.append(userRow(user));
    replace(body, h('table', { class: 'table table-compact', 'aria-label': 'Users' },
      h('thead', {}, h('tr', {}, ['Username', 'Display name', 'Role', 'Status', 'Expires', 'Node access', 'Last login'].map((t) => h('th', {}, t)),
        h('th', { class: 'text-right' }, 'Actions'))),
      tbody));
  }

  function statusOf(user) {
    if (user.is_active === false) return ['Disabled', 'tag tag-muted'];
    if (user.expires_at && new Date(user.expires_at).getTime() <= Date.now()) return ['Expired', 'tag tag-warn'];
    return ['Active', 'tag tag-ok'];
  }

  function accessCell(user) {
    if (user.allowed_node_ids === null || user.allowed_node_ids === undefined) return h('span', {}, 'All nodes');
    const list = user.allowed_node_ids;
    const names = list.map((id) => nodeNames.get(id) || `${id.slice(0, 8)} (not visible)`);
    return h('span', { class: 'cursor-help underline decoration-dotted underline-offset-2', title: names.join('\n') || 'No nodes', tabindex: '0' },
      list.length === 0 ? 'No nodes' : plural(list.length, 'node'));
  }

  function userRow(user) {
    const isSelf = user.id === caller.id;
    const [statusText, statusClass] = statusOf(user);
    const actions = h('td', { class: 'whitespace-nowrap text-right' });
    if (canManage(user)) {
      const btn = (label, fn, cls = 'btn btn-ghost btn-sm') => {
        const b = h('button', { type: 'button', class: cls, 'aria-label': `${label} ${user.username}` }, label);
        b.addEventListener('click', () => fn(b));
        return b;
      };
      actions.append(btn('Edit', () => edit(user, isSelf)));
      if (!isSelf) actions.append(btn(user.is_active === false ? 'Enable' : 'Disable', (b) => toggleActive(user, b)));
      actions.append(btn('Set password', () => setPassword(user, isSelf)));
      if (!isSelf) actions.append(btn('Delete', () => remove(user), 'btn btn-ghost btn-sm text-crit'));
    } else {
      actions.append(h('span', { class: 'text-xs text-muted', title: user.role === 'super_admin' ? 'Only a super admin can change super admins' : 'This account has access to nodes outside your own access' },
        user.role === 'super_admin' ? 'Super admins only' : 'Outside your access'));
    }
    return h('tr', { dataset: { userId: user.id, username: user.username } },
      h('td', { class: 'font-medium text-white' }, user.username, isSelf ? h('span', { class: 'ml-2 text-xs text-muted' }, '(you)') : null),
      h('td', { class: 'max-w-48 truncate' }, user.display_name || '—'),
      h('td', {}, h('span', { class: ROLE_TAG[user.role] || 'tag tag-muted' }, roleLabel(user.role))),
      h('td', {}, h('span', { class: statusClass }, statusText)),
      h('td', { class: 'whitespace-nowrap' }, user.expires_at
        ? h('span', { title: formatAbsolute(user.expires_at) }, formatRelative(user.expires_at), user.is_temporary ? h('span', { class: 'ml-1.5 text-xs text-muted' }, 'temporary') : null)
        : h('span', { class: 'text-muted' }, 'Never')),
      h('td', {}, accessCell(user)),
      h('td', { class: 'whitespace-nowrap text-slate-300' }, user.last_login_at
        ? h('time', { datetime: user.last_login_at, title: formatAbsolute(user.last_login_at) }, formatRelative(user.last_login_at))
        : h('span', { class: 'text-muted' }, 'Never')),
      actions);
  }

  async function edit(user, isSelf) {
    const saved = await openUserForm({ api, caller, user, nodes, isSelf });
    if (saved) {
      toastSuccess(`Saved ${saved.username}`);
      load();
    }
  }

  async function toggleActive(user, button) {
    const enabling = user.is_active === false;
    if (!enabling) {
      const ok = await confirmDialog({ action: 'Disable', objectName: user.username, message: 'They are signed out everywhere and cannot sign in until enabled again.', confirmLabel: 'Disable' });
      if (!ok) return;
    }
    button.disabled = true;
    try {
      await api.put(`/api/v1/users/${encodeURIComponent(user.id)}`, { is_active: enabling });
      toastSuccess(`${user.username} ${enabling ? 'enabled' : 'disabled'}`);
      load();
    } catch (err) {
      button.disabled = false;
      toastError(err);
    }
  }

  function setPassword(user, isSelf) {
    if (isSelf) {
      location.assign('/account');
      return;
    }
    const input = h('input', { class: 'input', type: 'password', id: 'new-user-password', autocomplete: 'new-password', minlength: '8', maxlength: '128' });
    const error = h('p', { class: 'field-error', hidden: true, role: 'alert' });
    const dlg = modal({
      title: `Set password for ${user.username}`,
      body: [h('label', { class: 'label', for: 'new-user-password' }, 'New password'), input,
        h('p', { class: 'hint' }, '8–128 characters. This signs the user out everywhere.'), error],
      actions: [
        { label: 'Cancel' },
        {
          label: 'Set password', kind: 'primary',
          onClick: async (close, button) => {
            if (input.value.length < 8 || input.value.length > 128) {
              error.textContent = 'Use 8–128 characters.';
              error.hidden = false;
              return;
            }
            button.disabled = true;
            try {
              await api.put(`/api/v1/users/${encodeURIComponent(user.id)}`, { password: input.value });
              close();
              toastSuccess(`Password set for ${user.username}; their sessions were signed out`);
            } catch (err) {
              error.textContent = err.fields?.[0]?.message || err.error;
              error.hidden = false;
              button.disabled = false;
            }
          },
        },
      ],
    });
    input.addEventListener('keydown', (event) => { if (event.key === 'Enter') dlg.footer.lastElementChild.click(); });
    input.focus();
  }

  async function remove(user) {
    const ok = await confirmDialog({ action: 'Delete user', objectName: user.username, message: 'Their audit history is kept; their AI keys, threads and saved layouts are deleted.', confirmLabel: 'Delete user' });
    if (!ok) return;
    try {
      await api.del(`/api/v1/users/${encodeURIComponent(user.id)}`);
      toastSuccess(`Deleted ${user.username}`);
      load();
    } catch (err) {
      toastError(err);
    }
  }

  addButton.addEventListener('click', async () => {
    const saved = await openUserForm({ api, caller, user: null, nodes });
    if (saved) {
      toastSuccess(`Created ${saved.username}`);
      load();
    }
  });
  search.addEventListener('input', render);
  clear(body);
  body.append(h('div', { class: 'p-4' }, skeletonRows(5)));
  await load();
}
