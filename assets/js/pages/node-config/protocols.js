// Purpose-built forms for the common edge input and output types (product.md §4.9,
// node-protocol.md §7.3–7.4). Each field: {key, label, kind, …}. kinds: text, addr (host:port),
// ip, url, number, select, checkbox, secret, list (comma-separated strings). `show(values)` and
// `required` (bool or fn) make fields depend on others; `advanced` puts a field in the collapsed
// Advanced group. Nested keys use dots ("fec_decode.columns"). Every other type the driver schema
// lists is edited as JSON, checked against that schema.

const SRT_MODES = [['listener', 'Listener'], ['caller', 'Caller'], ['rendezvous', 'Rendezvous']];
const needsLocal = (v) => v.mode === 'listener' || v.mode === 'rendezvous';
const needsRemote = (v) => v.mode === 'caller' || v.mode === 'rendezvous';
const SECRET_HELP = 'Stored on the node. Leave •••••• to keep the current value; clear to remove.';

const srtFields = (dir) => [
  { key: 'mode', label: 'Mode', kind: 'select', options: SRT_MODES, required: true, default: 'listener' },
  { key: 'local_addr', label: 'Local address', kind: 'addr', placeholder: '0.0.0.0:9000', required: needsLocal, show: needsLocal,
    help: dir === 'input' ? 'Where this edge listens for the SRT caller.' : 'Where this edge listens for SRT receivers.' },
  { key: 'remote_addr', label: 'Remote address', kind: 'addr', placeholder: '203.0.113.10:9000', required: needsRemote, show: needsRemote, picker: true },
  { key: 'latency_ms', label: 'Latency (ms)', kind: 'number', integer: true, min: 0, placeholder: '120' },
  { key: 'passphrase', label: 'Passphrase', kind: 'secret', minLength: 10, maxLength: 79, placeholder: '10–79 characters (optional)', help: SECRET_HELP },
  { key: 'aes_key_len', label: 'AES key length', kind: 'select', numeric: true, options: [['', 'Default'], [16, 'AES-128'], [24, 'AES-192'], [32, 'AES-256']] },
  { key: 'stream_id', label: 'Stream ID', kind: 'text', maxLength: 512, placeholder: 'optional', span2: true },
  { key: 'crypto_mode', label: 'Cipher mode', kind: 'select', advanced: true, options: [['', 'Default (AES-CTR)'], ['aes-ctr', 'AES-CTR'], ['aes-gcm', 'AES-GCM']] },
  { key: 'recv_latency_ms', label: 'Receive latency (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  { key: 'peer_latency_ms', label: 'Peer latency (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  { key: 'peer_idle_timeout_secs', label: 'Peer idle timeout (s)', kind: 'number', integer: true, min: 0, advanced: true, placeholder: '30' },
  { key: 'connect_timeout_secs', label: 'Connect timeout (s)', kind: 'number', integer: true, min: 0, advanced: true },
  { key: 'packet_filter', label: 'Packet filter (FEC)', kind: 'text', advanced: true, placeholder: 'fec,cols:10,rows:5', show: (v) => v.mode !== 'rendezvous' },
  { key: 'overhead_bw', label: 'Overhead bandwidth (%)', kind: 'number', integer: true, min: 5, max: 100, advanced: true },
  { key: 'max_bw', label: 'Max bandwidth (bytes/s)', kind: 'number', integer: true, advanced: true },
  { key: 'max_rexmit_bw', label: 'Max retransmit bandwidth (bytes/s)', kind: 'number', integer: true, advanced: true },
  { key: 'payload_size', label: 'Payload size', kind: 'number', integer: true, min: 188, max: 1456, advanced: true },
  { key: 'mss', label: 'MSS', kind: 'number', integer: true, min: 76, max: 9000, advanced: true },
  { key: 'ip_tos', label: 'IP ToS', kind: 'number', integer: true, min: 0, max: 255, advanced: true },
  { key: 'ip_ttl', label: 'IP TTL', kind: 'number', integer: true, min: 1, max: 255, advanced: true },
  { key: 'retransmit_algo', label: 'Retransmit algorithm', kind: 'select', advanced: true, options: [['', 'Default'], ['default', 'default'], ['reduced', 'reduced']] },
  { key: 'enforced_encryption', label: 'Enforce encryption', kind: 'checkbox', advanced: true },
  { key: 'tlpkt_drop', label: 'Drop too-late packets', kind: 'checkbox', advanced: true },
  ...(dir === 'output' ? [{ key: 'webrtc_compatible', label: 'WebRTC compatible', kind: 'checkbox', advanced: true }] : []),
];

const mcastFields = [
  { key: 'interface_addr', label: 'Interface address', kind: 'ip', placeholder: 'optional, e.g. 10.0.0.2' },
  { key: 'source_addr', label: 'Source address (SSM)', kind: 'ip', placeholder: 'optional' },
];

export const INPUT_FORMS = {
  srt: srtFields('input'),
  rtp: [
    { key: 'bind_addr', label: 'Bind address', kind: 'addr', required: true, placeholder: '0.0.0.0:5004 or 239.1.1.1:5004', span2: true },
    ...mcastFields,
    { key: 'max_bitrate_mbps', label: 'Max bitrate (Mbps)', kind: 'number', exclusiveMin: 0, max: 10000 },
    { key: 'allowed_sources', label: 'Allowed sources', kind: 'list', placeholder: 'comma-separated IPs' },
    { key: 'fec_decode.columns', label: 'FEC columns', kind: 'number', integer: true, min: 1, advanced: true },
    { key: 'fec_decode.rows', label: 'FEC rows', kind: 'number', integer: true, min: 1, advanced: true },
    { key: 'ingress_dejitter_ms', label: 'De-jitter (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  ],
  udp: [
    { key: 'bind_addr', label: 'Bind address', kind: 'addr', required: true, placeholder: '0.0.0.0:5000', span2: true },
    ...mcastFields,
    { key: 'ingress_dejitter_ms', label: 'De-jitter (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  ],
  rist: [
    { key: 'bind_addr', label: 'Bind address', kind: 'addr', even: true, required: true, placeholder: '0.0.0.0:6000', help: 'Even port; RTCP uses port + 1.', span2: true },
    { key: 'buffer_ms', label: 'Buffer (ms)', kind: 'number', integer: true, min: 0 },
    { key: 'max_nack_retries', label: 'Max NACK retries', kind: 'number', integer: true, min: 0 },
    { key: 'cname', label: 'CNAME', kind: 'text', maxLength: 256, advanced: true },
    { key: 'rtcp_interval_ms', label: 'RTCP interval (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  ],
  rtmp: [
    { key: 'listen_addr', label: 'Listen address', kind: 'addr', required: true, placeholder: '0.0.0.0:1935' },
    { key: 'app', label: 'Application', kind: 'text', placeholder: 'live', minLength: 1, maxLength: 64 },
    { key: 'stream_key', label: 'Stream key', kind: 'secret', maxLength: 256, placeholder: 'optional', help: SECRET_HELP },
    { key: 'max_publishers', label: 'Max publishers', kind: 'number', integer: true, min: 1, placeholder: '1' },
  ],
  rtsp: [
    { key: 'rtsp_url', label: 'RTSP URL', kind: 'url', schemes: ['rtsp', 'rtsps'], required: true, placeholder: 'rtsp://camera.local/stream1', span2: true },
    { key: 'username', label: 'Username', kind: 'secret', plain: true, maxLength: 256 },
    { key: 'password', label: 'Password', kind: 'secret', maxLength: 256, help: SECRET_HELP },
    { key: 'transport', label: 'Transport', kind: 'select', options: [['', 'Default (TCP)'], ['tcp', 'TCP'], ['udp', 'UDP']] },
    { key: 'timeout_secs', label: 'Timeout (s)', kind: 'number', integer: true, min: 1, placeholder: '10' },
    { key: 'reconnect_delay_secs', label: 'Reconnect delay (s)', kind: 'number', integer: true, min: 0, placeholder: '5', advanced: true },
  ],
  webrtc: [
    { key: 'bind_addr', label: 'Bind address', kind: 'addr', placeholder: 'optional, e.g. 0.0.0.0:8443' },
    { key: 'public_ip', label: 'Public IP', kind: 'ip', placeholder: 'optional' },
    { key: 'bearer_token', label: 'Bearer token', kind: 'secret', maxLength: 4096, help: SECRET_HELP, span2: true },
    { key: 'stun_server', label: 'STUN server', kind: 'text', placeholder: 'stun:stun.l.google.com:19302', advanced: true },
    { key: 'video_only', label: 'Video only', kind: 'checkbox' },
  ],
  whep: [
    { key: 'whep_url', label: 'WHEP URL', kind: 'url', schemes: ['http', 'https'], required: true, placeholder: 'https://server/whep/stream', span2: true },
    { key: 'bearer_token', label: 'Bearer token', kind: 'secret', maxLength: 4096, help: SECRET_HELP, span2: true },
    { key: 'video_only', label: 'Video only', kind: 'checkbox' },
    { key: 'accept_self_signed_cert', label: 'Accept self-signed certificate', kind: 'checkbox', default: true },
    { key: 'cert_fingerprint', label: 'Certificate fingerprint', kind: 'text', advanced: true },
  ],
};

const udpOut = [
  { key: 'dest_addr', label: 'Destination address', kind: 'addr', required: true, placeholder: '239.1.1.1:5004', picker: true, span2: true },
  { key: 'bind_addr', label: 'Bind address', kind: 'addr', placeholder: 'optional' },
  { key: 'interface_addr', label: 'Interface address', kind: 'ip', placeholder: 'optional' },
  { key: 'dscp', label: 'DSCP', kind: 'number', integer: true, min: 0, max: 63, placeholder: '46' },
  { key: 'program_number', label: 'Program number', kind: 'number', integer: true, min: 1, max: 65535, placeholder: 'all programs' },
  { key: 'egress_pacing', label: 'Egress pacing', kind: 'select', advanced: true, options: [['', 'Default'], ['forward', 'forward'], ['pcr', 'pcr'], ['servo', 'servo']] },
  { key: 'egress_buffer_ms', label: 'Egress buffer (ms)', kind: 'number', integer: true, min: 0, advanced: true },
];

export const OUTPUT_FORMS = {
  srt: srtFields('output'),
  rtp: udpOut,
  udp: udpOut,
  rist: [
    { key: 'remote_addr', label: 'Remote address', kind: 'addr', even: true, required: true, placeholder: '203.0.113.10:6000', picker: true, help: 'Even port; RTCP uses port + 1.' },
    { key: 'local_addr', label: 'Local address', kind: 'addr', placeholder: 'optional' },
    { key: 'buffer_ms', label: 'Buffer (ms)', kind: 'number', integer: true, min: 0 },
    { key: 'cname', label: 'CNAME', kind: 'text', maxLength: 256, advanced: true },
    { key: 'rtcp_interval_ms', label: 'RTCP interval (ms)', kind: 'number', integer: true, min: 0, advanced: true },
  ],
  rtmp: [
    { key: 'dest_url', label: 'Destination URL', kind: 'url', schemes: ['rtmp', 'rtmps'], required: true, placeholder: 'rtmps://live-host/app', span2: true },
    { key: 'stream_key', label: 'Stream key', kind: 'secret', required: true, minLength: 1, maxLength: 256, help: SECRET_HELP, span2: true },
    { key: 'reconnect_delay_secs', label: 'Reconnect delay (s)', kind: 'number', exclusiveMin: 0, placeholder: '5' },
    { key: 'max_reconnect_attempts', label: 'Max reconnect attempts', kind: 'number', integer: true, min: 0, placeholder: 'unlimited' },
    { key: 'program_number', label: 'Program number', kind: 'number', integer: true, min: 1, max: 65535, advanced: true },
  ],
  hls: [
    { key: 'ingest_url', label: 'Ingest URL', kind: 'url', schemes: ['http', 'https'], required: true, placeholder: 'https://ingest-host/live/', span2: true },
    { key: 'segment_duration_secs', label: 'Segment duration (s)', kind: 'number', min: 0.5, max: 10, placeholder: '2.0' },
    { key: 'max_segments', label: 'Max segments', kind: 'number', integer: true, min: 1, max: 30, placeholder: '5' },
    { key: 'auth_token', label: 'Auth token', kind: 'secret', maxLength: 4096, help: SECRET_HELP, span2: true },
  ],
  webrtc: [
    { key: 'mode', label: 'Mode', kind: 'select', options: [['whip_client', 'WHIP client (push)'], ['whep_server', 'WHEP server (viewers pull)']], default: 'whip_client' },
    { key: 'whip_url', label: 'WHIP URL', kind: 'url', schemes: ['http', 'https'], required: (v) => (v.mode || 'whip_client') === 'whip_client',
      show: (v) => (v.mode || 'whip_client') === 'whip_client', placeholder: 'https://server/whip/endpoint', span2: true },
    { key: 'max_viewers', label: 'Max viewers', kind: 'number', integer: true, min: 1, max: 100, show: (v) => v.mode === 'whep_server' },
    { key: 'public_ip', label: 'Public IP', kind: 'ip', placeholder: 'optional', show: (v) => v.mode === 'whep_server' },
    { key: 'bearer_token', label: 'Bearer token', kind: 'secret', maxLength: 4096, help: SECRET_HELP, span2: true },
    { key: 'video_only', label: 'Video only', kind: 'checkbox' },
    { key: 'accept_self_signed_cert', label: 'Accept self-signed certificate', kind: 'checkbox', advanced: true },
  ],
};

const LABELS = {
  srt: 'SRT', rtp: 'RTP', udp: 'UDP', rist: 'RIST (VSF TR-06-1)', rtmp: 'RTMP', rtsp: 'RTSP', hls: 'HLS', cmaf: 'CMAF / CMAF-LL',
  webrtc: 'WebRTC', whep: 'WebRTC WHEP (pull)', st2110_20: 'SMPTE ST 2110-20 (video)', st2110_23: 'SMPTE ST 2110-23 (multi-stream video)',
  st2110_30: 'SMPTE ST 2110-30 (PCM)', st2110_31: 'SMPTE ST 2110-31 (AES3)', st2110_40: 'SMPTE ST 2110-40 (ANC)', rtp_audio: 'RTP audio (RFC 3551 PCM)',
  bonded: 'Bonded (multi-path)', test_pattern: 'Test pattern', mosaic: 'Mosaic (multiviewer)', media_player: 'Media player', replay: 'Replay',
  mxl_video: 'MXL video', mxl_audio: 'MXL audio', mxl_anc: 'MXL ANC', sdi: 'SDI', display: 'Display (HDMI / DisplayPort)',
};

export function typeLabel(kind, type) {
  if (type === 'webrtc') return kind === 'input' ? 'WebRTC WHIP (receive)' : 'WebRTC WHIP / WHEP (send)';
  return LABELS[type] || type;
}

// Types that need a node capability before the UI offers them (node-protocol.md §4.3 gating guide).
const TYPE_CAPABILITY = {
  st2110_20: 'st2110-20', st2110_23: 'st2110-23', st2110_30: 'st2110-30', st2110_31: 'st2110-31', st2110_40: 'st2110-40',
  webrtc: 'webrtc', whep: 'webrtc', display: 'display', mosaic: 'mv-compositor', sdi: 'sdi-decklink', replay: 'replay',
  mxl_video: 'mxl-video', mxl_audio: 'mxl-audio', mxl_anc: 'mxl-anc',
};

export function typeAllowed(type, capabilities) {
  const needed = TYPE_CAPABILITY[type];
  return !needed || (Array.isArray(capabilities) && capabilities.includes(needed));
}

/** Purpose-built form for a type, or null (the entity is then edited as JSON). */
export function formFor(kind, type) {
  return (kind === 'input' ? INPUT_FORMS : OUTPUT_FORMS)[type] || null;
}

/** Preferred order of the type dropdown: purpose-built forms first. */
export const TYPE_ORDER = {
  input: ['srt', 'rtp', 'udp', 'rtmp', 'rtsp', 'webrtc', 'whep', 'rist'],
  output: ['srt', 'rtp', 'udp', 'rtmp', 'hls', 'webrtc', 'rist', 'cmaf'],
};
