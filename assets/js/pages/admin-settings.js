// Settings (product.md §4.13, admin and above): one card per area with typed inputs built from
// GET /settings `definitions`, each card with its own Save that shows the changed values first
// (PUT /settings); the read-only TLS panel; and, for super_admins, encrypted backup export/import.

import { h, replace } from '../dom.js';
import { pageHeader, errorState, skeletonRows, toastError, toastSuccess, modal } from '../ui.js';
import { settingField, labelOf, display } from './admin/settings-fields.js';
import { formatAbsolute, formatRelative } from '../format.js';
import { tlsCard } from './admin/settings-tls.js';
import { backupCard } from './admin/settings-backup.js';

const GROUPS = [
  { id: 'nodes', title: 'Nodes', text: 'When a silent node is marked offline.', keys: ['node_offline_threshold_secs'] },
  { id: 'retention', title: 'Data retention', text: 'How long events and the 5-minute stats history are kept.', keys: ['events_retention_days', 'stats_history_retention_days'] },
  { id: 'security', title: 'Security', text: 'Session lifetime and sign-in limits.', keys: ['session_lifetime_hours', 'login_ip_max_attempts', 'login_ip_window_secs', 'login_account_max_failures', 'login_account_lockout_minutes'] },
  { id: 'ai', title: 'AI', text: 'Defaults for the AI assistant and where the local Ollama listens.', keys: ['ai_default_provider', 'ai_default_model', 'ollama_url'] },
];

