// Flow thumbnail (product.md §5.6): 320×180, loaded only while on screen, re-checked every 5 s
// with If-None-Match, age badge from the capture time (amber after 30 s), grey "Stopped"
// placeholder for an idle flow. The image goes in through a blob: URL (img-src allows blob:).

import { h } from '../../dom.js';

const RECHECK_MS = 5000;
const OLD_SECS = 30;

export function createThumbnail(nodeId, flowId, { inputId = null } = {}) {
  const img = h('img', { alt: 'Latest preview of this flow', width: '320', height: '180', hidden: true, decoding: 'async' });
  const placeholder = h('div', { class: 'nd-thumb-empty' }, 'No preview');
  const age = h('span', { class: 'nd-thumb-age', hidden: true, 'aria-label': 'Preview age' });
  const node = h('div', { class: 'nd-thumb' }, img, placeholder, age);
  let etag = null;
  let capturedAt = null;
  let objectUrl = null;
  let timer = null;
  let visible = false;
  let running = true;
  let busy = false;
  let stopped = false;

  const url = `/api/v1/nodes/${encodeURIComponent(nodeId)}/flows/${encodeURIComponent(flowId)}/thumbnail${inputId ? `?input_id=${encodeURIComponent(inputId)}` : ''}`;

  const showPlaceholder = (text) => {
    img.hidden = true;
    placeholder.hidden = false;
    placeholder.textContent = text;
    age.hidden = true;
  };

  const check = async () => {
    if (busy || stopped || !visible || !running) return;
    busy = true;
    try {
      const headers = { Accept: 'image/jpeg' };
      if (etag) headers['If-None-Match'] = etag;
      const response = await fetch(url, { headers, credentials: 'same-origin', cache: 'no-store' });
      if (response.status === 200) {
        const blob = await response.blob();
        etag = response.headers.get('ETag');
        const captured = response.headers.get('X-Thumbnail-Captured-At');
        capturedAt = captured ? Date.parse(captured) : Date.now() - (Number(response.headers.get('X-Thumbnail-Age-Secs')) || 0) * 1000;
        const next = URL.createObjectURL(blob);
        img.src = next;
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = next;
        img.hidden = false;
        placeholder.hidden = true;
        tick();
      } else if (response.status === 304) {
        // Unchanged; the age badge keeps growing, so a frozen source is visible.
      } else if (response.status === 404) {
        etag = null;
        capturedAt = null;
        showPlaceholder('No preview');
      }
    } catch {
      // Network trouble: keep the last image; the next check tries again.
    } finally {
      busy = false;
    }
  };

  const schedule = () => {
    clearInterval(timer);
    timer = null;
    if (visible && running && !stopped) {
      check();
      timer = setInterval(check, RECHECK_MS);
    }
  };

  const tick = () => {
    if (!capturedAt || img.hidden) {
      age.hidden = true;
      return;
    }
    const secs = Math.max(0, Math.round((Date.now() - capturedAt) / 1000));
    age.hidden = false;
    age.textContent = secs < 60 ? `${secs}s` : secs < 3600 ? `${Math.floor(secs / 60)}m` : `${Math.floor(secs / 3600)}h`;
    age.classList.toggle('nd-thumb-old', secs > OLD_SECS);
    age.title = `Captured ${new Date(capturedAt).toLocaleTimeString('en-GB', { hourCycle: 'h23' })}`;
  };

  const observer = new IntersectionObserver((entries) => {
    visible = entries.some((e) => e.isIntersecting);
    schedule();
  });
  observer.observe(node);

  return {
    node,
    tick,
    /** Running flows show the preview; an idle flow shows the grey Stopped box. */
    setRunning(isRunning) {
      if (isRunning === running) return;
      running = isRunning;
      if (!running) {
        showPlaceholder('Stopped');
        etag = null;
      } else {
        showPlaceholder('No preview');
      }
      schedule();
    },
    destroy() {
      stopped = true;
      clearInterval(timer);
      observer.disconnect();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    },
  };
}
