// Audit log (product.md §4.11, admin and above): who did what, newest first. Filters (user,
// action prefix, target type, result, From/To), timezone, page size, Apply/Reset and paging.
// Details are mono JSON, truncated, and expand on click.

import { h, replace, clear } from '../dom.js';
import { pageHeader, emptyState, errorState, skeletonRows } from '../ui.js';
import { formatAbsolute, shortId } from '../format.js';
import { pager } from '../components/table-pager.js';
import { loadTimezonePref, saveTimezonePref, zoneOf, zoneLabel, timezoneSelect, wallTimeToIso, isoToWallTime } from '../components/filters-timezone.js';

const PAGE_SIZES = [50, 100, 200, 500];
const TARGET_TYPES = ['node', 'user', 'settings', 'event', 'session', 'ai_key', 'ai_proposal', 'backup'];
const EMPTY = { user: '', action: '', target_type: '', result: '', from: '', to: '' };

export async function mount(root, ctx) {
  ctx.setTitle('Audit Log');
  const { api } = ctx;
  const q = ctx.query;
  const state = { ...EMPTY };
  for (const key of Object.keys(EMPTY)) state[key] = (q.get(key) || '').slice(0, 256);
  let page = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);
  let perPage = 100;
  let timezone = await loadTimezonePref(api);
  let loadSeq = 0;

  // Names for node and user targets (ids alone are hard to read).
  const names = new Map();
  Promise.all([
    api.get('/api/v1/nodes').catch(() => []),
    api.get('/api/v1/users').catch(() => []),
  ]).then(([nodes, users]) => {
    for (const n of Array.isArray(nodes) ? nodes : nodes?.items || []) names.set(n.id, n.name);
    for (const u of Array.isArray(users) ? users : []) names.set(u.id, u.username);
    for (const cell of root.querySelectorAll('[data-target-id]')) {
      const name = names.get(cell.dataset.targetId);
      if (name) cell.textContent = name;
    }
  });

  const input = (label, value, placeholder) => h('input', { class: 'input w-52 py-1.5', type: 'search', 'aria-label': label, placeholder, value, maxlength: '256' });
  const user = input('User contains', state.user, 'User contains (name or id)');
  const action = input('Action prefix', state.action, 'Action prefix (e.g. node.)');
  const targetType = h('select', { class: 'input w-auto py-1.5', 'aria-label': 'Target type' },
    h('option', { value: '' }, 'All targets'), TARGET_TYPES.map((t) => h('option', { value: t }, t)));
  targetType.value = TARGET_TYPES.includes(state.target_type) ? state.target_type : '';
  const result = h('select', { class: 'input w-auto py-1.5', 'aria-label': 'Result' },
    h('option', { value: '' }, 'All results'), h('option', { value: 'success' }, 'Success'), h('option', { value: 'failure' }, 'Failure'));
  result.value = ['success', 'failure'].includes(state.result) ? state.result : '';
  const from = h('input', { type: 'datetime-local', class: 'input w-auto py-1.5', 'aria-label': 'From', value: isoToWallTime(state.from, timezone) });
  const to = h('input', { type: 'datetime-local', class: 'input w-auto py-1.5', 'aria-label': 'To', value: isoToWallTime(state.to, timezone) });
  const clearDates = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Clear dates');
  const zone = timezoneSelect({
    value: timezone,
    onChange: (value) => {
      timezone = value;
      saveTimezonePref(api, value);
      load();
    },
  });
  const size = h('select', { class: 'input w-auto py-1.5', 'aria-label': 'Rows per page' }, PAGE_SIZES.map((n) => h('option', { value: String(n) }, `${n} / page`)));
  size.value = String(perPage);
  const apply = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply');
  const reset = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Reset');
  const label = (text, control) => h('label', { class: 'flex items-center gap-2 text-sm text-muted' }, text, control);
  const form = h('form', { class: 'mb-4 flex flex-wrap items-center gap-2', role: 'search', 'aria-label': 'Filter the audit log' },
    user, action, targetType, result, label('From', from), label('To', to), clearDates, zone, size, apply, reset);

  const tbody = h('tbody');
  const timeHeader = h('th', { class: 'whitespace-nowrap' });
  const table = h('table', { class: 'table table-compact', 'aria-label': 'Audit log' },
    h('thead', {}, h('tr', {}, timeHeader, h('th', {}, 'User'), h('th', {}, 'Action'), h('th', {}, 'Target'),
      h('th', {}, 'Result'), h('th', {}, 'Details'), h('th', {}, 'IP'))),
    tbody);
  const body = h('div', { class: 'overflow-x-auto' }, h('div', { class: 'p-4' }, skeletonRows(8)));
  const pages = pager({ sizes: null, label: 'Audit log pages', onPage: (p) => { page = p; load(); }, onSize: (n) => { perPage = n; size.value = String(n); page = 1; load(); } });
  const subtitle = 'Who did what — every configuration change, command, secret rotation and user change.';
  root.append(pageHeader({ title: 'Audit Log', subtitle }), form,
    h('section', { class: 'card overflow-hidden' }, body, h('div', { class: 'border-t border-line px-4 py-2.5' }, pages.node)));

  const readForm = () => {
    state.user = user.value.trim();
    state.action = action.value.trim();
    state.target_type = targetType.value;
    state.result = result.value;
    state.from = wallTimeToIso(from.value, timezone) || '';
    state.to = wallTimeToIso(to.value, timezone) || '';
    perPage = Number(size.value);
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    readForm();
    page = 1;
    load();
  });
  reset.addEventListener('click', () => {
    Object.assign(state, EMPTY);
    for (const el of [user, action, from, to]) el.value = '';
    targetType.value = '';
    result.value = '';
    page = 1;
    load();
  });
  clearDates.addEventListener('click', () => {
    from.value = '';
    to.value = '';
  });

  function writeUrl() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value) params.set(key, value);
    if (page > 1) params.set('page', String(page));
    const qs = params.toString();
    history.replaceState(null, '', qs ? `${location.pathname}?${qs}` : location.pathname);
  }

  async function load() {
    const seq = ++loadSeq;
    writeUrl();
    timeHeader.replaceChildren('Time ', h('span', { class: 'font-normal normal-case tracking-normal' }, `(${zoneLabel(timezone)})`));
    body.setAttribute('aria-busy', 'true');
    try {
      const res = await api.get('/api/v1/audit-log', { query: { ...state, page, per_page: perPage } });
      if (seq !== loadSeq) return;
      const items = res.items || [];
      const total = res.total ?? items.length;
      pages.set({ page, perPage, total });
      if (items.length === 0) {
        const filtered = Object.values(state).some(Boolean);
        replace(body, emptyState({ text: filtered ? 'No audit rows match these filters — Reset to see everything.' : 'Nothing audited yet.' }));
        body.firstChild.classList.add('border-0');
        return;
      }
      clear(tbody);
      for (const item of items) tbody.append(...auditRow(item, zoneOf(timezone), names));
      replace(body, table);
    } catch (err) {
      if (seq === loadSeq) replace(body, h('div', { class: 'p-4' }, errorState(err, load)));
    } finally {
      if (seq === loadSeq) body.removeAttribute('aria-busy');
    }
  }
  await load();
}