export async function mount(root, ctx) {
  ctx.setTitle('Settings');
  const { api } = ctx;
  const restricted = Array.isArray(ctx.user.allowed_node_ids);
  const body = h('div', { class: 'space-y-6' }, skeletonRows(6));
  const updated = h('p', { class: 'page-subtitle' });
  const header = pageHeader({ title: 'Settings', subtitle: 'The settings this manager uses — changes apply within a second, no restart.' });
  root.append(header, body);

  let data;
  let tls = null;
  try {
    [data, tls] = await Promise.all([api.get('/api/v1/settings'), api.get('/api/v1/settings/tls').catch((err) => ({ error: err }))]);
  } catch (err) {
    replace(body, errorState(err, () => location.reload()));
    return;
  }
  header.querySelector('.page-subtitle')?.after(updated);
  const showUpdated = () => {
    updated.textContent = data.updated_at ? `Last changed ${formatAbsolute(data.updated_at)} (${formatRelative(data.updated_at)})` : '';
    updated.classList.add('text-xs');
  };
  showUpdated();

  const defs = data.definitions || {};
  const grouped = new Set(GROUPS.flatMap((g) => g.keys));
  const other = Object.keys(defs).filter((k) => !grouped.has(k)).sort();
  const groups = GROUPS.map((g) => ({ ...g, keys: g.keys.filter((k) => k in defs) })).filter((g) => g.keys.length);
  if (other.length) groups.push({ id: 'other', title: 'Other', text: '', keys: other });

  const cards = groups.map((group) => settingsCard(group));
  const tlsNode = tls && !tls.error ? tlsCard(tls, ctx) : h('section', { class: 'card p-5', id: 'tls' }, h('h2', { class: 'section-title mb-2' }, 'TLS'), errorState(tls?.error || {}, null));
  const rest = [tlsNode];
  if (ctx.hasRole('super_admin')) rest.push(backupCard(api));
  // Two stacks side by side on wide screens: the short cards and AI on the left, security and
  // TLS on the right; backup spans both.
  const byId = Object.fromEntries(groups.map((g, i) => [g.id, cards[i].node]));
  const leftIds = ['nodes', 'retention', 'ai', 'other'];
  const left = leftIds.map((id) => byId[id]).filter(Boolean);
  const right = groups.filter((g) => !leftIds.includes(g.id)).map((g) => byId[g.id]);
  replace(body,
    restricted ? h('p', { class: 'form-error' }, 'Your account is limited to some nodes, so it can read settings but not change them.') : null,
    h('div', { class: 'grid items-start gap-6 xl:grid-cols-2' },
      h('div', { class: 'space-y-6' }, left),
      h('div', { class: 'space-y-6' }, right, tlsNode)),
    rest.slice(1));
  if (location.hash === '#tls') document.getElementById('tls')?.scrollIntoView();

  function settingsCard(group) {
    let ollamaStatus = null;
    const fields = group.keys.map((key) => {
      let extra = null;
      if (key === 'ollama_url') {
        const test = h('button', { type: 'button', class: 'btn btn-secondary btn-sm' }, 'Test');
        ollamaStatus = h('span', { class: 'text-xs text-muted', role: 'status' });
        test.addEventListener('click', () => testOllama(test));
        extra = test;
      }
      return settingField(key, defs[key], data.settings?.[key], { datalistId: key === 'ai_default_model' ? 'ollama-models' : null, extra });
    });
    const saveButton = h('button', { type: 'button', class: 'btn btn-primary', disabled: true }, 'Save');
    const resetButton = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Undo changes');
    const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
    const sync = () => {
      const dirty = fields.some((f) => f.changed());
      saveButton.disabled = !dirty || restricted;
      resetButton.hidden = !dirty;
    };
    for (const f of fields) {
      f.control.addEventListener('input', sync);
      f.control.addEventListener('change', sync);
      if (restricted) f.control.disabled = true;
    }
    resetButton.addEventListener('click', () => {
      for (const f of fields) f.setValue(f.saved());
      error.hidden = true;
      sync();
    });
    saveButton.addEventListener('click', () => save());
    const models = group.id === 'ai' ? h('datalist', { id: 'ollama-models' }) : null;
    const node = h('section', { class: 'card p-5', id: `settings-${group.id}`, 'aria-labelledby': `settings-${group.id}-title` },
      h('header', { class: 'mb-2' }, h('h2', { class: 'section-title', id: `settings-${group.id}-title` }, group.title),
        group.text ? h('p', { class: 'hint mt-0.5' }, group.text) : null),
      h('div', { class: 'divide-y divide-line/60' }, fields.map((f) => f.node)),
      ollamaStatus ? h('p', { class: 'mt-1 text-right' }, ollamaStatus) : null,
      models,
      error,
      h('footer', { class: 'mt-4 flex items-center justify-end gap-2 border-t border-line pt-4' }, resetButton, saveButton));
    if (models) loadModels(models);

    async function save() {
      error.hidden = true;
      let bad = false;
      const changes = {};
      for (const f of fields) {
        const problem = f.changed() ? f.validate() : null;
        f.setError(problem);
        if (problem) bad = true;
        else if (f.changed()) changes[f.key] = f.value();
      }
      if (bad || !Object.keys(changes).length) return;
      const list = h('table', { class: 'table table-compact' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Setting'), h('th', {}, 'Current'), h('th', {}, 'New'))),
        h('tbody', {}, Object.entries(changes).map(([key, value]) => h('tr', {},
          h('td', {}, labelOf(key)),
          h('td', { class: 'text-muted line-through decoration-slate-500' }, display(defs[key], data.settings[key])),
          h('td', { class: 'font-semibold text-white' }, display(defs[key], value))))));
      modal({
        title: `Save ${group.title.toLowerCase()} settings?`,
        description: 'These values apply within a second.',
        body: list,
        actions: [
          { label: 'Cancel' },
          {
            label: 'Save', kind: 'primary',
            onClick: async (close, button) => {
              button.disabled = true;
              try {
                data = await api.put('/api/v1/settings', { settings: changes });
                for (const f of fields) f.setValue(data.settings[f.key]);
                showUpdated();
                sync();
                close();
                toastSuccess(`${group.title} settings saved`);
              } catch (err) {
                close();
                let attached = false;
                for (const p of err.fields || []) {
                  const f = fields.find((x) => p.path === `/settings/${x.key}`);
                  if (f) {
                    f.setError(p.message);
                    attached = true;
                  }
                }
                if (!attached) {
                  replace(error, err.error || 'Could not save');
                  error.hidden = false;
                }
                toastError(err);
              }
            },
          },
        ],
      });
    }

    async function testOllama(button) {
      const field = fields.find((f) => f.key === 'ollama_url');
      button.disabled = true;
      ollamaStatus.className = 'text-xs text-muted';
      ollamaStatus.textContent = field.changed() ? 'Testing the saved URL — save first to test the new one…' : 'Testing…';
      try {
        const res = await api.get('/api/v1/ai/providers', { query: { refresh: 'true' } });
        const ollama = (res?.providers || []).find((p) => p.id === 'ollama');
        if (ollama?.reachable) {
          ollamaStatus.className = 'text-xs text-ok';
          ollamaStatus.textContent = `Reachable · ${(ollama.models || []).length} models`;
        } else {
          ollamaStatus.className = 'text-xs text-crit';
          ollamaStatus.textContent = ollama?.error || 'Not reachable';
        }
      } catch (err) {
        ollamaStatus.className = 'text-xs text-crit';
        ollamaStatus.textContent = err.error;
      } finally {
        button.disabled = false;
      }
    }
    return { node };
  }

  async function loadModels(datalist) {
    try {
      const res = await api.get('/api/v1/ai/providers');
      const names = new Set();
      for (const p of res?.providers || []) for (const m of p.models || []) names.add(m);
      datalist.replaceChildren(...[...names].sort().map((m) => h('option', { value: m })));
    } catch {
      // The AI routes may be unavailable; the model field stays free text.
    }
  }
}
