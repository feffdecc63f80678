// One driver-aware device card for the dashboard grid (product.md §4.5). The card is built once
// per node and then updated in place: values change their text (with a short fade), the outline
// follows health / gateway target, and a status change flashes the outline once. Nothing is
// rebuilt on an update, so the grid never jumps.

import { h } from '../../dom.js';
import { formatBitrate, formatDuration, formatPercent, formatRelative, formatAbsolute, formatCount } from '../../format.js';
import { typeTag, liveDot, STATUS_META, metricValue } from '../../components/node-badges.js';
import { fadeIn, pulseOutline } from '../../motion.js';

const TARGET_META = {
  reachable: ['ok', 'Reachable'],
  unreachable: ['warn', 'Unreachable'],
  unknown: ['offline', 'Unknown'],
};

/** Seconds without data after which an online node counts as stale (30 s for gateways). */
export function staleAfterSecs(node) {
  return node.device_type === 'appear_x' ? 30 : 10;
}

function setText(el, text) {
  const value = text ?? '--';
  if (el.textContent === value) return;
  const first = el.textContent === '';
  el.textContent = value;
  if (!first) fade(el);
}

function fade(el) {
  fadeIn(el);
}

function metricCell(label) {
  const value = h('p', { class: 'metric-value mt-0.5 truncate text-[15px]', dataset: { metric: label.toLowerCase() } });
  const labelNode = h('p', { class: 'metric-label truncate' }, label);
  return { el: h('div', { class: 'min-w-0' }, labelNode, value), value, labelNode };
}

function meter(label) {
  const bar = h('progress', { class: 'meter', max: '100', value: '0', 'aria-label': `${label} usage` });
  const text = h('span', { class: 'w-9 shrink-0 text-right tabular-nums text-slate-300' }, '--');
  const el = h('div', { class: 'flex min-w-0 flex-1 items-center gap-2 text-[11px]' },
    h('span', { class: 'shrink-0 font-semibold tracking-wider text-muted uppercase' }, label), bar, text);
  return {
    el,
    set(percent) {
      const known = typeof percent === 'number' && Number.isFinite(percent);
      setText(text, known ? formatPercent(percent) : '--');
      const clamped = known ? Math.max(0, Math.min(100, percent)) : 0;
      bar.value = clamped;
      bar.classList.toggle('meter-warn', known && percent >= 70 && percent <= 90);
      bar.classList.toggle('meter-crit', known && percent > 90);
    },
  };
}

/**
 * createCard(node, {canDelete, onDelete}) → {el, update(node, serverNow), tick(serverNow)}
 * canDelete: show the ✕ on offline cards (admins); onDelete(node) runs the confirm-by-name flow.
 */
// Which cards are on screen (with a margin, so scrolling finds them already painted).
const onScreen = new WeakSet();
const visibility = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) {
      onScreen.add(entry.target);
      entry.target.dispatchEvent(new Event('card-visible'));
    } else {
      onScreen.delete(entry.target);
    }
  }
}, { rootMargin: '400px 0px' });

