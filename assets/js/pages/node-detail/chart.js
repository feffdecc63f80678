// History charts with uPlot (product.md §5.4): metric tabs, range buttons, history loaded from
// GET /nodes/{id}/stats/history and extended live from node_stats frames. Gaps stay gaps (null),
// and a chart keeps its data after the stream ends. uPlot is loaded once, on first use.

import { h } from '../../dom.js';

const UPLOT_JS = '/static/dist/vendor/uPlot.esm.js';
const UPLOT_CSS = '/static/dist/vendor/uPlot.min.css';

export const RANGES = [
  ['15m', 15 * 60], ['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400], ['30d', 30 * 86400],
];
export const COLORS = ['#60a5fa', '#4ade80', '#fbbf24', '#a78bfa', '#2dd4bf', '#fb923c', '#f472b6', '#94a3b8'];

let uplotPromise = null;

export function loadUPlot() {
  if (!uplotPromise) {
    if (!document.querySelector(`link[href="${UPLOT_CSS}"]`)) {
      document.head.append(h('link', { rel: 'stylesheet', href: UPLOT_CSS }));
    }
    uplotPromise = import(UPLOT_JS).then((mod) => mod.default);
  }
  return uplotPromise;
}

/** Fetch history series: query = {entity, id, metric}, range in seconds → the API's series list. */
export async function fetchHistory(ctx, nodeId, query, rangeSecs) {
  const to = new Date();
  const from = new Date(to.getTime() - rangeSecs * 1000);
  const body = await ctx.api.get(`/api/v1/nodes/${encodeURIComponent(nodeId)}/stats/history`, {
    query: { ...query, from: from.toISOString(), to: to.toISOString() },
  });
  return body?.series || [];
}

/** Points [[t, avg, min, max], …] → [[t, avg], …]. */
export const avgPoints = (series) => (series?.points || []).map((p) => [p[0], p[1]]);

/**
 * createChart({tabs, ranges, defaultRange, height, ariaLabel})
 * tabs: [{key, label, format(v), load(rangeSecs) → Promise<[{label, points: [[t, v]…]}]>}]
 * Returns {node, push(tabKey, tsSecs, {label: value}), reload(), setTabs(tabs), destroy()}.
 */
export function createChart({ tabs, ranges = RANGES, defaultRange = '15m', height = 170, ariaLabel = 'History chart' }) {
  let tabList = tabs;
  let tab = tabs[0]?.key;
  let range = ranges.find(([k]) => k === defaultRange) || ranges[0];
  let plot = null;
  let labels = [];
  let xs = [];
  let ys = [];
  let loading = 0;

  const tabBar = h('div', { class: 'nd-range', role: 'group', 'aria-label': 'Metric' });
  const rangeBar = h('div', { class: 'nd-range', role: 'group', 'aria-label': 'Time range' },
    ranges.map(([key]) => {
      const b = h('button', { type: 'button', 'aria-pressed': String(key === range[0]), dataset: { range: key } }, key);
      b.addEventListener('click', () => {
        range = ranges.find(([k]) => k === key);
        for (const other of rangeBar.children) other.setAttribute('aria-pressed', String(other === b));
        reload();
      });
      return b;
    }));
  const canvasHost = h('div', { class: 'nd-chart', role: 'img', 'aria-label': ariaLabel });
  const empty = h('div', { class: 'nd-chart-empty', hidden: true }, 'No history for this range yet');
  canvasHost.append(empty);
  const node = h('div', { class: 'flex flex-col gap-2' },
    h('div', { class: 'flex flex-wrap items-center justify-between gap-2' }, tabBar, rangeBar),
    canvasHost);

  const renderTabs = () => {
    tabBar.replaceChildren(...tabList.map((t) => {
      const b = h('button', { type: 'button', 'aria-pressed': String(t.key === tab), dataset: { tab: t.key } }, t.label);
      b.addEventListener('click', () => {
        tab = t.key;
        renderTabs();
        reload();
      });
      return b;
    }));
    tabBar.hidden = tabList.length < 2;
  };

  const current = () => tabList.find((t) => t.key === tab) || tabList[0];

  const build = async () => {
    const uPlot = await loadUPlot();
    const t = current();
    const fmt = t?.format || ((v) => String(v));
    const width = Math.max(200, canvasHost.clientWidth || 600);
    if (plot) {
      plot.destroy();
      plot = null;
    }
    const opts = {
      width,
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: {
        // The window is always the chosen range up to now, so a new stream sits at the right edge.
        x: { time: true, range: (u, min, max) => { const end = Math.max(Date.now() / 1000, Number.isFinite(max) ? max : 0); return [end - range[1], end]; } },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { stroke: '#94a3b8', grid: { stroke: '#334155', width: 1 }, ticks: { stroke: '#334155', width: 1 }, font: '11px ui-sans-serif, system-ui',
          values: (u, splits, axisIdx, space, incr) => splits.map((ts) => timeTick(ts, incr)) },
        { stroke: '#94a3b8', grid: { stroke: '#334155', width: 1 }, ticks: { stroke: '#334155', width: 1 }, size: 72,
          font: '11px ui-sans-serif, system-ui', values: (u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        { label: 'Time', value: (u, v) => (v == null ? '--' : new Date(v * 1000).toLocaleString('en-GB', { day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })) },
        ...labels.map((label, i) => ({
          label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false, points: { show: false },
          fill: i === 0 ? 'rgba(96,165,250,0.08)' : undefined,
          value: (u, v) => (v == null ? '--' : fmt(v)),
        })),
      ],
    };
    plot = new uPlot(opts, [xs, ...ys], canvasHost);
  };

  const reload = async () => {
    const t = current();
    if (!t) return;
    const seq = ++loading;
    let result = [];
    try {
      result = await t.load(range[1]);
    } catch (err) {
      console.warn('history load failed', err?.error || err);
      result = [];
    }
    if (seq !== loading) return;
    const stamps = new Set();
    for (const s of result) for (const [ts] of s.points) stamps.add(ts);
    xs = [...stamps].sort((a, b) => a - b);
    const index = new Map(xs.map((ts, i) => [ts, i]));
    labels = result.map((s) => s.label);
    ys = result.map((s) => {
      const arr = new Array(xs.length).fill(null);
      for (const [ts, v] of s.points) arr[index.get(ts)] = Number.isFinite(v) ? v : null;
      return arr;
    });
    empty.hidden = result.some((s) => s.points.some(([, v]) => Number.isFinite(v)));
    await build();
  };

  /** Append one live sample (values keyed by series label) to the shown tab. */
  const push = (tabKey, ts, values) => {
    if (!plot || tabKey !== tab || loading === 0) return;
    const known = Object.keys(values).filter((l) => labels.includes(l));
    if (known.length === 0) return;
    const last = xs[xs.length - 1];
    if (last !== undefined && ts <= last) return;
    xs.push(ts);
    labels.forEach((l, i) => ys[i].push(Number.isFinite(values[l]) ? values[l] : null));
    const cutoff = ts - range[1];
    let drop = 0;
    while (drop < xs.length && xs[drop] < cutoff) drop += 1;
    if (drop) {
      xs.splice(0, drop);
      for (const arr of ys) arr.splice(0, drop);
    }
    if (Object.values(values).some(Number.isFinite)) empty.hidden = true;
    plot.setData([xs, ...ys]);
  };

  const observer = new ResizeObserver(() => {
    if (plot && canvasHost.clientWidth > 0 && Math.abs(plot.width - canvasHost.clientWidth) > 2) {
      plot.setSize({ width: canvasHost.clientWidth, height });
    }
  });
  observer.observe(canvasHost);

  renderTabs();
  return {
    node,
    push,
    reload,
    activeTab: () => tab,
    setTabs(newTabs) {
      tabList = newTabs;
      if (!tabList.some((t) => t.key === tab)) tab = tabList[0]?.key;
      renderTabs();
    },
    destroy() {
      observer.disconnect();
      if (plot) plot.destroy();
    },
  };
}

/** 24-hour time ticks; midnight and day-sized steps show the date. */
function timeTick(ts, incr) {
  const d = new Date(ts * 1000);
  if (incr >= 86400 || (d.getHours() === 0 && d.getMinutes() === 0 && incr >= 3600)) {
    return d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' });
  }
  const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  if (incr < 60) opts.second = '2-digit';
  return d.toLocaleTimeString('en-GB', opts);
}

/** Compact axis/legend formatters. */
export const fmtPercent = (v) => (Number.isFinite(v) ? `${Math.round(v * 10) / 10}%` : '--');
export const fmtRate = (unit) => (v) => (Number.isFinite(v) ? `${v >= 100 ? Math.round(v) : Math.round(v * 100) / 100} ${unit}` : '--');
export function fmtBitrateAxis(v) {
  if (!Number.isFinite(v)) return '--';
  const units = ['bps', 'kbps', 'Mbps', 'Gbps'];
  let x = v;
  let i = 0;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i += 1;
  }
  return `${x >= 100 ? Math.round(x) : Math.round(x * 10) / 10} ${units[i]}`;
}
