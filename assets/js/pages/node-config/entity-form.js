// "New / Edit Input" and "New / Edit Output" modals (product.md §4.9): id and name, a type
// dropdown, then the purpose-built form for that protocol (with a collapsed Advanced group) or a
// JSON editor for every other type the driver schema lists. Fields validate as the user types;
// server 422 field errors attach to their fields; a node rejection shows as a red callout with the
// node's message and error-code chip (and a toast).

import { h, replace } from '../../dom.js';
import { modal, toastSuccess } from '../../ui.js';
import { errorCallout, showError } from '../node-detail/common.js';
import { buildField, getPath, setPath } from './fields.js';
import { formFor, typeAllowed, typeLabel, TYPE_ORDER } from './protocols.js';
import { checkId, checkIp, checkSocketAddress, checkUrl, entitySchemaFor, relativePath, SECRET, slugify, validateSchema } from './validate.js';

const COMMON_KEYS = new Set(['id', 'name', 'type', 'active']);

/**
 * openEntityForm(page, {kind: 'input'|'output', entity, embedded, onDone})
 * embedded: validate only and hand the object to onDone (the flow form sends it with deploy_flow).
 */
export function openEntityForm(page, { kind, entity = null, embedded = false, onDone = null, takenIds = [] }) {
  const Kind = kind === 'input' ? 'Input' : 'Output';
  const editing = !!entity;
  const schema = page.schemas[kind];
  const types = typeList(schema, kind, page.capabilities, entity?.type);
  let type = entity?.type || types[0];
  const touched = new Set();
  let submitted = false;
  let serverErrors = new Map();

  const idField = buildField({ key: 'id', label: `${Kind} ID`, kind: 'text', required: true, placeholder: kind === 'input' ? 'e.g. srt-in-1' : 'e.g. rtp-out-1', maxLength: 64 }, { disabled: editing });
  const nameField = buildField({ key: 'name', label: `${Kind} name`, kind: 'text', required: true, placeholder: kind === 'input' ? 'e.g. Camera SRT' : 'e.g. Playout RTP', maxLength: 256 });
  const activeField = buildField({ key: 'active', label: 'Active', kind: 'checkbox', default: true });
  idField.set(entity?.id);
  nameField.set(entity?.name);
  activeField.set(entity ? entity.active !== false : true);
  let idEdited = editing;
  idField.input.addEventListener('input', () => { idEdited = true; });
  nameField.input.addEventListener('input', () => {
    if (!idEdited) idField.set(slugify(nameField.input.value));
  });

  const typeSelect = h('select', { id: `nc-${kind}-type`, class: 'input', disabled: editing, name: 'type' },
    types.map((t) => h('option', { value: t }, typeLabel(kind, t))));
  typeSelect.value = type;
  const typeNode = h('div', {}, h('label', { class: 'label', for: `nc-${kind}-type` }, `${Kind} type`), typeSelect);

  const callout = h('div', { class: 'mb-3 empty:hidden' });
  const protoHost = h('div', { class: 'flex flex-col gap-3' });
  let fields = [];
  let jsonArea = null;

  const buildProto = () => {
    const defs = formFor(kind, type);
    fields = [];
    jsonArea = null;
    if (defs) {
      fields = defs.map((def) => buildField(def, { datalistId: page.endpointsListId }));
      for (const f of fields) f.set(getPath(entity && entity.type === type ? entity : {}, f.def.key));
      const main = fields.filter((f) => !f.def.advanced);
      const adv = fields.filter((f) => f.def.advanced);
      replace(protoHost,
        h('div', { class: 'nc-form-grid' }, main.map((f) => f.node)),
        adv.length ? h('details', { class: 'nc-advanced' }, h('summary', {}, 'Advanced'), h('div', { class: 'nc-form-grid p-3' }, adv.map((f) => f.node))) : null);
    } else {
      const rest = {};
      const source = entity && entity.type === type ? entity : requiredSkeleton(schema, type);
      for (const [k, v] of Object.entries(source)) if (!COMMON_KEYS.has(k)) rest[k] = v;
      jsonArea = h('textarea', { id: `nc-${kind}-json`, class: 'input min-h-48 font-mono text-xs leading-5', spellcheck: 'false', rows: '10' }, JSON.stringify(rest, null, 2));
      replace(protoHost, h('div', {},
        h('label', { class: 'label', for: `nc-${kind}-json` }, `${typeLabel(kind, type)} fields (JSON)`),
        jsonArea,
        h('p', { class: 'hint' }, 'This type has no purpose-built form: edit its fields as JSON. They are checked against the driver schema before anything is sent.')));
    }
    syncVisibility();
  };

  const values = () => {
    const v = {};
    for (const f of fields) v[f.def.key] = f.get();
    return v;
  };
  const syncVisibility = () => {
    const v = values();
    for (const f of fields) {
      f.setVisible(!f.def.show || f.def.show(v));
      f.setRequired(typeof f.def.required === 'function' ? f.def.required(v) : !!f.def.required);
    }
  };

  const collect = () => {
    const obj = entity ? structuredClone(entity) : {};
    obj.id = editing ? entity.id : idField.get();
    obj.name = nameField.get();
    obj.type = type;
    obj.active = !!activeField.input.checked;
    if (jsonArea) {
      for (const k of Object.keys(obj)) if (!COMMON_KEYS.has(k)) delete obj[k];
      let parsed;
      try {
        parsed = JSON.parse(jsonArea.value || '{}');
      } catch (err) {
        return { obj, jsonError: `The JSON is not valid: ${err.message}` };
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { obj, jsonError: 'The JSON must be an object of fields' };
      for (const [k, v] of Object.entries(parsed)) if (!COMMON_KEYS.has(k)) obj[k] = v;
    } else {
      if (entity && entity.type !== type) for (const k of Object.keys(obj)) if (!COMMON_KEYS.has(k)) delete obj[k];
      const v = values();
      for (const f of fields) {
        const visible = !f.def.show || f.def.show(v);
        setPath(obj, f.def.key, visible ? f.get() : undefined);
      }
    }
    return { obj };
  };

  const check = () => {
    const { obj, jsonError } = collect();
    const problems = [];
    const add = (path, message) => { if (message) problems.push({ path, message }); };
    if (!editing) {
      add('/id', checkId(obj.id));
      if (!checkId(obj.id) && takenIds.includes(obj.id)) add('/id', `an ${kind} with this id already exists`);
    }
    if (!obj.name) add('/name', 'is required');
    else if (obj.name.length > 256) add('/name', 'must be at most 256 characters');
    if (jsonError) add('/json', jsonError);
    const v = values();
    for (const f of fields) {
      const d = f.def;
      if (d.show && !d.show(v)) continue;
      const value = f.get();
      const path = `/${d.key.replace('.', '/')}`;
      const required = typeof d.required === 'function' ? d.required(v) : d.required;
      if (value === undefined) {
        if (required) add(path, 'is required');
        continue;
      }
      if (d.kind === 'number') {
        if (Number.isNaN(value)) { add(path, 'must be a number'); continue; }
        if (d.integer && !Number.isInteger(value)) add(path, 'must be a whole number');
        if (Number.isFinite(d.min) && value < d.min) add(path, `must be at least ${d.min}`);
        if (Number.isFinite(d.max) && value > d.max) add(path, `must be at most ${d.max}`);
        if (Number.isFinite(d.exclusiveMin) && value <= d.exclusiveMin) add(path, `must be more than ${d.exclusiveMin}`);
      }
      if (d.kind === 'addr') add(path, checkSocketAddress(value, { even: d.even }));
      if (d.kind === 'ip') add(path, checkIp(value));
      if (d.kind === 'url') add(path, checkUrl(value, d.schemes));
      if (d.kind === 'secret' && value !== SECRET && !d.plain) {
        if (d.minLength && value.length < d.minLength) add(path, `must be ${d.minLength}–${d.maxLength} characters`);
      }
      if (typeof value === 'string' && d.maxLength && value.length > d.maxLength) add(path, `must be at most ${d.maxLength} characters`);
    }
    const entitySchema = entitySchemaFor(schema, type);
    if (entitySchema) {
      for (const p of validateSchema(obj, entitySchema)) {
        const key = p.path.slice(1).split('/')[0];
        const f = fields.find((x) => x.def.key.split('.')[0] === key);
        if (f && f.isSecretPlaceholder()) continue;
        if (!problems.some((q) => q.path === p.path)) problems.push(p);
      }
    }
    return { obj, problems };
  };

  const fieldFor = (path) => {
    const key = path.slice(1).replace('/', '.');
    if (key === 'id') return idField;
    if (key === 'name') return nameField;
    return fields.find((f) => f.def.key === key || f.def.key === key.split('.')[0]) || null;
  };

  const show = ({ problems }) => {
    const all = [idField, nameField, ...fields];
    const byField = new Map();
    const loose = [];
    for (const p of [...problems, ...[...serverErrors].map(([path, message]) => ({ path, message }))]) {
      const f = fieldFor(p.path);
      if (f && !f.node.hidden) {
        if (!byField.has(f)) byField.set(f, p.message);
      } else if (submitted) loose.push(p);
    }
    for (const f of all) f.setError(submitted || touched.has(f.def.key) ? byField.get(f) : null);
    if (submitted && loose.length) {
      replace(callout, h('div', { class: 'form-error', role: 'alert' },
        h('p', {}, 'Please fix these before saving:'),
        h('ul', { class: 'mt-1 list-disc pl-5' }, loose.map((p) => h('li', {}, `${p.path === '/json' ? '' : `${p.path.slice(1)} `}${p.message}`)))));
    } else if (submitted && !byField.size) {
      replace(callout);
    }
    return byField.size + loose.length;
  };

  const form = h('form', { class: 'flex flex-col gap-4', novalidate: true },
    callout,
    h('div', { class: 'nc-form-grid' }, idField.node, nameField.node, typeNode, activeField.node),
    h('hr', { class: 'border-line' }),
    protoHost);
  form.addEventListener('input', (event) => {
    const key = event.target?.name;
    if (key) {
      touched.add(key);
      serverErrors.delete(`/${key.replace('.', '/')}`);
    }
    syncVisibility();
    show(check());
  });
  form.addEventListener('change', () => {
    syncVisibility();
    show(check());
  });
  typeSelect.addEventListener('change', () => {
    type = typeSelect.value;
    buildProto();
    show(check());
  });
  buildProto();

  const dlg = modal({
    title: editing ? `Edit ${kind} ${entity.name || entity.id}` : `New ${Kind}`,
    description: editing ? `${typeLabel(kind, entity.type)} · ${entity.id}` : `Created on ${page.node.name}; the node checks it and answers.`,
    wide: true,
    body: form,
    actions: [
      { label: 'Cancel' },
      { label: embedded ? `Add ${kind}` : editing ? 'Save' : `Create ${Kind}`, kind: 'primary', id: `nc-${kind}-submit`, onClick: (close, btn) => submit(close, btn) },
    ],
  });
  dlg.dialog.classList.add('max-h-[92vh]');
  dlg.body.classList.add('max-h-[70vh]', 'overflow-y-auto');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    dlg.footer.lastElementChild.click();
  });
  (editing ? nameField : idField).input.focus();

  async function submit(close, btn) {
    submitted = true;
    serverErrors = new Map();
    const result = check();
    if (show(result) > 0) return;
    if (embedded) {
      onDone?.(result.obj);
      close();
      return;
    }
    btn.disabled = true;
    const base = `/api/v1/nodes/${encodeURIComponent(page.node.id)}/${kind}s`;
    try {
      if (editing) await page.ctx.api.put(`${base}/${encodeURIComponent(entity.id)}`, result.obj);
      else await page.ctx.api.post(base, result.obj);
      toastSuccess(`${Kind} ${result.obj.name} ${editing ? 'saved' : 'created'} on ${page.node.name}`);
      close();
      onDone?.(result.obj);
      page.refresh();
    } catch (err) {
      btn.disabled = false;
      for (const f of err.fields || []) serverErrors.set(relativePath(f.path, kind), f.message);
      show({ problems: [] });
      replace(callout, errorCallout(err));
      showError(err);
    }
  }
  return dlg;
}

function typeList(schema, kind, capabilities, current) {
  const all = schema?.properties?.type?.enum || TYPE_ORDER[kind];
  const allowed = all.filter((t) => t === current || typeAllowed(t, capabilities));
  const order = TYPE_ORDER[kind];
  return [...order.filter((t) => allowed.includes(t)), ...allowed.filter((t) => !order.includes(t))];
}

/** For a JSON-edited type, start from the fields its schema requires (empty values). */
function requiredSkeleton(schema, type) {
  const s = entitySchemaFor(schema, type);
  const out = {};
  for (const key of s?.required || []) {
    if (COMMON_KEYS.has(key)) continue;
    const p = s.properties?.[key] || {};
    out[key] = p.type === 'integer' || p.type === 'number' ? (p.minimum ?? 0) : p.type === 'boolean' ? false
      : p.type === 'array' ? [] : p.type === 'object' ? {} : Array.isArray(p.enum) ? p.enum[0] : '';
  }
  return out;
}
