// One row of the events table (product.md §4.10): checkbox, severity badge, relative time, node
// with its short id, category with a small icon, message with the error-code chip (click to show
// the details as formatted JSON), and Acknowledge or "Acked by … · 4m ago".
// Every node-supplied string goes in through textContent.

import { h, svg, replace } from '../../dom.js';
import { formatRelative, formatAbsolute, shortId } from '../../format.js';

const SEVERITY_CLASS = { critical: 'sev sev-critical', warning: 'sev sev-warning', info: 'sev sev-info' };

// Small outline icons by category family; anything else gets a dot.
const ICONS = {
  link: ['M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1', 'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1'],
  signal: ['M3 12h3l3-7 4 14 3-7h5'],
  play: ['M7 5v14l12-7z'],
  alert: ['M12 4 2.5 20h19z', 'M12 10v4', 'M12 17h.01'],
  bell: ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a1.94 1.94 0 0 0 3.4 0'],
  gear: ['M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z', 'M19 12a7 7 0 0 0-.1-1.2l2-1.6-2-3.4-2.4 1a7 7 0 0 0-2-1.2L14 3h-4l-.5 2.6a7 7 0 0 0-2 1.2l-2.4-1-2 3.4 2 1.6a7 7 0 0 0 0 2.4l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2 1.2L10 21h4l.5-2.6a7 7 0 0 0 2-1.2l2.4 1 2-3.4-2-1.6A7 7 0 0 0 19 12z'],
  key: ['M7.5 19.5a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M10.5 12.5 20 3M16 7l3 3'],
  lock: ['M6 11h12v9H6z', 'M8.5 11V7.5a3.5 3.5 0 0 1 7 0V11'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
  server: ['M3 4h18v7H3zM3 13h18v7H3z', 'M7 7.5h.01M7 16.5h.01'],
};
const CATEGORY_ICON = {
  connection: 'link', tunnel: 'link', edge: 'link', registration: 'key', credentials: 'key', auth: 'lock', tls: 'lock',
  srt: 'signal', rtp: 'signal', udp: 'signal', rtmp: 'signal', rtsp: 'signal', hls: 'signal', webrtc: 'signal', whip: 'signal', whep: 'signal',
  flow: 'play', port_conflict: 'alert', rate_limit: 'alert', compatibility: 'alert', alarm: 'bell', target_reachability: 'server',
  config: 'gear', manager: 'server', upgrade: 'gear', expiry: 'clock', storage: 'server',
};

export function categoryIcon(category) {
  const paths = ICONS[CATEGORY_ICON[category]];
  if (!paths) return h('span', { class: 'dot dot-offline mx-1', 'aria-hidden': 'true' });
  return svg('svg', { viewBox: '0 0 24 24', class: 'size-3.5 shrink-0 text-muted', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.75', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' },
    paths.map((d) => svg('path', { d })));
}

export function severityBadge(severity) {
  return h('span', { class: SEVERITY_CLASS[severity] || 'sev sev-info' }, severity || 'info');
}

export function timeCell(iso, zone) {
  return h('time', { datetime: iso, title: formatAbsolute(iso, zone), class: 'whitespace-nowrap tabular-nums', dataset: { rel: '1' } }, formatRelative(iso));
}

/** Refresh every relative time inside a container (called every 30 s and on timezone change). */
export function refreshTimes(container, zone) {
  for (const node of container.querySelectorAll('time[data-rel]')) {
    node.textContent = formatRelative(node.getAttribute('datetime'));
    node.title = formatAbsolute(node.getAttribute('datetime'), zone);
  }
}

function ackedText(event) {
  return h('span', { class: 'text-xs text-muted', title: formatAbsolute(event.acknowledged_at) },
    `Acked by ${event.acknowledged_by_name || 'someone'} · `,
    h('time', { datetime: event.acknowledged_at, dataset: { rel: '1' } }, formatRelative(event.acknowledged_at)));
}

/**
 * eventRow(event, {canAck, selected, zone, onAck(event, button), onSelect(id, checked), columns})
 * → {rows: [tr, detailsTr], setAcked(event)}
 */
export function eventRow(event, { canAck, selected, zone, onAck, onSelect, columns }) {
  const tr = h('tr', { class: 'event-row', dataset: { eventId: String(event.id), severity: event.severity } });
  const details = h('tr', { class: 'event-details', hidden: true },
    h('td', { colspan: String(columns) },
      h('pre', { class: 'event-json' }, JSON.stringify({ ...event.details, ...(event.flow_id ? { flow_id: event.flow_id } : {}), ...(event.input_id ? { input_id: event.input_id } : {}), ...(event.output_id ? { output_id: event.output_id } : {}) }, null, 2))));

  let checkbox = null;
  if (canAck) {
    checkbox = h('input', { type: 'checkbox', class: 'checkbox', 'aria-label': `Select event ${event.id}`, disabled: event.acknowledged, checked: selected && !event.acknowledged });
    checkbox.addEventListener('change', () => onSelect(event.id, checkbox.checked));
    tr.append(h('td', { class: 'w-8 pr-0' }, checkbox));
  }

  const node = event.node_id
    ? h('a', { href: `/nodes/${encodeURIComponent(event.node_id)}`, class: 'text-fg hover:text-link' },
      event.node_name || shortId(event.node_id), ' ', h('span', { class: 'text-xs text-muted' }, `(${shortId(event.node_id)})`))
    : h('span', { class: 'text-muted' }, 'Manager');

  const toggle = h('button', { type: 'button', class: 'event-message', 'aria-expanded': 'false', title: 'Show details' },
    h('span', { class: 'break-words' }, event.message),
    event.error_code ? h('span', { class: 'chip-code ml-2 max-w-56 truncate align-middle', title: event.error_code }, event.error_code) : null);
  toggle.addEventListener('click', () => {
    details.hidden = !details.hidden;
    toggle.setAttribute('aria-expanded', String(!details.hidden));
  });

  const actions = h('td', { class: 'text-right whitespace-nowrap' });
  const setAcked = (ev) => {
    Object.assign(event, ev);
    tr.classList.add('is-acked');
    if (checkbox) {
      checkbox.checked = false;
      checkbox.disabled = true;
    }
    replace(actions, ackedText(event));
  };
  if (event.acknowledged) {
    tr.classList.add('is-acked');
    actions.append(ackedText(event));
  } else if (canAck) {
    const button = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Acknowledge');
    button.addEventListener('click', () => onAck(event, button));
    actions.append(button);
  } else {
    actions.append(h('span', { class: 'text-xs text-slate-500', title: 'Not acknowledged' }, '—', h('span', { class: 'sr-only' }, 'Not acknowledged')));
  }

  tr.append(
    h('td', { class: 'w-24' }, severityBadge(event.severity)),
    h('td', { class: 'w-24 text-slate-300' }, timeCell(event.created_at, zone)),
    h('td', { class: 'max-w-56 truncate' }, node),
    h('td', { class: 'max-w-40' }, h('span', { class: 'flex min-w-0 items-center gap-1.5', title: event.category },
      categoryIcon(event.category), h('span', { class: 'truncate' }, event.category))),
    h('td', { class: 'min-w-64' }, toggle),
    actions);
  return { rows: [tr, details], setAcked, tr };
}