function auditRow(item, zone, names) {
  const targetName = item.target_id ? names.get(item.target_id) : null;
  const target = h('span', { class: 'flex min-w-0 items-baseline gap-1.5' },
    item.target_type ? h('span', { class: 'text-muted' }, item.target_type) : null,
    item.target_id
      ? h('span', { class: 'truncate', title: item.target_id, dataset: targetName ? {} : { targetId: item.target_id } },
        targetName || (item.target_type === 'event' ? `#${item.target_id}` : shortTarget(item.target_id)))
      : null);
  const ok = item.result === 'success';
  const resultCell = h('span', { class: ok ? 'inline-flex items-center gap-1 text-ok' : 'inline-flex flex-wrap items-center gap-1 text-crit' },
    h('span', { 'aria-hidden': 'true' }, ok ? '✓' : '✗'), h('span', { class: 'sr-only' }, ok ? 'success' : 'failure'),
    !ok && item.error_code ? h('span', { class: 'chip-code' }, item.error_code) : null);

  const hasDetails = item.details && Object.keys(item.details).length > 0;
  const detailsRow = h('tr', { class: 'event-details', hidden: true },
    h('td', { colspan: '7' }, h('pre', { class: 'event-json' }, hasDetails ? JSON.stringify(item.details, null, 2) : '')));
  let details = h('span', { class: 'text-muted' }, '—');
  if (hasDetails) {
    details = h('button', { type: 'button', class: 'audit-details', 'aria-expanded': 'false', title: 'Show details' }, JSON.stringify(item.details));
    details.addEventListener('click', () => {
      detailsRow.hidden = !detailsRow.hidden;
      details.setAttribute('aria-expanded', String(!detailsRow.hidden));
    });
  }
  const row = h('tr', { dataset: { auditId: String(item.id), action: item.action } },
    h('td', { class: 'whitespace-nowrap tabular-nums text-slate-200' }, formatAbsolute(item.created_at, zone).replace(/ [A-Z+\-0-9:]+$/, '')),
    h('td', { class: 'max-w-40 truncate', title: item.user_id || 'cli' }, item.username || (item.user_id ? shortId(item.user_id) : '—')),
    h('td', {}, h('span', { class: 'chip-action' }, item.action)),
    h('td', { class: 'max-w-64' }, target),
    h('td', {}, resultCell),
    h('td', { class: 'max-w-80' }, details),
    h('td', { class: 'whitespace-nowrap font-mono text-xs text-muted' }, item.ip_address || '—'));
  return [row, detailsRow];
}

function shortTarget(id) {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(id) ? shortId(id) : id;
}


