// Node detail header (product.md §4.8): back link, title, UUID with copy, type/status/health
// tags, "Open Device Web UI", Configure / View configuration, the admin overflow menu (Edit,
// Regenerate token, Rotate secret, Delete), the offline banner and the row of stat cards.

import { h, replace } from '../../dom.js';
import { bindPopover, confirmDialog, modal, toastSuccess } from '../../ui.js';
import { formatAbsolute, formatDuration, formatRelative } from '../../format.js';
import { copyButton, healthTag, kv, showError, statusTag, typeTag, errorCallout } from './common.js';

export function buildHeader(ctx, state) {
  const node = state.node;
  const title = h('h1', { class: 'page-title truncate' }, node.name || node.id);
  const tags = h('div', { class: 'mt-2 flex flex-wrap items-center gap-1.5' });
  const webUi = h('a', { class: 'btn btn-secondary', target: '_blank', rel: 'noopener noreferrer', hidden: true }, 'Open Device Web UI ↗');
  const configure = h('a', { class: 'btn btn-primary', href: `/nodes/${encodeURIComponent(node.id)}/config` },
    ctx.hasRole('operator') ? 'Configure' : 'View configuration');
  const hasConfig = (state.deviceType?.supported_commands || []).some((c) => c.name === 'get_config');
  if (!hasConfig) configure.hidden = true;
  const actions = h('div', { class: 'flex flex-wrap items-center gap-2' }, webUi, configure);
  if (ctx.hasRole('admin')) actions.append(adminMenu(ctx, state));

  const banner = h('div', { class: 'nd-banner-offline', role: 'status', hidden: true });
  const connection = h('p', { class: 'mt-1 text-xs text-muted' });
  const capsCount = h('span');
  const capsList = h('div', { class: 'mt-2 flex max-w-4xl flex-wrap gap-1' });
  const caps = h('details', { class: 'mt-2 text-xs text-muted' }, h('summary', { class: 'cursor-pointer select-none hover:text-fg' }, capsCount), capsList);
  const header = h('header', { class: 'mb-5' },
    h('a', { href: '/admin/nodes', class: 'mb-3 inline-flex items-center gap-1 text-sm' }, '← Nodes'),
    h('div', { class: 'flex flex-wrap items-start justify-between gap-4' },
      h('div', { class: 'min-w-0' },
        title,
        h('p', { class: 'mt-1 flex items-center gap-1 font-mono text-xs text-muted' }, h('span', { class: 'break-all' }, node.id), copyButton(node.id, 'Copy node id')),
        tags, connection, caps),
      actions));

  const update = () => {
    const n = state.node;
    title.textContent = n.name || n.id;
    ctx.setTitle(n.name || 'Node');
    replace(tags, typeTag(n.device_type, state.deviceType?.display_name ? n.device_type : null), statusTag(n.status),
      n.status === 'online' ? healthTag(n.health) : null,
      n.stale && n.status === 'online' ? h('span', { class: 'tag tag-warn' }, `No data for ${formatRelative(n.last_seen_at).replace(' ago', '')}`) : null);
    replace(connection, n.status === 'online' && n.remote_addr
      ? ['Connected from\u00a0', h('span', { class: 'font-mono' }, n.remote_addr),
        n.connected_since ? [' · since ', h('time', { datetime: n.connected_since, title: formatAbsolute(n.connected_since) }, formatRelative(n.connected_since).replace(' ago', ''))] : null,
        n.description ? ` · ${n.description}` : null]
      : n.description || '');
    const capabilities = Array.isArray(n.capabilities) ? n.capabilities : [];
    caps.hidden = capabilities.length === 0;
    const capsKey = capabilities.join(',');
    if (caps.dataset.key !== capsKey) {
      caps.dataset.key = capsKey;
      capsCount.textContent = `${capabilities.length} capabilit${capabilities.length === 1 ? 'y' : 'ies'}`;
      replace(capsList, capabilities.map((c) => h('span', { class: 'tag tag-muted normal-case' }, c)));
    }
    if (n.web_ui_url && /^https?:\/\//i.test(n.web_ui_url)) {
      webUi.href = n.web_ui_url;
      webUi.hidden = false;
    } else {
      webUi.hidden = true;
    }
    const offline = n.status !== 'online';
    banner.hidden = !offline;
    if (offline) {
      const since = n.last_seen_at;
      replace(banner, h('span', { class: 'dot dot-offline', 'aria-hidden': 'true' }),
        n.status === 'pending'
          ? 'Waiting for the first connection — this node has not registered yet.'
          : h('span', {}, 'Offline since ', h('time', { datetime: since || '', title: formatAbsolute(since) }, since ? clock(since) : 'unknown'),
            ' — showing last known data'));
    }
  };
  update();
  return { header, banner, update };
}

