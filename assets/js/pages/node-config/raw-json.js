// Raw JSON tab (product.md §4.9): an editor with line numbers and live syntax checking, then
// "Review & apply": a modal with the per-entity diff between the current and the edited config,
// which sends PUT /nodes/{id}/config with If-Match (admin, for edges). Upload loads a file here and
// opens the same review; nothing is applied without that step.

import { h, replace } from '../../dom.js';
import { modal, toastSuccess } from '../../ui.js';
import { errorCallout, showError } from '../node-detail/common.js';
import { computeDiff, renderDiff, summarise } from './diff.js';
import { putConfig } from './http.js';

/** Where a JSON.parse error points: {line, column} or null. Browsers do not always say
 *  (Chrome's "Unexpected token" has no position), so a small scanner finds the first bad char. */
function errorPosition(message, text) {
  const lc = message.match(/line (\d+) column (\d+)/);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = message.match(/position (\d+)/);
  const index = pos ? Number(pos[1]) : firstErrorIndex(text);
  if (index === null) return null;
  const lines = text.slice(0, index).split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** Index of the first character where `text` stops being valid JSON (null when it is valid). */
function firstErrorIndex(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i += 1; };
  const fail = () => { throw i; };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1; ws();
      if (text[i] === '}') { i += 1; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string(); ws();
        if (text[i] !== ':') fail();
        i += 1; value(); ws();
        if (text[i] === ',') { i += 1; continue; }
        if (text[i] === '}') { i += 1; return; }
        fail();
      }
    } else if (c === '[') {
      i += 1; ws();
      if (text[i] === ']') { i += 1; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ',') { i += 1; continue; }
        if (text[i] === ']') { i += 1; return; }
        fail();
      }
    } else if (c === '"') string();
    else if (/[-0-9]/.test(c || '')) {
      const m = text.slice(i).match(/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/);
      if (!m) fail();
      i += m[0].length;
    } else {
      for (const word of ['true', 'false', 'null']) if (text.startsWith(word, i)) { i += word.length; return; }
      fail();
    }
  };
  const string = () => {
    i += 1;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') { i += 1; return; }
      if (c === '\\') i += 2;
      else if (c < ' ') fail();
      else i += 1;
    }
    fail();
  };
  try {
    value(); ws();
    return i < text.length ? i : null;
  } catch (at) {
    return typeof at === 'number' ? Math.min(at, text.length) : null;
  }
}

export function createRawEditor(page, { canApply: initialCanApply, applyReason = '' }) {
  let canApply = initialCanApply;
  const readOnly = page.readOnlyRaw || !page.canOperate;
  const readOnlyText = page.readOnlyRaw ? applyReason : 'The configuration is read-only for viewers.';
  const gutter = h('pre', { class: 'nc-gutter', 'aria-hidden': 'true' });
  const area = h('textarea', { class: 'nc-code', id: 'nc-raw', spellcheck: 'false', autocomplete: 'off', wrap: 'off', 'aria-label': 'Node configuration JSON', 'aria-describedby': 'nc-raw-status' });
  const status = h('p', { id: 'nc-raw-status', class: 'text-xs', role: 'status' });
  const dirty = h('span', { class: 'tag tag-warn', hidden: true }, 'Edited');
  const reset = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Reset to current');
  const review = h('button', { type: 'button', class: 'btn btn-primary btn-sm', id: 'nc-review', disabled: !canApply, title: canApply ? null : applyReason }, 'Review & apply');
  let baseline = '';
  let parsed = null;

  const node = h('div', { class: 'flex flex-col gap-2' },
    h('div', { class: 'flex flex-wrap items-center gap-2' }, status, dirty, h('div', { class: 'ml-auto flex items-center gap-2' }, reset, readOnly ? null : review)),
    h('div', { class: 'nc-editor' }, gutter, area),
    h('p', { class: 'hint' }, readOnly
      ? `Read-only: ${readOnlyText} Secrets are masked as "{{secret}}".`
      : ['Secrets show as "{{secret}}" and stay unchanged on the node unless you type a new value. ',
        canApply ? 'Applying replaces the node\'s whole configuration (update_config).' : applyReason]));
  if (readOnly) {
    area.readOnly = true;
    reset.hidden = true;
  }

  const check = () => {
    const text = area.value;
    const count = text.split('\n').length;
    if (gutter.dataset.count !== String(count)) {
      gutter.dataset.count = String(count);
      gutter.textContent = Array.from({ length: count }, (_, i) => i + 1).join('\n');
    }
    dirty.hidden = text === baseline;
    try {
      parsed = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('The config must be a JSON object');
      replace(status, h('span', { class: 'text-ok' }, '✓ Valid JSON'), h('span', { class: 'text-muted' }, ` · ${count} lines`));
      review.disabled = !canApply;
    } catch (err) {
      parsed = null;
      const pos = errorPosition(err.message, text);
      replace(status, h('span', { class: 'text-crit' }, `✕ ${pos ? `Line ${pos.line}, column ${pos.column}: ` : ''}${err.message}`));
      review.disabled = true;
    }
  };
  area.addEventListener('input', check);
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Tab' && !e.shiftKey && !area.readOnly) {
      e.preventDefault();
      area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end');
      check();
    }
  });
  reset.addEventListener('click', () => {
    area.value = baseline;
    check();
  });
  review.addEventListener('click', () => openReview());

  function openReview({ source = 'editor' } = {}) {
    if (!parsed) {
      showError({ error: 'The JSON is not valid; fix it before reviewing' });
      return;
    }
    const edited = parsed;
    const diff = computeDiff(page.config, edited);
    const err = h('div', { class: 'empty:hidden' });
    modal({
      title: 'Review & apply configuration',
      description: `${page.node.name} · ${diff.count ? summarise(diff) : 'no changes'}${source === 'upload' ? ' · from the uploaded file' : ''}`,
      wide: true,
      body: [err, renderDiff(diff),
        h('p', { class: 'mt-3 text-xs text-muted' }, 'The node validates the whole config and applies it at once; if anything is refused, nothing changes.')],
      actions: [
        { label: 'Cancel' },
        {
          label: 'Apply to node', kind: 'danger', id: 'nc-apply', disabled: !canApply || diff.count === 0,
          onClick: async (close, btn) => {
            btn.disabled = true;
            try {
              await putConfig(page.ctx, page.node.id, edited, page.etag);
              toastSuccess(`Configuration applied to ${page.node.name}`);
              close();
              page.refresh();
            } catch (e) {
              btn.disabled = false;
              replace(err, errorCallout(e.code === 'config_changed' ? { ...e, error: `${e.error}. Use Refresh, then re-apply your edit.` } : e));
              showError(e);
            }
          },
        },
      ],
    });
  }

  return {
    node,
    /** Load the current config (and make it the baseline unless the user has edits). */
    setConfig(config) {
      const text = JSON.stringify(config ?? {}, null, 2);
      const hadEdits = area.value !== baseline;
      baseline = text;
      if (!hadEdits) area.value = text;
      check();
    },
    /** Load text (an uploaded file) and open the review. */
    loadText(text) {
      area.value = text;
      check();
      if (parsed) openReview({ source: 'upload' });
    },
    focus: () => area.focus(),
    /** The node went on- or offline: allow or block applying without losing the user's edits. */
    setCanApply(allowed, reason = '') {
      canApply = allowed;
      review.title = allowed ? '' : reason;
      check();
    },
  };
}
