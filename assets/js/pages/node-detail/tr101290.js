// TR-101290 summary for a flow: priority 1 and priority 2 counters, red when a counter grew in the
// last minute. The stats block is an open object (node-protocol.md §4.2), so known counter names
// are grouped by priority and anything numeric that is not known is listed under "other".

import { h, replace } from '../../dom.js';
import { formatCount } from '../../format.js';

const P1 = ['ts_sync_loss', 'sync_loss', 'sync_byte_error', 'sync_byte_errors', 'pat_error', 'pat_errors', 'cc_error', 'cc_errors',
  'continuity_count_errors', 'pmt_error', 'pmt_errors', 'pid_error', 'pid_errors'];
const P2 = ['transport_error', 'transport_errors', 'tei_errors', 'crc_error', 'crc_errors', 'pcr_error', 'pcr_errors',
  'pcr_repetition_errors', 'pcr_discontinuity_errors', 'pcr_accuracy_error', 'pcr_accuracy_errors', 'pts_error', 'pts_errors',
  'cat_error', 'cat_errors'];
const WINDOW_MS = 60000;

const label = (key) => key.replace(/_/g, ' ').replace(/\berrors?\b/, 'err.').replace(/^\w/, (c) => c.toUpperCase());

export function createTr101290() {
  const body = h('div', { class: 'flex flex-col gap-2' });
  const node = h('section', { class: 'rounded-md border border-line/70 px-3 py-2', hidden: true },
    h('p', { class: 'nd-section-label' }, 'TR-101290 analysis'), body);
  const history = new Map(); // key -> [[ms, value]]

  const grew = (key, value) => {
    const now = Date.now();
    const arr = history.get(key) || [];
    arr.push([now, value]);
    while (arr.length > 1 && arr[0][0] < now - WINDOW_MS) arr.shift();
    history.set(key, arr);
    return arr.length > 1 && value > arr[0][1];
  };

  const flatten = (obj, prefix = '') => {
    const out = {};
    for (const [k, v] of Object.entries(obj || {})) {
      if (typeof v === 'number' && Number.isFinite(v)) out[prefix + k] = v;
      else if (v && typeof v === 'object' && !Array.isArray(v) && !prefix) Object.assign(out, flatten(v, `${k}.`));
    }
    return out;
  };

  const update = (tr) => {
    if (!tr || typeof tr !== 'object') {
      node.hidden = true;
      return;
    }
    node.hidden = false;
    const flat = flatten(tr);
    const groups = { 'Priority 1': [], 'Priority 2': [], Other: [] };
    for (const [key, value] of Object.entries(flat)) {
      const base = key.split('.').pop();
      const scope = key.split('.')[0];
      let group = 'Other';
      if (/p(riority)?_?1/i.test(scope) || P1.includes(base)) group = 'Priority 1';
      else if (/p(riority)?_?2/i.test(scope) || P2.includes(base)) group = 'Priority 2';
      groups[group].push([key, base, value]);
    }
    replace(body, Object.entries(groups).filter(([, items]) => items.length).map(([name, items]) => {
      const total = items.reduce((sum, [, , v]) => sum + (/total|packets|count$/.test(name) ? 0 : v), 0);
      return h('div', {},
        h('p', { class: 'mb-1 text-[11px] text-muted' }, name, name !== 'Other' ? h('span', { class: total ? 'ml-2 font-semibold text-warn' : 'ml-2 font-semibold text-ok' }, total ? 'Errors' : 'OK') : null),
        h('dl', { class: 'grid grid-cols-2 gap-x-4 gap-y-1 sm:grid-cols-4 lg:grid-cols-8' }, items.map(([key, base, value]) => h('div', { class: 'nd-kv' },
          h('dt', {}, label(base)),
          h('dd', { class: grew(key, value) ? 'text-crit' : '' }, formatCount(value))))));
    }));
  };
  return { node, update };
}
