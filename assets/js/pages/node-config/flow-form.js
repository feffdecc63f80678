// "New Flow" / "Edit flow" modal (product.md §4.9): id slugged from the name (editable), name,
// enabled, inputs (pick existing ones or "+ New input", one marked active), outputs (pick or
// "+ New output"), and a live JSON preview of exactly what is sent. A new flow with new inputs or
// outputs goes out as the manager's deploy_flow action (product.md §7.1), which creates them in
// order and rolls back on a refusal; otherwise create_flow / update_flow.

import { h, replace } from '../../dom.js';
import { modal, toastSuccess } from '../../ui.js';
import { entityAddress, errorCallout, protoTag, showError } from '../node-detail/common.js';
import { buildField } from './fields.js';
import { openEntityForm } from './entity-form.js';
import { checkId, relativePath, slugify } from './validate.js';

export function openFlowForm(page, { flow = null } = {}) {
  const editing = !!flow;
  const cfg = page.config || {};
  const inputs = cfg.inputs || [];
  const outputs = cfg.outputs || [];
  const flows = cfg.flows || [];
  const pending = { inputs: [], outputs: [] };
  const selectedIn = new Set(flow?.input_ids || []);
  const selectedOut = new Set(flow?.output_ids || []);
  let activeIn = (flow?.input_ids || []).find((id) => inputs.find((i) => i.id === id)?.active) || flow?.input_ids?.[0] || null;
  let submitted = false;

  const nameField = buildField({ key: 'name', label: 'Flow name', kind: 'text', required: true, placeholder: 'e.g. Main Program', maxLength: 256 });
  const idField = buildField({ key: 'id', label: 'Flow ID', kind: 'text', required: true, placeholder: 'slugged from the name', maxLength: 64 }, { disabled: editing });
  const enabledField = buildField({ key: 'enabled', label: 'Enabled (start the flow now)', kind: 'checkbox', default: true });
  nameField.set(flow?.name);
  idField.set(flow?.id);
  enabledField.set(flow ? flow.enabled !== false : true);
  let idEdited = editing;
  idField.input.addEventListener('input', () => { idEdited = true; });
  nameField.input.addEventListener('input', () => {
    if (!idEdited) idField.set(slugify(nameField.input.value));
  });

  // Which flow (other than this one) already uses an input or output.
  const owner = (kind, id) => flows.find((f) => f.id !== flow?.id && (kind === 'input' ? f.enabled !== false && (f.input_ids || []).includes(id) : (f.output_ids || []).includes(id)));

  const inList = h('div', { class: 'flex flex-col gap-1.5', role: 'group', 'aria-label': 'Inputs' });
  const outList = h('div', { class: 'flex flex-col gap-1.5', role: 'group', 'aria-label': 'Outputs' });
  const preview = h('pre', { class: 'nc-preview', 'aria-label': 'JSON that will be sent', tabindex: '0' });
  const callout = h('div', { class: 'empty:hidden' });

  const renderPicks = () => {
    replace(inList,
      inputs.map((i) => pickRow('input', i, { checked: selectedIn.has(i.id), taken: owner('input', i.id) })),
      pending.inputs.map((i) => pickRow('input', i, { checked: true, isNew: true })),
      inputs.length + pending.inputs.length === 0 ? h('p', { class: 'text-xs text-muted' }, 'No inputs on this node yet.') : null,
      editing ? null : addButton('+ New input', () => openEntityForm(page, {
        kind: 'input', embedded: true, takenIds: [...inputs.map((i) => i.id), ...pending.inputs.map((i) => i.id)],
        onDone: (obj) => {
          pending.inputs.push(obj);
          if (!activeIn) activeIn = obj.id;
          update();
        },
      })));
    replace(outList,
      outputs.map((o) => pickRow('output', o, { checked: selectedOut.has(o.id), taken: owner('output', o.id) })),
      pending.outputs.map((o) => pickRow('output', o, { checked: true, isNew: true })),
      outputs.length + pending.outputs.length === 0 ? h('p', { class: 'text-xs text-muted' }, 'No outputs on this node yet.') : null,
      editing ? null : addButton('+ New output', () => openEntityForm(page, {
        kind: 'output', embedded: true, takenIds: [...outputs.map((o) => o.id), ...pending.outputs.map((o) => o.id)],
        onDone: (obj) => {
          pending.outputs.push(obj);
          update();
        },
      })));
  };

  function pickRow(kind, entity, { checked, taken = null, isNew = false }) {
    const boxId = `nc-pick-${kind}-${entity.id}`;
    const box = h('input', { type: 'checkbox', id: boxId, class: 'size-4 accent-primary', checked, disabled: !!taken || isNew, dataset: { pick: kind, id: entity.id } });
    box.addEventListener('change', () => {
      const set = kind === 'input' ? selectedIn : selectedOut;
      if (box.checked) set.add(entity.id);
      else set.delete(entity.id);
      if (kind === 'input' && box.checked && !activeIn) activeIn = entity.id;
      if (kind === 'input' && !box.checked && activeIn === entity.id) activeIn = [...selectedIn][0] || pending.inputs[0]?.id || null;
      update();
    });
    const radio = kind === 'input'
      ? h('label', { class: 'ml-auto flex shrink-0 items-center gap-1 text-[11px] text-muted' },
        h('input', { type: 'radio', name: 'nc-active-input', class: 'accent-primary', checked: activeIn === entity.id, disabled: !checked, 'aria-label': `Make ${entity.name || entity.id} the active input` }), 'active')
      : null;
    radio?.querySelector('input').addEventListener('change', () => {
      activeIn = entity.id;
      update();
    });
    const remove = isNew ? h('button', { type: 'button', class: 'icon-btn size-6 text-muted', 'aria-label': `Remove new ${kind} ${entity.id}` }, '✕') : null;
    remove?.addEventListener('click', () => {
      const list = kind === 'input' ? pending.inputs : pending.outputs;
      list.splice(list.indexOf(entity), 1);
      if (activeIn === entity.id) activeIn = [...selectedIn][0] || pending.inputs[0]?.id || null;
      update();
    });
    return h('div', { class: isNew ? 'nc-pick nc-pick-new' : 'nc-pick' },
      box,
      h('label', { for: boxId, class: 'flex min-w-0 flex-1 items-center gap-2' },
        protoTag(entity.type),
        h('span', { class: 'truncate font-medium text-white' }, entity.name || entity.id),
        h('span', { class: 'truncate font-mono text-[11px] text-muted' }, entityAddress(entity)),
        isNew ? h('span', { class: 'tag bg-blue-500/20 text-link' }, 'New') : null,
        taken ? h('span', { class: 'truncate text-[11px] text-warn' }, `in ${taken.name || taken.id}`) : null),
      radio, remove);
  }

  const buildFlow = () => {
    const obj = flow ? structuredClone(flow) : { media_analysis: true, thumbnail: true };
    obj.id = editing ? flow.id : idField.get();
    obj.name = nameField.get();
    obj.enabled = !!enabledField.input.checked;
    const ins = [...inputs.filter((i) => selectedIn.has(i.id)).map((i) => i.id), ...pending.inputs.map((i) => i.id)];
    if (activeIn && ins.includes(activeIn)) ins.splice(ins.indexOf(activeIn), 1), ins.unshift(activeIn);
    const outs = [...outputs.filter((o) => selectedOut.has(o.id)).map((o) => o.id), ...pending.outputs.map((o) => o.id)];
    if (ins.length) obj.input_ids = ins; else delete obj.input_ids;
    if (outs.length) obj.output_ids = outs; else delete obj.output_ids;
    return obj;
  };

  const payload = () => {
    const f = buildFlow();
    if (!editing && (pending.inputs.length || pending.outputs.length)) {
      const newInputs = pending.inputs.map((i) => ({ ...i, active: i.id === activeIn }));
      return { kind: 'deploy', body: { action: { type: 'deploy_flow', inputs: newInputs, outputs: pending.outputs, flow: f } } };
    }
    return { kind: editing ? 'update' : 'create', body: f };
  };

  const check = () => {
    const problems = [];
    const f = buildFlow();
    if (!editing) {
      const idErr = checkId(f.id);
      if (idErr) problems.push(['id', idErr]);
      else if (flows.some((x) => x.id === f.id)) problems.push(['id', 'a flow with this id already exists']);
    }
    if (!f.name) problems.push(['name', 'is required']);
    return problems;
  };

  const showProblems = (problems) => {
    const map = new Map(problems);
    idField.setError(submitted || idField.input.value ? map.get('id') : null);
    nameField.setError(submitted ? map.get('name') : null);
    return problems.length;
  };

  function update() {
    renderPicks();
    refresh();
  }

  function refresh() {
    const p = payload();
    preview.textContent = `${p.kind === 'deploy' ? 'POST …/command' : p.kind === 'create' ? 'POST …/flows' : `PUT …/flows/${flow.id}`}\n${JSON.stringify(p.body, maskSecrets, 2)}`;
    showProblems(check());
  }

  const form = h('form', { class: 'grid grid-cols-1 gap-4 lg:grid-cols-[minmax(0,1fr)_17rem]', novalidate: true },
    h('div', { class: 'flex min-w-0 flex-col gap-4' },
      callout,
      h('div', { class: 'nc-form-grid' }, nameField.node, idField.node, enabledField.node),
      h('section', {}, h('p', { class: 'label' }, 'Inputs'), inList,
        h('p', { class: 'hint' }, editing ? 'New inputs are created on the Inputs tab first.' : 'One input is on air ("active"); the others stand by.')),
      h('section', {}, h('p', { class: 'label' }, 'Outputs'), outList)),
    h('div', { class: 'min-w-0' }, h('p', { class: 'label' }, 'Preview'), preview));
  form.addEventListener('input', refresh);
  form.addEventListener('submit', (e) => e.preventDefault());
  update();

  const dlg = modal({
    title: editing ? `Edit flow ${flow.name || flow.id}` : 'New Flow',
    description: editing ? flow.id : `Created on ${page.node.name}`,
    wide: true,
    body: form,
    actions: [
      { label: 'Cancel' },
      { label: editing ? 'Save flow' : 'Create flow', kind: 'primary', id: 'nc-flow-submit', onClick: (close, btn) => submit(close, btn) },
    ],
  });
  dlg.dialog.classList.add('w-[min(64rem,calc(100vw-2rem))]', 'max-h-[92vh]');
  dlg.body.classList.add('max-h-[72vh]', 'overflow-y-auto');
  nameField.input.focus();

  async function submit(close, btn) {
    submitted = true;
    if (showProblems(check())) return;
    const p = payload();
    const nodePath = `/api/v1/nodes/${encodeURIComponent(page.node.id)}`;
    btn.disabled = true;
    try {
      if (p.kind === 'deploy') await page.ctx.api.post(`${nodePath}/command`, p.body);
      else if (p.kind === 'create') await page.ctx.api.post(`${nodePath}/flows`, p.body);
      else await page.ctx.api.put(`${nodePath}/flows/${encodeURIComponent(flow.id)}`, p.body);
      toastSuccess(`Flow ${p.kind === 'deploy' ? p.body.action.flow.name : p.body.name} ${editing ? 'saved' : 'created'} on ${page.node.name}`);
      close();
      page.refresh();
    } catch (err) {
      btn.disabled = false;
      for (const f of err.fields || []) {
        const rel = relativePath(f.path, 'flow');
        if (rel === '/id') idField.setError(f.message);
        if (rel === '/name') nameField.setError(f.message);
      }
      replace(callout, errorCallout(err));
      showError(err);
    }
  }
}

const SECRET_KEYS = new Set(['passphrase', 'stream_key', 'password', 'bearer_token', 'auth_token']);

/** JSON.stringify replacer: secrets typed into the form are not echoed in the preview. */
function maskSecrets(key, value) {
  return SECRET_KEYS.has(key) && typeof value === 'string' && value !== '{{secret}}' ? '••••••' : value;
}

function addButton(label, onClick) {
  const b = h('button', { type: 'button', class: 'btn btn-ghost btn-sm self-start text-link' }, label);
  b.addEventListener('click', onClick);
  return b;
}
