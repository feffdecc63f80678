// Relay variant of the node detail page (product.md §4.8): the relay overview grid, a bandwidth
// history chart, the tunnels table (ingress edge → egress edge, managed edges by name) and the
// connected edges table, with the admin actions Close tunnel and Disconnect edge.

import { h, replace } from '../../dom.js';
import { confirmDialog, toastSuccess } from '../../ui.js';
import { formatBitrate, formatCount, formatDuration } from '../../format.js';
import { formatBytes, kv, protoTag, showError } from './common.js';
import { createChart, fetchHistory, avgPoints, fmtBitrateAxis } from './chart.js';

const TUNNEL_STATUS = { active: 'tag tag-ok', waiting_egress: 'tag tag-warn', waiting_ingress: 'tag tag-warn', empty: 'tag tag-muted' };

export function createRelayView(ctx, state) {
  const nodeId = state.node.id;
  const isAdmin = ctx.hasRole('admin');
  const o = {
    bandwidth: kv('Bandwidth'), forwarded: kv('Forwarded'), ingress: kv('Ingress'), egress: kv('Egress'),
    tunnels: kv('Tunnels active / total'), edges: kv('Connected edges'), tcp: kv('TCP streams'), udp: kv('UDP datagrams'),
    sessions: kv('UDP sessions'), peaks: kv('Peak tunnels / edges'), conns: kv('Connections total'), uptime: kv('Uptime'),
  };
  const overview = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-relay-title' },
    h('h2', { id: 'nd-relay-title', class: 'nd-panel-title' }, 'Relay overview'),
    h('dl', { class: 'grid grid-cols-2 gap-x-6 gap-y-3 sm:grid-cols-3 lg:grid-cols-6' }, Object.values(o).map((x) => x.node)));

  const chart = createChart({
    ariaLabel: 'Relay bandwidth history',
    tabs: [{
      key: 'bw', label: 'Bandwidth', format: fmtBitrateAxis,
      load: async (range) => {
        const series = await fetchHistory(ctx, nodeId, { entity: 'node', metric: 'bandwidth_bps' }, range);
        return [{ label: 'Forwarded', points: avgPoints(series[0]) }];
      },
    }],
  });
  const chartPanel = h('section', { class: 'nd-panel' }, h('h2', { class: 'nd-panel-title' }, 'Forwarded bandwidth'), chart.node);
  chart.reload();

  const tunnelBody = h('tbody');
  const edgeBody = h('tbody');
  const tunnelsPanel = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-tun-title' },
    h('h2', { id: 'nd-tun-title', class: 'nd-panel-title' }, 'Tunnels'),
    h('div', { class: 'overflow-x-auto' }, h('table', { class: 'nd-table' },
      h('thead', {}, h('tr', {}, ['Tunnel', 'Protocol', 'Status', 'Ingress edge → Egress edge', 'Bytes in / out', 'Streams', 'Up', isAdmin ? '' : null]
        .filter((c) => c !== null).map((c) => h('th', { scope: 'col' }, c)))),
      tunnelBody)));
  const edgesPanel = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-edges-title' },
    h('h2', { id: 'nd-edges-title', class: 'nd-panel-title' }, 'Connected edges'),
    h('div', { class: 'overflow-x-auto' }, h('table', { class: 'nd-table' },
      h('thead', {}, h('tr', {}, ['Edge', 'Remote address', isAdmin ? '' : null].filter((c) => c !== null).map((c) => h('th', { scope: 'col' }, c)))),
      edgeBody)));

  const node = h('div', { class: 'flex flex-col gap-4' }, overview, chartPanel,
    h('div', { class: 'grid grid-cols-1 gap-4 2xl:grid-cols-[2fr_1fr]' }, tunnelsPanel, edgesPanel));

  const edgeName = (id) => {
    if (!id) return h('span', { class: 'text-muted' }, 'unbound');
    const known = state.nodeNames.get(id);
    return known ? h('a', { href: `/nodes/${encodeURIComponent(id)}` }, known) : h('span', { class: 'font-mono text-[11px]', title: id }, id.slice(0, 8));
  };

  const command = async (action, label) => {
    try {
      await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(nodeId)}/command`, { action });
      toastSuccess(label);
    } catch (err) {
      showError(err);
    }
  };

  let lastSig = '';
  const update = (stats) => {
    const s = stats || {};
    o.bandwidth.set(formatBitrate(s.total_bandwidth_bps));
    o.forwarded.set(formatBytes(s.total_bytes_forwarded));
    o.ingress.set(formatBytes(s.total_bytes_ingress));
    o.egress.set(formatBytes(s.total_bytes_egress));
    o.tunnels.set(Number.isFinite(s.active_tunnels) ? `${s.active_tunnels} / ${s.total_tunnels ?? '--'}` : '--');
    o.edges.set(formatCount(s.connected_edges));
    o.tcp.set(Number.isFinite(s.active_tcp_streams) ? `${formatCount(s.active_tcp_streams)} / ${formatCount(s.total_tcp_streams)}` : '--');
    o.udp.set(formatCount(s.total_udp_datagrams));
    o.sessions.set(Number.isFinite(s.udp_sessions_active) ? `${s.udp_sessions_active} / ${s.udp_sessions_total ?? '--'}` : '--');
    o.peaks.set(Number.isFinite(s.peak_tunnels) ? `${s.peak_tunnels} / ${s.peak_edges ?? '--'}` : '--');
    o.conns.set(formatCount(s.connections_total));
    o.uptime.set(formatDuration(s.uptime_secs));
    if (stats && Number.isFinite(s.total_bandwidth_bps)) chart.push('bw', Math.floor(Date.now() / 1000), { Forwarded: s.total_bandwidth_bps });

    const tunnels = Array.isArray(s.tunnels) ? s.tunnels : [];
    const edges = Array.isArray(s.edges) ? s.edges : [];
    const sig = JSON.stringify([tunnels, edges, state.nodeNames.size]);
    if (sig === lastSig) return;
    lastSig = sig;
    replace(tunnelBody, tunnels.length ? tunnels.map((t) => {
      const st = t.stats || {};
      return h('tr', {},
        h('td', { class: 'font-mono text-[11px]', title: t.tunnel_id }, String(t.tunnel_id || '').slice(0, 8)),
        h('td', {}, protoTag(t.protocol)),
        h('td', {}, h('span', { class: TUNNEL_STATUS[t.status] || 'tag tag-muted' }, String(t.status || '?').replace('_', ' '))),
        h('td', {}, edgeName(t.ingress_edge_id), h('span', { class: 'mx-1.5 text-slate-500' }, '→'), edgeName(t.egress_edge_id)),
        h('td', { class: 'font-mono' }, `${formatBytes(st.bytes_ingress)} / ${formatBytes(st.bytes_egress)}`),
        h('td', {}, t.protocol === 'udp' ? formatCount(st.udp_datagrams_total) : `${formatCount(st.tcp_streams_active)} / ${formatCount(st.tcp_streams_total)}`),
        h('td', {}, formatDuration(st.uptime_secs)),
        isAdmin ? h('td', { class: 'text-right' }, actionButton('Close tunnel', async () => {
          if (await confirmDialog({ action: 'Close tunnel', objectName: t.tunnel_id, confirmLabel: 'Close tunnel', message: 'Both edges reconnect to the relay.' })) {
            command({ type: 'close_tunnel', tunnel_id: t.tunnel_id }, 'Tunnel closed');
          }
        })) : null);
    }) : h('tr', {}, h('td', { colspan: isAdmin ? '8' : '7', class: 'py-4 text-center text-muted' }, 'No tunnels through this relay right now.')));
    replace(edgeBody, edges.length ? edges.map((e) => h('tr', {},
      h('td', {}, edgeName(e.edge_id)),
      h('td', { class: 'font-mono text-[11px]' }, e.remote_addr || '--'),
      isAdmin ? h('td', { class: 'text-right' }, actionButton('Disconnect', async () => {
        const name = state.nodeNames.get(e.edge_id) || e.edge_id;
        if (await confirmDialog({ action: 'Disconnect edge', objectName: name, confirmLabel: 'Disconnect', message: 'The edge drops its relay connection and its tunnels through this relay.' })) {
          command({ type: 'disconnect_edge', edge_id: e.edge_id }, `${name} disconnected from the relay`);
        }
      })) : null))
      : h('tr', {}, h('td', { colspan: isAdmin ? '3' : '2', class: 'py-4 text-center text-muted' }, 'No edges connected to this relay.')));
  };
  update(state.stats || state.health?.report);
  return { node, update };
}

function actionButton(label, onClick) {
  const b = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, label);
  b.addEventListener('click', onClick);
  return b;
}
