// Shared UI pieces: toasts, modal and confirm dialogs, popovers, page header, empty and loading states.
// Everything is built with h()/textContent; untrusted text never goes through innerHTML.

import { h, append, clear, escapeHtml } from './dom.js';

export { escapeHtml };

const SUCCESS_MS = 3000;
const ERROR_MS = 10000;

// ---------------------------------------------------------------------------------------------
// Toasts (bottom-right): success 3 s, error 10 s or until dismissed, error-code chip when present.

function toastRegion() {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', {
      id: 'toasts',
      class: 'pointer-events-none fixed right-4 bottom-4 z-50 flex flex-col items-end gap-2',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
    });
    document.body.append(region);
  }
  return region;
}

// The region is a manual popover where the browser supports it, so toasts sit in the top layer,
// above an open modal dialog, instead of behind its backdrop.
function raiseRegion(region) {
  if (typeof region.showPopover !== 'function') return;
  if (!region.hasAttribute('popover')) {
    region.setAttribute('popover', 'manual');
    region.classList.add('toast-region');
  }
  try {
    if (region.matches(':popover-open')) region.hidePopover();
    if (region.childElementCount) region.showPopover();
  } catch {
    // Popover API quirks must never stop a toast from showing.
  }
}

/**
 * toast('Saved', {kind: 'success'|'error'|'info', code, duration})
 * Returns a function that dismisses the toast.
 */
export function toast(message, { kind = 'info', code = null, duration } = {}) {
  const ms = duration ?? (kind === 'error' ? ERROR_MS : SUCCESS_MS);
  const kindClass = { success: 'toast-success', error: 'toast-error', info: 'toast-info' }[kind] || 'toast-info';
  const marker = { success: ['dot dot-ok mt-1.5', 'Success'], error: ['dot dot-crit mt-1.5', 'Error'], info: ['dot dot-offline mt-1.5', 'Note'] }[kind]
    || ['dot dot-offline mt-1.5', 'Note'];
  const dismissButton = h('button', { type: 'button', class: 'icon-btn -my-1 -mr-2 size-7 shrink-0 text-muted', 'aria-label': 'Dismiss notification' }, '✕');
  const node = h('div', { class: ['toast', kindClass], role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: marker[0], 'aria-hidden': 'true' }),
    h('div', { class: 'min-w-0 flex-1' },
      h('span', { class: 'sr-only' }, `${marker[1]}: `),
      h('p', { class: 'break-words text-fg' }, message),
      code ? h('p', { class: 'mt-1.5' }, h('span', { class: 'chip-code' }, code)) : null),
    dismissButton);

  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    const region = node.parentElement;
    node.remove();
    if (region && region.childElementCount === 0 && typeof region.hidePopover === 'function') {
      try { region.hidePopover(); } catch { /* not open */ }
    }
  };
  const arm = () => {
    clearTimeout(timer);
    if (ms > 0) timer = setTimeout(dismiss, ms);
  };
  dismissButton.addEventListener('click', dismiss);
  // Hovering or focusing a toast keeps it until the pointer or focus leaves.
  node.addEventListener('mouseenter', () => clearTimeout(timer));
  node.addEventListener('mouseleave', arm);
  node.addEventListener('focusin', () => clearTimeout(timer));
  node.addEventListener('focusout', arm);

  const region = toastRegion();
  region.append(node);
  raiseRegion(region);
  arm();
  return dismiss;
}

export const toastSuccess = (message, options) => toast(message, { ...options, kind: 'success' });

/** Error toast from an ApiError (its error text plus the node_error_code chip) or any Error/string. */
export function toastError(err, options = {}) {
  const message = typeof err === 'string' ? err : err?.error || err?.message || 'Something went wrong';
  return toast(message, { ...options, kind: 'error', code: options.code ?? err?.node_error_code ?? null });
}

// ---------------------------------------------------------------------------------------------
// Modal dialog, built on <dialog>: focus is trapped, Escape closes, the page behind is inert.

