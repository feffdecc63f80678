// Lazy flow thumbnails (product.md §5.6, api.md §6.4): an image is fetched only while its box is
// on screen (IntersectionObserver) and the tab is visible, then re-checked every 5 s with
// If-None-Match, so an unchanged picture costs a 304. The age badge comes from the capture time
// the server reports, so a frozen source shows a growing age (amber after 30 s).
//
// const t = createThumbnail({nodeId, flowId, inputId, label}); container.append(t.el);
// t.setActive(true | false, 'STOPPED'); t.destroy();

import { h } from '../dom.js';

const INTERVAL_MS = 5000;
const OLD_AFTER_SECS = 30;
const all = new Set();
let observer = null;
let ticker = null;

function ensureObserver() {
  if (observer || typeof IntersectionObserver !== 'function') return;
  observer = new IntersectionObserver((entries) => {
    for (const entry of entries) entry.target.thumbnail?.setVisible(entry.isIntersecting);
  }, { rootMargin: '100px' });
  document.addEventListener('visibilitychange', () => {
    for (const thumb of all) thumb.schedule();
  });
}

function ensureTicker() {
  if (ticker) return;
  ticker = setInterval(() => {
    for (const thumb of all) thumb.renderAge();
  }, 1000);
}

function formatAge(secs) {
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m`;
  return `${Math.floor(secs / 3600)}h`;
}

export function createThumbnail({ nodeId, flowId, inputId = null, label = 'Flow preview', sizeClass = '' }) {
  ensureObserver();
  ensureTicker();
  const url = `/api/v1/nodes/${encodeURIComponent(nodeId)}/flows/${encodeURIComponent(flowId)}/thumbnail${inputId ? `?input_id=${encodeURIComponent(inputId)}` : ''}`;
  const img = h('img', { alt: label, width: '120', height: '68', decoding: 'async', hidden: true });
  const placeholder = h('span', { class: 'thumb-placeholder' }, '');
  const age = h('span', { class: 'thumb-age', hidden: true });
  const el = h('span', { class: `thumb ${sizeClass}`, role: 'img', 'aria-label': label }, img, placeholder, age);

  let active = false;
  let visible = typeof IntersectionObserver !== 'function';
  let timer = null;
  let etag = null;
  let objectUrl = null;
  let ageBase = null; // seconds old when fetched
  let fetchedAt = 0;
  let loading = false;
  let destroyed = false;
  let idleText = '';

  const showPlaceholder = (text) => {
    img.hidden = true;
    age.hidden = true;
    placeholder.hidden = false;
    placeholder.textContent = text;
    el.dataset.state = 'placeholder';
  };

  const renderAge = () => {
    if (img.hidden || ageBase === null) return;
    const secs = Math.max(0, Math.round(ageBase + (Date.now() - fetchedAt) / 1000));
    const text = formatAge(secs);
    if (age.textContent !== text) age.textContent = text;
    age.hidden = false;
    age.classList.toggle('thumb-age-old', secs > OLD_AFTER_SECS);
    age.title = `Captured ${secs} s ago`;
  };

  const noteAge = (response) => {
    const header = response.headers.get('X-Thumbnail-Age-Secs');
    const n = header === null ? NaN : Number(header);
    if (Number.isFinite(n)) {
      ageBase = n;
      fetchedAt = Date.now();
    }
  };

  async function load() {
    if (loading || destroyed || !active) return;
    loading = true;
    try {
      const headers = { Accept: 'image/jpeg' };
      if (etag) headers['If-None-Match'] = etag;
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers });
      if (destroyed || !active) return;
      if (response.status === 304) {
        noteAge(response);
      } else if (response.ok) {
        const blob = await response.blob();
        if (destroyed || !active) return;
        etag = response.headers.get('ETag');
        noteAge(response);
        const next = URL.createObjectURL(blob);
        img.src = next;
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = next;
        img.hidden = false;
        placeholder.hidden = true;
        el.dataset.state = 'image';
      } else {
        etag = null;
        showPlaceholder(response.status === 404 ? 'No preview' : 'Unavailable');
      }
      renderAge();
    } catch {
      if (!destroyed && img.hidden) showPlaceholder('Unavailable');
    } finally {
      loading = false;
    }
  }

  function schedule() {
    const run = active && visible && !destroyed && document.visibilityState !== 'hidden';
    if (run && !timer) {
      load();
      timer = setInterval(load, INTERVAL_MS);
    } else if (!run && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  const api = {
    el,
    /** active false shows a grey box with `text` (e.g. STOPPED) and stops fetching. */
    setActive(on, text = 'Stopped') {
      idleText = text;
      if (!on) {
        active = false;
        schedule();
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = null;
        etag = null;
        showPlaceholder(idleText);
        return;
      }
      if (!active) {
        active = true;
        if (img.hidden) showPlaceholder('Loading');
      }
      schedule();
    },
    setVisible(on) {
      visible = on;
      schedule();
    },
    schedule,
    renderAge,
    destroy() {
      destroyed = true;
      active = false;
      schedule();
      observer?.unobserve(el);
      all.delete(api);
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    },
  };
  el.thumbnail = api;
  all.add(api);
  observer?.observe(el);
  showPlaceholder('');
  return api;
}
