// Pagination bar shared by the events and audit pages: "← Prev · Page N of M · Next →" and a
// page-size select. The owner keeps page/perPage and calls set() after each load.

import { h } from '../dom.js';
import { formatCount } from '../format.js';

/**
 * pager({sizes, onPage(page), onSize(perPage), label}) → {node, set({page, perPage, total})}
 * sizes null leaves the page-size select out (when the page has its own in the filter bar).
 */
export function pager({ sizes = [25, 50, 100, 200], onPage, onSize, label = 'Pagination' }) {
  const prev = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'aria-label': 'Previous page' }, '← Prev');
  const next = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'aria-label': 'Next page' }, 'Next →');
  const text = h('span', { class: 'text-sm text-muted tabular-nums', 'aria-live': 'polite' }, 'Page 1');
  const range = h('span', { class: 'text-xs text-muted tabular-nums max-sm:hidden' });
  const size = sizes ? h('select', { class: 'input w-auto py-1 text-xs', 'aria-label': 'Rows per page' },
    sizes.map((n) => h('option', { value: String(n) }, `${n} / page`))) : null;
  let state = { page: 1, perPage: sizes ? sizes[0] : 100, total: 0 };
  prev.addEventListener('click', () => state.page > 1 && onPage?.(state.page - 1));
  next.addEventListener('click', () => state.page < pages() && onPage?.(state.page + 1));
  size?.addEventListener('change', () => onSize?.(Number(size.value)));

  const pages = () => Math.max(1, Math.ceil(state.total / state.perPage));
  const node = h('nav', { class: 'flex flex-wrap items-center justify-end gap-3', 'aria-label': label },
    range, size, prev, text, next);

  return {
    node,
    set({ page, perPage, total }) {
      state = { page, perPage, total: Number.isFinite(total) ? total : 0 };
      if (size) {
        if (![...size.options].some((o) => Number(o.value) === perPage)) size.append(h('option', { value: String(perPage) }, `${perPage} / page`));
        size.value = String(perPage);
      }
      text.textContent = `Page ${formatCount(page)} of ${formatCount(pages())}`;
      const first = state.total ? (page - 1) * perPage + 1 : 0;
      const last = Math.min(state.total, page * perPage);
      range.textContent = state.total ? `${formatCount(first)}–${formatCount(last)} of ${formatCount(state.total)}` : 'No rows';
      prev.disabled = page <= 1;
      next.disabled = page >= pages();
    },
  };
}
