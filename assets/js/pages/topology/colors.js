// Colours and line styles of the topology (product.md §4.2): protocol colours and dash styles,
// link width from the logarithm of the bitrate, health and status colours.

export const C = {
  surface: '#1e293b',
  page: '#0f172a',
  line: '#334155',
  text: '#f1f5f9',
  muted: '#94a3b8',
  dim: '#64748b',
  ok: '#4ade80',
  warn: '#fbbf24',
  crit: '#f87171',
  offline: '#64748b',
  degraded: '#f97316',
  link: '#60a5fa',
  edge: '#60a5fa',
  relay: '#a78bfa',
  gateway: '#818cf8',
};

const PROTOCOL = {
  srt: { color: '#60a5fa', style: 'dashed', name: 'SRT' },
  rtp: { color: '#2dd4bf', style: 'dashed', name: 'RTP/UDP' },
  udp: { color: '#2dd4bf', style: 'dashed', name: 'RTP/UDP' },
  rtmp: { color: '#fb923c', style: 'dotted', name: 'RTMP' },
  rtmps: { color: '#fb923c', style: 'dotted', name: 'RTMP' },
  tunnel: { color: '#a78bfa', style: 'dashed', name: 'Tunnel' },
  tcp: { color: '#a78bfa', style: 'dashed', name: 'Tunnel' },
  quic: { color: '#a78bfa', style: 'dashed', name: 'Tunnel' },
};
const OTHER = { color: '#94a3b8', style: 'solid', name: 'Other' };

/** Protocol family for colour: "tcp-tunnel", "udp_tunnel" and kind=tunnel count as tunnel. */
export function protocolStyle(protocol, kind = null) {
  const p = String(protocol || '').toLowerCase();
  if (kind === 'tunnel' || p.includes('tunnel')) return PROTOCOL.tunnel;
  return PROTOCOL[p] || OTHER;
}

export function healthColor(health) {
  return { healthy: C.ok, warning: C.warn, critical: C.crit }[health] || C.dim;
}

/** Link width: 1.5 px at ≤ 100 kbps to 6 px at ≥ 1 Gbps, logarithmic; idle 1 px. */
export function linkWidth(bps, idle) {
  if (idle || !Number.isFinite(bps) || bps <= 0) return 1;
  const t = Math.min(1, Math.max(0, (Math.log10(bps) - 5) / 4));
  return Math.round((1.5 + t * 4.5) * 10) / 10;
}

/** Colour of a card's header dot: its driver colour while online, grey otherwise. */
export function typeColor(node) {
  if (node.status !== 'online') return C.offline;
  return node.color || { edge: C.edge, relay: C.relay, appear_x: C.gateway }[node.device_type] || C.link;
}

/** Border of a node card: accent (relay violet) beats health; offline is grey. Gateways whose
 *  target is unreachable get the orange outline. */
export function cardBorder(node) {
  if (node.status !== 'online') return C.offline;
  if (node.target && node.target.status === 'unreachable') return C.degraded;
  if (node.accent) return node.accent;
  return node.health ? healthColor(node.health) : C.line;
}
