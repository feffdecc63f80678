// Node configuration (product.md §4.9): /nodes/{id}/config.
//
// Edge nodes (driver feature config_editor): Flows / Inputs / Outputs tabs with a form per
// protocol, and a Raw JSON tab with diff-before-apply (PUT /config with If-Match, admin).
// Other device types: the raw JSON view when their driver has get_config (read-only unless it
// also has config_editor and update_config), plus an Actions panel built from the command
// catalogue; otherwise a clear "not configurable" message. Toolbar: Download, Upload (into the
// raw view, then review), Refresh, Reveal secrets (operator+, audited). Offline nodes show the
// last known configuration read-only. Viewers see no mutating control.

import { h, replace } from '../dom.js';
import { emptyState, errorState, skeletonRows, toastSuccess } from '../ui.js';
import { formatAbsolute, formatRelative } from '../format.js';
import { commandSpec, showError, statusTag, typeTag } from './node-detail/common.js';
import { fetchConfig } from './node-config/http.js';
import { createLists } from './node-config/lists.js';
import { createRawEditor } from './node-config/raw-json.js';
import { createActionsPanel } from './node-config/actions.js';

const TABS = [['flows', 'Flows'], ['inputs', 'Inputs'], ['outputs', 'Outputs'], ['raw', 'Raw JSON']];
const STATS_MAX_AGE_MS = 5000;

