// Ask: a streamed answer with citation markers that open the cited chunk; state, model, tokens, cost; feedback.
import { api, auth, collectionPicker, field, fmt, h, mount, selection, showError, showStatus, statusLine } from './dom.js';

export async function askPage(root, { signal }) {
  const question = h('textarea', { name: 'question', rows: 3, required: true });
  const status = statusLine();
  const answer = h('div', { class: 'answer', 'aria-live': 'polite', 'aria-busy': 'false' });
  const facts = h('dl', { class: 'facts' });
  const cited = h('section', { class: 'cited', 'aria-label': 'Cited chunk', tabindex: -1 });
  const feedback = h('section', { class: 'feedback', 'aria-label': 'Feedback' });
  const picker = await collectionPicker();
  mount(
    root,
    h(
      'form',
      {
        onSubmit: (e) => {
          e.preventDefault();
          void ask();
        },
      },
      picker,
      field('Question', question),
      h('button', { type: 'submit', text: 'Ask' }),
    ),
    status,
    answer,
    facts,
    cited,
    feedback,
  );

  async function ask() {
    const text = question.value.trim();
    if (!text) return showError(status, 'Type a question first.');
    mount(answer);
    mount(facts);
    mount(cited);
    mount(feedback);
    answer.setAttribute('aria-busy', 'true');
    showStatus(status, 'Retrieving…');
    const chunks = new Map();
    let written = '';
    try {
      let events = 0;
      for await (const { event, data } of streamAnswer(selection.collection, text, signal)) {
        answer.dataset.events = String(++events); // how many server-sent events arrived (the test reads it)
        if (event === 'retrieval') {
          for (const chunk of data.chunks) chunks.set(chunk.marker, chunk);
          showStatus(status, `Retrieved ${data.chunks.length} chunks; answering…`);
        } else if (event === 'token') {
          written += data.delta;
          mount(answer, withMarkers(written, chunks, cited));
        } else if (event === 'done') {
          mount(answer, withMarkers(data.answer, chunks, cited));
          mount(facts, answerFacts(data));
          showStatus(status, 'Done.');
          mount(feedback, feedbackForm(data.requestId));
        } else if (event === 'error') {
          throw new Error(data.error?.message ?? data.message ?? 'the answer failed');
        }
      }
    } catch (err) {
      if (!signal.aborted) showError(status, err);
    } finally {
      answer.setAttribute('aria-busy', 'false');
    }
  }
}

/** POSTs the question and yields the server-sent events as they arrive (EventSource cannot POST). */
async function* streamAnswer(collection, question, signal) {
  const res = await fetch(`/v1/collections/${encodeURIComponent(collection)}/answer`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...auth.headers() },
    body: JSON.stringify({ question, stream: true }),
    signal,
  });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.replace(/^data: ?/, ''))
        .join('\n');
      if (data) yield { event, data: JSON.parse(data) };
      end = buffer.indexOf('\n\n');
    }
  }
}

/** Answer text with each [n] as a button that opens chunk n. */
function withMarkers(text, chunks, panel) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d{1,4})\]/g)) {
    const chunk = chunks.get(Number(match[1]));
    parts.push(text.slice(last, match.index));
    parts.push(
      chunk
        ? h('button', {
            type: 'button',
            class: 'cite',
            text: match[0],
            'aria-label': `Source ${match[1]}: ${chunk.source}${chunk.page ? `, page ${chunk.page}` : ''}`,
            dataset: { marker: match[1], chunkId: chunk.chunkId },
            onClick: () => openChunk(panel, chunk),
          })
        : match[0],
    );
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return h('p', {}, parts);
}

function openChunk(panel, chunk) {
  const where = [
    chunk.page ? `page ${fmt.pages(chunk.page, chunk.pageEnd)}` : null,
    chunk.headingPath.length ? chunk.headingPath.join(' › ') : null,
  ]
    .filter(Boolean)
    .join(' · ');
  mount(
    panel,
    h('h2', { text: `[${chunk.marker}] ${chunk.title || chunk.source}` }),
    h('p', { class: 'meta' }, `${chunk.source}${where ? ` · ${where}` : ''}`),
    h('blockquote', { class: 'chunk-text', dataset: { chunkId: chunk.chunkId }, text: chunk.text }),
    h('a', {
      href: `#/collections?doc=${encodeURIComponent(chunk.documentId)}&chunk=${encodeURIComponent(chunk.chunkId)}`,
      text: 'Open in its document',
    }),
  );
  panel.focus();
}

function answerFacts(done) {
  const state = done.fallback
    ? `fallback (${done.fallback.reason})`
    : done.kind === 'not_covered'
      ? 'not covered'
      : done.grounded
        ? 'grounded'
        : 'not grounded';
  const rows = [
    ['State', state],
    ['Model', done.model ?? '–'],
    ['Tokens', `${done.usage.promptTokens} in / ${done.usage.completionTokens} out`],
    ['Cost', fmt.usd(done.usage.costUsd)],
    ['Time', fmt.ms(done.timings.totalMs)],
    ['Cache', done.cache],
    ['Request', done.requestId],
  ];
  return rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v, dataset: { fact: k.toLowerCase() } })]);
}

function feedbackForm(requestId) {
  let rating = null;
  const status = statusLine();
  const comment = h('textarea', { name: 'comment', rows: 2, maxlength: 4000 });
  const thumb = (value, label, symbol) =>
    h('button', {
      type: 'button',
      class: 'thumb',
      'aria-pressed': 'false',
      'aria-label': label,
      text: symbol,
      dataset: { rating: value },
      onClick: (e) => {
        rating = value;
        for (const b of e.currentTarget.parentElement.querySelectorAll('.thumb'))
          b.setAttribute('aria-pressed', String(b.dataset.rating === value));
      },
    });
  return h(
    'form',
    {
      onSubmit: async (e) => {
        e.preventDefault();
        if (!rating) return showError(status, 'Pick thumbs up or down first.');
        try {
          await api('POST', '/v1/feedback', { requestId, rating, ...(comment.value.trim() ? { comment: comment.value.trim() } : {}) });
          showStatus(status, 'Thanks: feedback saved.');
        } catch (err) {
          showError(status, err);
        }
      },
    },
    h('h2', { text: 'Was this answer useful?' }),
    h(
      'div',
      { class: 'row', role: 'group', 'aria-label': 'Rating' },
      thumb('up', 'Thumbs up', '▲ Up'),
      thumb('down', 'Thumbs down', '▼ Down'),
    ),
    field('Comment (optional)', comment),
    h('button', { type: 'submit', text: 'Send feedback' }),
    status,
  );
}
