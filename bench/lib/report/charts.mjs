/**
 * One SVG chart per scenario, drawn with vega-lite (compiled to a vega spec) and rendered
 * headless by vega's `View.toSVG()` with renderer 'none'. Data come from the results JSON only.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

const FONT = 'Helvetica, Arial, sans-serif';
const CONFIG = {
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee', labelLimit: 280 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  legend: { disable: true },
};

/** vega-lite warns about facets with independent scales; the charts are checked by eye. */
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

async function render(spec) {
  const compiled = vl.compile(
    { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, ...spec },
    { logger: quietLogger },
  ).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const BACKEND_ORDER = ['memory', 'etcd', 'kubernetes', 'postgres'];

/** Long package names would be cut off on the axis: use the id there (the tables have both). */
const chartLabel = (row) => {
  const label = row.label ?? row.implementation;
  return label.length > 32 ? row.implementation : label;
};

/** Ours first, then the peers in the order of the rows. */
const BY_RANK = { field: 'rank', op: 'min', order: 'ascending' };

/** Points of one latency distribution per (backend, implementation). */
function distributionData(rows, samples, scenario, field) {
  const data = [];
  for (const row of rows) {
    if (row.scenario !== scenario) continue;
    const values = samples[`${row.backend}/${row.scenario}/${row.implementation}`]?.[field] ?? [];
    for (const v of values) {
      data.push({
        backend: row.backend,
        implementation: chartLabel(row),
        ours: row.ours,
        rank: row.ours ? 0 : 1,
        ms: v,
      });
    }
  }
  return data;
}

/** Box (min–max whiskers, quartiles, median) plus every trial as a tick, per implementation. */
function distributionChart({ title, data, xTitle, log, symlog = false }) {
  const minPositive = Math.min(...data.map((d) => d.ms).filter((v) => v > 0));
  const x = {
    field: 'ms',
    type: 'quantitative',
    title: xTitle,
    // symlog: values below zero (an observer ahead of the new leader's own line) and two seconds
    // (a poller) on one axis.
    scale: symlog
      ? { type: 'symlog', constant: 1 }
      : log
        ? { type: 'log', domainMin: Math.max(0.01, minPositive / 2) }
        : { zero: false },
    // d3's symlog ticks are linear ones: name the decades instead.
    ...(symlog ? { axis: { values: [-100, -10, -1, 0, 1, 10, 100, 1000, 2000] } } : {}),
  };
  const y = {
    field: 'implementation',
    type: 'nominal',
    title: null,
    sort: BY_RANK,
    axis: { labelLimit: 320 },
  };
  const color = {
    field: 'ours',
    type: 'nominal',
    scale: { domain: [true, false], range: ['#1f77b4', '#999999'] },
  };
  const plotData = log ? data.map((d) => ({ ...d, ms: Math.max(d.ms, minPositive / 2) })) : data;
  return {
    title: { text: title, anchor: 'start', fontSize: 14 },
    data: { values: plotData },
    facet: {
      row: {
        field: 'backend',
        type: 'nominal',
        title: null,
        sort: BACKEND_ORDER,
        header: { labelAngle: 0, labelAlign: 'left' },
      },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 560,
      height: { step: 26 },
      layer: [
        {
          mark: { type: 'boxplot', extent: 'min-max', size: 14, opacity: 0.35 },
          encoding: { x, y, color },
        },
        { mark: { type: 'tick', thickness: 1, size: 12, opacity: 0.6 }, encoding: { x, y, color } },
      ],
    },
  };
}

function barChart({ title, data, field, xTitle }) {
  return {
    title: { text: title, anchor: 'start', fontSize: 14 },
    data: { values: data },
    facet: {
      row: {
        field: 'backend',
        type: 'nominal',
        title: null,
        sort: BACKEND_ORDER,
        header: { labelAngle: 0, labelAlign: 'left' },
      },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 520,
      height: { step: 22 },
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            x: { field, type: 'quantitative', title: xTitle },
            y: {
              field: 'implementation',
              type: 'nominal',
              title: null,
              sort: BY_RANK,
              axis: { labelLimit: 320 },
            },
            color: {
              field: 'ours',
              type: 'nominal',
              scale: { domain: [true, false], range: ['#1f77b4', '#999999'] },
            },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
          encoding: {
            x: { field, type: 'quantitative' },
            y: { field: 'implementation', type: 'nominal', sort: BY_RANK },
            text: { field, type: 'quantitative', format: '.3~r' },
          },
        },
      ],
    },
  };
}

