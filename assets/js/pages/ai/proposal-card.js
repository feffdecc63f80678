// One proposal card (product.md §4.14): title, node and action chips, the role it needs, the
// server's validation, the server-made diff, and Apply / Edit / Discard. Nothing here trusts the
// model: every value is text, and the server checks everything again on Apply.

import { h, replace } from '../../dom.js';
import { confirmDialog, modal, toastError, toastSuccess } from '../../ui.js';
import { formatRelative, formatAbsolute, roleLabel } from '../../format.js';

const SECRET = '••••••';
const STATUS = {
  pending: ['Pending', 'tag tag-muted'],
  applied: ['Applied', 'tag tag-ok'],
  failed: ['Failed', 'tag tag-crit'],
  discarded: ['Discarded', 'tag tag-muted'],
  expired: ['Expired', 'tag tag-muted'],
  invalid: ['Invalid', 'tag tag-crit'],
};

/**
 * proposalCard(proposal, ctx) → {node, apply(), isPending(), update(p)}
 * apply() resolves to true when the proposal was applied (used by "Apply all").
 */
export function proposalCard(initial, ctx) {
  let proposal = initial;
  let busy = false;
  let failure = null;
  const node = h('article', { class: 'ai-proposal', dataset: { proposalId: initial.id } });

  const post = async (suffix, body) => ctx.api.post(`/api/v1/ai/proposals/${encodeURIComponent(proposal.id)}/${suffix}`, body ?? {});

  const apply = async (editedAction = undefined) => {
    if (busy || !proposal.can_apply) return false;
    if (proposal.destructive && editedAction === undefined) {
      const ok = await confirmDialog({
        title: 'Apply proposal', action: 'Apply', objectName: proposal.title, confirmLabel: 'Apply', danger: true,
        message: `${proposal.action_display_name || proposal.action?.type} on ${proposal.node_name} changes what is on air. The node checks it again before anything happens.`,
      });
      if (!ok) return false;
    }
    busy = true;
    failure = null;
    render();
    try {
      const result = await post('apply', editedAction === undefined ? {} : { action: editedAction });
      proposal = result.proposal;
      toastSuccess(`Applied “${proposal.title}” on ${proposal.node_name}`);
      return true;
    } catch (err) {
      failure = err;
      if (err.code === 'node_rejected' || err.code === 'node_timeout' || err.code === 'node_not_connected' || err.code === 'node_disconnected') {
        proposal = { ...proposal, status: 'failed' };
      }
      toastError(err);
      return false;
    } finally {
      busy = false;
      render();
    }
  };

  const discard = async () => {
    if (busy) return;
    busy = true;
    render();
    try {
      proposal = await post('discard');
    } catch (err) {
      toastError(err);
    } finally {
      busy = false;
      render();
    }
  };

  const edit = () => openEditor(proposal, (action) => apply(action));

  function render() {
    const [statusText, statusClass] = STATUS[proposal.status] || [proposal.status, 'tag tag-muted'];
    const invalid = proposal.status === 'invalid' || proposal.validation?.ok === false;
    node.className = ['ai-proposal', invalid ? 'ai-proposal-invalid' : '', proposal.status === 'applied' ? 'ai-proposal-applied' : ''].filter(Boolean).join(' ');
    replace(node,
      h('header', { class: 'flex flex-wrap items-start justify-between gap-2' },
        h('div', { class: 'min-w-0' },
          h('h4', { class: 'text-sm font-semibold text-white break-words' }, proposal.title || 'Proposal'),
          h('div', { class: 'mt-1 flex flex-wrap items-center gap-1.5' },
            h('span', { class: 'ai-chip ai-chip-node', title: proposal.node_id || '' }, proposal.node_name || 'unknown node'),
            h('span', { class: 'ai-chip ai-chip-action' }, proposal.action?.type ? String(proposal.action.type) : 'no action'),
            proposal.requires_role ? h('span', { class: 'text-xs text-muted' }, `needs ${roleLabel(proposal.requires_role).toLowerCase()}`) : null,
            proposal.destructive ? h('span', { class: 'tag tag-warn' }, 'Destructive') : null)),
        h('span', { class: statusClass }, statusText)),
      proposal.summary ? h('p', { class: 'mt-2 text-sm text-slate-300 break-words' }, proposal.summary) : null,
      validationBlock(proposal),
      proposal.preview ? diffTable(proposal.preview) : null,
      outcome(proposal, failure, busy, () => apply()),
      actions());
  }

  function actions() {
    if (!['pending', 'failed', 'invalid'].includes(proposal.status)) return null;
    if (failure && proposal.status === 'failed') return null; // the Retry button is in the callout
    const reason = disabledReason(proposal, ctx);
    const applyButton = h('button', {
      type: 'button', class: ['btn btn-sm', proposal.destructive ? 'btn-danger' : 'btn-primary'],
      disabled: busy || !!reason, title: reason || 'Send this change to the node (checked again first)',
      dataset: { action: 'apply' },
    }, busy ? 'Applying…' : 'Apply');
    applyButton.addEventListener('click', () => apply());
    const editButton = proposal.status === 'invalid' ? null
      : h('button', { type: 'button', class: 'btn btn-secondary btn-sm', disabled: busy || !!reason, title: reason || 'Edit the action before applying', dataset: { action: 'edit' } }, 'Edit');
    editButton?.addEventListener('click', edit);
    const discardButton = proposal.status === 'pending'
      ? h('button', { type: 'button', class: 'btn btn-ghost btn-sm', disabled: busy, dataset: { action: 'discard' } }, 'Discard')
      : null;
    discardButton?.addEventListener('click', discard);
    return h('div', { class: 'mt-3 flex flex-wrap items-center gap-2' }, applyButton, editButton, discardButton,
      reason ? h('span', { class: 'text-xs text-muted' }, reason) : null,
      proposal.expires_at && proposal.status !== 'invalid' ? h('span', { class: 'ml-auto text-xs text-muted', title: formatAbsolute(proposal.expires_at) }, `expires ${formatRelative(proposal.expires_at)}`) : null);
  }

  render();
  return {
    node,
    apply: () => apply(),
    isPending: () => proposal.status === 'pending' && proposal.can_apply,
    update: (next) => { proposal = next; render(); },
  };
}

