// Recent events of one node: the 10 newest, live-prepended from the socket's event frames, with a
// link to the events page filtered to the node.

import { h, replace } from '../../dom.js';
import { formatAbsolute, formatRelative } from '../../format.js';

const LIMIT = 10;
const SEV = { critical: 'sev sev-critical', warning: 'sev sev-warning', info: 'sev sev-info' };

export function createRecentEvents(ctx, nodeId) {
  const list = h('ul', { class: 'divide-y divide-line/60' });
  const node = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-ev-title' },
    h('h2', { id: 'nd-ev-title', class: 'nd-panel-title' }, h('span', {}, 'Recent events'),
      h('a', { href: `/events?node_id=${encodeURIComponent(nodeId)}`, class: 'text-xs font-normal normal-case tracking-normal' }, 'View all events →')),
    list);
  let events = [];
  const times = [];

  const render = () => {
    times.length = 0;
    if (events.length === 0) {
      replace(list, h('li', { class: 'py-4 text-center text-sm text-muted' }, 'No events from this node yet.'));
      return;
    }
    replace(list, events.map((e) => {
      const time = h('time', { class: 'shrink-0 text-xs text-muted tabular-nums', datetime: e.created_at, title: formatAbsolute(e.created_at) }, formatRelative(e.created_at));
      times.push([time, e.created_at]);
      return h('li', { class: 'flex items-start gap-3 py-2' },
        h('span', { class: `${SEV[e.severity] || 'sev sev-info'} w-[4.5rem] justify-center` }, e.severity || 'info'),
        h('div', { class: 'min-w-0 flex-1' },
          h('p', { class: 'text-sm break-words text-slate-200' }, e.message || ''),
          h('p', { class: 'mt-0.5 flex flex-wrap items-center gap-2 text-xs text-muted' },
            h('span', { class: 'font-mono' }, e.category || ''),
            e.flow_id ? h('span', { class: 'font-mono' }, `flow ${e.flow_id}`) : null,
            e.error_code ? h('span', { class: 'chip-code' }, e.error_code) : null)),
        time);
    }));
  };

  const load = async () => {
    try {
      const page = await ctx.api.get('/api/v1/events', { query: { node_id: nodeId, per_page: LIMIT } });
      events = page?.items || [];
    } catch {
      events = [];
    }
    render();
  };

  ctx.socket.on('event', (frame) => {
    const e = frame.event;
    if (!e || e.node_id !== nodeId || events.some((x) => x.id === e.id)) return;
    events = [e, ...events].slice(0, LIMIT);
    render();
  });
  ctx.socket.on('events_dropped', () => load());
  load();
  return {
    node,
    tick() {
      for (const [el, at] of times) el.textContent = formatRelative(at);
    },
  };
}
