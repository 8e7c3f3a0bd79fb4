// Operations: recent requests (latency by stage, cost, outcome, rating), the tenant's report, one trace in full.
import { api, fmt, h, mount, s, showError, statusLine } from './dom.js';

const STAGES = ['embedMs', 'denseMs', 'bm25Ms', 'fuseMs', 'generateMs'];
const PAGE = 25;

export async function operationsPage(root, { signal }) {
  const status = statusLine();
  const summary = h('section', { 'aria-labelledby': 'summary-title' });
  const recent = h('section', { 'aria-labelledby': 'recent-title' });
  const trace = h('section', { class: 'trace', 'aria-label': 'Trace', tabindex: -1 });
  let offset = 0;
  mount(
    root,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', text: 'Refresh', onClick: () => void load() })),
    status,
    summary,
    recent,
    trace,
  );

  async function load() {
    try {
      const [report, page] = await Promise.all([
        api('GET', '/v1/report?sinceDays=7', undefined, { signal }),
        api('GET', `/v1/requests?limit=${PAGE}&offset=${offset}`, undefined, { signal }),
      ]);
      mount(summary, reportView(report, openTrace));
      mount(
        recent,
        requestsView(page, openTrace, (next) => {
          offset = next;
          void load();
        }),
      );
    } catch (err) {
      if (!signal.aborted) showError(status, err);
    }
  }

  async function openTrace(id) {
    try {
      const t = await api('GET', `/v1/requests/${encodeURIComponent(id)}`, undefined, { signal });
      mount(trace, traceView(t, await chunksOf(t, signal)));
      trace.focus();
    } catch (err) {
      showError(status, err);
    }
  }

  await load();
}

function reportView(r, openTrace) {
  return [
    h('h2', { id: 'summary-title', text: 'Last 7 days' }),
    h(
      'ul',
      { class: 'stats' },
      h('li', {}, h('strong', { text: r.requests.total }), ' requests'),
      h('li', {}, h('strong', { text: r.requests.answer }), ' answers'),
      h('li', {}, h('strong', { text: fmt.pct(r.answerOutcomes.notCovered) }), ' not covered'),
      h('li', {}, h('strong', { text: fmt.pct(r.answerOutcomes.fallback) }), ' fallbacks'),
      h('li', {}, h('strong', { text: fmt.usd(r.usage.reduce((sum, u) => sum + u.costUsd, 0)) }), ' cost'),
      h('li', {}, h('strong', { text: r.feedback.averageRating ?? '–' }), ` average rating (${r.feedback.count} rated)`),
    ),
    h('h3', { text: 'Worst-rated answers' }),
    r.worstRated.length
      ? h(
          'ul',
          { class: 'worst' },
          r.worstRated.map((w) =>
            h(
              'li',
              { dataset: { requestId: w.requestId } },
              h('span', { class: 'rating', text: `${w.rating}/5` }),
              ' ',
              h('button', { type: 'button', class: 'link', text: w.question, onClick: () => openTrace(w.requestId) }),
              w.comment ? h('span', { class: 'comment', text: ` “${w.comment}”` }) : null,
            ),
          ),
        )
      : h('p', { text: 'No answer rated 2 or lower.' }),
    h('h3', { text: 'Unanswered questions (corpus gaps)' }),
    r.unanswered.length
      ? h(
          'ul',
          {},
          r.unanswered.map((u) => h('li', {}, `${u.count}× ${u.question}`)),
        )
      : h('p', { text: 'None: every question found something.' }),
  ];
}

/** A stacked bar of the stages' milliseconds, scaled to the slowest request on the page. */
function stageBar(stages, scale) {
  let x = 0;
  const parts = STAGES.filter((st) => stages[st]).map((st) => {
    const w = (stages[st] / scale) * 160;
    const rect = s(
      'rect',
      { x, y: 2, width: Math.max(w, 0.5), height: 12, class: `stage ${st}` },
      s('title', {}, `${st.replace(/Ms$/, '')} ${fmt.ms(stages[st])}`),
    );
    x += w;
    return rect;
  });
  const label = STAGES.filter((st) => stages[st])
    .map((st) => `${st.replace(/Ms$/, '')} ${fmt.ms(stages[st])}`)
    .join(', ');
  return s('svg', { width: 164, height: 16, role: 'img', 'aria-label': label || 'no stages ran', class: 'stagebar' }, parts);
}

