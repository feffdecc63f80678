// The narrow left column of the assistant: "+ New thread", the caller's threads (title and
// relative time), delete on hover or focus with a confirm naming the thread.

import { h, replace } from '../../dom.js';
import { confirmDialog, toastError, toastSuccess } from '../../ui.js';
import { formatRelative, formatAbsolute } from '../../format.js';

export function threadList(ctx, { onSelect, onNew, onDeleted }) {
  const list = h('ul', { id: 'ai-threads', class: 'ai-thread-list', 'aria-label': 'Threads' });
  const newButton = h('button', { type: 'button', id: 'ai-new-thread', class: 'btn btn-primary w-full' }, '+ New thread');
  newButton.addEventListener('click', () => onNew());
  const node = h('aside', { class: 'ai-threads', 'aria-label': 'Conversation threads' },
    h('div', { class: 'p-3' }, newButton), list);
  let threads = [];
  let active = null;

  function render() {
    if (!threads.length) {
      replace(list, h('li', { class: 'px-3 py-2 text-xs text-muted' }, 'No threads yet — ask a question to start one.'));
      return;
    }
    replace(list, threads.map((t) => {
      const open = h('button', { type: 'button', class: 'ai-thread-open', 'aria-current': t.id === active ? 'true' : null, dataset: { threadId: t.id } },
        h('span', { class: 'block truncate text-sm' }, t.title),
        h('span', { class: 'block text-[11px] text-muted', title: formatAbsolute(t.updated_at) }, `${formatRelative(t.updated_at)} · ${t.message_count} messages`));
      open.addEventListener('click', () => onSelect(t.id));
      const remove = h('button', { type: 'button', class: 'ai-thread-delete', 'aria-label': `Delete thread “${t.title}”`, title: 'Delete thread' }, '✕');
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete thread', action: 'Delete thread', objectName: t.title,
          message: 'Its messages and proposals are deleted too. Applied changes stay on the nodes.' });
        if (!ok) return;
        try {
          await ctx.api.del(`/api/v1/ai/threads/${encodeURIComponent(t.id)}`);
          toastSuccess('Thread deleted');
          threads = threads.filter((x) => x.id !== t.id);
          render();
          onDeleted(t.id);
        } catch (err) {
          toastError(err);
        }
      });
      return h('li', { class: ['ai-thread', t.id === active ? 'ai-thread-active' : ''] }, open, remove);
    }));
  }

  return {
    node,
    async refresh() {
      try {
        threads = await ctx.api.get('/api/v1/ai/threads', { query: { limit: 100 } });
      } catch (err) {
        toastError(err);
      }
      render();
      return threads;
    },
    setActive(id) {
      active = id;
      render();
    },
  };
}
