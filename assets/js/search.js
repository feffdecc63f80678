// Top-bar search (product.md §4.3): jumps to a node by name or id, or searches events for the text.
// ARIA combobox with a listbox popup; arrows move, Enter opens, Escape closes.

import { get } from './api.js';
import { h, byId, clear } from './dom.js';
import { shortId } from './format.js';

const MAX_NODES = 6;

export function initSearch() {
  const input = byId('global-search');
  const list = byId('search-results');
  let nodes = null;
  let loading = null;
  let options = [];
  let active = -1;

  const loadNodes = () => {
    if (nodes || loading) return loading;
    loading = get('/api/v1/nodes')
      .then((body) => { nodes = Array.isArray(body) ? body : []; })
      .catch(() => { nodes = []; })
      .finally(() => { loading = null; });
    return loading;
  };

  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };

  const setActive = (index) => {
    options.forEach((opt, i) => {
      opt.node.setAttribute('aria-selected', i === index ? 'true' : 'false');
      opt.node.classList.toggle('bg-surface-active', i === index);
    });
    active = index;
    if (index >= 0) {
      input.setAttribute('aria-activedescendant', options[index].node.id);
      options[index].node.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };

  const renderResults = () => {
    const q = input.value.trim();
    clear(list);
    options = [];
    if (!q) return close();
    const needle = q.toLowerCase();
    const matches = (nodes || [])
      .filter((n) => String(n.name || '').toLowerCase().includes(needle) || String(n.id || '').toLowerCase().startsWith(needle))
      .slice(0, MAX_NODES);
    for (const node of matches) {
      options.push({
        href: `/nodes/${encodeURIComponent(node.id)}`,
        node: h('li', { role: 'option', class: 'flex cursor-pointer items-center gap-2 px-3 py-2 text-sm hover:bg-surface-active' },
          h('span', { class: 'truncate font-medium text-fg' }, node.name),
          h('span', { class: 'font-mono text-xs text-muted' }, `(${shortId(node.id)})`),
          h('span', { class: 'ml-auto text-xs text-muted' }, node.status || '')),
      });
    }
    if (nodes === null) {
      list.append(h('li', { class: 'px-3 py-2 text-xs text-muted', role: 'presentation' }, 'Loading nodes…'));
    } else if (matches.length === 0) {
      list.append(h('li', { class: 'px-3 py-2 text-xs text-muted', role: 'presentation' }, 'No node matches'));
    }
    options.push({
      href: `/events?search=${encodeURIComponent(q)}`,
      node: h('li', { role: 'option', class: 'cursor-pointer truncate border-t border-line px-3 py-2 text-sm text-link hover:bg-surface-active' },
        `Search events for “${q}”`),
    });
    options.forEach((opt, i) => {
      opt.node.id = `search-opt-${i}`;
      opt.node.setAttribute('aria-selected', 'false');
      opt.node.addEventListener('mousedown', (event) => event.preventDefault());
      opt.node.addEventListener('click', () => location.assign(opt.href));
      list.append(opt.node);
    });
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    setActive(matches.length ? 0 : -1);
  };

  input.addEventListener('focus', () => loadNodes());
  input.addEventListener('input', () => {
    renderResults();
    if (nodes === null) loadNodes()?.then(renderResults);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      if (list.hidden) renderResults();
      if (!options.length) return;
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      setActive((active + step + options.length) % options.length);
    } else if (event.key === 'Enter') {
      if (!input.value.trim()) return;
      event.preventDefault();
      const choice = options[active >= 0 ? active : options.length - 1];
      if (choice) location.assign(choice.href);
    } else if (event.key === 'Escape') {
      if (!list.hidden) {
        event.preventDefault();
        close();
      }
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 100));

  // "/" focuses the search box from anywhere outside a text field.
  document.addEventListener('keydown', (event) => {
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest('input, textarea, select, [contenteditable="true"]')) return;
    event.preventDefault();
    input.focus();
  });
}
