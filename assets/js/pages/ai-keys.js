// AI keys (product.md §4.14): four cards — Ollama (local: reachability, models, URL, the command
// that fixes it) and OpenAI, Anthropic, Google Gemini with the caller's own key (never shown
// again, never pre-filled), a model preference, Save and Remove key.

import { h, replace } from '../dom.js';
import { pageHeader, toastError, toastSuccess, confirmDialog, skeletonRows, statusDot, errorState } from '../ui.js';
import { formatRelative, formatAbsolute, plural } from '../format.js';
import { inline } from './ai/markdown.js';

const TILES = {
  openai: ['O', 'ai-tile ai-tile-openai'],
  anthropic: ['A', 'ai-tile ai-tile-anthropic'],
  gemini: ['G', 'ai-tile ai-tile-gemini'],
  ollama: ['L', 'ai-tile ai-tile-ollama'],
};

export async function mount(root, ctx) {
  ctx.setTitle('AI Keys');
  const grid = h('div', { id: 'ai-key-cards', class: 'grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-4' });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ai-keys-refresh' }, 'Check again');
  const note = h('p', { class: 'mb-4 text-sm text-muted', id: 'ai-cloud-note', hidden: true });
  root.append(pageHeader({ title: 'AI Keys', subtitle: 'Your own API keys for the cloud AI providers. Keys are encrypted on the server and never shown again.', actions: [refresh] }),
    note, grid);
  replace(grid, skeletonRows(4));

  async function load(force = false) {
    try {
      const status = await ctx.api.get('/api/v1/ai/providers', { query: { refresh: force ? 'true' : undefined } });
      if (status.cloud_enabled === false) {
        note.hidden = false;
        note.textContent = 'Cloud AI providers are turned off on this installation (ai.cloud_enabled = false): the assistant runs on the local Ollama only.';
      }
      replace(grid, status.providers.map((p) => (p.id === 'ollama' ? ollamaCard(p, ctx) : cloudCard(p, ctx, load))));
    } catch (err) {
      replace(grid, errorState(err, () => load(true)));
    }
  }
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    await load(true);
    refresh.disabled = false;
  });
  await load(false);
}

function header(p, statusNode) {
  const [letter, tileClass] = TILES[p.id] || ['?', 'ai-tile'];
  return h('div', { class: 'flex items-center gap-3' },
    h('span', { class: tileClass, 'aria-hidden': 'true' }, letter),
    h('div', { class: 'min-w-0' }, h('h2', { class: 'text-base font-semibold text-white' }, p.display_name), statusNode));
}

function ollamaCard(p, ctx) {
  const state = p.reachable ? (p.model_missing ? ['warn', 'Reachable — default model missing'] : ['ok', 'Reachable']) : p.reachable === false ? ['crit', 'Not reachable'] : ['offline', 'Not checked'];
  const rows = [
    ['URL', h('code', { class: 'block truncate font-mono text-xs text-slate-200', title: p.url || '' }, p.url || '—')],
    ['Models', p.models_source === 'live' ? plural(p.models.length, 'model') : 'unknown'],
    ['Checked', p.checked_at ? h('span', { title: formatAbsolute(p.checked_at) }, formatRelative(p.checked_at)) : '—'],
  ];
  return h('section', { class: 'card ai-key-card', dataset: { provider: p.id }, 'aria-label': p.display_name },
    header(p, statusDot(state[0], state[1])),
    h('dl', { class: 'mt-4 grid grid-cols-[5rem_1fr] gap-x-3 gap-y-2 text-sm' },
      rows.map(([label, value]) => [h('dt', { class: 'label mb-0 pt-0.5' }, label), h('dd', { class: 'min-w-0 text-slate-200' }, value)])),
    p.models_source === 'live' && p.models.length
      ? h('ul', { class: 'mt-3 flex flex-wrap gap-1.5' }, p.models.slice(0, 12).map((m) => h('li', { class: 'ai-chip ai-chip-action' }, m)))
      : null,
    p.error ? h('div', { class: 'ai-callout-warn mt-4', role: 'status' },
      h('p', { class: 'break-words' }, inline(p.error)),
      p.fix ? h('p', { class: 'mt-2' }, 'Fix: ', h('code', { class: 'ai-md-code', id: 'ollama-fix' }, p.fix)) : null) : null,
    h('p', { class: 'mt-4 text-xs text-muted' }, 'Runs on this network; no key needed and nothing leaves the machine.'),
    ctx.hasRole('admin') ? h('a', { class: 'mt-auto inline-block pt-4 text-sm', href: '/admin/settings#ai' }, 'Edit in Settings →') : null);
}