/**
 * modal({title, body, actions, onClose, labelledBy}) → {dialog, close, body, footer}
 * body: node or array of nodes. actions: [{label, kind: 'primary'|'secondary'|'danger', onClick(close), type, disabled}]
 * The dialog is removed from the DOM when closed.
 */
export function modal({ title, description = null, body = null, actions = [], onClose = null, wide = false }) {
  const titleId = `dlg-${Math.random().toString(36).slice(2, 10)}`;
  const bodyNode = h('div', { class: 'px-5 py-4 text-slate-200' });
  append(bodyNode, body);
  const footer = h('div', { class: 'flex justify-end gap-2 border-t border-line px-5 py-3' });
  const dialog = h('dialog', { class: wide ? 'dialog w-[min(48rem,calc(100vw-2rem))]' : 'dialog', 'aria-labelledby': titleId },
    h('div', { class: 'flex items-start justify-between gap-4 border-b border-line px-5 py-3' },
      h('div', {},
        h('h2', { id: titleId, class: 'text-base font-semibold text-white' }, title),
        description ? h('p', { class: 'mt-0.5 text-sm text-muted' }, description) : null),
      h('button', { type: 'button', class: 'icon-btn -mr-2 size-8 text-muted', 'aria-label': 'Close dialog', onclick: () => close() }, '✕')),
    bodyNode,
    footer);

  let closed = false;
  const close = (value) => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (onClose) onClose(value);
  };
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    close();
  });

  for (const action of actions) {
    const kindClass = { primary: 'btn-primary', danger: 'btn-danger', secondary: 'btn-secondary' }[action.kind || 'secondary'];
    const button = h('button', { type: action.type || 'button', class: ['btn', kindClass], disabled: !!action.disabled }, action.label);
    button.addEventListener('click', () => (action.onClick ? action.onClick(close, button) : close()));
    if (action.id) button.id = action.id;
    footer.append(button);
  }
  if (actions.length === 0) footer.remove();

  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close, body: bodyNode, footer };
}

/**
 * confirmDialog({title, action, objectName, message, confirmLabel, danger, typeToConfirm}) → Promise<boolean>
 * The dialog names the object: "Delete node “Edge 1”?". With typeToConfirm the confirm button stays
 * disabled until that exact text is typed (node name, or IMPORT).
 */
export function confirmDialog({ title, action = 'Delete', objectName = '', message = '', confirmLabel, danger = true, typeToConfirm = null }) {
  return new Promise((resolve) => {
    const question = h('p', { class: 'text-sm' }, `${action} `, objectName ? h('strong', { class: 'font-semibold text-white break-all' }, `“${objectName}”`) : null, '?');
    const parts = [question];
    if (message) parts.push(h('p', { class: 'mt-2 text-sm text-muted' }, message));
    let input = null;
    if (typeToConfirm) {
      const inputId = `confirm-${Math.random().toString(36).slice(2, 10)}`;
      input = h('input', { id: inputId, class: 'input mt-1 font-mono', autocomplete: 'off', spellcheck: 'false' });
      parts.push(h('label', { class: 'mt-4 block text-sm text-slate-300', for: inputId }, 'Type ', h('code', { class: 'rounded bg-page px-1 text-white' }, typeToConfirm), ' to confirm'));
      parts.push(input);
    }
    let result = false;
    const dlg = modal({
      title: title || `${action} ${objectName}`.trim(),
      body: parts,
      onClose: () => resolve(result),
      actions: [
        { label: 'Cancel', kind: 'secondary' },
        {
          label: confirmLabel || action,
          kind: danger ? 'danger' : 'primary',
          disabled: !!typeToConfirm,
          id: null,
          onClick: (close) => {
            if (typeToConfirm && input.value !== typeToConfirm) return;
            result = true;
            close(true);
          },
        },
      ],
    });
    const confirmButton = dlg.footer.lastElementChild;
    if (input) {
      input.addEventListener('input', () => {
        confirmButton.disabled = input.value !== typeToConfirm;
      });
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && input.value === typeToConfirm) confirmButton.click();
      });
      input.focus();
    } else {
      // Cancel is focused first (the <dialog> default), so Enter alone never destroys anything.
      dlg.footer.firstElementChild.focus();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Popover: a button that toggles a panel; Escape and outside clicks close it; focus returns.

export function bindPopover(button, panel, { onOpen = null, focusFirst = true } = {}) {
  const isOpen = () => !panel.hidden;
  const close = ({ restoreFocus = false } = {}) => {
    if (!isOpen()) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (restoreFocus) button.focus();
  };
  const open = () => {
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    if (onOpen) onOpen();
    if (focusFirst) {
      const first = panel.querySelector('a[href], button:not([disabled]), input, [tabindex]:not([tabindex="-1"])');
      if (first) first.focus();
    }
  };
  button.addEventListener('click', () => (isOpen() ? close() : open()));
  document.addEventListener('click', (event) => {
    if (isOpen() && !panel.contains(event.target) && !button.contains(event.target)) close();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && isOpen()) close({ restoreFocus: true });
  });
  panel.addEventListener('focusout', (event) => {
    if (event.relatedTarget && !panel.contains(event.relatedTarget) && event.relatedTarget !== button) close();
  });
  return { open, close, isOpen };
}

