// Fan-out diagram of one flow, drawn in SVG: input chips on the left (ACTIVE bright, STANDBY dim),
// curved wires with per-leg bitrate labels joining at a hub, then fanning out to the output chips.
// The structure is rebuilt only when the inputs or outputs change; bitrates update in place.
// Standby input chips are buttons ("Make active") when the caller may switch inputs.

import { svg } from '../../dom.js';
import { formatBitrate } from '../../format.js';

const W = 760;
const CHIP_W = 176;
const CHIP_H = 38;
const ROW = 56;
const HUB_X = W / 2;
const OUT_X = W - CHIP_W - 8;
const IN_X = 8;

const cut = (text, n) => {
  const s = String(text ?? '');
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
};

/**
 * createFanout({onActivate}) → {node, update({inputs, outputs, running})}
 * inputs: [{id, name, type, active, ready, bitrate}], outputs: [{id, name, type, address, bitrate, ok}]
 */
export function createFanout({ onActivate = null } = {}) {
  const node = svg('svg', { class: 'nd-fanout', viewBox: `0 0 ${W} 120`, role: 'img', 'aria-label': 'Signal fan-out' });
  let signature = '';
  let rateLabels = new Map();

  const build = ({ inputs, outputs, running }) => {
    while (node.firstChild) node.firstChild.remove();
    rateLabels = new Map();
    const rows = Math.max(inputs.length, outputs.length, 1);
    const height = rows * ROW + 16;
    node.setAttribute('viewBox', `0 0 ${W} ${height}`);
    const hubY = height / 2;
    const yOf = (i, n) => height / 2 + (i - (n - 1) / 2) * ROW;
    const wires = svg('g');
    const chips = svg('g');
    node.append(wires, chips);

    inputs.forEach((inp, i) => {
      const y = yOf(i, inputs.length);
      const on = inp.active && running;
      const kind = on ? 'on' : inp.active ? 'off' : 'standby';
      const x1 = IN_X + CHIP_W;
      wires.append(svg('path', { class: `nd-wire nd-wire-${kind}`, d: `M${x1},${y} C${x1 + 90},${y} ${HUB_X - 90},${hubY} ${HUB_X - 6},${hubY}` }));
      const label = svg('text', { class: 'nd-t-rate', x: String((x1 + HUB_X) / 2), y: String((y + hubY) / 2 - 5), 'text-anchor': 'middle' });
      wires.append(label);
      rateLabels.set(`in:${inp.id}`, label);
      const clickable = !inp.active && onActivate;
      const g = svg('g', clickable
        ? { class: 'nd-chip-click', role: 'button', tabindex: '0', 'aria-label': `Make ${inp.name || inp.id} the active input` }
        : {});
      g.append(
        svg('rect', { class: `nd-chip nd-chip-${kind}`, x: String(IN_X), y: String(y - CHIP_H / 2), width: String(CHIP_W), height: String(CHIP_H), rx: '5' }),
        svg('circle', { cx: String(IN_X + 10), cy: String(y - 6), r: '3', class: on ? 'nd-t-on' : 'nd-t-standby' }),
        svg('text', { class: 'nd-t-proto', x: String(IN_X + 18), y: String(y - 2) }, cut(String(inp.type || '?').toUpperCase(), 14)),
        svg('text', { class: 'nd-t-sub', x: String(IN_X + 10), y: String(y + 12) }, cut(inp.name || inp.id, 28)),
        svg('text', { class: `nd-t-tag ${inp.active ? 'nd-t-on' : 'nd-t-standby'}`, x: String(IN_X + CHIP_W - 6), y: String(y - 4), 'text-anchor': 'end' },
          inp.active ? 'ACTIVE' : inp.ready ? 'STANDBY · READY' : 'STANDBY'),
        svg('title', {}, `${inp.name || inp.id} (${inp.id})${clickable ? ' — click to make active' : ''}`),
      );
      if (clickable) {
        const fire = () => onActivate(inp);
        g.addEventListener('click', fire);
        g.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            fire();
          }
        });
      }
      chips.append(g);
    });

    outputs.forEach((out, i) => {
      const y = yOf(i, outputs.length);
      const kind = running && out.ok !== false ? 'on' : 'off';
      const x2 = OUT_X;
      wires.append(svg('path', { class: `nd-wire nd-wire-${kind}`, d: `M${HUB_X + 6},${hubY} C${HUB_X + 90},${hubY} ${x2 - 90},${y} ${x2},${y}` }));
      const label = svg('text', { class: 'nd-t-rate', x: String((HUB_X + x2) / 2), y: String((y + hubY) / 2 - 5), 'text-anchor': 'middle' });
      wires.append(label);
      rateLabels.set(`out:${out.id}`, label);
      chips.append(svg('g', {},
        svg('rect', { class: `nd-chip nd-chip-${kind}`, x: String(x2), y: String(y - CHIP_H / 2), width: String(CHIP_W), height: String(CHIP_H), rx: '5' }),
        svg('circle', { cx: String(x2 + 10), cy: String(y - 6), r: '3', class: kind === 'on' ? 'nd-t-on' : 'nd-t-standby' }),
        svg('text', { class: 'nd-t-proto', x: String(x2 + 18), y: String(y - 2) }, cut(out.name || out.id, 22)),
        svg('text', { class: 'nd-t-sub', x: String(x2 + 10), y: String(y + 12) }, cut(`${String(out.type || '').toUpperCase()} ${out.address || ''}`.trim(), 30)),
        svg('title', {}, `${out.name || out.id} (${out.id}) ${out.address || ''}`)));
    });
    if (outputs.length === 0) {
      chips.append(svg('text', { class: 'nd-t-sub', x: String(OUT_X + 10), y: String(hubY + 4) }, 'No outputs'));
    }
    if (inputs.length === 0) {
      chips.append(svg('text', { class: 'nd-t-sub', x: String(IN_X + 10), y: String(hubY + 4) }, 'No inputs'));
    }
    chips.append(svg('circle', { class: 'nd-hub', cx: String(HUB_X), cy: String(hubY), r: '6' }));
  };

  const update = (model) => {
    const sig = JSON.stringify([model.running, model.inputs.map((i) => [i.id, i.name, i.type, i.active, i.ready]),
      model.outputs.map((o) => [o.id, o.name, o.type, o.address, o.ok])]);
    if (sig !== signature) {
      signature = sig;
      build(model);
    }
    for (const inp of model.inputs) {
      const label = rateLabels.get(`in:${inp.id}`);
      if (label) label.textContent = inp.active && model.running && Number.isFinite(inp.bitrate) ? formatBitrate(inp.bitrate) : '';
    }
    for (const out of model.outputs) {
      const label = rateLabels.get(`out:${out.id}`);
      if (label) label.textContent = model.running && Number.isFinite(out.bitrate) ? formatBitrate(out.bitrate) : '';
    }
  };
  return { node, update };
}
