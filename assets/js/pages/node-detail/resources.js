// Resources (CPU, RAM with bars and 15-minute sparklines, plus a history chart) and the network
// interface table (product.md §4.8), fed by the health report and live stats.

import { h, replace } from '../../dom.js';
import { formatBitrate, formatCount } from '../../format.js';
import { meter, sparkline, num } from './common.js';
import { createChart, fetchHistory, avgPoints, fmtPercent } from './chart.js';

const SPARK_SECS = 15 * 60;
const VIRTUAL = /^(lo|docker|veth|br-|virbr|vnet|cni|flannel|cali|tun|tap|wg|zt|kube|podman|vmnet|lxc|lxd)/i;

/** CPU and RAM panel. Returns {node, update(sysRes, tsSecs)}; the sparklines keep 15 minutes. */
export function buildResources(ctx, state) {
  const nodeId = state.node.id;
  const cpuValue = h('span', { class: 'text-lg font-bold text-white tabular-nums' }, '--');
  const ramValue = h('span', { class: 'text-lg font-bold text-white tabular-nums' }, '--');
  const cpuMeter = meter('CPU usage');
  const ramMeter = meter('RAM usage');
  const cpuSpark = sparkline('CPU, last 15 minutes', { max: 100 });
  const ramSpark = sparkline('RAM, last 15 minutes', { max: 100 });
  const samples = { cpu: [], ram: [] }; // [ts, value]
  const extra = h('p', { class: 'mt-3 text-xs text-muted' });
  const historyHost = h('div', { class: 'mt-4', hidden: true });
  let chart = null;
  const historyLink = h('button', { type: 'button', class: 'text-xs text-link hover:underline', 'aria-expanded': 'false' }, 'History chart ▸');
  historyLink.addEventListener('click', () => {
    const open = historyHost.hidden;
    historyHost.hidden = !open;
    historyLink.setAttribute('aria-expanded', String(open));
    historyLink.textContent = open ? 'History chart ▾' : 'History chart ▸';
    if (open && !chart) {
      chart = createChart({
        ariaLabel: 'CPU and RAM history',
        tabs: [{
          key: 'res', label: 'CPU / RAM', format: fmtPercent,
          load: async (range) => {
            const series = await fetchHistory(ctx, nodeId, { entity: 'node', metric: ['cpu_percent', 'ram_percent'] }, range);
            return series.map((s) => ({ label: s.metric === 'cpu_percent' ? 'CPU' : 'RAM', points: avgPoints(s) }));
          },
        }],
      });
      historyHost.append(chart.node);
      chart.reload();
    }
  });

  const block = (label, value, m, spark, sub) => h('div', { class: 'rounded-md border border-line/70 bg-page/40 p-3' },
    h('div', { class: 'flex items-baseline justify-between gap-2' }, h('span', { class: 'metric-label' }, label), value),
    h('div', { class: 'mt-2' }, m.node),
    h('div', { class: 'mt-2' }, spark.node),
    sub);
  const ramSub = h('p', { class: 'mt-1 text-[11px] text-muted tabular-nums' });
  const node = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-res-title' },
    h('h2', { id: 'nd-res-title', class: 'nd-panel-title' }, h('span', {}, 'Resources'), historyLink),
    h('div', { class: 'grid grid-cols-1 gap-3 sm:grid-cols-2' },
      block('CPU', cpuValue, cpuMeter, cpuSpark, h('p', { class: 'mt-1 text-[11px] text-muted' }, 'last 15 minutes')),
      block('RAM', ramValue, ramMeter, ramSpark, ramSub)),
    extra,
    historyHost);

  const redraw = () => {
    const now = Date.now() / 1000;
    for (const key of ['cpu', 'ram']) {
      const arr = samples[key];
      while (arr.length && arr[0][0] < now - SPARK_SECS) arr.shift();
    }
    cpuSpark.set(samples.cpu.map(([, v]) => v));
    ramSpark.set(samples.ram.map(([, v]) => v));
  };

  const update = (res, ts = Date.now() / 1000, { record = true } = {}) => {
    if (!res || typeof res !== 'object') return;
    const cpu = num(res.cpu_percent);
    const ram = num(res.ram_percent);
    cpuValue.textContent = cpu === null ? '--' : `${cpu.toFixed(1)}%`;
    cpuMeter.set(cpu);
    ramMeter.set(ram);
    const used = num(res.ram_used_mb);
    const total = num(res.ram_total_mb);
    ramValue.textContent = ram === null ? '--' : `${ram.toFixed(1)}%`;
    ramSub.textContent = used !== null && total !== null ? `${(used / 1024).toFixed(1)} / ${(total / 1024).toFixed(1)} GB` : '';
    if (record) {
      const last = samples.cpu[samples.cpu.length - 1];
      if (!last || ts > last[0]) {
        samples.cpu.push([ts, cpu]);
        samples.ram.push([ts, ram]);
      }
      redraw();
    }
    if (chart) chart.push('res', Math.floor(ts), { CPU: cpu, RAM: ram });
  };

  const setBudget = (budget) => {
    const cpu = budget?.cpu;
    if (!cpu) return replace(extra);
    const parts = [cpu.brand, cpu.logical_cores ? `${cpu.logical_cores} threads` : null, cpu.avx_class,
      Number.isFinite(budget.units_total) ? `${formatCount(budget.units_used)} / ${formatCount(budget.units_total)} units` : null].filter(Boolean);
    replace(extra, parts.join(' · '));
  };

  // Seed the sparklines with the last 15 minutes of history.
  fetchHistory(ctx, nodeId, { entity: 'node', metric: ['cpu_percent', 'ram_percent'] }, SPARK_SECS).then((series) => {
    for (const s of series) {
      const key = s.metric === 'cpu_percent' ? 'cpu' : s.metric === 'ram_percent' ? 'ram' : null;
      if (!key) continue;
      const live = samples[key];
      const firstLive = live.length ? live[0][0] : Infinity;
      samples[key] = [...avgPoints(s).filter(([t]) => t < firstLive), ...live];
    }
    redraw();
  }).catch(() => {});

  return { node, update, setBudget };
}

