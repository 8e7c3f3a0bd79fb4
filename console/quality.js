// Quality: load `ragline eval --json` results (chart per mode, compare two runs) or `ragline tune --json` (heat map).
import { field, h, mount, s, showError, showStatus, statusLine } from './dom.js';

const MODES = ['dense', 'bm25', 'hybrid'];
const METRICS = [
  ['ndcg10', 'nDCG@10'],
  ['recall100', 'Recall@100'],
];

export async function qualityPage(root) {
  const runs = { a: null, b: null };
  const status = statusLine();
  const out = h('div', { class: 'quality' });
  const picker = (slot, label) => {
    const input = h('input', { type: 'file', accept: 'application/json,.json', name: `run-${slot}` });
    input.addEventListener('change', async () => {
      const file = input.files?.[0];
      if (!file) return;
      try {
        runs[slot] = { name: file.name, report: parseReport(await file.text()) };
        showStatus(status, `Loaded ${file.name}.`);
        render();
      } catch (err) {
        showError(status, `${file.name}: ${err.message}`);
      }
    });
    return field(label, input);
  };
  mount(
    root,
    h(
      'p',
      {},
      'Run ',
      h('code', { text: 'npx ragline eval --dataset <folder> --json run.json' }),
      ' or ',
      h('code', { text: 'npx ragline tune --dataset <folder> --json tune.json' }),
      ', then load the file here (it stays in the browser).',
    ),
    h('div', { class: 'row' }, picker('a', 'Results file'), picker('b', 'Compare with (optional)')),
    status,
    out,
  );

  function render() {
    const evals = [runs.a, runs.b].filter((r) => r && r.report.kind === 'eval');
    const tunes = [runs.a, runs.b].filter((r) => r && r.report.kind === 'tune');
    mount(
      out,
      evals.length
        ? [h('h2', { text: evals.length > 1 ? 'Compare runs' : 'Retrieval quality by mode' }), ...METRICS.map((m) => barChart(evals, m))]
        : null,
      evals.length > 1 ? compareTable(evals[0], evals[1]) : null,
      tunes.map((t) => heatMap(t)),
    );
  }
}

/** Tells the two JSON shapes apart and checks what the charts read. */
export function parseReport(text) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('not a JSON file');
  }
  if (json && Array.isArray(json.grid)) {
    if (!json.grid.every((row) => typeof row?.train?.ndcg10 === 'number'))
      throw new Error('a tune report whose grid rows lack train.ndcg10');
    return { kind: 'tune', grid: json.grid, best: json.best, settings: json.settings };
  }
  if (json && typeof json.results === 'object' && json.results) {
    const modes = MODES.filter((m) => typeof json.results[m]?.ndcg10 === 'number');
    if (!modes.length) throw new Error('an eval report with no dense, bm25 or hybrid results');
    return { kind: 'eval', results: json.results, modes, settings: json.settings ?? {} };
  }
  throw new Error('expected the JSON of `ragline eval --json` (with "results") or `ragline tune --json` (with "grid")');
}

const WIDTH = 520;
const HEIGHT = 220;

/** Grouped bars: one group per mode, one bar per run, the value written on top. */
function barChart(runs, [metric, label]) {
  const modes = MODES.filter((m) => runs.some((r) => r.report.results[m]));
  const groupW = (WIDTH - 40) / modes.length;
  const barW = Math.min(48, (groupW - 16) / runs.length);
  const y = (v) => HEIGHT - 30 - v * (HEIGHT - 50);
  const bars = modes.flatMap((mode, i) =>
    runs.map((run, j) => {
      const v = run.report.results[mode]?.[metric];
      if (typeof v !== 'number') return null;
      const x = 40 + i * groupW + 8 + j * barW;
      return s(
        'g',
        { class: `bar run-${j}`, dataset: { mode, metric, value: v.toFixed(3) } },
        s('rect', { x, y: y(v), width: barW - 4, height: y(0) - y(v) }),
        // Written inside the top of the bar, white on the bar's colour: readable, and never over a neighbour.
        s('text', { x: x + (barW - 4) / 2, y: y(v) + 14, 'text-anchor': 'middle', class: 'value' }, v.toFixed(3)),
      );
    }),
  );
  const labels = modes.map((mode, i) => s('text', { x: 40 + i * groupW + groupW / 2, y: HEIGHT - 10, 'text-anchor': 'middle' }, mode));
  const axis = [0, 0.5, 1].map((v) =>
    s(
      'g',
      {},
      s('line', { x1: 36, x2: WIDTH, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: 30, y: y(v) + 4, 'text-anchor': 'end' }, String(v)),
    ),
  );
  const title = `${label} per mode${runs.length > 1 ? `: ${runs.map((r) => r.name).join(' vs ')}` : ''}`;
  return h(
    'figure',
    { class: 'chart' },
    s(
      'svg',
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'bars', dataset: { metric } },
      axis,
      bars,
      labels,
    ),
    h('figcaption', {}, title, runs.length > 1 ? legend(runs) : null),
  );
}

