// Retrieval playground: dense, fused and BM25 results side by side, with lines from each fused hit to its origins.
import {
  api,
  collectionPicker,
  debounce,
  field,
  fmt,
  h,
  highlighted,
  mount,
  queryTerms,
  s,
  selection,
  showError,
  showStatus,
  statusLine,
} from './dom.js';

const STAGES = [
  ['embedMs', 'embed'],
  ['denseMs', 'dense'],
  ['bm25Ms', 'BM25'],
  ['fuseMs', 'fuse + load'],
];

export async function playgroundPage(root, { signal }) {
  const controls = {
    query: h('input', { type: 'search', name: 'query', autocomplete: 'off' }),
    mode: select('mode', ['hybrid', 'dense', 'bm25']),
    fusion: select('fusion', ['convex', 'rrf']),
    k: h('input', { type: 'number', name: 'k', min: 0, max: 10000, value: 60 }),
    auto: h('input', { type: 'checkbox', name: 'auto', checked: true }),
    dense: h('input', { type: 'range', name: 'dense', min: 0, max: 1, step: 0.05, value: 0.5 }),
    bm25: h('input', { type: 'range', name: 'bm25', min: 0, max: 1, step: 0.05, value: 0.5 }),
    candidates: h('input', { type: 'number', name: 'candidates', min: 1, max: 1000, value: 100 }),
    topK: h('input', { type: 'number', name: 'topK', min: 1, max: 100, value: 8 }),
    filter: h('textarea', { name: 'filter', rows: 2, placeholder: '{"source": {"prefix": "fixtures/"}}' }),
  };
  const denseOut = h('output', { for: controls.dense.id || undefined });
  const bm25Out = h('output');
  const status = statusLine();
  status.dataset.of = 'search';
  const timings = h('div', { class: 'timings', 'aria-label': 'Per-stage timings' });
  const columns = h('div', { class: 'columns' });
  const saveSlot = h('div');

  restoreControls(controls);
  const picker = await collectionPicker(() => rerun());
  const weightsDisabled = () => {
    controls.dense.disabled = controls.bm25.disabled = controls.auto.checked;
    denseOut.textContent = controls.dense.value;
    bm25Out.textContent = controls.bm25.value;
  };
  weightsDisabled();

  mount(
    root,
    h(
      'form',
      {
        class: 'controls',
        role: 'search',
        onSubmit: (e) => {
          e.preventDefault();
          void run();
        },
      },
      h('div', { class: 'wide' }, picker, field('Query', controls.query)),
      field('Mode', controls.mode),
      field('Fusion', controls.fusion),
      field('RRF k', controls.k, 'used by RRF only'),
      field('Query-dependent weights', controls.auto, 'the tuned default; untick to set weights'),
      h('div', { class: 'field' }, h('label', { for: (controls.dense.id = 'w-dense'), text: 'Dense weight' }), controls.dense, denseOut),
      h('div', { class: 'field' }, h('label', { for: (controls.bm25.id = 'w-bm25'), text: 'BM25 weight' }), controls.bm25, bm25Out),
      field('Candidates per retriever', controls.candidates),
      field('Top K', controls.topK),
      h('div', { class: 'wide' }, field('Filter (JSON)', controls.filter, 'e.g. {"metadata.team": "ops"}; empty for none')),
      h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Search' }), saveSlot),
    ),
    status,
    timings,
    columns,
  );

  const rerun = debounce(() => run(), 300);
  for (const control of Object.values(controls)) {
    control.addEventListener(control.type === 'checkbox' || control.tagName === 'SELECT' ? 'change' : 'input', () => {
      weightsDisabled();
      saveControls(controls);
      rerun();
    });
  }
  window.addEventListener(
    'resize',
    debounce(() => drawLines(columns), 150),
    { signal },
  );
  void offerSaveAsConfig(saveSlot, () => request(controls), signal);

  let generation = 0;
  if (controls.query.value.trim()) void run(); // settings kept from the last visit in this tab

  async function run() {
    if (!controls.query.value.trim() || !selection.collection) return;
    let body;
    try {
      body = request(controls);
    } catch (err) {
      return showError(status, err);
    }
    const mine = ++generation;
    showStatus(status, 'Searching…');
    const path = `/v1/collections/${encodeURIComponent(selection.collection)}/search`;
    try {
      const [fused, dense, bm25] = await Promise.all([
        api('POST', path, body, { signal }),
        api('POST', path, { ...body, mode: 'dense' }, { signal }),
        api('POST', path, { ...body, mode: 'bm25' }, { signal }),
      ]);
      if (mine !== generation) return; // a later run has started: its results win
      const terms = queryTerms(body.query);
      const w = fused.settings.weights;
      showStatus(
        status,
        `${fused.hits.length} fused hits · ${fused.settings.mode}, ${fused.settings.fusion}${fused.settings.fusion === 'rrf' ? ` k=${fused.settings.k}` : ''}, weights dense ${w.dense.toFixed(2)} / BM25 ${w.bm25.toFixed(2)}, ${fused.settings.candidates} candidates`,
      );
      mount(timings, timingBars(fused.timings));
      mount(
        columns,
        column('Dense', 'dense', dense.hits, terms),
        column(`Fused (${fused.settings.mode})`, 'fused', fused.hits, terms),
        column('BM25', 'bm25', bm25.hits, terms),
        s('svg', { class: 'lines', 'aria-hidden': 'true' }),
      );
      drawLines(columns);
    } catch (err) {
      if (!signal.aborted && mine === generation) showError(status, err);
    }
  }
}