/** Network interfaces table with rx/tx sparklines (one point per health report). */
export function buildInterfaces() {
  const history = new Map(); // name -> {rx: [], tx: [], drops, grew}
  let showVirtual = false;
  let last = [];
  const toggle = h('input', { type: 'checkbox', id: 'nd-show-virtual', class: 'accent-primary' });
  toggle.addEventListener('change', () => {
    showVirtual = toggle.checked;
    render(last);
  });
  const body = h('tbody');
  const emptyNote = h('p', { class: 'py-3 text-center text-xs text-muted', hidden: true }, 'No physical interfaces reported — tick "Show virtual" to see the rest.');
  const node = h('section', { class: 'nd-panel', 'aria-labelledby': 'nd-if-title' },
    h('h2', { id: 'nd-if-title', class: 'nd-panel-title' }, h('span', {}, 'Network interfaces'),
      h('label', { class: 'flex items-center gap-1.5 text-xs font-normal normal-case tracking-normal text-slate-300', for: 'nd-show-virtual' }, toggle, 'Show virtual')),
    h('div', { class: 'overflow-x-auto' },
      h('table', { class: 'nd-table' },
        h('thead', {}, h('tr', {}, ['Name', 'Link', 'Speed', 'Rx / Tx', '', 'Addresses', 'MAC', 'MTU'].map((c) => h('th', { scope: 'col' }, c)))),
        body)),
    emptyNote);

  const render = (ifaces) => {
    last = ifaces;
    const shown = ifaces.filter((i) => showVirtual || !(i.is_loopback || VIRTUAL.test(i.name || '')));
    emptyNote.hidden = shown.length > 0 || ifaces.length === 0;
    replace(body, shown.map((i) => {
      const hist = history.get(i.name) || { rx: [], tx: [] };
      const spark = sparkline(`${i.name} receive and transmit`);
      spark.set(hist.rx, hist.tx);
      const up = i.is_up !== false;
      const drops = (i.rx_dropped || 0) + (i.tx_dropped || 0);
      const errors = (i.rx_errors || 0) + (i.tx_errors || 0);
      return h('tr', {},
        h('td', { class: 'font-mono font-semibold text-white' }, i.name || '?',
          hist.grew ? h('span', { class: 'tag tag-warn ml-2', title: 'Drops grew since the previous report' }, `⚠ ${formatCount(drops)} drops`) : null,
          errors ? h('span', { class: 'tag tag-crit ml-1' }, `${formatCount(errors)} errors`) : null),
        h('td', {}, h('span', { class: up ? 'tag tag-ok' : 'tag tag-crit' }, up ? 'Up' : 'Down')),
        h('td', { class: 'whitespace-nowrap' }, Number.isFinite(i.link_speed_mbps) ? (i.link_speed_mbps >= 1000 ? `${i.link_speed_mbps / 1000} Gb/s` : `${i.link_speed_mbps} Mb/s`) : '--'),
        h('td', { class: 'font-mono whitespace-nowrap' },
          h('div', {}, '↓ ', formatBitrate(i.rx_bps)), h('div', { class: 'text-violet-300' }, '↑ ', formatBitrate(i.tx_bps))),
        h('td', { class: 'w-32 min-w-24' }, spark.node),
        h('td', { class: 'font-mono text-[11px]' }, [...(i.ipv4 || []), ...(i.ipv6 || [])].map((a) => h('div', { class: 'break-all' }, a))),
        h('td', { class: 'font-mono text-[11px] text-muted' }, i.mac || '--'),
        h('td', { class: 'text-muted' }, Number.isFinite(i.mtu) ? i.mtu : '--'));
    }));
  };

  /** Feed one health report's interface list (call once per report). */
  const update = (ifaces, reportKey) => {
    if (!Array.isArray(ifaces)) return;
    for (const i of ifaces) {
      const hist = history.get(i.name) || { rx: [], tx: [], drops: null, grew: false, key: null };
      if (hist.key !== reportKey) {
        hist.key = reportKey;
        hist.rx.push(num(i.rx_bps));
        hist.tx.push(num(i.tx_bps));
        if (hist.rx.length > 60) { hist.rx.shift(); hist.tx.shift(); }
        const drops = (i.rx_dropped || 0) + (i.tx_dropped || 0);
        hist.grew = hist.drops !== null && drops > hist.drops;
        hist.drops = drops;
      }
      history.set(i.name, hist);
    }
    render(ifaces);
  };
  return { node, update };
}
