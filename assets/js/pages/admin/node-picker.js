// Node access picker for the user form (product.md §4.12): an "All nodes" switch, or a searchable
// multi-select of the nodes the caller can see. value() → null (all nodes) or an array of ids.

import { h } from '../../dom.js';
import { plural } from '../../format.js';

/**
 * nodePicker({nodes, value, allowAll, disabled}) → {node, value(), setDisabled(bool), setForceAll(bool)}
 * allowAll false hides the switch (a caller with an allowlist cannot grant every node).
 */
export function nodePicker({ nodes, value = null, allowAll = true, disabled = false, idPrefix = 'np' }) {
  const chosen = new Set(Array.isArray(value) ? value : []);
  const allSwitch = h('input', { type: 'checkbox', class: 'switch', id: `${idPrefix}-all`, role: 'switch', checked: allowAll && value === null });
  const search = h('input', { type: 'search', class: 'input py-1.5 text-sm', placeholder: 'Search nodes…', 'aria-label': 'Search nodes' });
  const count = h('span', { class: 'text-xs text-muted', 'aria-live': 'polite' });
  const list = h('ul', { class: 'node-picker-list', role: 'group', 'aria-label': 'Nodes this user may access' });
  const known = new Set(nodes.map((n) => n.id));
  const rows = nodes.map((n) => {
    const box = h('input', { type: 'checkbox', class: 'checkbox', value: n.id, checked: chosen.has(n.id) });
    box.addEventListener('change', () => {
      if (box.checked) chosen.add(n.id);
      else chosen.delete(n.id);
      showCount();
    });
    const li = h('li', { dataset: { name: String(n.name || '').toLowerCase() } },
      h('label', { class: 'flex cursor-pointer items-center gap-2 rounded px-2 py-1 hover:bg-surface-active' },
        box, h('span', { class: 'truncate' }, n.name), h('span', { class: `tag ${n.device_type === 'relay' ? 'tag-relay' : n.device_type === 'appear_x' ? 'tag-appear-x' : 'tag-edge'} ml-auto` }, n.device_type)));
    return { li, box, name: String(n.name || '').toLowerCase() };
  });
  // Ids the caller cannot see stay in the value untouched (shown as a count only).
  const hiddenIds = [...chosen].filter((id) => !known.has(id));
  list.append(...rows.map((r) => r.li));
  if (rows.length === 0) list.append(h('li', { class: 'px-2 py-3 text-sm text-muted' }, 'No nodes yet — add nodes under Nodes first.'));

  const listWrap = h('div', { class: 'mt-2 space-y-2' }, h('div', { class: 'flex items-center gap-3' }, search, count), list);
  const showCount = () => {
    const n = chosen.size;
    count.textContent = `${plural(n, 'node')} selected${hiddenIds.length ? ` (${hiddenIds.length} not visible to you)` : ''}`;
  };
  search.addEventListener('input', () => {
    const term = search.value.trim().toLowerCase();
    for (const r of rows) r.li.hidden = term !== '' && !r.name.includes(term);
  });
  const sync = () => {
    listWrap.hidden = allowAll && allSwitch.checked;
  };
  allSwitch.addEventListener('change', sync);
  sync();
  showCount();

  const switchRow = allowAll
    ? h('label', { class: 'flex items-center gap-2 text-sm', for: `${idPrefix}-all` }, allSwitch, 'All nodes', h('span', { class: 'text-xs text-muted' }, '— including nodes added later'))
    : h('p', { class: 'text-xs text-muted' }, 'Your own access is limited to some nodes, so you can grant only those.');
  const node = h('fieldset', { class: 'node-picker' }, h('legend', { class: 'label' }, 'Node access'), switchRow, listWrap);
  let forcedAll = false;
  const setDisabled = (flag) => {
    allSwitch.disabled = flag;
    search.disabled = flag;
    for (const r of rows) r.box.disabled = flag;
  };
  setDisabled(disabled);
  return {
    node,
    value: () => (forcedAll || (allowAll && allSwitch.checked) ? null : [...chosen]),
    setDisabled,
    /** super_admins always see every node: show the switch on and locked. */
    setForceAll(flag) {
      forcedAll = flag;
      if (flag) {
        allSwitch.checked = true;
        listWrap.hidden = true;
      } else sync();
      allSwitch.disabled = flag || disabled;
    },
  };
}