export function createCard(node, { canDelete = false, onDelete = null } = {}) {
  const type = node.device_type;
  const isGateway = type === 'appear_x';
  const link = h('a', { class: 'card-link block truncate text-[15px]', href: `/nodes/${encodeURIComponent(node.id)}` });
  const subline = h('span', { class: 'truncate text-xs text-muted' });
  const staleMarker = h('span', { class: 'stale-marker', hidden: true });
  const statusDot = liveDot();
  const targetDot = liveDot();
  const deleteButton = canDelete
    ? h('button', { type: 'button', class: 'icon-btn card-above -mt-1 -mr-2 size-7 text-muted hover:text-crit', hidden: true, 'aria-label': `Delete ${node.name}`, title: 'Delete node' }, '✕')
    : null;
  if (deleteButton && onDelete) deleteButton.addEventListener('click', () => onDelete(current));

  let right;
  if (isGateway) {
    right = h('div', { class: 'grid shrink-0 grid-cols-[auto_auto] items-center gap-x-2 gap-y-1 text-right' },
      h('span', { class: 'text-[10px] font-semibold tracking-wider text-muted uppercase' }, 'Sidecar'), statusDot.el,
      h('span', { class: 'text-[10px] font-semibold tracking-wider text-muted uppercase' }, 'Target'), targetDot.el);
  } else {
    right = h('div', { class: 'flex shrink-0 items-center gap-2' }, statusDot.el);
  }

  const header = h('div', { class: 'flex items-start justify-between gap-3' },
    h('div', { class: 'min-w-0' },
      h('h3', { class: 'min-w-0' }, link),
      h('div', { class: 'mt-1 flex min-h-5 min-w-0 items-center gap-2' }, typeTag(type), subline, staleMarker)),
    h('div', { class: 'flex items-start gap-2' }, right, deleteButton));

  // Three labelled metrics, by driver.
  const labels = type === 'relay' ? ['Tunnels', 'Edges', 'Uptime'] : ['Flows', 'Bitrate', 'Uptime'];
  const cells = labels.map(metricCell);
  const metrics = h('div', { class: 'mt-3 grid grid-cols-3 gap-3' }, cells.map((c) => c.el));

  // Footer line: CPU/RAM bars (edge), throughput (relay), chassis (gateway).
  const cpu = meter('CPU');
  const ram = meter('RAM');
  const footerText = h('span', { class: 'tabular-nums' });
  let footer;
  if (type === 'edge') footer = h('div', { class: 'mt-3 flex gap-5 border-t border-line/60 pt-2.5' }, cpu.el, ram.el);
  else footer = h('p', { class: 'mt-3 truncate border-t border-line/60 pt-2 text-center text-xs text-muted' }, footerText);

  const waiting = h('p', { class: 'mt-auto pt-4 text-sm text-muted', hidden: true });
  const body = h('div', { class: 'mt-auto' }, metrics, footer);

  const el = h('article', { class: 'device-card animate-fade-in', dataset: { nodeId: node.id, type } }, header, waiting, body);

  let current = node;
  let lastStatus = null;

  let filled = false;
  let deferred = null;
  function update(next, serverNow) {
    // The live state replaces a node's object only when a frame changed it: an unchanged card
    // costs nothing (the per-second tick keeps its times and stale marker current). A card out
    // of view keeps only the newest state and paints it when it scrolls in, so a plant of a
    // thousand nodes costs what the screen shows, not what the grid holds.
    if (filled && next === current) return;
    if (filled && !onScreen.has(el)) {
      deferred = [next, serverNow];
      return;
    }
    deferred = null;
    filled = true;
    current = next;
    const s = next.summary || {};
    const status = next.status || 'offline';
    el.dataset.status = status;
    el.dataset.health = status === 'online' ? (next.health || '') : '';
    link.textContent = next.name || next.id;
    const meta = STATUS_META[status] || { kind: 'offline', text: status };
    statusDot.set(meta.kind, meta.text);
    if (lastStatus !== null && lastStatus !== status) flash();
    lastStatus = status;

    // Gateway target: reachability of the chassis behind the sidecar.
    if (isGateway) {
      const target = status === 'online' ? (s.target?.status || 'unknown') : 'unknown';
      const [kind, word] = TARGET_META[target] || TARGET_META.unknown;
      targetDot.set(kind, word);
      targetDot.el.title = s.target?.address ? `${s.target.label || 'Target'} ${s.target.address}` : '';
      el.dataset.target = status === 'online' ? target : '';
    }

    const live = status === 'online';
    waiting.hidden = live;
    body.hidden = !live;
    if (deleteButton) deleteButton.hidden = status !== 'offline';

    // Metrics.
    if (type === 'relay') {
      const tunnels = metricValue(s, 'tunnels_active');
      const edges = metricValue(s, 'edges_connected');
      setText(cells[0].value, tunnels === null ? '--' : `${formatCount(tunnels)} tunnel${tunnels === 1 ? '' : 's'}`);
      setText(cells[1].value, edges === null ? '--' : `${formatCount(edges)} edge${edges === 1 ? '' : 's'}`);
    } else {
      const total = s.flows_total;
      const running = s.flows_running;
      let flows = '--';
      if (typeof total === 'number') flows = type === 'edge' && typeof running === 'number' && running !== total ? `${running}/${total}` : String(total);
      const tunnels = metricValue(s, 'tunnels_active');
      if (type === 'edge' && tunnels) flows += ` +${tunnels}t`;
      setText(cells[0].value, flows);
      cells[0].value.title = typeof total === 'number' ? `${running ?? 0} of ${total} flows running${tunnels ? `, ${tunnels} tunnels up` : ''}` : '';
      setText(cells[1].value, formatBitrate(s.bitrate_bps));
    }
    setText(cells[2].value, live ? formatDuration(s.uptime_secs) : '--');
    if (type === 'edge') {
      cpu.set(live ? s.cpu_percent : null);
      ram.set(live ? s.ram_percent : null);
    }
    tick(serverNow);
  }

  /** Time-driven parts: stale marker, "Last seen …" and the footer of offline cards. */
  function tick(serverNow) {
    const node = current;
    const s = node.summary || {};
    const lastSeen = node.last_seen_at ? Date.parse(node.last_seen_at) : NaN;
    const silentSecs = Number.isFinite(lastSeen) ? Math.max(0, Math.floor((serverNow - lastSeen) / 1000)) : null;
    const stale = node.status === 'online' && (node.stale || (silentSecs !== null && silentSecs >= staleAfterSecs(node)));
    staleMarker.hidden = !stale;
    subline.hidden = stale;
    if (stale) setText(staleMarker, `No data for ${silentSecs ?? '?'} s`);
    el.dataset.stale = stale ? 'true' : 'false';

    subline.textContent = node.software_version ? `v${node.software_version}` : (node.status === 'pending' ? 'Not registered yet' : '');
    subline.title = node.status === 'online' && node.connected_since ? `Connected since ${formatAbsolute(node.connected_since)}` : '';
    if (node.status === 'offline') {
      waiting.textContent = Number.isFinite(lastSeen) ? `Last seen ${formatRelative(lastSeen, serverNow)}` : 'Never connected';
      waiting.title = Number.isFinite(lastSeen) ? formatAbsolute(lastSeen) : '';
    } else if (node.status === 'pending') {
      waiting.textContent = 'Waiting for first connection';
      waiting.title = '';
    }

    if (type !== 'edge') {
      let text = '';
      if (type === 'relay') text = `Throughput ${formatBitrate(node.status === 'online' ? s.bitrate_bps : null)}`;
      else if (isGateway) {
        const alarms = ['alarms_critical', 'alarms_major', 'alarms_minor', 'alarms_warning']
          .map((k) => metricValue(s, k)).filter((v) => v !== null);
        const count = alarms.reduce((a, b) => a + b, 0);
        text = [s.target?.address ? `${s.target.label || 'Chassis'} ${s.target.address}` : null,
          alarms.length ? `${count} alarm${count === 1 ? '' : 's'}` : null].filter(Boolean).join(' · ');
      } else {
        text = (s.metrics || []).slice(0, 3).map((m) => `${m.label} ${m.value ?? '--'}`).join(' · ');
      }
      setText(footerText, text || '\u00a0');
    }
  }

  function flash() {
    pulseOutline(el);
  }

  visibility.observe(el);
  el.addEventListener('card-visible', () => {
    if (deferred) update(...deferred);
  });
  return { el, update, tick, get node() { return deferred ? deferred[0] : current; } };
}