function clock(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '--';
  const sameDay = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return sameDay ? time : `${d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' })} ${time}`;
}

/** Stat cards: STATUS, VERSION, UPTIME, then per type ACTIVE FLOWS / TUNNELS / TARGET, and addresses. */
export function buildStatCards(state) {
  const type = state.node.device_type;
  const status = kv('Status', '--');
  const version = kv('Version', '--');
  const uptime = kv('Uptime', '--');
  const third = kv(type === 'relay' ? 'Tunnels' : type === 'appear_x' ? 'Target' : 'Active flows', '--');
  const api = kv(type === 'appear_x' ? 'Chassis address' : 'API address', '--');
  const mon = kv(type === 'relay' ? 'QUIC address' : type === 'appear_x' ? 'Gateway host' : 'Monitor address', '--');
  const cards = [status, version, uptime, third, api, mon];
  const node = h('section', { class: 'mb-5 grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6', 'aria-label': 'Node summary' },
    cards.map((c) => h('div', { class: 'card px-4 py-3' }, c.node)));
  for (const c of cards) c.node.querySelector('dd').classList.add('mt-1', 'text-lg');

  const update = () => {
    const n = state.node;
    const report = state.health?.report || {};
    const summary = n.summary || {};
    const statusText = { online: 'Online', offline: 'Offline', pending: 'Pending' }[n.status] || n.status;
    status.set(statusText, `mt-1 text-lg font-semibold ${n.status === 'online' ? 'text-ok' : 'text-slate-400'}`);
    version.set(n.software_version || report.version || '--');
    // Gateways: the chassis uptime (the summary's) rather than the sidecar process age.
    const up = type === 'appear_x'
      ? summary.uptime_secs ?? state.stats?.chassis_uptime_secs ?? state.stats?.uptime_secs
      : state.stats?.uptime_secs ?? summary.uptime_secs ?? report.uptime_secs;
    uptime.set(n.status === 'online' ? formatDuration(up) : '--');
    if (type === 'relay') {
      const s = state.stats || report;
      third.set(Number.isFinite(s.active_tunnels) ? `${s.active_tunnels} active / ${s.total_tunnels ?? '--'}` : '--');
      api.set(report.api_addr || '--');
      mon.set(report.public_quic_addr || report.quic_addr || '--');
    } else if (type === 'appear_x') {
      const target = summary.target || state.health?.target;
      const t = target?.status;
      third.set(t ? t[0].toUpperCase() + t.slice(1) : 'Unknown',
        `mt-1 text-lg font-semibold ${t === 'reachable' ? 'text-ok' : t === 'unreachable' ? 'text-warn' : 'text-slate-400'}`);
      const gt = report.gateway_target || {};
      api.set(gt.target_address || target?.address || '--');
      mon.set(gt.gateway_host || '--');
    } else {
      const running = summary.flows_running;
      third.set(Number.isFinite(running) ? `${running} active${Number.isFinite(summary.flows_total) ? ` / ${summary.flows_total}` : ''}` : '--');
      api.set(report.api_addr || '--');
      mon.set(report.monitor_addr || '--');
    }
  };
  update();
  return { node, update };
}

// ---------------------------------------------------------------------------------------------
// Admin overflow menu.

