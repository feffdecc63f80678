// Saved card positions per user and view (api.md §10.2): loaded once, changed as cards are
// dragged, written back with PUT (the whole set for the view) after a 500 ms debounce.

import { toastError } from '../../ui.js';

const DEBOUNCE_MS = 500;
const LIMIT = 1_000_000;

export class PositionStore {
  constructor(api, view) {
    this.api = api;
    this.view = view;
    this.positions = new Map();
    this.timer = null;
    this.saving = Promise.resolve();
    this.onSaved = null;
  }

  async load() {
    try {
      const body = await this.api.get('/api/v1/topology/positions', { query: { view: this.view } });
      this.positions = new Map(Object.entries(body?.positions || {}).filter(([, p]) => p && Number.isFinite(p.x) && Number.isFinite(p.y)));
    } catch {
      this.positions = new Map();
    }
    return this;
  }

  get(key) {
    return this.positions.get(key) || null;
  }

  has(key) {
    return this.positions.has(key);
  }

  set(key, x, y) {
    const clamp = (v) => Math.max(-LIMIT, Math.min(LIMIT, Math.round(v * 10) / 10));
    this.positions.set(key, { x: clamp(x), y: clamp(y) });
    this.schedule();
  }

  delete(key) {
    if (this.positions.delete(key)) this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  flush(retry = true) {
    clearTimeout(this.timer);
    this.timer = null;
    const body = { view: this.view, positions: Object.fromEntries(this.positions) };
    this.saving = this.api.put('/api/v1/topology/positions', body)
      .then(() => this.onSaved?.())
      .catch((err) => {
        // A card that vanished (node deleted, access removed) makes the whole set invalid:
        // drop the keys the server names and try once more.
        const stale = (err.fields || []).map((f) => String(f.path || '').replace(/^\/positions\//, '').replace(/~1/g, '/').replace(/~0/g, '~'));
        const removed = stale.filter((k) => this.positions.delete(k)).length;
        if (retry && err.status === 422 && removed) return this.flush(false);
        toastError(err);
        return null;
      });
    return this.saving;
  }

  /** Write now if a save is waiting (the page is going away). */
  flushPending() {
    if (this.timer) this.flush();
  }

  async reset() {
    clearTimeout(this.timer);
    this.positions.clear();
    await this.api.del('/api/v1/topology/positions', { query: { view: this.view } });
  }
}
