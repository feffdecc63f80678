// Events filter bar (product.md §4.10): severity, category, node, state, search, From/To, Clear
// dates, timezone. Keeps its own state object and reports every change through onChange(state).
// The state round-trips through the page URL (?severity=&category=&node_id=&acknowledged=&search=&from=&to=).

import { h } from '../../dom.js';
import { timezoneSelect, wallTimeToIso, isoToWallTime } from '../../components/filters-timezone.js';

// Categories the manager raises (product.md §5.8) plus the usual node ones; categories seen in
// loaded events are added as they appear.
const KNOWN_CATEGORIES = ['alarm', 'auth', 'compatibility', 'config', 'connection', 'credentials', 'expiry', 'flow', 'manager',
  'port_conflict', 'rate_limit', 'registration', 'rtmp', 'rtp', 'srt', 'storage', 'target_reachability', 'tls', 'tunnel', 'udp', 'upgrade'];

const SEVERITIES = [
  ['', 'All Severities'], ['critical', 'Critical'], ['warning', 'Warning'], ['info', 'Info'], ['warning,critical', 'Alarms (warning + critical)'],
];
const STATES = [['', 'All states'], ['false', 'Unacknowledged'], ['true', 'Acknowledged']];

export function stateFromQuery(query) {
  const pick = (key) => (query.get(key) || '').slice(0, 256);
  const severity = pick('severity');
  const acknowledged = pick('acknowledged');
  const page = parseInt(query.get('page') || '1', 10);
  return {
    severity: SEVERITIES.some(([v]) => v === severity) ? severity : '',
    category: pick('category'),
    node_id: pick('node_id'),
    acknowledged: ['true', 'false'].includes(acknowledged) ? acknowledged : '',
    search: pick('search'),
    from: pick('from'),
    to: pick('to'),
    page: Number.isFinite(page) && page >= 1 && page <= 10000 ? page : 1,
  };
}

/** Query parameters for GET /events (and the URL); empty values are left out by api.js. */
export function apiQuery(state) {
  return {
    severity: state.severity, category: state.category, node_id: state.node_id, acknowledged: state.acknowledged,
    search: state.search.trim(), from: state.from, to: state.to,
  };
}

export function writeUrl(state) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...apiQuery(state), page: state.page > 1 ? String(state.page) : '' })) {
    if (value) params.set(key, value);
  }
  const qs = params.toString();
  history.replaceState(null, '', qs ? `${location.pathname}?${qs}` : location.pathname);
}

/** True when a live event would be listed under these filters. */
export function matches(state, event) {
  if (state.severity && !state.severity.split(',').includes(event.severity)) return false;
  if (state.category && event.category !== state.category) return false;
  if (state.node_id && event.node_id !== state.node_id) return false;
  if (state.acknowledged === 'true' && !event.acknowledged) return false;
  if (state.acknowledged === 'false' && event.acknowledged) return false;
  const term = state.search.trim().toLowerCase();
  if (term && ![event.message, event.category, event.node_name, event.error_code].some((v) => String(v || '').toLowerCase().includes(term))) return false;
  if (state.from && event.created_at < new Date(state.from).toISOString()) return false;
  if (state.to && event.created_at > new Date(state.to).toISOString()) return false;
  return true;
}

/**
 * filterBar({state, nodes, timezone, onChange(state), onTimezone(value)}) → {node, addCategories(list), setTimezone(pref)}
 */
export function filterBar({ state, nodes, timezone, onChange, onTimezone }) {
  let tz = timezone;
  const select = (label, options, value) => {
    const el = h('select', { class: 'input w-auto min-w-36 py-1.5', 'aria-label': label },
      options.map(([v, text]) => h('option', { value: v }, text)));
    el.value = value;
    return el;
  };
  const severity = select('Severity', SEVERITIES, state.severity);
  const categories = new Set(KNOWN_CATEGORIES);
  if (state.category) categories.add(state.category);
  const category = select('Category', [['', 'All Categories']], '');
  const fillCategories = () => {
    const current = category.value || state.category;
    while (category.options.length > 1) category.remove(1);
    for (const name of [...categories].sort()) category.append(h('option', { value: name }, name));
    category.value = current;
  };
  fillCategories();
  const nodeOptions = [['', 'All Nodes'], ...nodes.map((n) => [n.id, n.name])];
  if (state.node_id && !nodes.some((n) => n.id === state.node_id)) nodeOptions.push([state.node_id, state.node_id]);
  const node = select('Node', nodeOptions, state.node_id);
  const ack = select('Acknowledged state', STATES, state.acknowledged);
  const search = h('input', { type: 'search', class: 'input w-56 py-1.5', placeholder: 'Search events…', 'aria-label': 'Search events', maxlength: '256', value: state.search });
  const from = h('input', { type: 'datetime-local', class: 'input w-auto py-1.5', 'aria-label': 'From', value: isoToWallTime(state.from, tz) });
  const to = h('input', { type: 'datetime-local', class: 'input w-auto py-1.5', 'aria-label': 'To', value: isoToWallTime(state.to, tz) });
  const clearDates = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Clear dates');
  const zone = timezoneSelect({ value: tz, onChange: (value) => { tz = value; onTimezone(value); readDates(); } });

  const emit = () => {
    state.page = 1;
    onChange(state);
  };
  const readDates = () => {
    const f = wallTimeToIso(from.value, tz) || '';
    const t = wallTimeToIso(to.value, tz) || '';
    if (f !== state.from || t !== state.to) {
      state.from = f;
      state.to = t;
      emit();
    }
  };
  severity.addEventListener('change', () => { state.severity = severity.value; emit(); });
  category.addEventListener('change', () => { state.category = category.value; emit(); });
  node.addEventListener('change', () => { state.node_id = node.value; emit(); });
  ack.addEventListener('change', () => { state.acknowledged = ack.value; emit(); });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.search = search.value; emit(); }, 300);
  });
  from.addEventListener('change', readDates);
  to.addEventListener('change', readDates);
  clearDates.addEventListener('click', () => {
    from.value = '';
    to.value = '';
    readDates();
  });

  const label = (text, control) => h('label', { class: 'flex items-center gap-2 text-sm text-muted' }, text, control);
  return {
    node: h('div', { class: 'mb-4 flex flex-wrap items-center gap-2', role: 'search', 'aria-label': 'Filter events' },
      severity, category, node, ack, search, label('From', from), label('To', to), clearDates, zone),
    addCategories(list) {
      let grew = false;
      for (const name of list) {
        if (name && !categories.has(name)) {
          categories.add(name);
          grew = true;
        }
      }
      if (grew) fillCategories();
    },
  };
}
