// Form fields for the config editor: one builder per kind, each returning
// {def, node, input, get(), set(value), setError(message), setVisible(bool)}. get() returns
// undefined for "not set", so the entity keeps no empty keys. Secret fields keep "{{secret}}"
// (= unchanged on the node) until the user types over it; SHOW reveals the text.

import { h } from '../../dom.js';
import { SECRET } from './validate.js';

let seq = 0;
const nextId = (key) => `nc-f-${key.replace(/[^a-z0-9]/gi, '-')}-${(seq += 1)}`;

export function buildField(def, { disabled = false, datalistId = null } = {}) {
  const id = nextId(def.key);
  const error = h('p', { id: `${id}-err`, class: 'field-error', hidden: true });
  const help = def.help ? h('p', { id: `${id}-help`, class: 'hint' }, def.help) : null;
  const describedBy = [help ? `${id}-help` : null, `${id}-err`].filter(Boolean).join(' ');
  let input;
  let control;
  let get;
  let set;

  if (def.kind === 'select') {
    input = h('select', { id, class: 'input', disabled, 'aria-describedby': describedBy, name: def.key },
      def.options.map(([value, label]) => h('option', { value: String(value) }, label)));
    control = input;
    get = () => {
      const v = input.value;
      if (v === '') return undefined;
      return def.numeric ? Number(v) : v;
    };
    set = (v) => { input.value = v === undefined || v === null ? (def.default !== undefined ? String(def.default) : '') : String(v); };
  } else if (def.kind === 'checkbox') {
    input = h('input', { id, type: 'checkbox', class: 'size-4 accent-primary', disabled, 'aria-describedby': describedBy, name: def.key });
    control = h('label', { class: 'flex items-center gap-2 pt-6 text-sm text-slate-200', for: id }, input, def.label);
    let original;
    get = () => (input.checked ? true : original !== undefined || def.default === true ? false : undefined);
    set = (v) => {
      original = v;
      input.checked = v === undefined ? def.default === true : !!v;
    };
  } else if (def.kind === 'secret') {
    input = h('input', {
      id, class: 'input font-mono', type: def.plain ? 'text' : 'password', autocomplete: 'off', spellcheck: 'false', disabled,
      placeholder: def.placeholder || '', 'aria-describedby': describedBy, name: def.key, maxlength: def.maxLength ? String(def.maxLength) : null,
    });
    const toggle = def.plain ? null : h('button', { type: 'button', 'aria-pressed': 'false', 'aria-label': `Show ${def.label}` }, 'Show');
    if (toggle) {
      toggle.addEventListener('click', () => {
        const show = input.type === 'password';
        input.type = show ? 'text' : 'password';
        toggle.textContent = show ? 'Hide' : 'Show';
        toggle.setAttribute('aria-pressed', String(show));
      });
    }
    control = h('div', { class: 'nc-secret' }, input, toggle);
    get = () => (input.value === '' ? undefined : input.value);
    set = (v) => { input.value = v === undefined || v === null ? '' : String(v); };
  } else if (def.kind === 'list') {
    input = h('input', { id, class: 'input font-mono', disabled, placeholder: def.placeholder || '', 'aria-describedby': describedBy, name: def.key });
    control = input;
    get = () => {
      const items = input.value.split(',').map((s) => s.trim()).filter(Boolean);
      return items.length ? items : undefined;
    };
    set = (v) => { input.value = Array.isArray(v) ? v.join(', ') : ''; };
  } else {
    const isNumber = def.kind === 'number';
    input = h('input', {
      id, class: isNumber || def.kind === 'addr' || def.kind === 'ip' || def.kind === 'url' ? 'input font-mono' : 'input',
      type: 'text', inputmode: isNumber ? 'decimal' : null, disabled, placeholder: def.placeholder || '', autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': describedBy, name: def.key, list: def.picker && datalistId ? datalistId : null,
      maxlength: def.maxLength ? String(def.maxLength) : null,
    });
    control = input;
    get = () => {
      const raw = input.value.trim();
      if (raw === '') return undefined;
      if (!isNumber) return raw;
      const n = Number(raw);
      return Number.isFinite(n) ? n : NaN;
    };
    set = (v) => { input.value = v === undefined || v === null ? '' : String(v); };
  }

  const star = h('span', { class: 'ml-0.5 text-crit', 'aria-hidden': 'true' }, '*');
  const label = def.kind === 'checkbox' ? null : h('label', { class: 'label', for: id }, def.label, isRequiredStatic(def) ? star : null);
  const node = h('div', { class: def.span2 ? 'nc-span2' : null, dataset: { field: def.key } }, label, control, help, error);
  const setError = (message) => {
    error.textContent = message || '';
    error.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  return {
    def, node, input, get, set, setError,
    setVisible(visible) { node.hidden = !visible; },
    setRequired(required) {
      if (required && label && !star.isConnected) label.append(star);
      if (!required) star.remove();
      if (required) input.setAttribute('aria-required', 'true');
      else input.removeAttribute('aria-required');
    },
    isSecretPlaceholder: () => def.kind === 'secret' && input.value === SECRET,
  };
}

function isRequiredStatic(def) {
  return def.required === true;
}

/** Read a nested value: getPath(obj, "fec_decode.columns"). */
export function getPath(obj, key) {
  return key.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
}

/** Write or delete (value undefined) a nested value, pruning empty parents. */
export function setPath(obj, key, value) {
  const parts = key.split('.');
  let o = obj;
  for (let i = 0; i < parts.length - 1; i += 1) {
    if (!o[parts[i]] || typeof o[parts[i]] !== 'object') {
      if (value === undefined) return;
      o[parts[i]] = {};
    }
    o = o[parts[i]];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
  if (value === undefined && parts.length > 1) {
    const parent = getPath(obj, parts.slice(0, -1).join('.'));
    if (parent && Object.keys(parent).length === 0) setPath(obj, parts.slice(0, -1).join('.'), undefined);
  }
}
