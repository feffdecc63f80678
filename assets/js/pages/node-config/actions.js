// "Actions" panel for drivers without purpose-built forms (product.md §4.9 "Other drivers"): one
// collapsible form per catalogue command the user's role and the node's capabilities allow, built
// from the command's argument schema, with Run (destructive ones confirm) and a result viewer.

import { h, replace } from '../../dom.js';
import { confirmDialog, toastSuccess } from '../../ui.js';
import { errorCallout, showError } from '../node-detail/common.js';
import { buildField } from './fields.js';
import { validateSchema } from './validate.js';

const ROLE = { viewer: 0, operator: 1, admin: 2, super_admin: 3 };
const HIDDEN = new Set(['get_config', 'update_config']);

export function createActionsPanel(page) {
  const commands = (page.deviceType?.supported_commands || []).filter((c) => !HIDDEN.has(c.name)
    && page.ctx.hasRole(ROLE[c.requires_role] > ROLE.operator ? c.requires_role : 'operator')
    && (!c.requires_capability || (page.capabilities || []).includes(c.requires_capability)));
  if (commands.length === 0) return null;
  return h('section', { class: 'nd-panel', 'aria-labelledby': 'nc-actions-title' },
    h('h2', { id: 'nc-actions-title', class: 'nd-panel-title' }, 'Actions'),
    h('div', { class: 'flex flex-col gap-2' }, commands.map((c) => commandForm(page, c))));
}

function commandForm(page, spec) {
  const schema = spec.args_schema || { type: 'object', properties: {} };
  const props = Object.entries(schema.properties || {});
  const required = new Set(schema.required || []);
  const fields = props.map(([key, p]) => {
    const def = { key, label: key.replace(/_/g, ' '), required: required.has(key), help: p.description || null };
    if (Array.isArray(p.enum)) return { key, p, f: buildField({ ...def, kind: 'select', numeric: p.enum.every((v) => typeof v === 'number'), options: [['', '—'], ...p.enum.map((v) => [v, String(v)])] }) };
    if (p.type === 'boolean') return { key, p, f: buildField({ ...def, kind: 'checkbox' }) };
    if (p.type === 'integer' || p.type === 'number') return { key, p, f: buildField({ ...def, kind: 'number', placeholder: rangeHint(p) }) };
    if (p.type === 'string' || p.type === undefined && typeof p.const !== 'string') return { key, p, f: buildField({ ...def, kind: 'text', placeholder: p.pattern ? `format ${p.pattern}` : '', maxLength: p.maxLength }) };
    return { key, p, json: true, f: buildField({ ...def, kind: 'text', placeholder: `JSON ${p.type || 'value'}`, help: `JSON ${p.type || 'value'}` }) };
  });
  const result = h('div', { class: 'empty:hidden' });
  const run = h('button', { type: 'button', class: spec.destructive ? 'btn btn-danger btn-sm' : 'btn btn-primary btn-sm', disabled: page.readOnly, title: page.readOnly ? page.readOnlyReason : null }, 'Run');
  const details = h('details', { class: 'nc-advanced' },
    h('summary', { class: 'flex items-center gap-2' }, h('span', { class: 'font-mono normal-case tracking-normal text-slate-200' }, spec.display_name || spec.name),
      spec.destructive ? h('span', { class: 'tag tag-crit' }, 'Destructive') : null,
      spec.requires_role === 'admin' ? h('span', { class: 'tag tag-muted' }, 'Admin') : null),
    h('div', { class: 'flex flex-col gap-3 p-3' },
      spec.description ? h('p', { class: 'text-xs text-muted' }, spec.description) : null,
      fields.length ? h('div', { class: 'nc-form-grid' }, fields.map((x) => x.f.node)) : h('p', { class: 'text-xs text-muted' }, 'No arguments.'),
      h('div', {}, run),
      result));
  run.addEventListener('click', async () => {
    const action = { type: spec.name };
    for (const x of fields) {
      let v = x.f.get();
      if (x.json && v !== undefined) {
        try { v = JSON.parse(v); } catch { x.f.setError('must be valid JSON'); return; }
      }
      if (v !== undefined) action[x.key] = v;
    }
    const args = { ...action };
    delete args.type;
    const problems = validateSchema(args, schema);
    for (const x of fields) x.f.setError(problems.find((p) => p.path === `/${x.key}`)?.message || null);
    if (problems.length) {
      replace(result, errorCallout({ error: problems.map((p) => `${p.path.slice(1) || 'arguments'} ${p.message}`).join('; ') }));
      return;
    }
    if (spec.destructive && !(await confirmDialog({ action: `Run ${spec.display_name || spec.name} on`, objectName: page.node.name, confirmLabel: 'Run' }))) return;
    run.disabled = true;
    replace(result, h('p', { class: 'text-xs text-muted' }, 'Waiting for the node…'));
    try {
      const res = await page.ctx.api.post(`/api/v1/nodes/${encodeURIComponent(page.node.id)}/command`, { action });
      replace(result, h('pre', { class: 'nd-json' }, JSON.stringify(res?.data ?? { success: true }, null, 2)));
      toastSuccess(`${spec.display_name || spec.name} done (${res?.duration_ms ?? '?'} ms)`);
    } catch (err) {
      replace(result, errorCallout(err));
      showError(err);
    } finally {
      run.disabled = page.readOnly;
    }
  });
  return details;
}

function rangeHint(p) {
  if (Number.isFinite(p.minimum) && Number.isFinite(p.maximum)) return `${p.minimum}–${p.maximum}`;
  if (Number.isFinite(p.minimum)) return `≥ ${p.minimum}`;
  return '';
}
