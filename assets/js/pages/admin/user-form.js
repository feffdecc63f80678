// Add/Edit user modal (product.md §4.12, api.md §4): username (create only), display name, email,
// role (super_admin only offered to super_admins), temporary account with expiry, node access,
// password on create or "Set new password" on edit. Server errors show in the modal, and 422
// field errors attach to their fields. Resolves with the saved UserInfo, or null when cancelled.

import { h, replace } from '../../dom.js';
import { modal } from '../../ui.js';
import { nodePicker } from './node-picker.js';

const ROLES = [['viewer', 'Viewer — read only'], ['operator', 'Operator — runs commands, acknowledges events'],
  ['admin', 'Admin — manages nodes, users and settings'], ['super_admin', 'Super admin — everything, incl. backups']];

function field(id, labelText, control, hint = null) {
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  control.id = id;
  control.setAttribute('aria-describedby', `${id}-error`);
  return {
    node: h('div', {}, h('label', { class: 'label', for: id }, labelText), control, hint ? h('p', { class: 'hint' }, hint) : null, error),
    control,
    setError(message) {
      error.hidden = !message;
      error.textContent = message || '';
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * openUserForm({api, caller, user, nodes, isSelf}) → Promise<UserInfo | null>
 * `user` null means create.
 */
export function openUserForm({ api, caller, user = null, nodes, isSelf = false }) {
  const creating = !user;
  const callerIsSuper = caller.role === 'super_admin';
  const callerRestricted = Array.isArray(caller.allowed_node_ids);
  const prefix = `uf-${Math.random().toString(36).slice(2, 8)}`;

  const username = field(`${prefix}-username`, 'Username', h('input', { class: 'input', autocomplete: 'off', spellcheck: 'false', maxlength: '64', required: true, value: user?.username || '' }),
    creating ? 'Letters, digits, “.”, “_” and “-”; starts with a letter or digit.' : null);
  const displayName = field(`${prefix}-display`, 'Display name', h('input', { class: 'input', maxlength: '128', required: true, value: user?.display_name || '' }));
  const email = field(`${prefix}-email`, 'Email', h('input', { class: 'input', type: 'email', maxlength: '254', value: user?.email || '', placeholder: 'optional' }));
  const roleSelect = h('select', { class: 'input' },
    ROLES.filter(([r]) => r !== 'super_admin' || callerIsSuper).map(([value, text]) => h('option', { value }, text)));
  roleSelect.value = user?.role || 'viewer';
  roleSelect.disabled = isSelf;
  const role = field(`${prefix}-role`, 'Role', roleSelect, isSelf ? 'You cannot change your own role.' : null);

  const temporary = h('input', { type: 'checkbox', class: 'checkbox', id: `${prefix}-temp`, checked: !!user?.is_temporary });
  const expiry = field(`${prefix}-expires`, 'Expires', h('input', { class: 'input', type: 'datetime-local', value: toLocalInput(user?.expires_at) }), 'In your browser’s time zone. The account stops working at this moment.');
  const expiryWrap = h('div', { class: 'mt-2' }, expiry.node);
  const syncTemp = () => { expiryWrap.hidden = !temporary.checked; };
  temporary.addEventListener('change', syncTemp);
  syncTemp();

  const active = h('input', { type: 'checkbox', class: 'checkbox', id: `${prefix}-active`, checked: user ? user.is_active !== false : true, disabled: isSelf });
  const picker = nodePicker({ nodes, value: user ? user.allowed_node_ids ?? null : null, allowAll: !callerRestricted, disabled: isSelf, idPrefix: prefix });
  const syncRole = () => picker.setForceAll(roleSelect.value === 'super_admin');
  roleSelect.addEventListener('change', syncRole);
  syncRole();

  const password = field(`${prefix}-password`, creating ? 'Password' : 'Set new password',
    h('input', { class: 'input', type: 'password', autocomplete: 'new-password', minlength: '8', maxlength: '128', required: creating, placeholder: creating ? '' : 'Leave empty to keep the current password' }),
    creating ? '8–128 characters; must not equal the username.' : 'Setting a new password signs this user out everywhere.');

  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const fieldsByPath = {
    '/username': username, '/display_name': displayName, '/email': email, '/role': role, '/expires_at': expiry, '/password': password,
  };
  const form = h('form', { class: 'space-y-4', novalidate: true },
    formError,
    creating ? username.node : h('p', { class: 'text-sm text-muted' }, 'Username ', h('strong', { class: 'font-mono text-white' }, user.username)),
    h('div', { class: 'grid gap-4 sm:grid-cols-2' }, displayName.node, email.node),
    role.node,
    h('div', {},
      h('label', { class: 'flex items-center gap-2 text-sm', for: temporary.id }, temporary, 'Temporary account', h('span', { class: 'text-xs text-muted' }, '— expires at a set time')),
      expiryWrap),
    creating ? null : h('label', { class: 'flex items-center gap-2 text-sm', for: active.id }, active, 'Account enabled',
      isSelf ? h('span', { class: 'text-xs text-muted' }, '— you cannot disable yourself') : null),
    picker.node,
    password.node);

  return new Promise((resolve) => {
    let saved = null;
    const dlg = modal({
      title: creating ? 'Add user' : `Edit ${user.username}`,
      body: form,
      wide: true,
      onClose: () => resolve(saved),
      actions: [
        { label: 'Cancel', kind: 'secondary' },
        { label: creating ? 'Create user' : 'Save changes', kind: 'primary', onClick: (close, button) => submit(close, button) },
      ],
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      dlg.footer.lastElementChild.click();
    });
    (creating ? username.control : displayName.control).focus();

    async function submit(close, button) {
      for (const f of Object.values(fieldsByPath)) f.setError(null);
      formError.hidden = true;
      const body = collect();
      if (!body) return;
      button.disabled = true;
      try {
        saved = creating
          ? await api.post('/api/v1/users', body)
          : Object.keys(body).length ? await api.put(`/api/v1/users/${encodeURIComponent(user.id)}`, body) : user;
        close();
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    }

    function collect() {
      const values = {
        display_name: displayName.control.value.trim(),
        email: email.control.value.trim() || null,
        role: roleSelect.value,
        is_temporary: temporary.checked,
        expires_at: null,
        allowed_node_ids: roleSelect.value === 'super_admin' ? null : picker.value(),
      };
      let ok = true;
      if (!values.display_name) { displayName.setError('Enter a display name.'); ok = false; }
      if (temporary.checked) {
        const when = expiry.control.value ? new Date(expiry.control.value) : null;
        if (!when || Number.isNaN(when.getTime())) { expiry.setError('Choose when the account expires.'); ok = false; }
        else if (when.getTime() <= Date.now() && (creating || expiry.control.value !== toLocalInput(user?.expires_at))) { expiry.setError('The expiry must be in the future.'); ok = false; }
        else values.expires_at = when.toISOString();
      }
      const pw = password.control.value;
      if (creating || pw) {
        if (pw.length < 8 || pw.length > 128) { password.setError('Use 8–128 characters.'); ok = false; }
      }
      if (creating) {
        const name = username.control.value.trim();
        if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) { username.setError('Use 1–64 letters, digits, “.”, “_” or “-”, starting with a letter or digit.'); ok = false; }
        if (!ok) return null;
        return { username: name, password: pw, ...values };
      }
      if (!ok) return null;
      // Edit: send only what changed (api.md §4 UserUpdate is partial).
      const changed = {};
      if (values.display_name !== user.display_name) changed.display_name = values.display_name;
      if (values.email !== (user.email ?? null)) changed.email = values.email;
      if (!isSelf && values.role !== user.role) changed.role = values.role;
      if (values.is_temporary !== !!user.is_temporary) changed.is_temporary = values.is_temporary;
      if ((values.expires_at || null) !== (user.expires_at || null) && toLocalInput(values.expires_at) !== toLocalInput(user.expires_at)) changed.expires_at = values.expires_at;
      if (!values.is_temporary && user.expires_at && !changed.expires_at) changed.expires_at = null;
      if (!isSelf && JSON.stringify(sorted(values.allowed_node_ids)) !== JSON.stringify(sorted(user.allowed_node_ids ?? null))) changed.allowed_node_ids = values.allowed_node_ids;
      if (!isSelf && active.checked !== (user.is_active !== false)) changed.is_active = active.checked;
      if (pw) changed.password = pw;
      return changed;
    }

    function showError(err) {
      let attached = false;
      for (const problem of err.fields || []) {
        const target = fieldsByPath[problem.path] || fieldsByPath[`/${String(problem.path || '').split('/')[1]}`];
        if (target) {
          target.setError(problem.message);
          attached = true;
        }
      }
      if (err.code === 'username_taken') {
        username.setError(err.error);
        attached = true;
      }
      if (!attached || !(err.fields || []).length) {
        replace(formError, h('span', {}, err.error || 'Could not save the user'), err.node_error_code ? h('span', { class: 'chip-code ml-2' }, err.node_error_code) : null);
        formError.hidden = false;
      }
    }
  });
}

function sorted(list) {
  return Array.isArray(list) ? [...list].sort() : null;
}
