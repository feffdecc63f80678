// One flow on the node detail page (product.md §4.8): header with state, health and badges,
// thumbnail, fan-out diagram, input stats, SRT leg panels, TR-101290 counters, outputs table,
// history chart (bitrate, loss, SRT RTT) and the operator actions Start / Stop / Restart and
// "Make active" on standby inputs. update(model) is called with every stats frame.

import { h, replace } from '../../dom.js';
import { confirmDialog, toastSuccess } from '../../ui.js';
import { formatCount, formatDuration } from '../../format.js';
import { bitrate, entityAddress, flowStateTag, formatBytes, healthTag, kv, mbps, num, protoTag, showError } from './common.js';
import { createThumbnail } from './thumbnail.js';
import { createFanout } from './fanout.js';
import { createChart, fetchHistory, avgPoints, fmtBitrateAxis, fmtRate } from './chart.js';
import { createTr101290 } from './tr101290.js';

/**
 * createFlowCard(ctx, state, flowId) → {node, update(model), tick(), destroy()}
 * model: {name, cfg, inputs: [InputDefinition], outputs: [OutputConfig], live: FlowStats|null, online}
 */
export function createFlowCard(ctx, state, flowId) {
  const nodeId = state.node.id;
  const canOperate = ctx.hasRole('operator');
  const title = h('h3', { class: 'truncate text-base font-semibold text-white' }, flowId);
  const idNode = h('span', { class: 'font-mono text-xs text-muted' }, flowId);
  const tags = h('div', { class: 'flex flex-wrap items-center gap-1.5' });
  const actions = canOperate ? h('div', { class: 'ml-auto flex items-center gap-1.5' }) : null;
  const startBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', dataset: { action: 'start' } }, '▶ Start');
  const stopBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm text-crit', dataset: { action: 'stop' } }, '■ Stop');
  const restartBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', dataset: { action: 'restart' } }, '↻ Restart');
  actions?.append(startBtn, stopBtn, restartBtn);

  const thumbnails = (state.deviceType?.features || []).includes('thumbnails');
  const thumb = thumbnails ? createThumbnail(nodeId, flowId) : null;
  let current = null;
  const fanout = createFanout({
    onActivate: canOperate ? (inp) => activateInput(inp) : null,
  });

  const reasons = h('ul', { class: 'flex flex-col gap-1', hidden: true });
  const inputLabel = h('p', { class: 'nd-section-label flex flex-wrap items-center gap-2' });
  const stat = {
    state: kv('State', '--', { key: 'input-state' }), packets: kv('Packets', '--', { key: 'input-packets' }), bytes: kv('Bytes'),
    bitrate: kv('Bitrate', '--', { key: 'input-bitrate' }),
    lost: kv('Lost'), fec: kv('FEC recovered'), switches: kv('Redundancy switches'),
  };
  const srtHost = h('div', { class: 'flex flex-col gap-2' });
  const tr = createTr101290();
  const outBody = h('tbody');
  const outputsTable = h('table', { class: 'nd-table' },
    h('thead', {}, h('tr', {}, ['Output', 'Type', 'State', 'Address', 'Bitrate', 'Packets', 'Dropped'].map((c) => h('th', { scope: 'col' }, c)))),
    outBody);

  let chartLabels = { outputs: [] };
  const chart = createChart({ ariaLabel: `History of flow ${flowId}`, tabs: chartTabs(false) });

  const node = h('article', { class: 'nd-flow', dataset: { flowId }, 'aria-label': `Flow ${flowId}` },
    h('header', { class: 'nd-flow-head' }, h('div', { class: 'flex min-w-0 items-baseline gap-2' }, title, idNode), tags, actions),
    h('div', { class: 'flex flex-col gap-4 p-4' },
      h('div', { class: 'flex flex-col items-center gap-4 xl:flex-row xl:items-center' },
        thumb ? thumb.node : null,
        h('div', { class: 'w-full min-w-0 flex-1' }, fanout.node)),
      reasons,
      h('section', {}, inputLabel, h('dl', { class: 'nd-stat-grid' }, Object.values(stat).map((s) => s.node))),
      srtHost,
      tr.node,
      h('section', {}, h('p', { class: 'nd-section-label' }, 'Outputs'), h('div', { class: 'overflow-x-auto rounded-md border border-line/70' }, outputsTable)),
      h('section', {}, h('p', { class: 'nd-section-label' }, 'History'), chart.node)));

  startBtn.addEventListener('click', () => runVerb('start'));
  restartBtn.addEventListener('click', () => runVerb('restart'));
  stopBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({ action: 'Stop flow', objectName: current?.name || flowId, confirmLabel: 'Stop flow',
      message: 'Every output of this flow stops sending until the flow is started again.' });
    if (ok) runVerb('stop');
  });

  async function runVerb(verb) {
    const buttons = [startBtn, stopBtn, restartBtn];
    for (const b of buttons) b.disabled = true;
    try {
      await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(nodeId)}/flows/${encodeURIComponent(flowId)}/${verb}`, {});
      toastSuccess(`${{ start: 'Started', stop: 'Stopped', restart: 'Restarted' }[verb]} ${current?.name || flowId}`);
      state.onConfigChanged?.();
    } catch (err) {
      showError(err);
    } finally {
      for (const b of buttons) b.disabled = false;
      syncActions();
    }
  }

  async function activateInput(inp) {
    if (!state.isOnline()) {
      showError({ error: 'The node is offline; inputs can be switched once it reconnects' });
      return;
    }
    try {
      await ctx.api.post(`/api/v1/nodes/${encodeURIComponent(nodeId)}/flows/${encodeURIComponent(flowId)}/activate-input`, { input_id: inp.id });
      toastSuccess(`${inp.name || inp.id} is now the active input`);
      state.onConfigChanged?.();
    } catch (err) {
      showError(err);
    }
  }

  function syncActions() {
    if (!canOperate || !current) return;
    const running = current.live?.state === 'Running';
    const online = current.online;
    startBtn.hidden = running;
    stopBtn.hidden = !running;
    restartBtn.hidden = !running;
    for (const b of [startBtn, stopBtn, restartBtn]) {
      if (!online) {
        b.disabled = true;
        b.title = 'The node is offline; commands are not queued';
      } else if (b.title) {
        b.disabled = false;
        b.title = '';
      }
    }
  }

  function chartTabs(srt) {
    const outputsAtBuild = chartLabels.outputs;
    const outs = () => outputsAtBuild;
    const tabs = [
      {
        key: 'bitrate', label: 'Bitrate', format: fmtBitrateAxis,
        load: async (range) => {
          const [flowSeries, ...outSeries] = await Promise.all([
            fetchHistory(ctx, nodeId, { entity: 'flow', id: flowId, metric: 'bitrate_bps' }, range),
            ...outs().map((o) => fetchHistory(ctx, nodeId, { entity: 'output', id: o.id, metric: 'bitrate_bps' }, range)),
          ]);
          return [{ label: 'Input', points: avgPoints(flowSeries[0]) },
            ...outs().map((o, i) => ({ label: o.label, points: avgPoints(outSeries[i][0]) }))];
        },
      },
      {
        key: 'loss', label: 'Loss', format: fmtRate('pkt/s'),
        load: async (range) => {
          const [flowSeries, ...outSeries] = await Promise.all([
            fetchHistory(ctx, nodeId, { entity: 'flow', id: flowId, metric: 'packets_lost' }, range),
            ...outs().map((o) => fetchHistory(ctx, nodeId, { entity: 'output', id: o.id, metric: 'packets_dropped' }, range)),
          ]);
          return [{ label: 'Input lost', points: avgPoints(flowSeries[0]) },
            ...outs().map((o, i) => ({ label: `${o.label} dropped`, points: avgPoints(outSeries[i][0]) }))];
        },
      },
    ];
    if (srt) {
      tabs.push({
        key: 'rtt', label: 'SRT RTT', format: fmtRate('ms'),
        load: async (range) => {
          const series = await fetchHistory(ctx, nodeId, { entity: 'flow', id: flowId, metric: 'srt_rtt_ms' }, range);
          return [{ label: 'RTT', points: avgPoints(series[0]) }];
        },
      });
    }
    return tabs;
  }

  // Counter deltas for the live loss chart.
  let prevCounters = null;

  const update = (model) => {
    current = model;
    const live = model.live;
    const running = live?.state === 'Running';
    title.textContent = model.name || flowId;
    const inputs = model.inputs;
    const cfgOutputs = model.outputs;
    const encrypted = [...inputs, ...cfgOutputs].some((e) => e && e.passphrase);
    const redundant = inputs.some((i) => i && i.redundancy) || !!(live?.input?.srt_leg2_stats || live?.input?.rist_leg2_stats);
    replace(tags, flowStateTag(running), live ? healthTag(live.health) : null,
      redundant ? h('span', { class: 'tag tag-muted' }, '2022-7') : null,
      model.tunnel ? h('span', { class: 'tag bg-violet-500/15 text-type-relay' }, 'Tunnel') : null,
      encrypted ? h('span', { class: 'tag tag-warn' }, 'Encrypted') : null,
      model.cfg && model.cfg.enabled === false && !running ? h('span', { class: 'tag tag-muted' }, 'Disabled') : null);
    syncActions();
    if (thumb) thumb.setRunning(running || (!live && model.online && model.cfg?.enabled !== false));

    // Fan-out model.
    const activeId = live?.active_input_id || inputs.find((i) => i?.active)?.id || inputs[0]?.id;
    const liveOutputs = new Map((live?.outputs || []).map((o) => [o.output_id, o]));
    const outModels = cfgOutputs.length
      ? cfgOutputs.map((o) => ({ id: o.id, name: o.name, type: o.type, address: entityAddress(liveOutputs.get(o.id) || o),
        bitrate: num(liveOutputs.get(o.id)?.bitrate_bps), ok: liveOutputs.has(o.id) ? liveOutputs.get(o.id).state !== 'error' : true }))
      : [...liveOutputs.values()].map((o) => ({ id: o.output_id, name: o.output_name, type: o.output_type, address: entityAddress(o), bitrate: num(o.bitrate_bps), ok: true }));
    const inModels = inputs.length
      ? inputs.map((i) => ({ id: i.id, name: i.name, type: i.type, active: i.id === activeId, ready: running, bitrate: i.id === activeId ? num(live?.input?.bitrate_bps) : null }))
      : live?.input?.input_type ? [{ id: live.active_input_id || 'input', name: live.active_input_id || 'Input', type: live.input.input_type, active: true, ready: true, bitrate: num(live.input.bitrate_bps) }] : [];
    fanout.update({ inputs: inModels, outputs: outModels, running });

    // Health reasons.
    const hr = live?.health_reasons || [];
    reasons.hidden = hr.length === 0;
    replace(reasons, hr.map((r) => h('li', { class: 'flex flex-wrap items-center gap-2 text-xs' },
      healthTag(r.severity), h('span', { class: 'font-mono text-muted' }, r.code || ''), h('span', { class: 'text-slate-200' }, r.detail || ''))));

    // Input stats.
    const inp = live?.input || {};
    const activeCfg = inputs.find((i) => i?.id === activeId) || {};
    const itype = inp.input_type || activeCfg.type || '';
    const mode = inp.mode || activeCfg.mode;
    replace(inputLabel, `Input${itype ? ` (${itype.toUpperCase()}${mode ? ` / ${mode}` : ''})` : ''}`,
      entityAddress(inp) || entityAddress(activeCfg) ? h('span', { class: 'font-mono normal-case tracking-normal text-slate-300' }, `— ${entityAddress(inp) || entityAddress(activeCfg)}`) : null,
      activeCfg.name ? h('span', { class: 'tag bg-green-500/15 text-ok' }, `Active: ${activeCfg.name}`) : null,
      inputs.length > 1 ? h('span', { class: 'tag tag-muted' }, `${inputs.length} inputs`) : null,
      live && Number.isFinite(live.uptime_secs) && running ? h('span', { class: 'normal-case tracking-normal text-muted' }, `up ${formatDuration(live.uptime_secs)}`) : null);
    stat.state.set(inp.state || (live ? (running ? '--' : 'idle') : '--'), inp.state === 'receiving' ? 'text-ok' : '');
    stat.packets.set(formatCount(inp.packets_received));
    stat.bytes.set(formatBytes(inp.bytes_received));
    stat.bitrate.set(bitrate(inp.bitrate_bps));
    stat.lost.set(formatCount(inp.packets_lost), inp.packets_lost > 0 ? 'text-warn' : '');
    stat.fec.set(formatCount(inp.packets_recovered_fec));
    stat.switches.set(formatCount(inp.redundancy_switches));

    // SRT legs.
    const legs = [];
    if (inp.srt_stats) legs.push(['Input SRT', inp.srt_stats, activeCfg.latency_ms]);
    if (inp.srt_leg2_stats) legs.push(['Input SRT leg 2', inp.srt_leg2_stats, activeCfg.latency_ms]);
    for (const o of live?.outputs || []) {
      if (o.srt_stats) legs.push([`Output SRT — ${o.output_name || o.output_id}`, o.srt_stats, cfgOutputs.find((c) => c.id === o.output_id)?.latency_ms]);
    }
    replace(srtHost, legs.map(([label, s, latency]) => srtPanel(label, s, latency)));

    tr.update(live?.tr101290);

    // Outputs table.
    const rows = outModels.map((o) => {
      const lo = liveOutputs.get(o.id) || {};
      return h('tr', {},
        h('td', { class: 'font-medium text-white' }, o.name || o.id, h('div', { class: 'font-mono text-[10px] text-muted' }, o.id)),
        h('td', {}, protoTag(o.type)),
        h('td', { class: lo.state === 'active' ? 'text-ok' : 'text-slate-400' }, lo.state || (running ? '--' : 'idle')),
        h('td', { class: 'font-mono text-[11px]' }, o.address || '--'),
        h('td', { class: 'font-mono' }, bitrate(lo.bitrate_bps)),
        h('td', {}, formatCount(lo.packets_sent)),
        h('td', { class: lo.packets_dropped > 0 ? 'text-warn' : '' }, formatCount(lo.packets_dropped)));
    });
    replace(outBody, rows.length ? rows : h('tr', {}, h('td', { colspan: '7', class: 'py-3 text-center text-muted' }, 'This flow has no outputs.')));

    // Chart: series labels follow the outputs; reload when they change.
    const labelsSeen = new Map();
    const outLabels = outModels.map((o) => {
      let label = o.name || o.id;
      if (labelsSeen.has(label) || label === 'Input') label = `${label} (${o.id})`;
      labelsSeen.set(label, true);
      return { id: o.id, label };
    });
    const srt = itype === 'srt';
    const sig = JSON.stringify([outLabels, srt]);
    if (sig !== chartLabels.sig) {
      chartLabels = { sig, outputs: outLabels };
      chart.setTabs(chartTabs(srt));
      chart.reload();
    }
    if (live && model.ts) {
      const ts = Math.floor(model.ts);
      const values = { Input: num(inp.bitrate_bps) };
      for (const o of outLabels) values[o.label] = num(liveOutputs.get(o.id)?.bitrate_bps);
      chart.push('bitrate', ts, values);
      const counters = { ts: model.ts, lost: num(inp.packets_lost), drops: Object.fromEntries(outLabels.map((o) => [o.label, num(liveOutputs.get(o.id)?.packets_dropped)])) };
      if (prevCounters && counters.ts > prevCounters.ts) {
        const dt = counters.ts - prevCounters.ts;
        const rate = (a, b) => (a !== null && b !== null && a >= b ? (a - b) / dt : null);
        const lossValues = { 'Input lost': rate(counters.lost, prevCounters.lost) };
        for (const o of outLabels) lossValues[`${o.label} dropped`] = rate(counters.drops[o.label], prevCounters.drops[o.label]);
        chart.push('loss', ts, lossValues);
      }
      prevCounters = counters;
      if (srt) chart.push('rtt', ts, { RTT: num(inp.srt_stats?.rtt_ms) });
    }
  };

  return {
    node,
    update,
    tick: () => thumb?.tick(),
    destroy() {
      thumb?.destroy();
      chart.destroy();
    },
  };
}

function srtPanel(label, s, latency) {
  const items = [
    ['RTT', Number.isFinite(s.rtt_ms) ? `${s.rtt_ms.toFixed(1)} ms` : '--'],
    ['Send rate', mbps(s.send_rate_mbps)],
    ['Receive rate', mbps(s.recv_rate_mbps)],
    ['Bandwidth', mbps(s.bandwidth_mbps)],
    ['Loss', formatCount(s.pkt_loss_total), s.pkt_loss_total > 0],
    ['Retransmits', formatCount(s.pkt_retransmit_total), s.pkt_retransmit_total > 0],
    ['Drops', formatCount(s.pkt_recv_drop_total), s.pkt_recv_drop_total > 0],
    ['Latency', Number.isFinite(latency) ? `${latency} ms` : '--'],
  ];
  return h('section', { class: 'rounded-md border border-blue-400/20 bg-blue-400/5 px-3 py-2' },
    h('p', { class: 'nd-section-label flex items-center gap-2' }, label, s.state ? h('span', { class: s.state === 'connected' ? 'tag tag-ok' : 'tag tag-warn' }, s.state) : null),
    h('dl', { class: 'grid grid-cols-2 gap-x-4 gap-y-1 sm:grid-cols-4 lg:grid-cols-8' },
      items.map(([k, v, warn]) => kv(k, v, { valueClass: warn ? 'truncate font-semibold text-warn tabular-nums' : '' }).node)));
}

