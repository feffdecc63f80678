// The Flows, Inputs and Outputs tabs of the edge config editor (product.md §4.9): one card per
// entity with its protocol tag, ENCRYPTED where a secret is set, the live state from the node's
// stats ("RECEIVING 57.86 MBPS"), where it is used, and Edit / Start-Stop / Delete for operators.
// Live values update in place (updateLive) so buttons never move under the pointer.

import { h, replace } from '../../dom.js';
import { confirmDialog, emptyState, toastSuccess } from '../../ui.js';
import { formatBitrate } from '../../format.js';
import { entityAddress, protoTag, showError } from '../node-detail/common.js';
import { openEntityForm } from './entity-form.js';
import { openFlowForm } from './flow-form.js';
import { typeLabel } from './protocols.js';

const SECRET_KEYS = ['passphrase', 'stream_key', 'password', 'bearer_token', 'auth_token'];

export function createLists(page) {
  const liveSlots = { flows: new Map(), inputs: new Map(), outputs: new Map() };
  const canEdit = () => page.canOperate && !page.readOnly;
  const disabledTitle = () => (page.readOnly ? page.readOnlyReason : '');

  const toolbarButton = (label, onClick, id) => {
    if (!page.canOperate) return null;
    const b = h('button', { type: 'button', class: 'btn btn-primary btn-sm', id, disabled: !canEdit(), title: disabledTitle() || null }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  const actionButton = (label, onClick, { danger = false, action = '' } = {}) => {
    const b = h('button', { type: 'button', class: danger ? 'btn btn-secondary btn-sm text-crit' : 'btn btn-secondary btn-sm', disabled: !canEdit(),
      title: disabledTitle() || null, dataset: { action } }, label);
    b.addEventListener('click', onClick);
    return b;
  };

  const cfg = () => page.config || {};
  const flowOf = (kind, id) => (cfg().flows || []).filter((f) => (kind === 'input' ? f.input_ids : f.output_ids)?.includes(id));

  // ---- Flows -------------------------------------------------------------------------------
  function renderFlows(host) {
    liveSlots.flows.clear();
    const flows = cfg().flows || [];
    const inputs = new Map((cfg().inputs || []).map((i) => [i.id, i]));
    const outputs = new Map((cfg().outputs || []).map((o) => [o.id, o]));
    replace(host,
      h('div', { class: 'mb-3 flex items-center justify-between gap-2' },
        h('p', { class: 'text-sm text-muted' }, `${flows.length} flow${flows.length === 1 ? '' : 's'}`),
        toolbarButton('+ New Flow', () => openFlowForm(page), 'nc-new-flow')),
      flows.length === 0
        ? emptyState({ text: page.canOperate ? 'No flows yet — "+ New Flow" routes an input to one or more outputs.' : 'No flows on this node yet.' })
        : h('div', { class: 'flex flex-col gap-3' }, flows.map((f) => {
          const slot = h('span', { class: 'tag tag-muted' }, f.enabled === false ? 'Disabled' : '…');
          liveSlots.flows.set(f.id, { slot, flow: f });
          const toggle = actionButton(f.enabled === false ? '▶ Start' : '■ Stop', () => startStop(f), { action: 'toggle' });
          liveSlots.flows.get(f.id).toggle = toggle;
          return h('article', { class: 'nc-card', dataset: { flowId: f.id } },
            h('div', { class: 'nc-card-head' },
              h('h3', { class: 'font-semibold text-white' }, f.name || f.id), h('span', { class: 'font-mono text-xs text-muted' }, f.id),
              h('span', { class: 'ml-auto' }, slot)),
            h('div', { class: 'flex flex-wrap items-center gap-2 px-4 py-3' },
              (f.input_ids || []).map((id, i) => chip(inputs.get(id) || { id, type: '?' }, i === 0 ? 'active' : 'standby')),
              h('span', { class: 'text-slate-500', 'aria-hidden': 'true' }, '→'),
              h('span', { class: 'rounded border border-line bg-slate-700/40 px-2 py-0.5 text-xs font-semibold text-white' }, page.node.name),
              h('span', { class: 'text-slate-500', 'aria-hidden': 'true' }, '→'),
              (f.output_ids || []).map((id) => chip(outputs.get(id) || { id, type: '?' })),
              !(f.input_ids || []).length && !(f.output_ids || []).length ? h('span', { class: 'text-xs text-muted' }, 'No inputs or outputs assigned') : null),
            page.canOperate ? h('div', { class: 'nc-card-foot' },
              actionButton('Edit', () => openFlowForm(page, { flow: f }), { action: 'edit' }),
              toggle,
              actionButton('Delete', () => remove('flow', f), { danger: true, action: 'delete' })) : null);
        })));
  }

  function chip(entity, role = null) {
    return h('span', { class: 'inline-flex max-w-full items-center gap-1.5 rounded border border-line bg-page/60 px-1.5 py-0.5 text-xs' },
      protoTag(entity.type), h('span', { class: 'truncate text-slate-200' }, entity.name || entity.id),
      entityAddress(entity) ? h('span', { class: 'truncate font-mono text-[11px] text-muted' }, entityAddress(entity)) : null,
      role ? h('span', { class: role === 'active' ? 'tag tag-ok' : 'tag tag-muted' }, role) : null);
  }

  async function startStop(f) {
    const running = page.flowRunning(f.id);
    if (running) {
      const ok = await confirmDialog({ action: 'Stop flow', objectName: f.name || f.id, confirmLabel: 'Stop flow', message: 'Every output of this flow stops sending.' });
      if (!ok) return;
    }
    try {
      await page.ctx.api.post(`/api/v1/nodes/${encodeURIComponent(page.node.id)}/flows/${encodeURIComponent(f.id)}/${running ? 'stop' : 'start'}`, {});
      toastSuccess(`${running ? 'Stopped' : 'Started'} ${f.name || f.id}`);
      page.refresh();
    } catch (err) {
      showError(err);
    }
  }

  async function remove(kind, entity) {
    const used = kind === 'flow' ? [] : flowOf(kind, entity.id);
    const ok = await confirmDialog({
      action: `Delete ${kind}`, objectName: entity.name || entity.id,
      message: used.length ? `It is used by ${used.map((f) => f.name || f.id).join(', ')}; the node refuses until it is unassigned.`
        : kind === 'flow' ? 'The flow stops and is removed from the node. Its inputs and outputs stay.' : 'It is removed from the node.',
    });
    if (!ok) return;
    try {
      await page.ctx.api.del(`/api/v1/nodes/${encodeURIComponent(page.node.id)}/${kind}s/${encodeURIComponent(entity.id)}`);
      toastSuccess(`Deleted ${kind} ${entity.name || entity.id}`);
      page.refresh();
    } catch (err) {
      showError(err);
    }
  }

  // ---- Inputs / Outputs --------------------------------------------------------------------
  function renderEntities(kind, host) {
    const key = `${kind}s`;
    liveSlots[key].clear();
    const list = cfg()[key] || [];
    const Kind = kind === 'input' ? 'Input' : 'Output';
    replace(host,
      h('div', { class: 'mb-3 flex items-center justify-between gap-2' },
        h('p', { class: 'text-sm text-muted' }, `${list.length} ${kind}${list.length === 1 ? '' : 's'}`),
        toolbarButton(`+ New ${Kind}`, () => openEntityForm(page, { kind, takenIds: list.map((e) => e.id) }), `nc-new-${kind}`)),
      list.length === 0
        ? emptyState({ text: page.canOperate ? `No ${kind}s yet — "+ New ${Kind}" adds one.` : `No ${kind}s on this node yet.` })
        : h('div', { class: 'grid grid-cols-1 gap-3 xl:grid-cols-2' }, list.map((e) => {
          const slot = h('span', { class: 'tag tag-muted' }, '…');
          liveSlots[key].set(e.id, { slot, entity: e });
          const used = flowOf(kind, e.id);
          const encrypted = SECRET_KEYS.some((k) => typeof e[k] === 'string' && e[k] !== '') && (e.passphrase || e.stream_key);
          const facts = [
            e.mode ? ['Mode', e.mode] : null,
            ['Address', entityAddress(e) || '--'],
            Number.isFinite(e.latency_ms) ? ['Latency', `${e.latency_ms} ms`] : null,
            e.active === false ? ['Active', 'no (passive)'] : null,
          ].filter(Boolean);
          return h('article', { class: 'nc-card', dataset: { [`${kind}Id`]: e.id } },
            h('div', { class: 'nc-card-head' },
              h('h3', { class: 'font-semibold text-white' }, e.name || e.id), h('span', { class: 'font-mono text-xs text-muted' }, e.id),
              h('span', { class: 'ml-auto flex flex-wrap items-center gap-1.5' }, protoTag(e.type), encrypted ? h('span', { class: 'tag tag-warn' }, 'Encrypted') : null, slot)),
            h('dl', { class: 'nc-card-body' },
              facts.map(([k, v]) => h('div', { class: 'nd-kv' }, h('dt', {}, k), h('dd', { class: 'font-mono text-xs font-normal text-slate-200' }, v)))),
            h('p', { class: 'px-4 pb-2 text-xs' }, used.length
              ? [h('span', { class: 'text-ok' }, 'Assigned to flow: '), used.map((f, i) => [i ? ', ' : '', h('span', { class: 'font-medium text-ok' }, f.name || f.id)])]
              : h('span', { class: 'text-muted' }, `Unassigned · ${typeLabel(kind, e.type)}`)),
            page.canOperate ? h('div', { class: 'nc-card-foot' },
              actionButton('Edit', () => openEntityForm(page, { kind, entity: e }), { action: 'edit' }),
              actionButton('Delete', () => remove(kind, e), { danger: true, action: 'delete' })) : null);
        })));
  }

  /** Live states from the latest stats (flow state, input/output state and bitrate). */
  function updateLive(live) {
    for (const [id, rec] of liveSlots.flows) {
      const fs = live.flows.get(id);
      const running = fs?.state === 'Running';
      rec.slot.className = running ? 'tag bg-blue-500/20 text-link' : 'tag tag-muted';
      rec.slot.textContent = fs ? (running ? `Running ${formatBitrate(fs.input?.bitrate_bps)}` : 'Idle') : rec.flow.enabled === false ? 'Disabled' : 'Idle';
      if (rec.toggle) rec.toggle.textContent = running ? '■ Stop' : '▶ Start';
    }
    for (const [id, rec] of liveSlots.inputs) {
      const st = live.inputs.get(id);
      rec.slot.className = st?.state === 'receiving' ? 'tag tag-ok' : st?.state ? 'tag tag-warn' : 'tag tag-muted';
      rec.slot.textContent = st?.state ? `${st.state}${Number.isFinite(st.bitrate) && st.bitrate > 0 ? ` ${formatBitrate(st.bitrate)}` : ''}` : 'Idle';
    }
    for (const [id, rec] of liveSlots.outputs) {
      const st = live.outputs.get(id);
      rec.slot.className = st?.state === 'active' ? 'tag tag-ok' : st?.state ? 'tag tag-warn' : 'tag tag-muted';
      rec.slot.textContent = st?.state ? `${st.state}${Number.isFinite(st.bitrate) && st.bitrate > 0 ? ` ${formatBitrate(st.bitrate)}` : ''}` : 'Idle';
    }
  }

  return {
    renderFlows,
    renderInputs: (host) => renderEntities('input', host),
    renderOutputs: (host) => renderEntities('output', host),
    updateLive,
  };
}
