// Appear X gateway variant of the node detail page (product.md §4.8, node-protocol.md §13): the
// "Gateway Module" card with SIDECAR and TARGET status, chassis details and slots, the IP inputs
// and outputs, the active chassis alarms, and buttons for the read commands whose results open
// in a side panel. Chassis data is raw Appear X JSON, so every field is read defensively.

import { h, replace } from '../../dom.js';
import { modal } from '../../ui.js';
import { formatAbsolute, formatBitrate, formatCount, formatDuration, formatRelative } from '../../format.js';
import { kv, showError } from './common.js';

const SEV_CLASS = { CRITICAL: 'sev sev-critical', MAJOR: 'sev sev-critical', MINOR: 'sev sev-warning', WARNING: 'sev sev-warning' };
const READ_COMMANDS = [['get_inputs', 'Refresh inputs'], ['get_outputs', 'Refresh outputs'], ['get_alarms', 'Refresh alarms']];

const labelOf = (item) => item?.value?.label || item?.label || item?.value?.name || item?.name || item?.key || '--';

export function createAppearXView(ctx, state) {
  const nodeId = state.node.id;
  const sidecar = h('span');
  const target = h('span');
  const g = {
    version: kv('Sidecar version'), host: kv('Gateway host'), egress: kv('Gateway egress IP'), chassis: kv('Chassis address'),
    poll: kv('Last successful poll'), failures: kv('Consecutive failures'), lastError: kv('Last error'),
  };
  const c = {
    model: kv('Model'), serial: kv('Serial'), hostname: kv('Hostname'), uptime: kv('Chassis uptime'), ptp: kv('PTP'), qsfp: kv('QSFP temp (max)'),
  };
  const moduleCard = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-gw-title' },
    h('h2', { id: 'nd-gw-title', class: 'nd-panel-title' }, h('span', {}, 'Gateway module'),
      h('span', { class: 'flex flex-col items-end gap-1 normal-case tracking-normal' }, sidecar, target)),
    h('dl', { class: 'grid grid-cols-2 gap-x-6 gap-y-3 sm:grid-cols-4' }, Object.values(g).map((x) => x.node)));
  const slotsBody = h('tbody');
  const chassisCard = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-ch-title' },
    h('h2', { id: 'nd-ch-title', class: 'nd-panel-title' }, 'Chassis'),
    h('dl', { class: 'grid grid-cols-2 gap-x-6 gap-y-3 sm:grid-cols-3 xl:grid-cols-6' }, Object.values(c).map((x) => x.node)),
    h('div', { class: 'mt-4 overflow-x-auto' }, h('table', { class: 'nd-table' },
      h('thead', {}, h('tr', {}, ['Slot', 'Card', 'Software', 'Version', 'Serial', 'State'].map((x) => h('th', { scope: 'col' }, x)))),
      slotsBody)));

  const inBody = h('tbody');
  const outBody = h('tbody');
  const ioCard = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-io-title' },
    h('h2', { id: 'nd-io-title', class: 'nd-panel-title' }, 'IP inputs and outputs'),
    h('div', { class: 'grid grid-cols-1 gap-4 xl:grid-cols-2' },
      h('div', { class: 'overflow-x-auto' }, h('p', { class: 'nd-section-label' }, 'Inputs'), h('table', { class: 'nd-table' },
        h('thead', {}, h('tr', {}, ['Input', 'Slot', 'Bitrate'].map((x) => h('th', { scope: 'col' }, x)))), inBody)),
      h('div', { class: 'overflow-x-auto' }, h('p', { class: 'nd-section-label' }, 'Outputs'), h('table', { class: 'nd-table' },
        h('thead', {}, h('tr', {}, ['Output', 'Slot', 'Status'].map((x) => h('th', { scope: 'col' }, x)))), outBody))));

  const alarmBody = h('tbody');
  const alarmCount = h('span', { class: 'tag tag-muted' }, '0');
  const alarmsCard = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-al-title' },
    h('h2', { id: 'nd-al-title', class: 'nd-panel-title' }, h('span', { class: 'flex items-center gap-2' }, 'Active chassis alarms', alarmCount)),
    h('div', { class: 'overflow-x-auto' }, h('table', { class: 'nd-table' },
      h('thead', {}, h('tr', {}, ['Severity', 'Alarm', 'Description', 'Object', 'Slot'].map((x) => h('th', { scope: 'col' }, x)))), alarmBody)));

  const readButtons = ctx.hasRole('operator')
    ? h('section', { class: 'nd-panel flex flex-wrap items-center gap-2', 'aria-label': 'Read commands' },
      h('span', { class: 'mr-2 text-xs font-semibold uppercase tracking-wider text-muted' }, 'Ask the chassis'),
      READ_COMMANDS.filter(([name]) => (state.deviceType?.supported_commands || []).some((cmd) => cmd.name === name))
        .map(([name, label]) => readButton(ctx, state, nodeId, name, label)))
    : null;

  const node = h('div', { class: 'flex flex-col gap-4' }, moduleCard, readButtons, alarmsCard, chassisCard, ioCard);

  const update = () => {
    const n = state.node;
    const report = state.health?.report || {};
    const gt = report.gateway_target || {};
    const stats = state.stats || {};
    const t = n.summary?.target || state.health?.target || {};
    const tStatus = t.status || 'unknown';
    replace(sidecar, h('span', { class: 'mr-2 text-[10px] font-semibold uppercase tracking-wider text-muted' }, 'Sidecar'),
      h('span', { class: n.status === 'online' ? 'text-ok' : 'text-slate-400' }, n.status === 'online' ? '● Online' : '● Offline'));
    replace(target, h('span', { class: 'mr-2 text-[10px] font-semibold uppercase tracking-wider text-muted' }, 'Target'),
      h('span', { class: tStatus === 'reachable' ? 'text-ok' : tStatus === 'unreachable' ? 'text-warn' : 'text-slate-400' },
        `● ${tStatus[0].toUpperCase()}${tStatus.slice(1)}`),
      t.since ? h('span', { class: 'ml-1 text-muted', title: formatAbsolute(t.since) }, `since ${formatRelative(t.since)}`) : null);
    g.version.set(n.software_version || report.version || '--');
    g.host.set(gt.gateway_host || '--');
    g.egress.set(gt.gateway_egress_ip || '--');
    g.chassis.set(gt.target_address || t.address || stats.appear_x_address || '--');
    g.poll.set(Number.isFinite(gt.last_successful_poll_unix) ? formatRelative(gt.last_successful_poll_unix * 1000) : '--');
    g.failures.set(formatCount(gt.consecutive_failures), gt.consecutive_failures > 0 ? 'text-warn' : '');
    // The first report of a sidecar process carries a provisional tcp_refused with zero failures.
    const lastError = gt.last_error_code && (gt.reachable === false || gt.consecutive_failures > 0) ? gt.last_error_code : null;
    g.lastError.set(lastError || 'none', lastError ? 'text-warn' : '');

    c.model.set(stats.chassis_model || stats.chassis?.model || '--');
    c.serial.set(stats.chassis?.serialNumber || stats.chassis?.serial || '--');
    c.hostname.set(stats.chassis_info?.hostname || '--');
    c.uptime.set(formatDuration(stats.chassis_uptime_secs));
    const gl = stats.health_signals?.global || {};
    c.ptp.set(gl.ptp_locked === true ? 'Locked' : gl.ptp_locked === false ? 'Not locked' : '--', gl.ptp_locked === false ? 'text-warn' : gl.ptp_locked ? 'text-ok' : '');
    c.qsfp.set(Number.isFinite(gl.qsfp_temp_c_max) ? `${gl.qsfp_temp_c_max.toFixed(1)} °C` : '--');

    const states = new Map((stats.card_states || []).map((s) => [s.slot, s.state]));
    const slots = Array.isArray(stats.slots) ? stats.slots : [];
    replace(slotsBody, slots.length ? slots.map((s) => h('tr', {},
      h('td', { class: 'font-mono' }, String(s.slot ?? '--')),
      h('td', { class: 'font-medium text-white' }, s.name || '--'),
      h('td', {}, s.software_display_name || s.software_id || '--'),
      h('td', { class: 'font-mono' }, s.software_version || '--'),
      h('td', { class: 'font-mono text-muted' }, s.serial || '--'),
      h('td', {}, states.has(s.slot) ? h('span', { class: states.get(s.slot) === 'RUNNING' ? 'tag tag-ok' : 'tag tag-warn' }, states.get(s.slot)) : '--')))
      : emptyRow(6, stats.discovery_in_progress ? 'The sidecar is still discovering the chassis.' : 'No chassis snapshot yet.'));

    const rates = new Map((stats.ip_input_status || []).map((s) => [s.key, Number(s.value?.bitrates?.value?.effectiveFlowBitrate)]));
    const inputs = Array.isArray(stats.inputs) ? stats.inputs : [];
    replace(inBody, inputs.length ? inputs.map((i) => h('tr', {},
      h('td', { class: 'font-medium text-white' }, labelOf(i)), h('td', { class: 'font-mono' }, String(i.slot ?? '--')),
      h('td', { class: 'font-mono' }, rates.has(i.key) && Number.isFinite(rates.get(i.key)) ? formatBitrate(rates.get(i.key)) : '--')))
      : emptyRow(3, 'No IP inputs reported.'));
    const outStatus = new Map((stats.ip_output_status || []).map((s) => [s.key, s.value]));
    const outputs = Array.isArray(stats.outputs) ? stats.outputs : [];
    replace(outBody, outputs.length ? outputs.map((o) => h('tr', {},
      h('td', { class: 'font-medium text-white' }, labelOf(o)), h('td', { class: 'font-mono' }, String(o.slot ?? '--')),
      h('td', {}, outStatus.has(o.key) ? 'reported' : '--')))
      : emptyRow(3, 'No IP outputs reported.'));

    const alarms = Array.isArray(report.alarms) ? report.alarms : Array.isArray(stats.alarms) ? stats.alarms : [];
    alarmCount.textContent = String(alarms.length);
    alarmCount.className = alarms.length ? 'tag tag-crit' : 'tag tag-muted';
    replace(alarmBody, alarms.length ? alarms.map((a) => h('tr', {},
      h('td', {}, h('span', { class: SEV_CLASS[String(a.severity || '').toUpperCase()] || 'sev sev-info' }, String(a.severity || 'info'))),
      h('td', { class: 'font-mono text-white' }, a.alarmName || a.alarmId || '--'),
      h('td', {}, a.alarmDescription || '--'),
      h('td', {}, a.configObjectLabel || '--'),
      h('td', { class: 'font-mono' }, String(a.configObjectSlot ?? '--'))))
      : emptyRow(5, 'No active alarms on the chassis.'));
  };
  update();
  return { node, update };
}

function emptyRow(cols, text) {
  return h('tr', {}, h('td', { colspan: String(cols), class: 'py-4 text-center text-muted' }, text));
}

function readButton(ctx, state, nodeId, name, label) {
  const button = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', dataset: { command: name } }, label);
  button.addEventListener('click', async () => {
    if (!state.isOnline()) {
      showError({ error: 'The sidecar is offline; commands are not queued' });
      return;
    }
    button.disabled = true;
    const original = button.textContent;
    button.textContent = `${label}…`;
    try {
      const result = await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(nodeId)}/command`, { action: { type: name } });
      modal({
        title: label.replace('Refresh ', 'Chassis '),
        description: `${name} · ${Number.isFinite(result?.duration_ms) ? `${result.duration_ms} ms` : ''}`,
        wide: true,
        body: h('pre', { class: 'nd-json' }, JSON.stringify(result?.data ?? null, null, 2)),
        actions: [{ label: 'Close' }],
      });
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
      button.textContent = original;
    }
  });
  return button;
}
