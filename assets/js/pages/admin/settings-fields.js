// Typed inputs for the runtime settings (api.md §11), built from GET /settings `definitions`:
// integers as number inputs with their range and unit, strings with `choices` as selects, other
// strings and URLs as text inputs. Each field reports its value, whether it changed, and errors.

import { h } from '../../dom.js';
import { formatCount } from '../../format.js';

const UNITS = { s: 'seconds', d: 'days', h: 'hours', min: 'minutes', ms: 'ms' };

export const LABELS = {
  node_offline_threshold_secs: 'Offline threshold',
  stats_history_retention_days: 'Stats history',
  events_retention_days: 'Events',
  session_lifetime_hours: 'Session lifetime',
  login_ip_max_attempts: 'Login attempts per IP',
  login_ip_window_secs: 'Per-IP window',
  login_account_max_failures: 'Failures before lockout',
  login_account_lockout_minutes: 'Lockout duration',
  ai_default_provider: 'Default provider',
  ai_default_model: 'Default model',
  ollama_url: 'Ollama URL',
};
const CHOICE_LABELS = { ollama: 'Ollama (local)', openai: 'OpenAI', anthropic: 'Anthropic', gemini: 'Google Gemini' };

export function labelOf(key) {
  return LABELS[key] || key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

export function unitOf(def) {
  return def?.unit ? UNITS[def.unit] || def.unit : '';
}

/** "45 s" style display of a value for the change summary. */
export function display(def, value) {
  if (value === null || value === undefined || value === '') return '(empty)';
  if (def?.type === 'integer') return `${formatCount(value)}${def.unit ? ` ${unitOf(def)}` : ''}`;
  return CHOICE_LABELS[value] && def?.choices ? CHOICE_LABELS[value] : String(value);
}

/**
 * settingField(key, def, value, {datalistId}) → {key, node, control, value(), changed(), validate(), setValue(v), setError(msg)}
 */
export function settingField(key, def, value, { datalistId = null, extra = null } = {}) {
  const id = `setting-${key}`;
  let control;
  if (def.type === 'integer') {
    control = h('input', { id, name: key, type: 'number', class: 'input w-28 py-1.5 tabular-nums', step: '1', inputmode: 'numeric',
      min: def.min ?? null, max: def.max ?? null, required: true });
  } else if (Array.isArray(def.choices)) {
    control = h('select', { id, name: key, class: 'input w-52 py-1.5' }, def.choices.map((c) => h('option', { value: c }, CHOICE_LABELS[c] || c)));
  } else {
    control = h('input', { id, name: key, type: def.type === 'url' ? 'url' : 'text', class: `input py-1.5 ${def.type === 'url' ? 'w-64' : 'w-52'}`, spellcheck: 'false',
      maxlength: String(def.max_length ?? (def.type === 'url' ? 2048 : 256)), list: datalistId, autocomplete: 'off' });
  }
  let saved = value;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  const unit = unitOf(def);
  const range = def.type === 'integer' && def.min !== undefined ? `${formatCount(def.min)}–${formatCount(def.max)}${unit ? ` ${unit}` : ''}` : null;
  const hintParts = [def.description, range ? `Range ${range}` : null, def.default !== undefined && def.default !== '' ? `default ${display(def, def.default)}` : null].filter(Boolean);
  const node = h('div', { class: 'setting-row', dataset: { setting: key } },
    h('div', { class: 'min-w-0' },
      h('label', { class: 'text-sm font-medium text-fg', for: id }, labelOf(key)),
      h('p', { class: 'hint mt-0.5', id: `${id}-hint` }, hintParts.join(' · '))),
    h('div', { class: 'flex flex-col items-start gap-1 sm:items-end' },
      h('div', { class: 'flex items-center gap-2' }, control, def.type === 'integer' ? h('span', { class: 'w-14 text-sm text-muted' }, unit) : null, extra),
      error));

  const read = () => {
    if (def.type === 'integer') {
      const raw = control.value.trim();
      return raw === '' ? NaN : Number(raw);
    }
    return control.type === 'url' || control.type === 'text' ? control.value.trim() : control.value;
  };
  const field = {
    key, def, node, control,
    value: read,
    saved: () => saved,
    changed: () => read() !== saved,
    setValue(v) {
      saved = v;
      control.value = v === null || v === undefined ? '' : String(v);
      field.setError(null);
    },
    setError(message) {
      error.hidden = !message;
      error.textContent = message || '';
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
    validate() {
      const v = read();
      if (def.type === 'integer') {
        if (!Number.isInteger(v)) return 'Enter a whole number.';
        if (def.min !== undefined && v < def.min) return `At least ${formatCount(def.min)}.`;
        if (def.max !== undefined && v > def.max) return `At most ${formatCount(def.max)}.`;
      } else if (def.type === 'url') {
        try {
          const url = new URL(v);
          if (!['http:', 'https:'].includes(url.protocol)) return 'Use an http or https URL.';
        } catch {
          return 'Enter a full URL, such as http://127.0.0.1:11434.';
        }
      } else if (def.max_length !== undefined && String(v).length > def.max_length) {
        return `At most ${def.max_length} characters.`;
      }
      return null;
    },
  };
  field.setValue(value);
  return field;
}