const SAVED = 'ragline.playground';

/** The controls' values for this tab, so leaving the page and coming back keeps the experiment. */
function saveControls(controls) {
  const values = Object.fromEntries(Object.entries(controls).map(([name, c]) => [name, c.type === 'checkbox' ? c.checked : c.value]));
  sessionStorage.setItem(SAVED, JSON.stringify(values));
}

function restoreControls(controls) {
  let values;
  try {
    values = JSON.parse(sessionStorage.getItem(SAVED) ?? '{}');
  } catch {
    return;
  }
  for (const [name, value] of Object.entries(values ?? {})) {
    const control = controls[name];
    if (!control) continue;
    if (control.type === 'checkbox') control.checked = Boolean(value);
    else control.value = String(value);
  }
}

function select(name, options) {
  return h(
    'select',
    { name },
    options.map((o) => h('option', { value: o, text: o })),
  );
}

/** The search body the controls describe; a bad filter is a message, not a request. */
function request(c) {
  const body = {
    query: c.query.value.trim(),
    mode: c.mode.value,
    fusion: c.fusion.value,
    topK: Number(c.topK.value),
    candidates: Number(c.candidates.value),
  };
  if (c.fusion.value === 'rrf') body.k = Number(c.k.value);
  if (!c.auto.checked) body.weights = { dense: Number(c.dense.value), bm25: Number(c.bm25.value) };
  const filter = c.filter.value.trim();
  if (filter) {
    try {
      body.filter = JSON.parse(filter);
    } catch (err) {
      throw new Error(`Filter is not valid JSON: ${err.message}`);
    }
  }
  return body;
}

function scoreOf(kind, hit) {
  if (kind === 'dense') return hit.explanation.denseScore;
  if (kind === 'bm25') return hit.explanation.bm25Score;
  return hit.explanation.fusedScore;
}

/** One ranked list; scores shown raw and min-max normalised within the list. */
function column(title, kind, hits, terms) {
  const scores = hits.map((hit) => scoreOf(kind, hit) ?? 0);
  const [min, max] = [Math.min(...scores), Math.max(...scores)];
  const norm = (v) => (max > min ? (v - min) / (max - min) : 1);
  return h(
    'section',
    { class: `column ${kind}`, dataset: { kind }, 'aria-label': `${title} results` },
    h('h2', { text: title }),
    hits.length
      ? h(
          'ol',
          {},
          hits.map((hit, i) => {
            const e = hit.explanation;
            const origin =
              kind === 'fused'
                ? h(
                    'span',
                    { class: 'origin' },
                    `dense #${e.denseRank ?? '–'} (${fmt.score(e.denseScore)}) · BM25 #${e.bm25Rank ?? '–'} (${fmt.score(e.bm25Score)})`,
                  )
                : null;
            return h(
              'li',
              { class: 'hit', dataset: { chunkId: hit.chunk.id, rank: i + 1 } },
              h(
                'p',
                { class: 'meta' },
                h('strong', { text: `#${i + 1}` }),
                ` ${fmt.score(scoreOf(kind, hit))} raw · ${norm(scores[i]).toFixed(2)} norm`,
                h('span', { class: 'bar', dataset: { w: norm(scores[i]).toFixed(2) } }),
              ),
              origin,
              h(
                'p',
                { class: 'source' },
                `${hit.chunk.source}${hit.chunk.headingPath?.length ? ` › ${hit.chunk.headingPath.join(' › ')}` : ''}`,
              ),
              h('p', { class: 'chunk-text' }, highlighted(truncate(hit.chunk.text, 360), terms)),
            );
          }),
        )
      : h('p', { text: 'No hits.' }),
  );
}