function cloudCard(p, ctx, reload) {
  const id = `key-${p.id}`;
  const keyInput = h('input', {
    id, name: id, type: 'password', class: 'input font-mono', autocomplete: 'off', spellcheck: 'false', maxlength: 4096,
    placeholder: p.key_configured ? '•••• saved' : (p.key_placeholder || 'API key'),
  });
  const modelSelect = h('select', { id: `${id}-model`, class: 'input' });
  const models = [...p.models];
  if (p.model_preference && !models.includes(p.model_preference)) models.unshift(p.model_preference);
  replace(modelSelect, models.map((m) => h('option', { value: m }, m)));
  if (p.model_preference) modelSelect.value = p.model_preference;
  const save = h('button', { type: 'submit', class: 'btn btn-primary mt-4 w-full', dataset: { action: 'save' } }, 'Save');
  const status = p.key_configured
    ? statusDot(p.reachable === false ? 'crit' : 'ok', p.reachable === false ? 'Configured — check failed' : 'Configured')
    : statusDot('offline', 'Not configured');
  const form = h('form', { class: 'mt-4 flex flex-1 flex-col', novalidate: true },
    h('label', { class: 'label', for: id }, 'API key'),
    keyInput,
    h('label', { class: 'label mt-4', for: `${id}-model` }, 'Model preference',
      p.models_source !== 'live' ? h('span', { class: 'ai-default-list' }, ' (default list — save key to fetch live models)') : null),
    modelSelect,
    p.error ? h('p', { class: 'ai-callout-warn mt-3 break-words', role: 'status' }, inline(p.error)) : null,
    h('div', { class: 'mt-auto' }, save));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key && !p.key_configured) {
      keyInput.setAttribute('aria-invalid', 'true');
      keyInput.focus();
      toastError(`Enter your ${p.display_name} API key first`);
      return;
    }
    save.disabled = true;
    save.textContent = 'Saving…';
    try {
      await ctx.api.post('/api/v1/ai/keys', { provider: p.id, model_preference: modelSelect.value || null, ...(key ? { api_key: key } : {}) });
      keyInput.value = '';
      toastSuccess(key ? `${p.display_name} key saved` : `${p.display_name} model preference saved`);
      await reload(true);
    } catch (err) {
      toastError(err);
      save.disabled = false;
      save.textContent = 'Save';
    }
  });
  const remove = p.key_configured ? h('button', { type: 'button', class: 'ai-remove-key', dataset: { action: 'remove' } }, 'Remove key') : null;
  remove?.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Remove key', action: 'Remove the key for', objectName: p.display_name, confirmLabel: 'Remove key',
      message: 'The assistant can no longer use this provider for you until you save a key again.' });
    if (!ok) return;
    try {
      await ctx.api.del(`/api/v1/ai/keys/${encodeURIComponent(p.id)}`);
      toastSuccess(`${p.display_name} key removed`);
      await reload(false);
    } catch (err) {
      toastError(err);
    }
  });
  return h('section', { class: 'card ai-key-card', dataset: { provider: p.id }, 'aria-label': p.display_name },
    header(p, status), form, remove ? h('div', { class: 'mt-3 text-center' }, remove) : null);
}