function disabledReason(proposal, ctx) {
  if (proposal.validation && proposal.validation.ok === false) return 'Invalid — it cannot be applied';
  if (proposal.requires_role && !ctx.hasRole(proposal.requires_role)) return `Needs the ${roleLabel(proposal.requires_role)} role`;
  if (!proposal.can_apply) return 'You cannot apply this proposal';
  return null;
}

function validationBlock(proposal) {
  const errors = proposal.validation?.errors || [];
  if (proposal.validation?.ok) {
    return h('p', { class: 'mt-2 inline-flex items-center gap-1.5 text-xs text-ok' }, h('span', { 'aria-hidden': 'true' }, '✓'), 'Checked by the server against the node’s current configuration');
  }
  return h('div', { class: 'ai-callout-crit mt-2', role: 'note' },
    h('p', { class: 'font-medium' }, 'Refused by the server — this proposal cannot be applied:'),
    h('ul', { class: 'mt-1 list-disc space-y-0.5 pl-5' }, errors.map((e) => h('li', { class: 'break-words' },
      e.path ? h('code', { class: 'font-mono text-xs text-slate-300' }, e.path) : null, e.path ? ' ' : null, e.message,
      e.code && e.code !== 'validation_failed' ? h('span', { class: 'chip-code ml-1.5' }, e.code) : null))));
}

function shown(value) {
  if (value === null || value === undefined) return h('span', { class: 'text-slate-500' }, '—');
  if (typeof value === 'string') return value;
  return h('code', { class: 'font-mono text-xs' }, JSON.stringify(value));
}

