// Account (product.md §4.15): read-only profile, change password, sign out.

import { h, replace } from '../dom.js';
import { pageHeader, toastSuccess } from '../ui.js';
import { formatAbsolute, formatRelative, roleLabel, plural } from '../format.js';

const MIN_LEN = 8;
const MAX_LEN = 128;

export function mount(root, ctx) {
  ctx.setTitle('Account');
  const user = ctx.user;
  const signOutButton = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Sign out');
  signOutButton.addEventListener('click', async () => {
    signOutButton.disabled = true;
    try {
      await ctx.api.post('/api/v1/auth/logout', {}, { redirectOn401: false });
    } catch {
      // Already signed out on the server; go to the login page anyway.
    }
    location.assign('/login');
  });

  const mustChange = Boolean(user.must_change_password);
  root.append(
    pageHeader({ title: 'Account', subtitle: 'Your profile and password', actions: [signOutButton] }),
    ...(mustChange ? [h('div', { class: 'banner banner-warn mb-4', role: 'alert', id: 'must-change-password' },
      'This account still uses the password generated at setup. Choose your own password to continue.')] : []),
    h('div', { class: 'grid grid-cols-1 gap-6 xl:grid-cols-2' }, profileCard(user, ctx.me.session), passwordCard(ctx)),
  );
}

function profileCard(user, session) {
  const access = Array.isArray(user.allowed_node_ids) ? plural(user.allowed_node_ids.length, 'node') : 'All nodes';
  const rows = [
    ['Username', user.username, true],
    ['Display name', user.display_name || '—'],
    ['Email', user.email || '—'],
    ['Role', roleLabel(user.role)],
    ['Node access', access],
  ];
  if (user.expires_at) rows.push(['Account expires', formatAbsolute(user.expires_at)]);
  if (user.last_login_at) rows.push(['Last sign-in', `${formatRelative(user.last_login_at)} (${formatAbsolute(user.last_login_at)})`]);
  if (session?.expires_at) rows.push(['This session ends', formatAbsolute(session.expires_at)]);
  return h('section', { class: 'card p-6', 'aria-labelledby': 'profile-heading' },
    h('h2', { id: 'profile-heading', class: 'section-title mb-4' }, 'Profile'),
    h('dl', { class: 'grid grid-cols-[minmax(8rem,auto)_1fr] gap-x-6 gap-y-3 text-sm' },
      rows.map(([label, value, mono]) => [
        h('dt', { class: 'text-xs font-semibold uppercase tracking-wider text-muted' }, label),
        h('dd', { class: mono ? 'font-mono break-all text-fg' : 'break-words text-fg' }, value),
      ])),
    h('p', { class: 'mt-5 text-xs text-muted' }, 'Your role and node access are set by an administrator.'));
}

function field(id, label, autocomplete, hint = null) {
  const input = h('input', { id, name: id, type: 'password', class: 'input', autocomplete, required: true, maxlength: MAX_LEN });
  const error = h('p', { id: `${id}-error`, class: 'field-error', hidden: true });
  const hintNode = hint ? h('p', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  input.setAttribute('aria-describedby', [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' '));
  const setError = (message) => {
    error.textContent = message || '';
    error.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  return { input, setError, node: h('div', {}, h('label', { class: 'label', for: id }, label), input, hintNode, error) };
}

function passwordCard(ctx) {
  const current = field('current-password', 'Current password', 'current-password');
  const next = field('new-password', 'New password', 'new-password', `${MIN_LEN}–${MAX_LEN} characters, different from your username and current password.`);
  const confirm = field('confirm-password', 'Confirm new password', 'new-password');
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
  // The hidden username lets password managers file the new password under the right account.
  const usernameHint = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: ctx.user.username, readonly: true, hidden: true });
  const form = h('form', { class: 'flex flex-col gap-4', novalidate: true, method: 'post' },
    usernameHint, formError, current.node, next.node, confirm.node,
    h('div', { class: 'flex items-center gap-4' }, submit),
    h('p', { class: 'text-xs text-muted' }, 'Changing your password signs you out everywhere else.'));

  const fields = { '/current_password': current, '/new_password': next };
  const clearErrors = () => {
    for (const f of [current, next, confirm]) f.setError('');
    formError.hidden = true;
  };
  const showFormError = (message) => {
    replace(formError, message);
    formError.hidden = false;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const values = { current: current.input.value, next: next.input.value, confirm: confirm.input.value };
    const problems = [];
    const flag = (f, message) => {
      f.setError(message);
      problems.push(f);
    };
    if (!values.current) flag(current, 'Enter your current password');
    const length = [...values.next].length;
    if (length < MIN_LEN || length > MAX_LEN) flag(next, `The new password needs ${MIN_LEN}–${MAX_LEN} characters`);
    else if (values.next === ctx.user.username) flag(next, 'The new password must not be your username');
    if (values.confirm !== values.next) flag(confirm, 'The two new passwords do not match');
    if (problems.length) {
      problems[0].input.focus();
      return;
    }

    submit.disabled = true;
    submit.textContent = 'Changing…';
    try {
      const result = await ctx.api.post('/api/v1/auth/password', { current_password: values.current, new_password: values.next });
      form.reset();
      const revoked = result?.sessions_revoked ?? 0;
      toastSuccess(revoked ? `Password changed. ${plural(revoked, 'other session')} signed out.` : 'Password changed.');
      if (ctx.user.must_change_password) setTimeout(() => location.assign('/dashboard'), 800);
    } catch (err) {
      if (err.code === 'current_password_incorrect') {
        current.setError(err.error || 'The current password is not correct');
        current.input.focus();
      } else if (err.fields.length) {
        let placed = false;
        for (const problem of err.fields) {
          const target = fields[problem.path];
          if (target) {
            target.setError(problem.message);
            placed = true;
          }
        }
        if (!placed) showFormError(err.error);
      } else if (err.code === 'account_locked' || err.code === 'rate_limited') {
        showFormError(err.retry_after_secs ? `${err.error} — try again in ${err.retry_after_secs} s` : err.error);
      } else {
        showFormError(err.error);
      }
    } finally {
      submit.disabled = false;
      submit.textContent = 'Change password';
    }
  });

  return h('section', { class: 'card p-6', 'aria-labelledby': 'password-heading' },
    h('h2', { id: 'password-heading', class: 'section-title mb-4' }, 'Change password'),
    form);
}