// ---------------------------------------------------------------------------------------------
// Page building blocks.

/** Large bold title, one-line grey subtitle, actions right-aligned. */
export function pageHeader({ title, subtitle = '', actions = [] }) {
  return h('header', { class: 'mb-6 flex flex-wrap items-start justify-between gap-4' },
    h('div', { class: 'min-w-0' },
      h('h1', { class: 'page-title' }, title),
      subtitle ? h('p', { class: 'page-subtitle' }, subtitle) : null),
    actions.length ? h('div', { class: 'flex flex-wrap items-center gap-2' }, actions) : null);
}

/** One sentence and the next step: emptyState({text: 'No nodes yet', action: {label, href | onClick}}). */
export function emptyState({ title = null, text, action = null, icon = null }) {
  let actionNode = null;
  if (action && action.href) actionNode = h('a', { class: 'btn btn-primary mt-4', href: action.href }, action.label);
  else if (action && action.onClick) actionNode = h('button', { type: 'button', class: 'btn btn-primary mt-4', onclick: action.onClick }, action.label);
  return h('div', { class: 'card flex flex-col items-center px-6 py-12 text-center' },
    icon,
    title ? h('h2', { class: 'text-base font-semibold text-white' }, title) : null,
    h('p', { class: title ? 'mt-1 max-w-prose text-sm text-muted' : 'max-w-prose text-sm text-slate-300' }, text),
    actionNode);
}

/** Skeleton rows shown while loading. */
export function skeletonRows(count = 4) {
  const rows = [];
  for (let i = 0; i < count; i += 1) rows.push(h('div', { class: 'skeleton h-10' }));
  return h('div', { class: 'flex flex-col gap-2', 'aria-busy': 'true', 'aria-label': 'Loading' }, rows);
}

/** A callout for a failed load, with a Retry button. */
export function errorState(err, onRetry) {
  return h('div', { class: 'form-error flex flex-wrap items-center gap-3', role: 'alert' },
    h('span', {}, err?.error || err?.message || 'Could not load this page'),
    err?.node_error_code ? h('span', { class: 'chip-code' }, err.node_error_code) : null,
    onRetry ? h('button', { type: 'button', class: 'btn btn-secondary btn-sm ml-auto', onclick: onRetry }, 'Retry') : null);
}

/** Status dot with its text, so colour is never the only signal. kind: ok | warn | crit | offline */
export function statusDot(kind, text) {
  const dotClass = { ok: 'dot dot-ok', warn: 'dot dot-warn', crit: 'dot dot-crit', offline: 'dot dot-offline' }[kind] || 'dot dot-offline';
  const textClass = { ok: 'text-ok', warn: 'text-warn', crit: 'text-crit', offline: 'text-muted' }[kind] || 'text-muted';
  return h('span', { class: `inline-flex items-center gap-1.5 text-xs font-medium ${textClass}` }, h('span', { class: dotClass, 'aria-hidden': 'true' }), text);
}

/** Replace a container's content. */
export function render(container, ...children) {
  clear(container);
  append(container, children);
  return container;
}