function legend(runs) {
  return h(
    'span',
    { class: 'legend' },
    runs.map((r, j) => h('span', { class: `swatch run-${j}` }, r.name)),
  );
}

function compareTable(a, b) {
  const rows = MODES.filter((m) => a.report.results[m] && b.report.results[m]).flatMap((mode) =>
    METRICS.map(([metric, label]) => {
      const [x, y] = [a.report.results[mode][metric], b.report.results[mode][metric]];
      const delta = y - x;
      return h(
        'tr',
        {},
        h('th', { scope: 'row', text: `${mode} ${label}` }),
        h('td', { class: 'num', text: x.toFixed(3) }),
        h('td', { class: 'num', text: y.toFixed(3) }),
        h('td', { class: `num ${delta > 0 ? 'up' : delta < 0 ? 'down' : ''}`, text: `${delta >= 0 ? '+' : ''}${delta.toFixed(3)}` }),
      );
    }),
  );
  return h(
    'table',
    { class: 'compare' },
    h('caption', { text: 'Difference (second minus first)' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', text: 'metric' }),
        h('th', { scope: 'col', text: a.name }),
        h('th', { scope: 'col', text: b.name }),
        h('th', { scope: 'col', text: 'Δ' }),
      ),
    ),
    h('tbody', {}, rows),
  );
}

const rowLabel = (st) => (st.fusion === 'rrf' ? `RRF k=${st.k ?? 60}` : 'convex');
const colLabel = (st) => (st.weights ? `${st.weights.dense} / ${st.weights.bm25}` : 'query-dep.');

/** Train nDCG@10 of the tune grid: fusion (and k) down, weighting across; a cell shows the best over candidate depths. */
function heatMap(run) {
  const cells = new Map();
  for (const row of run.report.grid) {
    const key = `${rowLabel(row.settings)}|${colLabel(row.settings)}`;
    cells.set(key, Math.max(cells.get(key) ?? -1, row.train.ndcg10));
  }
  const rows = [...new Set(run.report.grid.map((r) => rowLabel(r.settings)))];
  const cols = [...new Set(run.report.grid.map((r) => colLabel(r.settings)))];
  const values = [...cells.values()];
  const [min, max] = [Math.min(...values), Math.max(...values)];
  const cellW = 96;
  const cellH = 34;
  const left = 100;
  const top = 64;
  const shade = (v) => (max > min ? (v - min) / (max - min) : 1);
  const rects = rows.flatMap((r, i) =>
    cols.map((c, j) => {
      const v = cells.get(`${r}|${c}`);
      if (v === undefined) return null;
      const t = shade(v);
      return s(
        'g',
        { class: 'cell', dataset: { row: r, col: c, value: v.toFixed(4) } },
        s('rect', { x: left + j * cellW, y: top + i * cellH, width: cellW - 2, height: cellH - 2, fill: `hsl(215 70% ${92 - t * 62}%)` }),
        s(
          'text',
          { x: left + j * cellW + cellW / 2, y: top + i * cellH + cellH / 2 + 4, 'text-anchor': 'middle', fill: t > 0.7 ? '#fff' : '#111' },
          v.toFixed(4),
        ),
      );
    }),
  );
  const width = left + cols.length * cellW;
  const height = top + rows.length * cellH + 10;
  const title = `${run.name}: train nDCG@10 by fusion × weights dense / BM25 (best over candidate depths)`;
  return h(
    'figure',
    { class: 'chart heat' },
    h('h2', { text: 'Tune grid' }),
    h(
      'div',
      { class: 'scroll-x' },
      s(
        'svg',
        { viewBox: `0 0 ${width} ${height}`, width, role: 'img', 'aria-label': title, class: 'heatmap' },
        s('text', { x: left + (cols.length * cellW) / 2, y: 16, 'text-anchor': 'middle', class: 'axis' }, 'weights dense / BM25'),
        cols.map((c, j) => s('text', { x: left + j * cellW + cellW / 2, y: top - 10, 'text-anchor': 'middle', class: 'axis' }, c)),
        rows.map((r, i) => s('text', { x: left - 8, y: top + i * cellH + cellH / 2 + 4, 'text-anchor': 'end', class: 'axis' }, r)),
        rects,
      ),
    ),
    h('figcaption', { text: title }),
  );
}