const truncate = (text, n) => (text.length > n ? `${text.slice(0, n)}…` : text);

function timingBars(t) {
  const total = Math.max(t.totalMs, 0.001);
  return [
    h(
      'ul',
      { class: 'stage-list' },
      STAGES.map(([key, label]) =>
        h('li', {}, h('span', { text: label }), ' ', h('strong', { text: fmt.ms(t[key]) }), ` (${Math.round((t[key] / total) * 100)} %)`),
      ),
      h('li', {}, h('span', { text: 'total' }), ' ', h('strong', { text: fmt.ms(t.totalMs) })),
    ),
  ];
}

/** Lines (SVG) from each fused hit to the same chunk in the dense and BM25 columns, when it is shown there. */
function drawLines(columns) {
  const svg = columns.querySelector('svg.lines');
  if (!svg) return;
  for (const bar of columns.querySelectorAll('.bar')) bar.style.width = `${Number(bar.dataset.w) * 4}rem`;
  svg.replaceChildren();
  const box = columns.getBoundingClientRect();
  const stacked =
    columns.querySelector('.fused')?.getBoundingClientRect().top > columns.querySelector('.dense')?.getBoundingClientRect().bottom;
  if (stacked) return; // on a narrow screen the columns stack and lines would only cross them
  svg.setAttribute('viewBox', `0 0 ${box.width} ${box.height}`);
  svg.setAttribute('width', box.width);
  svg.setAttribute('height', box.height);
  const find = (kind, id) => columns.querySelector(`.${kind} li[data-chunk-id="${id}"]`);
  for (const fusedHit of columns.querySelectorAll('.fused li.hit')) {
    const from = fusedHit.getBoundingClientRect();
    for (const kind of ['dense', 'bm25']) {
      const target = find(kind, fusedHit.dataset.chunkId);
      if (!target) continue;
      const to = target.getBoundingClientRect();
      const x1 = (kind === 'dense' ? from.left : from.right) - box.left;
      const x2 = (kind === 'dense' ? to.right : to.left) - box.left;
      const y1 = from.top + 18 - box.top;
      const y2 = to.top + 18 - box.top;
      const mid = (x1 + x2) / 2;
      svg.append(
        s('path', {
          d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
          class: `link ${kind}`,
          dataset: { chunkId: fusedHit.dataset.chunkId },
        }),
      );
    }
  }
}

/** "Save as config" stores the playground's retrieval settings as the next version of a named config (admin keys; audited). */
async function offerSaveAsConfig(slot, settings, signal) {
  const collection = selection.collection;
  if (!collection) return;
  try {
    await api('GET', `/v1/collections/${encodeURIComponent(collection)}/configs`, undefined, { signal });
  } catch {
    return; // not on this server
  }
  const name = h('input', { name: 'configName', required: true, maxlength: 100 });
  const note = statusLine();
  mount(
    slot,
    field('Config name', name),
    h('button', {
      type: 'button',
      class: 'secondary',
      text: 'Save as config',
      onClick: async () => {
        try {
          // A config holds retrieval settings only; filters and the query stay per request.
          const { query: _query, filter: _filter, weights, ...retrieval } = settings();
          const body = { retrieval: { ...retrieval, weights: weights ?? 'query-dependent' } };
          // Saving never changes live traffic: activating is a separate, deliberate step.
          const saved = await api('POST', `/v1/collections/${encodeURIComponent(collection)}/configs`, {
            name: name.value.trim(),
            settings: body,
            activate: false,
          });
          showStatus(note, `Saved ${saved.config.name} version ${saved.config.version}${saved.active ? ' (active)' : ' (not active)'}.`);
        } catch (err) {
          showError(note, err);
        }
      },
    }),
    note,
  );
}