function adminMenu(ctx, state) {
  const button = h('button', { type: 'button', class: 'btn btn-secondary', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': 'More node actions' }, '⋯');
  const canRotate = (state.deviceType?.features || []).includes('secret_rotation');
  const items = [
    ['Edit', () => editNode(ctx, state)],
    ['Regenerate token', () => regenerateToken(ctx, state)],
    canRotate ? ['Rotate secret', () => rotateSecret(ctx, state)] : null,
    ['Delete', () => deleteNode(ctx, state), true],
  ].filter(Boolean);
  const panel = h('div', { class: 'nd-menu', role: 'menu', hidden: true },
    items.map(([label, fn, danger]) => {
      const item = h('button', { type: 'button', role: 'menuitem', class: danger ? 'menu-item text-crit' : 'menu-item' }, label);
      item.addEventListener('click', () => {
        popover.close();
        fn();
      });
      return item;
    }));
  const popover = bindPopover(button, panel);
  return h('div', { class: 'relative' }, button, panel);
}

function editNode(ctx, state) {
  const n = state.node;
  const name = h('input', { class: 'input', id: 'nd-edit-name', maxlength: '128', value: n.name || '', required: true });
  const description = h('textarea', { class: 'input', id: 'nd-edit-desc', maxlength: '512', rows: '2' }, n.description || '');
  const webUi = h('input', { class: 'input', id: 'nd-edit-url', type: 'url', maxlength: '2048', value: n.web_ui_url || '', placeholder: 'https://10.0.0.5/' });
  const err = h('div');
  modal({
    title: `Edit ${n.name}`,
    body: [err, h('div', { class: 'flex flex-col gap-3' },
      h('div', {}, h('label', { class: 'label', for: 'nd-edit-name' }, 'Name'), name),
      h('div', {}, h('label', { class: 'label', for: 'nd-edit-desc' }, 'Description'), description),
      h('div', {}, h('label', { class: 'label', for: 'nd-edit-url' }, 'Device web UI URL'), webUi,
        h('p', { class: 'hint' }, 'Optional; http or https. Opens in a new tab from this page.')))],
    actions: [
      { label: 'Cancel' },
      {
        label: 'Save', kind: 'primary', onClick: async (close, btn) => {
          const body = { name: name.value.trim(), description: description.value || null, web_ui_url: webUi.value.trim() || null };
          if (!body.name) {
            replace(err, errorCallout({ error: 'The name is required' }));
            return;
          }
          if (body.web_ui_url && !/^https?:\/\//i.test(body.web_ui_url)) {
            replace(err, errorCallout({ error: 'The web UI URL must start with http:// or https://' }));
            return;
          }
          btn.disabled = true;
          try {
            const updated = await ctx.api.put(`/api/v1/nodes/${encodeURIComponent(n.id)}`, body);
            Object.assign(state.node, updated);
            state.onNodeChanged();
            toastSuccess('Node updated');
            close();
          } catch (e) {
            btn.disabled = false;
            replace(err, errorCallout(e));
          }
        },
      },
    ],
  });
}

async function regenerateToken(ctx, state) {
  const n = state.node;
  const ok = await confirmDialog({
    action: 'Regenerate the registration token for', objectName: n.name, confirmLabel: 'Regenerate token',
    message: "The node's current credentials stop working and it will be disconnected.",
  });
  if (!ok) return;
  try {
    const enrol = await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(n.id)}/token`, {});
    modal({
      title: 'New registration token',
      body: [
        h('p', { class: 'nd-banner-warn' }, 'The registration token is shown only once.'),
        h('p', { class: 'label' }, 'Registration token'),
        h('div', { class: 'flex items-center gap-2' }, h('code', { class: 'nd-json flex-1 break-all whitespace-pre-wrap' }, enrol.registration_token), copyButton(enrol.registration_token, 'Copy token')),
        h('p', { class: 'label mt-3' }, 'Manager URL(s)'),
        h('code', { class: 'nd-json block whitespace-pre-wrap' }, (enrol.manager_urls || []).join('\n')),
      ],
      actions: [{ label: 'I have copied the token', kind: 'primary' }],
    });
  } catch (e) {
    showError(e);
  }
}

async function rotateSecret(ctx, state) {
  const n = state.node;
  if (n.status !== 'online') {
    showError({ error: 'The node must be online to rotate its secret' });
    return;
  }
  const ok = await confirmDialog({ action: 'Rotate the secret of', objectName: n.name, confirmLabel: 'Rotate secret', danger: false,
    message: 'The manager sends the node a new secret; the old one stays valid until the node uses the new one.' });
  if (!ok) return;
  try {
    await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(n.id)}/rotate-secret`, {});
    toastSuccess(`Secret of ${n.name} rotated`);
  } catch (e) {
    showError(e);
  }
}

async function deleteNode(ctx, state) {
  const n = state.node;
  const ok = await confirmDialog({ action: 'Delete node', objectName: n.name, typeToConfirm: n.name,
    message: 'This disconnects the node and removes its events, history, cached config and thumbnails. Audit rows are kept.' });
  if (!ok) return;
  try {
    await ctx.api.del(`/api/v1/nodes/${encodeURIComponent(n.id)}`);
    toastSuccess(`${n.name} deleted`);
    location.assign('/admin/nodes');
  } catch (e) {
    showError(e);
  }
}
