// One /ws/dashboard connection per tab (api.md §15). Keeps a merged live state (counts and
// NodeLive objects) from snapshot/update/node_status frames, so a page mounted late still sees
// current data, and reconnects with exponential backoff (1 s doubling to 30 s, ±20 % jitter).
//
// States: connecting (first attempt) → connected → reconnecting → disconnected (down ≥ 30 s).

import { get, redirectToLogin } from './api.js';

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const DISCONNECTED_AFTER_MS = 30000;
const CLOSE_SESSION_INVALID = 4001;

export class DashboardSocket {
  constructor({ url = defaultUrl() } = {}) {
    this.url = url;
    this.state = 'connecting';
    this.socket = null;
    this.listeners = new Map();
    this.watched = [];
    this.attempt = 0;
    this.lastSeq = 0;
    this.downSince = Date.now();
    this.retryTimer = null;
    this.downTimer = null;
    this.stopped = false;
    this.live = { counts: null, nodes: new Map(), snapshotAt: null };
    window.addEventListener('pagehide', () => this.stop());
    window.addEventListener('pageshow', (event) => {
      // Restored from the back/forward cache: start again from a fresh snapshot.
      if (event.persisted && this.stopped) {
        this.stopped = false;
        this.attempt = 0;
        this.connect();
      }
    });
    window.addEventListener('online', () => this.retryNow());
  }

  /** Subscribe to a frame type ('snapshot', 'update', 'event', 'node_status', 'node_stats', …),
   *  'state' (connection state changes) or 'live' (merged state changed). Returns an unsubscribe function. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, payload) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`ws listener for ${type} failed`, err);
      }
    }
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.lastSeq = 0;
    let opened = false;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      console.error('WebSocket could not be created', err);
      this.scheduleRetry(false);
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      opened = true;
      this.setState('connected');
      if (this.watched.length) this.send({ type: 'watch', node_ids: this.watched });
    });
    socket.addEventListener('message', (event) => {
      // The link counts as healthy (backoff and down-time reset) once a frame arrives, not on
      // open, so a server that accepts and at once closes still backs off and turns the pill red.
      if (this.downSince !== null || this.attempt !== 0) {
        this.attempt = 0;
        this.downSince = null;
        clearTimeout(this.downTimer);
      }
      this.onMessage(event);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === CLOSE_SESSION_INVALID) {
        redirectToLogin();
        return;
      }
      this.scheduleRetry(opened);
    });
  }

  onMessage(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (Number.isInteger(frame.seq)) {
      if (this.lastSeq && frame.seq !== this.lastSeq + 1) {
        // A gap in seq means frames were lost: reconnect and start again from a fresh snapshot.
        console.warn(`dashboard socket: seq gap ${this.lastSeq} → ${frame.seq}, reconnecting`);
        this.socket?.close(4000, 'seq gap');
        return;
      }
      this.lastSeq = frame.seq;
    }
    this.merge(frame);
    this.emit(frame.type, frame);
  }

  /** Apply snapshot/update/node_status to the merged live state. */
  merge(frame) {
    const live = this.live;
    let changed = false;
    if (frame.type === 'snapshot') {
      live.nodes = new Map((frame.nodes || []).map((node) => [node.id, node]));
      live.counts = frame.counts || null;
      live.snapshotAt = frame.ts || new Date().toISOString();
      changed = true;
    } else if (frame.type === 'update') {
      for (const patch of frame.nodes || []) {
        live.nodes.set(patch.id, { ...(live.nodes.get(patch.id) || {}), ...patch });
      }
      for (const id of frame.removed_node_ids || []) live.nodes.delete(id);
      if (frame.counts) live.counts = frame.counts;
      changed = true;
    } else if (frame.type === 'node_status') {
      const node = live.nodes.get(frame.node_id);
      if (node) {
        live.nodes.set(frame.node_id, { ...node, status: frame.to, name: frame.name || node.name });
        changed = true;
      }
    }
    if (changed) this.emit('live', live);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Replace the watched node set (at most 4, api.md §15.3); re-sent after every reconnect. */
  watch(nodeIds) {
    this.watched = [...new Set(nodeIds)].slice(0, 4);
    this.send({ type: 'watch', node_ids: this.watched });
  }

  resync() {
    this.send({ type: 'resync' });
  }

  scheduleRetry(wasOpen) {
    if (this.stopped) return;
    if (this.downSince === null) this.downSince = Date.now();
    const downFor = Date.now() - this.downSince;
    this.setState(downFor >= DISCONNECTED_AFTER_MS ? 'disconnected' : 'reconnecting');
    clearTimeout(this.downTimer);
    if (downFor < DISCONNECTED_AFTER_MS) {
      this.downTimer = setTimeout(() => {
        if (this.state !== 'connected') this.setState('disconnected');
      }, DISCONNECTED_AFTER_MS - downFor);
    }
    // A handshake refused with 401 looks like any other failure to the browser; every third
    // failed attempt asks the API, which sends the browser to /login when the session is gone.
    if (!wasOpen && this.attempt > 0 && this.attempt % 3 === 0) get('/api/v1/auth/me').catch(() => {});
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Skip the remaining backoff (the browser came back online). */
  retryNow() {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    this.connect();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** Milliseconds the socket has been down (0 while connected). */
  downForMs() {
    return this.downSince === null ? 0 : Date.now() - this.downSince;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.downTimer);
    if (this.socket) this.socket.close(1000, 'page closed');
    this.socket = null;
  }
}

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/dashboard`;
}
