// Events & Alarms (product.md §4.10): filterable, paginated event feed with acknowledge one,
// selected or all matching (with a `before` cut-off), CSV export, live arrival of new events from
// the dashboard socket, and a timezone selector remembered in `events_timezone`.

import { h, replace, clear } from '../dom.js';
import { pageHeader, emptyState, errorState, skeletonRows, toastError, toastSuccess, confirmDialog } from '../ui.js';
import { formatCount, plural } from '../format.js';
import { pager } from '../components/table-pager.js';
import { loadTimezonePref, saveTimezonePref, zoneOf } from '../components/filters-timezone.js';
import { filterBar, stateFromQuery, apiQuery, writeUrl, matches } from './events/filters.js';
import { eventRow, refreshTimes } from './events/rows.js';

const PAGE_SIZES = [25, 50, 100, 200];
const HIGHLIGHT_MS = 2000;

export async function mount(root, ctx) {
  ctx.setTitle('Events & Alarms');
  const { api } = ctx;
  const canAck = ctx.hasRole('operator');
  const state = stateFromQuery(ctx.query);
  let perPage = 50;
  let timezone = 'browser';
  let total = 0;
  let loaded = [];
  let pendingNew = 0;
  let loadSeq = 0;
  const selected = new Set();
  const rowsById = new Map();

  const subtitle = h('p', { class: 'page-subtitle' }, 'Monitor system events and active alarms');
  const exportLink = h('a', { class: 'btn btn-secondary', href: '/api/v1/events/export', download: '' }, 'Export CSV');
  const ackAll = canAck ? h('button', { type: 'button', class: 'btn btn-primary' }, 'Acknowledge all matching') : null;
  const header = pageHeader({ title: 'Events & Alarms', actions: [exportLink, ackAll].filter(Boolean) });
  header.querySelector('.page-title').after(subtitle);

  const filterSlot = h('div');
  const selectionBar = h('div', { class: 'mb-3 flex flex-wrap items-center gap-3', hidden: true });
  const newPill = h('button', { type: 'button', class: 'new-events-pill', hidden: true });
  const selectAll = canAck ? h('input', { type: 'checkbox', class: 'checkbox', 'aria-label': 'Select all on this page' }) : null;
  const ackSelected = canAck ? h('button', { type: 'button', class: 'btn btn-secondary btn-sm', hidden: true }) : null;
  const columns = canAck ? 7 : 6;
  const thead = h('thead', {}, h('tr', {},
    canAck ? h('th', { class: 'w-8 pr-0' }, selectAll) : null,
    h('th', {}, 'Severity'), h('th', {}, 'Time'), h('th', {}, 'Node'), h('th', {}, 'Category'), h('th', {}, 'Message'),
    h('th', { class: 'text-right' }, 'Actions')));
  const tbody = h('tbody');
  const table = h('table', { class: 'table table-compact', 'aria-label': 'Events' }, thead, tbody);
  const body = h('div', { class: 'overflow-x-auto' });
  const pages = pager({
    sizes: PAGE_SIZES,
    label: 'Events pages',
    onPage: (page) => { state.page = page; load(); },
    onSize: (size) => {
      perPage = size;
      state.page = 1;
      api.put('/api/v1/preferences/events_per_page', { value: size }).catch(() => {});
      load();
    },
  });
  root.append(header, filterSlot, selectionBar,
    h('section', { class: 'card overflow-hidden' }, body, h('div', { class: 'border-t border-line px-4 py-2.5' }, pages.node)));
  selectionBar.append(newPill, ackSelected || '');
  replace(body, h('div', { class: 'p-4' }, skeletonRows(8)));

  // Preferences and the node list for the filter, in parallel.
  const [tzPref, sizePref, nodes] = await Promise.all([
    loadTimezonePref(api),
    api.get('/api/v1/preferences/events_per_page').then((b) => b?.value).catch(() => null),
    api.get('/api/v1/nodes').then((list) => (Array.isArray(list) ? list : list?.items || [])).catch(() => []),
  ]);
  timezone = tzPref;
  if (Number.isInteger(sizePref) && sizePref >= 10 && sizePref <= 200) perPage = sizePref;
  nodes.sort((a, b) => String(a.name).localeCompare(String(b.name)));

  const filters = filterBar({
    state, nodes: nodes.map((n) => ({ id: n.id, name: n.name })), timezone,
    onChange: () => load(),
    onTimezone: (value) => {
      timezone = value;
      saveTimezonePref(api, value);
      refreshTimes(tbody, zoneOf(timezone));
    },
  });
  filterSlot.append(filters.node);

  function syncBar() {
    selectionBar.hidden = newPill.hidden && (!ackSelected || ackSelected.hidden);
  }

  function updateSelection() {
    if (!canAck) return;
    const n = selected.size;
    ackSelected.hidden = n === 0;
    ackSelected.textContent = `Acknowledge selected (${n})`;
    syncBar();
    const selectable = loaded.filter((e) => !e.acknowledged);
    selectAll.checked = selectable.length > 0 && selectable.every((e) => selected.has(e.id));
    selectAll.indeterminate = n > 0 && !selectAll.checked;
  }

  function setSubtitle() {
    subtitle.textContent = `Monitor system events and active alarms — ${plural(total, 'event')}`;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(apiQuery(state))) if (value) params.set(key, value);
    exportLink.href = `/api/v1/events/export${params.toString() ? `?${params}` : ''}`;
  }

  function addRow(event, { top = false } = {}) {
    const row = eventRow(event, {
      canAck, selected: selected.has(event.id), zone: zoneOf(timezone), columns,
      onAck: ackOne,
      onSelect: (id, checked) => {
        if (checked) selected.add(id);
        else selected.delete(id);
        updateSelection();
      },
    });
    rowsById.set(event.id, row);
    if (top) tbody.prepend(...row.rows);
    else tbody.append(...row.rows);
    return row;
  }

  function renderRows() {
    rowsById.clear();
    clear(tbody);
    if (loaded.length === 0) {
      const filtered = Object.values(apiQuery(state)).some(Boolean);
      replace(body, emptyState({
        text: filtered ? 'No events match these filters — clear a filter to see more.' : 'No events yet — node and manager events will appear here as they happen.',
      }));
      body.firstChild.classList.add('border-0');
      return;
    }
    for (const event of loaded) addRow(event);
    replace(body, table);
  }

  async function load() {
    const seq = ++loadSeq;
    writeUrl(state);
    pendingNew = 0;
    newPill.hidden = true;
    selected.clear();
    syncBar();
    body.setAttribute('aria-busy', 'true');
    try {
      const result = await api.get('/api/v1/events', { query: { ...apiQuery(state), page: state.page, per_page: perPage } });
      if (seq !== loadSeq) return;
      loaded = result.items || [];
      total = result.total ?? loaded.length;
      const lastPage = Math.max(1, Math.ceil(total / perPage));
      if (state.page > lastPage && total > 0) {
        state.page = lastPage;
        load();
        return;
      }
      filters.addCategories(loaded.map((e) => e.category));
      renderRows();
      setSubtitle();
      pages.set({ page: state.page, perPage, total });
      updateSelection();
    } catch (err) {
      if (seq !== loadSeq) return;
      replace(body, h('div', { class: 'p-4' }, errorState(err, load)));
    } finally {
      if (seq === loadSeq) body.removeAttribute('aria-busy');
    }
  }

  async function ackOne(event, button) {
    button.disabled = true;
    try {
      const updated = await api.post(`/api/v1/events/${encodeURIComponent(event.id)}/ack`, {});
      rowsById.get(event.id)?.setAcked(updated || { acknowledged: true });
      selected.delete(event.id);
      updateSelection();
      if (state.acknowledged === 'false') fadeOut(event.id);
    } catch (err) {
      button.disabled = false;
      toastError(err);
    }
  }

  function fadeOut(id) {
    const row = rowsById.get(id);
    if (!row) return;
    row.tr.classList.add('row-leaving');
    setTimeout(() => {
      row.rows.forEach((r) => r.remove());
      rowsById.delete(id);
      loaded = loaded.filter((e) => e.id !== id);
      total = Math.max(0, total - 1);
      setSubtitle();
      pages.set({ page: state.page, perPage, total });
    }, 600);
  }

  if (canAck) {
    selectAll.addEventListener('change', () => {
      for (const event of loaded) {
        if (event.acknowledged) continue;
        if (selectAll.checked) selected.add(event.id);
        else selected.delete(event.id);
      }
      for (const box of tbody.querySelectorAll('input.checkbox:not(:disabled)')) box.checked = selectAll.checked;
      updateSelection();
    });
    ackSelected.addEventListener('click', async () => {
      const ids = [...selected];
      ackSelected.disabled = true;
      try {
        const result = await api.post('/api/v1/events/ack', { ids });
        toastSuccess(`Acknowledged ${plural(result?.acknowledged ?? ids.length, 'event')}`);
        load();
      } catch (err) {
        toastError(err);
      } finally {
        ackSelected.disabled = false;
      }
    });
    ackAll.addEventListener('click', async () => {
      const cutoff = new Date().toISOString();
      if (state.acknowledged === 'true') {
        toastSuccess('Every event matching these filters is already acknowledged.');
        return;
      }
      let count;
      try {
        const probe = await api.get('/api/v1/events', { query: { ...apiQuery(state), acknowledged: 'false', to: minIso(state.to, cutoff), per_page: 1 } });
        count = probe?.total ?? 0;
      } catch (err) {
        toastError(err);
        return;
      }
      if (count === 0) {
        toastSuccess('Nothing to acknowledge: no unacknowledged events match these filters.');
        return;
      }
      const ok = await confirmDialog({
        title: 'Acknowledge all matching events',
        action: 'Acknowledge',
        objectName: plural(count, 'unacknowledged event'),
        message: 'Only events up to now are acknowledged; events that arrive after this click stay unacknowledged.',
        confirmLabel: `Acknowledge ${formatCount(count)}`,
        danger: false,
      });
      if (!ok) return;
      const filter = { before: cutoff };
      if (state.severity) filter.severity = state.severity.split(',');
      if (state.node_id) filter.node_id = [state.node_id];
      if (state.category) filter.category = [state.category];
      if (state.search.trim()) filter.search = state.search.trim();
      if (state.from) filter.from = state.from;
      if (state.to) filter.to = state.to;
      try {
        const result = await api.post('/api/v1/events/ack', { filter });
        toastSuccess(`Acknowledged ${plural(result?.acknowledged ?? count, 'event')}`);
        load();
      } catch (err) {
        toastError(err);
      }
    });
  }

  newPill.addEventListener('click', () => {
    state.page = 1;
    load();
  });
  const showPill = () => {
    newPill.hidden = pendingNew === 0;
    syncBar();
    newPill.textContent = pendingNew > 0 ? `${plural(pendingNew, 'new event')} — show` : '';
  };

  // Live: on page 1 (newest first), matching events slide in at the top; otherwise a pill counts them.
  ctx.socket.on('event', (frame) => {
    const event = frame?.event;
    if (!event || rowsById.has(event.id) || !matches(state, event)) return;
    if (state.page !== 1 || loadSeq === 0 || body.getAttribute('aria-busy') === 'true') {
      pendingNew += 1;
      showPill();
      return;
    }
    if (loaded.length === 0) replace(body, table);
    loaded.unshift(event);
    total += 1;
    filters.addCategories([event.category]);
    const row = addRow(event, { top: true });
    row.tr.classList.add('row-new');
    setTimeout(() => row.tr.classList.remove('row-new'), HIGHLIGHT_MS);
    while (loaded.length > perPage) {
      const dropped = loaded.pop();
      rowsById.get(dropped.id)?.rows.forEach((r) => r.remove());
      rowsById.delete(dropped.id);
      selected.delete(dropped.id);
    }
    setSubtitle();
    pages.set({ page: state.page, perPage, total });
    updateSelection();
  });
  ctx.socket.on('events_dropped', () => {
    pendingNew += 1;
    showPill();
  });

  setInterval(() => refreshTimes(tbody, zoneOf(timezone)), 30000);
  await load();
}

function minIso(a, b) {
  if (!a) return b;
  return new Date(a) < new Date(b) ? a : b;
}
