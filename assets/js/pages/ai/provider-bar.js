// The assistant's top bar (product.md §4.14): Target node, Provider (with a state dot) and Model,
// and the band that says where the context goes. The last provider and model picked are kept in
// the `ai_selection` preference (api.md §10.3).

import { h, replace } from '../../dom.js';
import { inline } from './markdown.js';

const CLOUD_NAMES = { openai: 'OpenAI', anthropic: 'Anthropic', gemini: 'Google Gemini' };

function providerState(p) {
  if (!p.configured) return ['offline', 'not configured'];
  if (p.reachable === false) return ['crit', 'unreachable'];
  if (p.model_missing) return ['warn', 'model missing'];
  if (p.reachable) return ['ok', 'reachable'];
  return ['offline', 'not checked'];
}

export function providerBar(ctx, { onChange } = {}) {
  const nodeSelect = h('select', { id: 'ai-target', class: 'input ai-select', 'aria-label': 'Target node' });
  const providerSelect = h('select', { id: 'ai-provider', class: 'input ai-select', 'aria-label': 'Provider' });
  const modelSelect = h('select', { id: 'ai-model', class: 'input ai-select', 'aria-label': 'Model' });
  const dot = h('span', { class: 'dot dot-offline', 'aria-hidden': 'true' });
  const dotText = h('span', { class: 'sr-only' });
  const band = h('p', { id: 'ai-band', class: 'ai-band', role: 'note' });
  const problem = h('p', { id: 'ai-provider-problem', class: 'ai-provider-problem', hidden: true, role: 'status' });
  let providers = [];
  let selection = null;
  let settingsModel = '';

  const node = h('div', { class: 'ai-toolbar' },
    h('div', { class: 'flex flex-wrap items-end gap-3' },
      field('Target node', 'ai-target', nodeSelect),
      field('Provider', 'ai-provider', h('div', { class: 'flex items-center gap-2' }, dot, dotText, providerSelect)),
      field('Model', 'ai-model', modelSelect)),
    band, problem);

  const current = () => providers.find((p) => p.id === providerSelect.value) || null;

  function fillModels(preferred) {
    const p = current();
    const models = p ? [...p.models] : [];
    if (preferred && !models.includes(preferred)) models.unshift(preferred);
    replace(modelSelect, models.map((m) => h('option', { value: m }, m)));
    if (preferred) modelSelect.value = preferred;
  }

  function defaultModel(p) {
    if (!p) return '';
    if (selection && selection.provider === p.id && selection.model) return selection.model;
    if (p.model_preference) return p.model_preference;
    return p.id === 'ollama' && settingsModel ? settingsModel : (p.models[0] || '');
  }

  function describe() {
    const p = current();
    if (!p) return;
    const [kind, text] = providerState(p);
    dot.className = `dot dot-${kind}`;
    dotText.textContent = `(${text})`;
    providerSelect.title = `${p.display_name}: ${text}`;
    const lines = [];
    if (p.local) lines.push('Runs locally — nothing leaves this machine.');
    else lines.push(`Context about your nodes is sent to ${CLOUD_NAMES[p.id] || p.display_name}. Secrets are replaced with placeholders.`);
    if (!ctx.hasRole('operator')) lines.push('You can ask questions. Changes need an operator.');
    replace(band, lines.join(' '));
    if (p.error) {
      replace(problem, inline(p.error));
      problem.hidden = false;
    } else {
      problem.hidden = true;
    }
  }

  async function persist() {
    const p = current();
    if (!p || !modelSelect.value) return;
    selection = { provider: p.id, model: modelSelect.value };
    try {
      await ctx.api.put('/api/v1/preferences/ai_selection', { value: selection });
    } catch {
      // The choice still applies to this page; the preference is a convenience.
    }
  }

  providerSelect.addEventListener('change', () => {
    fillModels(defaultModel(current()));
    describe();
    persist();
    onChange?.();
  });
  modelSelect.addEventListener('change', () => { persist(); onChange?.(); });
  nodeSelect.addEventListener('change', () => onChange?.());

  async function load({ refresh = false } = {}) {
    const [status, nodes, pref] = await Promise.all([
      ctx.api.get('/api/v1/ai/providers', { query: { refresh: refresh ? 'true' : undefined } }),
      ctx.api.get('/api/v1/nodes'),
      ctx.api.get('/api/v1/preferences/ai_selection').catch(() => null),
    ]);
    providers = status.providers;
    settingsModel = status.default_model || '';
    selection = pref?.value || selection;
    const keepNode = nodeSelect.value || ctx.query.get('node') || '';
    replace(nodeSelect, h('option', { value: '' }, 'All my nodes'),
      nodes.map((n) => h('option', { value: n.id }, `${n.name}${n.status === 'online' ? '' : ` (${n.status})`}`)));
    nodeSelect.value = nodes.some((n) => n.id === keepNode) ? keepNode : '';
    const keepProvider = providerSelect.value || (selection && providers.some((p) => p.id === selection.provider) ? selection.provider : status.default_provider);
    replace(providerSelect, providers.map((p) => {
      const [, text] = providerState(p);
      return h('option', { value: p.id, disabled: !p.configured }, `${p.display_name} — ${text}`);
    }));
    const usable = providers.find((p) => p.id === keepProvider && p.configured) || providers.find((p) => p.configured) || providers[0];
    providerSelect.value = usable ? usable.id : '';
    fillModels(modelSelect.value && usable && usable.models.includes(modelSelect.value) ? modelSelect.value : defaultModel(usable));
    describe();
    return status;
  }

  return {
    node,
    load,
    selection: () => ({ provider: providerSelect.value || null, model: modelSelect.value || null, node_id: nodeSelect.value || null }),
    setNode: (id) => { if ([...nodeSelect.options].some((o) => o.value === id)) nodeSelect.value = id || ''; },
  };
}

function field(label, id, control) {
  return h('div', { class: 'flex min-w-[12rem] flex-col' }, h('label', { class: 'label', for: id }, label), control);
}
