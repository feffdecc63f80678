// Per-entity diff between two node configs, for the "Review & apply" step: inputs, outputs, flows,
// tunnels and flow groups are matched by id (never by array position); every other top-level key
// is compared field by field. renderDiff() draws it with +/−/~ lines, built with textContent.

import { h } from '../../dom.js';

const COLLECTIONS = [['inputs', 'input'], ['outputs', 'output'], ['flows', 'flow'], ['tunnels', 'tunnel'], ['flow_groups', 'flow group']];

const isObj = (v) => v && typeof v === 'object' && !Array.isArray(v);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function deepDiff(a, b, path, out) {
  if (isObj(a) && isObj(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) deepDiff(a[key], b[key], path ? `${path}.${key}` : key, out);
  } else if (!same(a, b)) {
    out.push({ path, from: a, to: b });
  }
  return out;
}

/** → {entities: [{label, id, kind: added|removed|changed, changes}], other: [{path, from, to}], count} */
export function computeDiff(current, edited) {
  const cur = isObj(current) ? current : {};
  const next = isObj(edited) ? edited : {};
  const entities = [];
  const handled = new Set();
  for (const [key, label] of COLLECTIONS) {
    handled.add(key);
    const a = Array.isArray(cur[key]) ? cur[key] : [];
    const b = Array.isArray(next[key]) ? next[key] : [];
    const byId = (list) => new Map(list.map((e, i) => [isObj(e) && e.id !== undefined ? String(e.id) : `#${i}`, e]));
    const am = byId(a);
    const bm = byId(b);
    for (const [id, e] of bm) {
      if (!am.has(id)) entities.push({ label, id, kind: 'added', changes: deepDiff(undefined, e, '', []).length ? [{ path: '', from: undefined, to: e }] : [] });
      else {
        const changes = deepDiff(am.get(id), e, '', []);
        if (changes.length) entities.push({ label, id, kind: 'changed', changes });
      }
    }
    for (const [id, e] of am) if (!bm.has(id)) entities.push({ label, id, kind: 'removed', changes: [{ path: '', from: e, to: undefined }] });
  }
  const other = [];
  for (const key of new Set([...Object.keys(cur), ...Object.keys(next)])) {
    if (!handled.has(key)) deepDiff(cur[key], next[key], key, other);
  }
  return { entities, other, count: entities.length + other.length };
}

const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v));

export function renderDiff(diff) {
  if (diff.count === 0) return h('p', { class: 'rounded-md border border-line bg-page px-3 py-4 text-center text-sm text-muted' }, 'No changes — the edited config is the same as the current one.');
  const blocks = diff.entities.map((e) => {
    const sign = { added: '+', removed: '−', changed: '~' }[e.kind];
    const cls = { added: 'nc-diff-add', removed: 'nc-diff-del', changed: 'nc-diff-mod' }[e.kind];
    const lines = e.kind === 'changed'
      ? e.changes.map((c) => h('div', { class: 'pl-5 break-all text-slate-300' },
        h('span', { class: 'text-slate-400' }, `${c.path}: `),
        h('span', { class: 'text-crit line-through decoration-red-400/50' }, show(c.from)),
        h('span', { class: 'text-slate-500' }, ' → '),
        h('span', { class: 'text-ok' }, show(c.to))))
      : [h('pre', { class: `mt-1 pl-5 whitespace-pre-wrap break-all ${e.kind === 'added' ? 'text-green-300/80' : 'text-red-300/80'}` },
        JSON.stringify(e.kind === 'added' ? e.changes[0]?.to : e.changes[0]?.from, null, 2))];
    return h('div', { class: 'nc-diff-entity' },
      h('div', { class: `rounded px-1 font-semibold ${cls}` }, `${sign} ${e.label} ${e.id} `, h('span', { class: 'font-normal opacity-80' }, `(${e.kind})`)),
      lines);
  });
  if (diff.other.length) {
    blocks.push(h('div', { class: 'nc-diff-entity' },
      h('div', { class: 'rounded px-1 font-semibold nc-diff-mod' }, '~ node settings'),
      diff.other.map((c) => h('div', { class: 'pl-5 break-all text-slate-300' },
        h('span', { class: 'text-slate-400' }, `${c.path}: `),
        h('span', { class: 'text-crit' }, show(c.from)), h('span', { class: 'text-slate-500' }, ' → '), h('span', { class: 'text-ok' }, show(c.to))))));
  }
  return h('div', { class: 'nc-diff' }, blocks);
}

/** One-line summary: "1 input added, 1 flow changed". */
export function summarise(diff) {
  const parts = diff.entities.map((e) => `${e.label} ${e.id} ${e.kind}`);
  if (diff.other.length) parts.push(`${diff.other.length} node setting${diff.other.length === 1 ? '' : 's'} changed`);
  return parts.join(', ');
}
