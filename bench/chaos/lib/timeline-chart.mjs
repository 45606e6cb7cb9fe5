/**
 * The SVG timeline of a chaos run (vega-lite compiled to vega, rendered headless by
 * `View.toSVG()`): one row per election with its leaders' terms (from the first to the last
 * accepted write of each token, coloured by candidate slot), a row under it with the faults
 * (applied → healed), and a red tick at each overlapping term. Long runs show their first
 * `windowS` seconds, so that the SVG stays readable.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

const quietLogger = {
  level() {
    return this;
  },
  error(...args) {
    console.error(...args);
    return this;
  },
  warn() {
    return this;
  },
  info() {
    return this;
  },
  debug() {
    return this;
  },
};

/**
 * @param {{result: object, faults: Array<object>, startAt: number, windowS?: number}} o
 */
export async function renderTimeline({ result, faults, startAt, windowS = 600 }) {
  const s = (t) => (t - startAt) / 1000;
  const inWindow = (from) => s(from) <= windowS;
  const bars = [];
  const elections = Object.keys(result.terms).sort();
  for (const election of elections) {
    for (const term of result.terms[election]) {
      if (!inWindow(term.firstAt)) continue;
      bars.push({
        row: election,
        track: 'leader',
        from: s(term.firstAt),
        to: Math.max(s(term.lastAt), s(term.firstAt) + 0.05),
        what: term.candidate.replace(/\.\d+$/, '').replace(/^.*\//, ''),
        label: `token ${term.token} ${term.candidate}`,
      });
    }
  }
  for (const f of faults) {
    if (!inWindow(f.appliedAt)) continue;
    for (const election of f.elections) {
      bars.push({
        row: election,
        track: 'fault',
        from: s(f.appliedAt),
        to: Math.max(s(f.healedAt ?? f.appliedAt), s(f.appliedAt) + 0.05),
        what: f.fault,
        label: f.fault,
      });
    }
  }
  const ticks = result.samples.overlaps
    .filter((o) => inWindow(o.newFirstAt))
    .map((o) => ({
      row: o.election,
      track: 'leader',
      at: s(o.newFirstAt),
      label: `overlap ${o.oldToken}→${o.newToken} (${o.fault})`,
    }));
  const shown = Math.min(windowS, Math.max(1, ...bars.map((b) => b.to)));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: '#ddd' } },
    title: `Leaders (top track) and faults (bottom track) per election, first ${Math.round(shown)} s; red: overlapping terms`,
    facet: { row: { field: 'row', title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
    data: { values: [...bars, ...ticks.map((t) => ({ ...t, tick: true }))] },
    spec: {
      width: 1100,
      height: 36,
      layer: [
        {
          transform: [{ filter: 'datum.tick !== true' }],
          mark: { type: 'bar', height: 14 },
          encoding: {
            x: {
              field: 'from',
              type: 'quantitative',
              title: 'seconds since the nemesis started',
              scale: { domain: [0, shown] },
            },
            x2: { field: 'to' },
            y: { field: 'track', type: 'nominal', title: null, sort: ['leader', 'fault'] },
            color: {
              field: 'what',
              type: 'nominal',
              legend: { orient: 'bottom', columns: 8, title: null },
            },
            tooltip: { field: 'label' },
          },
        },
        {
          transform: [{ filter: 'datum.tick === true' }],
          mark: { type: 'tick', color: 'red', thickness: 2 },
          encoding: {
            x: { field: 'at', type: 'quantitative' },
            y: { field: 'track', type: 'nominal' },
          },
        },
      ],
    },
    resolve: { scale: { x: 'shared' } },
  };
  const compiled = vl.compile(spec, { logger: quietLogger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