function requestsView(page, openTrace, goTo) {
  const scale = Math.max(1, ...page.requests.map((r) => STAGES.reduce((sum, st) => sum + (r.stages[st] ?? 0), 0)));
  return [
    h('h2', { id: 'recent-title', text: 'Recent requests' }),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'requests' },
        h('caption', { class: 'visually-hidden', text: 'Recent requests, newest first' }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['When', 'Kind', 'Question', 'Outcome', 'Stages', 'Total', 'Cost', 'Rating', ''].map((t) => h('th', { scope: 'col', text: t })),
          ),
        ),
        h(
          'tbody',
          {},
          page.requests.map((r) =>
            h(
              'tr',
              { dataset: { requestId: r.id } },
              h('td', { text: fmt.date(r.createdAt) }),
              h('td', { text: r.kind }),
              h('td', { class: 'question', text: r.question }),
              h('td', { text: `${r.outcome}${r.cacheHit ? ' (cached)' : ''}` }),
              h('td', {}, stageBar(r.stages, scale)),
              h('td', { class: 'num', text: fmt.ms(r.totalMs) }),
              h('td', { class: 'num', text: fmt.usd(r.costUsd) }),
              h('td', { class: 'rating', text: r.rating === null ? '–' : `${r.rating}/5${r.comment ? ` “${r.comment}”` : ''}` }),
              h(
                'td',
                {},
                h('button', {
                  type: 'button',
                  class: 'secondary',
                  text: 'Trace',
                  'aria-label': `Open the trace of “${r.question}”`,
                  onClick: () => openTrace(r.id),
                }),
              ),
            ),
          ),
        ),
      ),
    ),
    h(
      'div',
      { class: 'row' },
      page.offset > 0
        ? h('button', { type: 'button', class: 'secondary', text: 'Newer', onClick: () => goTo(Math.max(0, page.offset - page.limit)) })
        : null,
      page.nextOffset !== null
        ? h('button', { type: 'button', class: 'secondary', text: 'Older', onClick: () => goTo(page.nextOffset) })
        : null,
    ),
  ];
}

/** The retrieved chunks' text and place, when their collection still holds them (a trace outlives re-ingests). */
async function chunksOf(t, signal) {
  const ids = t.retrieved.map((c) => c.chunkId).slice(0, 100);
  if (!t.collectionId || !ids.length) return new Map();
  try {
    const { chunks } = await api('GET', `/v1/collections/${encodeURIComponent(t.collectionId)}/chunks?ids=${ids.join(',')}`, undefined, {
      signal,
    });
    return new Map(chunks.map((c) => [c.id, c]));
  } catch {
    return new Map();
  }
}

function traceView(t, chunks) {
  const facts = [
    ['Request', t.id],
    ['When', fmt.date(t.createdAt)],
    ['Kind', t.kind],
    ['Collection', `${t.collectionName ?? '–'} (version ${t.collectionVersion ?? '–'})`],
    ['Outcome', t.outcome],
    ['Prompt', t.promptVersion ? `${t.promptVersion}${t.promptHash ? ` (${t.promptHash.slice(0, 12)})` : ''}` : '–'],
    ['Model', t.model ?? '–'],
    ['Tokens', `${t.tokensIn} in / ${t.tokensOut} out`],
    ['Cost', fmt.usd((t.costUsd ?? 0) + (t.embedCostUsd ?? 0))],
    [
      'Latency',
      Object.entries(t.stages)
        .map(([k, v]) => `${k.replace(/Ms$/, '')} ${fmt.ms(v)}`)
        .join(', ') || '–',
    ],
    ['Feedback', t.feedback ? `${t.feedback.rating}/5${t.feedback.comment ? ` “${t.feedback.comment}”` : ''}` : 'none'],
  ];
  return [
    h('h2', { text: `Trace: ${t.question}` }),
    h(
      'dl',
      { class: 'facts' },
      facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]),
    ),
    h('h3', { text: 'Settings' }),
    h('pre', { text: JSON.stringify(t.settings, null, 2) }),
    h('h3', { text: 'Retrieved' }),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['#', 'Chunk (source · page · section)', 'Dense rank', 'Dense score', 'BM25 rank', 'BM25 score', 'Fused'].map((x) =>
              h('th', { scope: 'col', text: x }),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          t.retrieved.map((c, i) =>
            h(
              'tr',
              {},
              h('td', { text: i + 1 }),
              h('td', { class: 'chunk' }, chunkCell(c.chunkId, chunks.get(c.chunkId))),
              h('td', { class: 'num', text: c.denseRank ?? '–' }),
              h('td', { class: 'num', text: fmt.score(c.denseScore) }),
              h('td', { class: 'num', text: c.bm25Rank ?? '–' }),
              h('td', { class: 'num', text: fmt.score(c.bm25Score) }),
              h('td', { class: 'num', text: fmt.score(c.fusedScore) }),
            ),
          ),
        ),
      ),
    ),
  ];
}

function chunkCell(id, chunk) {
  if (!chunk) return h('span', { class: 'mono', text: `${id.slice(0, 8)} (no longer stored)` });
  const where = [
    chunk.source,
    chunk.pageStart ? `page ${fmt.pages(chunk.pageStart, chunk.pageEnd)}` : null,
    chunk.headingPath.join(' › ') || null,
  ]
    .filter(Boolean)
    .join(' · ');
  return [
    h('p', { class: 'meta', text: where }),
    h('p', { class: 'excerpt', text: chunk.text.length > 160 ? `${chunk.text.slice(0, 160)}…` : chunk.text }),
  ];
}