function scaleChart(rows) {
  const data = rows
    .filter((r) => r.scenario === 'scale')
    .flatMap((r) =>
      [
        ['RSS (MB)', r.rssMb],
        ['CPU (% of one core)', r.cpuPercent],
        ['keepalives / s', r.keepalivesPerSecond],
        ['requests / s', r.requestsPerSecond],
      ].map(([metric, value]) => ({
        implementation: chartLabel(r),
        ours: r.ours,
        elections: r.elections,
        metric,
        value,
      })),
    );
  return {
    title: {
      text: 'Scale: N elections in one process (etcd, client-go default timings)',
      anchor: 'start',
      fontSize: 14,
    },
    data: { values: data },
    facet: { field: 'metric', type: 'nominal', title: null },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 170,
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'elections',
          type: 'quantitative',
          scale: { type: 'log' },
          title: 'elections in the process',
        },
        y: { field: 'value', type: 'quantitative', title: null },
        color: {
          field: 'implementation',
          type: 'nominal',
          legend: { orient: 'bottom', title: null },
        },
      },
    },
    config: { ...CONFIG, legend: { disable: false } },
  };
}

/** @returns {Promise<Record<string, string>>} scenario → SVG text */
export async function renderCharts(rows, samples) {
  const charts = {};
  const has = (scenario) => rows.some((r) => r.scenario === scenario);
  const distribution = async (scenario, field, title, xTitle, log) => {
    const data = distributionData(rows, samples, scenario, field);
    if (data.length > 0)
      charts[scenario] = await render(distributionChart({ title, data, xTitle, log }));
  };
  if (has('graceful'))
    await distribution(
      'graceful',
      'latencyMs',
      'Graceful handoff: stop command → next leader elected',
      'ms (log scale)',
      true,
    );
  if (has('crash'))
    await distribution(
      'crash',
      'excessMs',
      'Crash failover: next leader elected, ms after the lease expired',
      'ms after expiry',
      false,
    );
  if (has('pause'))
    await distribution(
      'pause',
      'latencyMs',
      'Pause: SIGSTOP → another candidate elected',
      'ms',
      false,
    );
  if (has('cold-start'))
    await distribution(
      'cold-start',
      'latencyMs',
      'Cold start: processes spawned → first leader elected',
      'ms (log scale)',
      true,
    );
  if (has('observe')) {
    const data = [];
    for (const row of rows) {
      if (row.scenario !== 'observe') continue;
      const key = `${row.backend}/observe/${row.implementation}/${row.change}`;
      for (const ms of samples[key]?.latencyMs ?? []) {
        data.push({
          backend: row.backend,
          implementation: `${row.implementation}, ${row.change}`,
          ours: row.ours && !row.baseline,
          rank: row.ours ? (row.baseline ? 1 : 0) : 2,
          ms,
        });
      }
    }
    if (data.length > 0)
      charts.observe = await render(
        distributionChart({
          title: 'Observing the leader: new leader\'s own "elected" → the observer prints it',
          data,
          xTitle: 'ms (symmetric log scale; below 0: before the new leader announced itself)',
          symlog: true,
        }),
      );
  }
  if (has('renew-load')) {
    const data = rows
      .filter((r) => r.scenario === 'renew-load')
      .map((r) => ({
        backend: r.backend,
        implementation: chartLabel(r),
        ours: r.ours,
        rank: r.ours ? 0 : 1,
        rps: r.requestsPerSecond,
      }));
    charts['renew-load'] = await render(
      barChart({
        title: 'Renew load: server requests per second, one election (leader + follower)',
        data,
        field: 'rps',
        xTitle: 'requests / s',
      }),
    );
  }
  if (has('scale')) charts.scale = await render(scaleChart(rows));
  return charts;
}