export async function mount(root, ctx) {
  const nodeId = ctx.params.nodeId;
  const enc = encodeURIComponent(nodeId || '');
  ctx.setTitle('Node configuration');
  root.append(h('div', { class: 'mb-6' }, h('div', { class: 'skeleton h-8 w-72' }), h('div', { class: 'skeleton mt-2 h-4 w-96' })), skeletonRows(5));

  let node;
  let deviceTypes;
  try {
    [node, deviceTypes] = await Promise.all([ctx.api.get(`/api/v1/nodes/${enc}`), ctx.api.get('/api/v1/device-types')]);
  } catch (err) {
    replace(root, err.status === 404
      ? emptyState({ title: 'Node not found', text: 'This node does not exist or is not visible to you.', action: { label: 'Back to Nodes', href: '/admin/nodes' } })
      : errorState(err, () => location.reload()));
    return;
  }
  const deviceType = (deviceTypes?.device_types || []).find((t) => t.device_type === node.device_type) || null;
  const features = new Set(deviceType?.features || []);
  const hasGet = !!commandSpec(deviceType, 'get_config');
  const hasUpdate = !!commandSpec(deviceType, 'update_config');
  const edgeForms = features.has('config_editor') && features.has('inputs_outputs') && !!commandSpec(deviceType, 'create_input');
  ctx.setTitle(`${node.name} — Configuration`);

  const page = {
    ctx, node, deviceType,
    capabilities: node.capabilities || [],
    schemas: {
      input: commandSpec(deviceType, 'create_input')?.args_schema?.properties?.input || null,
      output: commandSpec(deviceType, 'create_output')?.args_schema?.properties?.output || null,
      flow: commandSpec(deviceType, 'create_flow')?.args_schema?.properties?.flow || null,
    },
    config: null, etag: null, source: null, fetchedAt: null, revealed: false,
    canOperate: ctx.hasRole('operator'),
    readOnly: true, readOnlyReason: '', readOnlyRaw: !(features.has('config_editor') && hasUpdate),
    endpointsListId: 'nc-endpoints',
    liveFlows: new Map(),
    flowRunning: (id) => page.liveFlows.get(id)?.flow?.state === 'Running',
    refresh: () => load({ refresh: true }),
  };
  const canApplyRaw = () => ctx.hasRole(commandSpec(deviceType, 'update_config')?.requires_role === 'admin' ? 'admin' : 'operator') && !page.readOnly && !page.readOnlyRaw;

  // ---- header and toolbar ------------------------------------------------------------------
  const statusSlot = h('span');
  const sourceNote = h('span', { class: 'text-xs text-muted' });
  const banner = h('div', { class: 'nd-banner-warn', role: 'status', hidden: true });
  const downloadBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'nc-download' }, '⤓ Download JSON');
  const fileInput = h('input', { type: 'file', accept: '.json,application/json', class: 'sr-only', id: 'nc-upload-file', tabindex: '-1', 'aria-hidden': 'true' });
  const uploadBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'nc-upload' }, '⤒ Upload JSON');
  const refreshBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'nc-refresh' }, '↻ Refresh');
  const revealBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'nc-reveal', 'aria-pressed': 'false' }, 'Reveal secrets');
  const showUpload = page.canOperate && !page.readOnlyRaw;
  const toolbar = h('div', { class: 'nd-panel mb-4 flex flex-wrap items-center gap-2' },
    h('span', { class: 'mr-auto flex items-center gap-2 text-sm font-semibold text-white' }, 'Node configuration', sourceNote),
    hasGet ? downloadBtn : null, hasGet && showUpload ? [uploadBtn, fileInput] : null, hasGet ? refreshBtn : null,
    hasGet && page.canOperate ? revealBtn : null);

  const header = h('header', { class: 'mb-5' },
    h('a', { href: `/nodes/${enc}`, class: 'mb-3 inline-flex items-center gap-1 text-sm' }, `← ${node.name}`),
    h('div', { class: 'flex flex-wrap items-start justify-between gap-4' },
      h('div', { class: 'min-w-0' },
        h('h1', { class: 'page-title' }, `${node.name} — Configuration`),
        h('p', { class: 'page-subtitle flex flex-wrap items-center gap-2' }, typeTag(node.device_type), statusSlot,
          h('span', {}, deviceType?.display_name || node.device_type),
          page.canOperate ? null : h('span', { class: 'tag tag-muted' }, 'Read-only for viewers')))));

  const body = h('div');
  replace(root, header, banner, toolbar, body, h('datalist', { id: page.endpointsListId }));

  if (!hasGet) {
    const actions = createActionsPanel(page);
    replace(body, h('div', { class: 'flex flex-col gap-4' },
      emptyState({ title: 'Not configurable', text: `${deviceType?.display_name || node.device_type} nodes have no configuration the manager can read or change.`,
        action: { label: 'Back to the node', href: `/nodes/${enc}` } }),
      actions));
    toolbar.hidden = true;
    setStatus();
    return;
  }

  // ---- content -----------------------------------------------------------------------------
  const lists = edgeForms ? createLists(page) : null;
  let raw = null;
  const panels = {};
  let tab = TABS.some(([k]) => `#${k}` === location.hash) ? location.hash.slice(1) : 'flows';
  const tablist = h('div', { class: 'nc-tabs', role: 'tablist', 'aria-label': 'Configuration sections' });
  const tabButtons = new Map();

  const buildRaw = () => {
    raw = createRawEditor(page, {
      canApply: canApplyRaw(),
      applyReason: page.readOnlyRaw ? 'This device type does not accept a full configuration from the manager.'
        : page.readOnly ? page.readOnlyReason : 'Applying a whole configuration (update_config) needs the admin role.',
    });
  };

  const renderTab = () => {
    for (const [key, btn] of tabButtons) {
      btn.setAttribute('aria-selected', String(key === tab));
      btn.tabIndex = key === tab ? 0 : -1;
      panels[key].hidden = key !== tab;
    }
    if (tab === 'flows') lists.renderFlows(panels.flows);
    if (tab === 'inputs') lists.renderInputs(panels.inputs);
    if (tab === 'outputs') lists.renderOutputs(panels.outputs);
    updateLive();
  };

  const rebuildRaw = () => {
    buildRaw();
    replace(panels.raw, raw.node);
    raw.setConfig(page.config);
  };

  if (edgeForms) {
    for (const [key, label] of TABS) {
      const btn = h('button', { type: 'button', role: 'tab', class: 'nc-tab', id: `nc-tab-${key}`, 'aria-controls': `nc-panel-${key}` }, label);
      btn.addEventListener('click', () => {
        tab = key;
        history.replaceState(null, '', `#${key}`);
        renderTab();
      });
      btn.addEventListener('keydown', (e) => {
        const i = TABS.findIndex(([k]) => k === key);
        const next = e.key === 'ArrowRight' ? TABS[(i + 1) % TABS.length] : e.key === 'ArrowLeft' ? TABS[(i + TABS.length - 1) % TABS.length] : null;
        if (next) {
          e.preventDefault();
          tabButtons.get(next[0]).click();
          tabButtons.get(next[0]).focus();
        }
      });
      tabButtons.set(key, btn);
      tablist.append(btn);
      panels[key] = h('div', { role: 'tabpanel', id: `nc-panel-${key}`, 'aria-labelledby': `nc-tab-${key}` });
    }
    replace(body, tablist, Object.values(panels));
  } else {
    const actions = createActionsPanel(page);
    const rawHost = h('div');
    replace(body, h('div', { class: 'flex flex-col gap-4' }, h('section', { class: 'nd-panel' }, h('h2', { class: 'nd-panel-title' }, 'Configuration (JSON)'), rawHost), actions));
    panels.raw = rawHost;
  }

  function setStatus() {
    replace(statusSlot, statusTag(page.node.status));
    const offline = page.node.status !== 'online';
    page.readOnly = offline;
    page.readOnlyReason = offline ? 'The node is offline; changes are not queued' : '';
    banner.hidden = !offline || !hasGet;
    if (page.node.status === 'pending' && hasGet) {
      replace(banner, h('span', { class: 'dot dot-offline', 'aria-hidden': 'true' }),
        'This node has not connected yet — its configuration appears once it registers.');
    } else if (offline && hasGet) {
      replace(banner, h('span', { class: 'dot dot-warn', 'aria-hidden': 'true' }),
        h('span', {}, `Node offline — showing last known configuration${page.fetchedAt ? ' from' : ''} `,
          page.fetchedAt ? h('time', { datetime: page.fetchedAt, title: formatAbsolute(page.fetchedAt) }, clock(page.fetchedAt)) : null, '.'));
    }
    uploadBtn.disabled = offline;
  }

  function setSource() {
    sourceNote.textContent = page.fetchedAt
      ? `· ${page.source === 'live' ? 'read from the node' : 'cached copy'} ${formatRelative(page.fetchedAt)}${page.revealed ? ' · secrets revealed' : ''}`
      : '';
    sourceNote.title = page.fetchedAt ? formatAbsolute(page.fetchedAt) : '';
  }

  async function load({ refresh = false } = {}) {
    refreshBtn.disabled = true;
    try {
      const res = await fetchConfig(ctx, nodeId, { refresh: refresh && page.node.status === 'online', reveal: page.revealed });
      Object.assign(page, { config: res.config, etag: res.etag, source: res.source, fetchedAt: res.fetchedAt });
    } catch (err) {
      if (!page.config) {
        replace(body, page.node.status !== 'online' && ['node_not_connected', 'node_timeout'].includes(err.code)
          ? emptyState({ title: 'No configuration yet', text: 'The manager has never received a configuration from this node. It is read when the node connects.' })
          : errorState(err, () => load({ refresh: true })));
        refreshBtn.disabled = false;
        return;
      }
      showError(err, 'Could not re-read the configuration');
    }
    refreshBtn.disabled = false;
    setStatus();
    setSource();
    if (edgeForms) renderTab();
    if (!raw) rebuildRaw();
    else raw.setConfig(page.config);
  }

  // ---- toolbar actions ---------------------------------------------------------------------
  downloadBtn.addEventListener('click', () => {
    const blob = new Blob([`${JSON.stringify(page.config ?? {}, null, 2)}\n`], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const a = h('a', { href: url, download: `${slug(node.name)}-config-${stamp}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  uploadBtn.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files?.[0];
    fileInput.value = '';
    if (!file) return;
    if (file.size > 100 * 1024) {
      showError({ error: `${file.name} is larger than the 100 KiB a node config may be`, code: 'payload_too_large' });
      return;
    }
    const text = await file.text();
    if (edgeForms) tabButtons.get('raw').click();
    raw.loadText(text);
  });
  refreshBtn.addEventListener('click', async () => {
    await load({ refresh: true });
    toastSuccess('Configuration re-read from the node');
  });
  revealBtn.addEventListener('click', async () => {
    page.revealed = !page.revealed;
    revealBtn.setAttribute('aria-pressed', String(page.revealed));
    revealBtn.textContent = page.revealed ? 'Hide secrets' : 'Reveal secrets';
    await load();
    if (page.revealed) toastSuccess('Secrets revealed — this is recorded in the audit log');
  });

  // ---- live state --------------------------------------------------------------------------
  function updateLive() {
    if (!lists) return;
    const now = Date.now();
    const flows = new Map();
    const inputs = new Map();
    const outputs = new Map();
    for (const [id, entry] of page.liveFlows) {
      if (now - entry.at > STATS_MAX_AGE_MS) continue;
      const f = entry.flow;
      flows.set(id, f);
      if (f.state === 'Running') {
        const active = f.active_input_id || (page.config?.flows || []).find((x) => x.id === id)?.input_ids?.[0];
        if (active) inputs.set(active, { state: f.input?.state, bitrate: f.input?.bitrate_bps });
        for (const o of f.outputs || []) outputs.set(o.output_id, { state: o.state, bitrate: o.bitrate_bps });
      }
    }
    for (const s of page.standby || []) if (!inputs.has(s.input_id)) inputs.set(s.input_id, { state: s.state, bitrate: null });
    lists.updateLive({ flows, inputs, outputs });
  }

  ctx.socket.watch([nodeId]);
  ctx.socket.on('node_stats', (frame) => {
    if (frame.node_id !== nodeId) return;
    const flows = frame.stats?.flows;
    if (Array.isArray(flows) && flows.length) {
      const at = Date.now();
      for (const f of flows) if (f?.flow_id) page.liveFlows.set(f.flow_id, { flow: f, at });
      const known = new Set((page.config?.flows || []).map((f) => f.id));
      if (page.config && flows.some((f) => !known.has(f.flow_id))) load();
    }
    if (Array.isArray(frame.stats?.standby_inputs)) page.standby = frame.stats.standby_inputs;
    updateLive();
  });
  ctx.socket.on('live', (live) => {
    const entry = live.nodes.get(nodeId);
    if (!entry || entry.status === page.node.status) return;
    page.node = { ...page.node, ...entry };
    setStatus();
    if (edgeForms) renderTab();
    raw?.setCanApply(canApplyRaw(), page.readOnly ? page.readOnlyReason : 'Applying a whole configuration (update_config) needs the admin role.');
    if (page.node.status === 'online') load({ refresh: true });
  });
  setInterval(() => {
    setSource();
    updateLive();
  }, 1000);

  // Address picker for remote/destination fields: every listening address on other visible nodes.
  ctx.api.get('/api/v1/nodes/endpoints').then((list) => {
    const dl = document.getElementById(page.endpointsListId);
    const seen = new Set();
    for (const n of list || []) {
      if (n.node_id === nodeId) continue;
      for (const f of n.flows || []) {
        for (const i of f.inputs || []) {
          const addr = i.local_addr || i.bind_addr || i.listen_addr;
          if (!addr || seen.has(addr)) continue;
          seen.add(addr);
          dl.append(h('option', { value: addr }, `${n.node_name} · ${f.flow_name || f.flow_id} · ${String(i.type || '').toUpperCase()} ${i.mode || ''}`.trim()));
        }
      }
    }
  }).catch(() => {});

  setStatus();
  await load();
}

function clock(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '--';
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function slug(name) {
  return String(name || 'node').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'node';
}