function secretCell(value, change, side) {
  if (value !== SECRET) return shown(value);
  // Secret values never reach the browser: say whether this change sets one.
  const note = side === 'after' ? ' (new value)' : change.op === 'remove' ? '' : ' (old value)';
  return h('span', {}, h('span', { class: 'font-mono' }, SECRET), h('span', { class: 'text-muted' }, note));
}

function diffTable(preview) {
  const changes = preview.changes || [];
  if (!changes.length) {
    return h('p', { class: 'mt-3 text-xs text-muted' }, preview.kind === 'command' ? 'Runs a command on the node; no configuration change.' : 'No configuration change.');
  }
  const opClass = { add: 'ai-diff-add', change: 'ai-diff-change', remove: 'ai-diff-remove' };
  const opMark = { add: '+', change: '~', remove: '−' };
  return h('div', { class: 'ai-diff mt-3' },
    h('table', { class: 'w-full text-left text-xs' },
      h('caption', { class: 'sr-only' }, 'Configuration changes'),
      h('thead', {}, h('tr', {}, ['Path', 'Before', 'After'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, changes.map((change) => h('tr', { class: opClass[change.op] || '' },
        h('td', { class: 'font-mono' }, h('span', { class: 'ai-diff-op', 'aria-label': change.op }, opMark[change.op] || ''), ' ', String(change.path || '').replace(/^\//, '')),
        h('td', {}, secretCell(change.before, change, 'before')),
        h('td', {}, change.op === 'remove' ? h('span', { class: 'text-slate-500' }, 'removed') : secretCell(change.after, change, 'after')))))));
}

function outcome(proposal, failure, busy, retry) {
  if (proposal.status === 'applied') {
    const ms = proposal.result?.duration_ms;
    return h('p', { class: 'ai-applied mt-3', role: 'status' }, `Applied ✓${Number.isFinite(ms) ? ` in ${ms} ms` : ''}`);
  }
  const shownFailure = failure || (proposal.status === 'failed' && proposal.result ? { error: proposal.result.error, node_error_code: proposal.result.node_error_code } : null);
  if (!shownFailure) return null;
  const stale = failure?.code === 'proposal_stale';
  const retryButton = !stale && ['pending', 'failed'].includes(proposal.status) && proposal.can_apply
    ? h('button', { type: 'button', class: 'btn btn-secondary btn-sm ml-auto', disabled: busy, dataset: { action: 'retry' } }, 'Retry')
    : null;
  retryButton?.addEventListener('click', retry);
  return h('div', { class: 'ai-callout-crit mt-3 flex flex-wrap items-center gap-2', role: 'alert' },
    h('span', { class: 'break-words' }, stale ? 'The node’s configuration changed since this proposal was made — ask the assistant again.' : (shownFailure.error || 'The change failed')),
    shownFailure.node_error_code ? h('span', { class: 'chip-code' }, shownFailure.node_error_code) : null,
    retryButton);
}

function openEditor(proposal, onApply) {
  const textarea = h('textarea', { class: 'input h-80 font-mono text-xs leading-5', spellcheck: 'false', 'aria-label': 'Action JSON' });
  textarea.value = JSON.stringify(proposal.action, null, 2);
  const error = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  modal({
    title: 'Edit before apply',
    description: `${proposal.title} — ${proposal.node_name}. Secret placeholders stay as they are; the server checks the edited action again.`,
    wide: true,
    body: [textarea, error],
    actions: [
      { label: 'Cancel', kind: 'secondary' },
      {
        label: 'Apply edited', kind: proposal.destructive ? 'danger' : 'primary',
        onClick: async (close) => {
          let action;
          try {
            action = JSON.parse(textarea.value);
          } catch (err) {
            error.textContent = `Not valid JSON: ${err.message}`;
            error.hidden = false;
            return;
          }
          if (!action || typeof action !== 'object' || action.type !== proposal.action?.type) {
            error.textContent = `The action must stay a "${proposal.action?.type}" action`;
            error.hidden = false;
            return;
          }
          close();
          await onApply(action);
        },
      },
    ],
  });
  textarea.focus();
}
