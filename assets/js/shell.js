// The signed-in shell around every page: sidebar state, user chip and menu, WebSocket pill and
// the alarm bell with its panel of the five newest alarms (product.md §4.3).

import { get, post, hasRole } from './api.js';
import { h, byId, replace } from './dom.js';
import { bindPopover, toastError, emptyState } from './ui.js';
import { formatBadgeCount, formatRelative, formatAbsolute, initials, roleLabel } from './format.js';

const PILL_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' };

/** Mark the current page in the sidebar and reveal role-gated items. */
export function initSidebar(user, page) {
  for (const item of document.querySelectorAll('[data-min-role]')) {
    item.hidden = !hasRole(user, item.dataset.minRole);
  }
  // Node pages belong under Nodes in the sidebar.
  const active = { 'node-detail': 'admin-nodes', 'node-config': 'admin-nodes' }[page] || page;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Fill the user chip and wire its menu (Account, Sign out). */
export function initUserChip(user) {
  const name = user.display_name || user.username || '';
  byId('user-avatar').textContent = initials(name);
  byId('user-name').textContent = name;
  byId('user-role').textContent = roleLabel(user.role);
  byId('user-chip').setAttribute('aria-label', `${name}, ${roleLabel(user.role)}: account menu`);
  bindPopover(byId('user-chip'), byId('user-menu'));
  byId('sign-out').addEventListener('click', signOut);
}

export async function signOut() {
  try {
    await post('/api/v1/auth/logout', {}, { redirectOn401: false });
  } catch {
    // The session may already be gone; the login page is the right place either way.
  }
  location.assign('/login');
}

/** Reflect the socket state in #ws-pill; the text always names the state. */
export function initWsPill(socket) {
  const pill = byId('ws-pill');
  const text = byId('ws-pill-text');
  const show = (state) => {
    pill.dataset.state = state;
    text.textContent = PILL_TEXT[state] || state;
  };
  show(socket.state);
  socket.on('state', show);
}

/** Alarm bell: count badge from the live counts, panel with the five newest alarms on click. */
export function initAlarmBell(user, socket) {
  const bell = byId('alarm-bell');
  const badge = byId('alarm-count');
  const panelCount = byId('alarm-panel-count');
  const list = byId('alarm-list');
  let count = null;

  const setCount = (value) => {
    if (!Number.isFinite(value)) return;
    count = Math.max(0, value);
    const text = formatBadgeCount(count);
    badge.textContent = text;
    badge.hidden = text === '';
    bell.setAttribute('aria-label', count ? `Alarms: ${count} unacknowledged` : 'Alarms: none unacknowledged');
    panelCount.textContent = count ? `${count} unacknowledged` : '';
  };

  get('/api/v1/events/count').then((body) => setCount(body?.count)).catch(() => {});
  socket.on('live', (live) => setCount(live.counts?.unacked_alarms));

  const canAck = hasRole(user, 'operator');
  const load = async () => {
    replace(list, h('p', { class: 'px-4 py-6 text-center text-sm text-muted', 'aria-busy': 'true' }, 'Loading alarms…'));
    try {
      const page = await get('/api/v1/events', { query: { acknowledged: 'false', severity: 'warning,critical', per_page: 5 } });
      const items = page?.items || [];
      if (items.length === 0) {
        replace(list, h('p', { class: 'px-4 py-6 text-center text-sm text-muted' }, 'No unacknowledged alarms.'));
        return;
      }
      replace(list, h('ul', { class: 'divide-y divide-line' }, items.map((event) => alarmRow(event, canAck, () => setCount((count || 1) - 1)))));
    } catch (err) {
      replace(list, h('p', { class: 'px-4 py-6 text-center text-sm text-crit', role: 'alert' }, err.error || 'Could not load alarms'));
    }
  };
  bindPopover(bell, byId('alarm-panel'), { onOpen: load, focusFirst: false });
}

function alarmRow(event, canAck, onAcked) {
  const sevClass = event.severity === 'critical' ? 'sev sev-critical' : 'sev sev-warning';
  const time = h('time', { class: 'shrink-0 text-xs text-muted', datetime: event.created_at, title: formatAbsolute(event.created_at) }, formatRelative(event.created_at));
  const ack = canAck
    ? h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Acknowledge')
    : null;
  const row = h('li', { class: 'flex items-start gap-3 px-4 py-3' },
    h('span', { class: sevClass }, event.severity),
    h('div', { class: 'min-w-0 flex-1' },
      h('div', { class: 'flex items-baseline justify-between gap-2' },
        h('span', { class: 'truncate text-sm font-medium text-white' }, event.node_name || 'Manager'),
        time),
      h('p', { class: 'mt-0.5 line-clamp-2 text-sm break-words text-slate-300' }, event.message),
      event.error_code ? h('span', { class: 'chip-code mt-1' }, event.error_code) : null),
    ack);
  if (ack) {
    ack.addEventListener('click', async () => {
      ack.disabled = true;
      try {
        await post(`/api/v1/events/${encodeURIComponent(event.id)}/ack`, {});
        replace(ack, 'Acknowledged');
        ack.className = 'shrink-0 text-xs text-muted';
        onAcked();
      } catch (err) {
        ack.disabled = false;
        toastError(err);
      }
    });
  }
  return row;
}

/** Full-page message when the shell cannot start (API unreachable, server error). */
export function bootFailure(root, err, onRetry) {
  replace(root, emptyState({
    title: 'The manager did not answer',
    text: err?.error || 'Check that the manager is running and reachable, then try again.',
    action: { label: 'Try again', onClick: onRetry },
  }));
  root.removeAttribute('aria-busy');
}
