import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { createMetrics } from '../api/metrics.ts';
import type { Principal } from '../api/principal.ts';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { RequestLedger } from '../facade/ledger.ts';
import { openOperations, type Operations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import type { Trace } from '../store/ledger.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { parsePrometheus, sampleValue } from './helpers/prometheus.ts';
import { describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

const GUIDE =
  'Reciprocal rank fusion combines the dense and the BM25 rankings. Each list contributes one over k plus the rank. ' +
  'The constant k defaults to sixty and damps the weight of the top ranks.\n\n' +
  'Chunks are sized by the tokenizer of the embedding model. The hard cap is 256 tokens per chunk.';
const TIDES = 'Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.';

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** An app whose requests all come from `principal`, as the auth middleware would set it. */
function asPrincipal(app: Hono, principal: Principal): Hono {
  const outer = new Hono();
  outer.use('*', async (c, next) => {
    c.set('principal', principal);
    await next();
  });
  outer.route('/', app);
  return outer;
}

describeShared('request ledger, feedback, answer cache and metrics (PGlite + real model)', () => {
  let store: SqlStore;
  let ragline: Ragline;
  let operations: Operations;
  let app: Hono;
  let metricsText: () => Promise<string>;
  const redacted: string[] = [];

  beforeAll(async () => {
    const embedder = await testEmbedder();
    store = await openPgliteStore();
    const config = configSchema.parse({ server: { rateLimitPerMinute: 10_000 }, operations: { ledgerFlushMs: 50 } });
    ragline = await Ragline.open(config, { store, embedder });
    const answers = AnswerService.fromConfig(ragline);
    // The redaction hook the guardrails work plugs in: here, digits become '#'.
    operations = openOperations(ragline, answers, {
      redact: (text) => {
        redacted.push(text);
        return text.replace(/\d/g, '#');
      },
    });
    const queue = JobQueue.forStore(store);
    const metrics = createMetrics(queue);
    app = createApi(ragline, { queue, metrics, operations });
    metricsText = async () => (await app.request('/metrics')).text();
    await ragline.createCollection('guide');
    await ragline.ingest('guide', [{ source: 'guide.txt', bytes: new TextEncoder().encode(GUIDE), mime: 'text/plain' }]);
    // Tenant acme has a "guide" of its own: collections, like traces, are seen only inside their tenant.
    await Tenancy.for(ragline).createTenant({ keyId: 'test', tenantId: 'default', client: 'local' }, 'acme');
    const acmeGuide = await ragline.createCollection('guide', {}, 'acme');
    await ragline.ingest(acmeGuide, [{ source: 'guide.txt', bytes: new TextEncoder().encode(GUIDE), mime: 'text/plain' }]);
  });

  afterAll(async () => {
    await operations?.close();
    await store?.close();
  });

  const answer = async (question: string, extra: Json = {}, target = app) => {
    const res = await target.request('/v1/collections/guide/answer', post({ question, ...extra }));
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  const storedTrace = async (id: string) => {
    await operations.ledger.flush();
    return (await operations.ledger.store.getTrace(id))!;
  };
  const trace = async (id: string, target = app) => {
    const res = await target.request(`/v1/requests/${id}`);
    return { status: res.status, body: (await res.json()) as Json };
  };

  it('traces an answer with what the response said: chunks, ranks, tokens, cost, prompt, stages, version', async () => {
    const r = await answer('What does the constant k of reciprocal rank fusion default to?');
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.cache).toBe('miss');
    expect(r.kind).toBe('extractive');

    const { status, body: t } = await trace(r.requestId);
    expect(status).toBe(200);
    const collection = await ragline.collection('guide');
    expect(t).toMatchObject({
      id: r.requestId,
      kind: 'answer',
      tenantId: 'default',
      keyId: 'anonymous',
      collectionId: collection.id,
      collectionName: 'guide',
      collectionVersion: collection.version,
      model: 'extractive',
      promptVersion: r.promptVersion,
      tokensIn: r.usage.promptTokens,
      tokensOut: r.usage.completionTokens,
      costUsd: r.usage.costUsd,
      embedCostUsd: 0,
      outcome: 'answered',
      cacheHit: false,
      feedback: null,
    });
    expect(t.retrieved.map((c: Json) => c.chunkId)).toEqual(r.chunks.map((c: Json) => c.chunkId));
    expect(t.retrieved[0]).toEqual({
      chunkId: r.chunks[0].chunkId,
      denseRank: r.chunks[0].denseRank,
      denseScore: r.chunks[0].denseScore,
      bm25Rank: r.chunks[0].bm25Rank,
      bm25Score: r.chunks[0].bm25Score,
      fusedScore: r.chunks[0].score,
    });
    expect(t.settings).toMatchObject({ topK: 6, mode: 'hybrid' });
    for (const stage of ['embedMs', 'denseMs', 'bm25Ms', 'fuseMs', 'loadMs', 'generateMs'])
      expect(t.stages[stage]).toBeGreaterThanOrEqual(0);
    expect(t.totalMs).toBeCloseTo(r.timings.totalMs, 0);
  });

  it('the second identical answer is a cache hit, still traced; an upload to the collection makes it a miss again', async () => {
    const question = 'How large can a chunk be?';
    const first = await answer(question);
    const second = await answer(`  how large can a   chunk be?`);
    expect([first.cache, second.cache]).toEqual(['miss', 'hit']);
    expect(second.answer).toBe(first.answer);
    expect(second.requestId).not.toBe(first.requestId);
    const hit = (await trace(second.requestId)).body;
    const miss = (await trace(first.requestId)).body;
    expect(miss.cacheHit).toBe(false);
    expect(hit).toMatchObject({ cacheHit: true, outcome: miss.outcome, tokensIn: 0, costUsd: 0, stages: {} });
    expect(hit.retrieved.map((c: Json) => c.chunkId)).toEqual(first.chunks.map((c: Json) => c.chunkId));

    // Other settings are another entry.
    expect((await answer(question, { mode: 'bm25' })).cache).toBe('miss');

    const versionBefore = (await ragline.collection('guide')).version;
    await ragline.ingest('guide', [{ source: 'tides.txt', bytes: new TextEncoder().encode(TIDES), mime: 'text/plain' }]);
    expect((await ragline.collection('guide')).version).toBeGreaterThan(versionBefore);
    const third = await answer(question);
    expect(third.cache).toBe('miss');
    expect((await trace(third.requestId)).body.collectionVersion).toBe((await ragline.collection('guide')).version);
  });

  it('traces searches with the ranks and scores of every hit, and failures with error:<code>', async () => {
    const res = await app.request('/v1/collections/guide/search', post({ query: 'moon gravity tides', topK: 3 }));
    const s = (await res.json()) as Json;
    const t = (await trace(s.requestId)).body;
    expect(t).toMatchObject({ kind: 'search', outcome: 'answered', settings: s.settings, model: null });
    expect(t.retrieved).toEqual(s.hits.map((h: Json) => ({ chunkId: h.chunk.id, ...h.explanation })));

    // A search that fails inside (bad weights) is traced with its error code.
    const bad = await app.request('/v1/collections/guide/search', post({ query: 'x', weights: { dense: 0, bm25: 0 } }));
    expect(bad.status).toBe(400);
    await operations.ledger.flush();
    const { rows } = await operations.ledger.store.query<{ outcome: string }>(
      "SELECT outcome FROM request_traces WHERE kind = 'search' ORDER BY created_at DESC LIMIT 1",
    );
    expect(rows[0]!.outcome).toBe('error:bad_request');
  });

  it('stores the question through the redaction hook', async () => {
    const r = await answer('Is the hard cap 256 tokens per chunk?');
    expect(redacted).toContain('Is the hard cap 256 tokens per chunk?');
    expect((await trace(r.requestId)).body.question).toBe('Is the hard cap ### tokens per chunk?');
  });

  it('feedback joins its trace; a second rating replaces the first; bad feedback is a 4xx', async () => {
    const r = await answer('What does the constant k damp?');
    const up = await app.request('/v1/feedback', post({ requestId: r.requestId, rating: 'up', comment: 'clear' }));
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ requestId: r.requestId, rating: 5, comment: 'clear', expected: null });
    const again = await app.request('/v1/feedback', post({ requestId: r.requestId, rating: 2, expected: 'sixty' }));
    expect(again.status).toBe(200);
    expect((await trace(r.requestId)).body.feedback).toMatchObject({ rating: 2, comment: null, expected: 'sixty' });
    const { rows } = await operations.ledger.store.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM request_feedback WHERE request_id = $1',
      [r.requestId],
    );
    expect(rows[0]!.n).toBe(1);

    const unknown = await app.request('/v1/feedback', post({ requestId: 'no-such-request', rating: 'down' }));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as Json).error.code).toBe('not_found');
    for (const body of [
      { requestId: r.requestId, rating: 7 },
      { requestId: r.requestId },
      { requestId: r.requestId, rating: 'up', extra: 1 },
    ]) {
      const res = await app.request('/v1/feedback', post(body));
      expect(res.status).toBe(400);
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'bad_request', details: { issues: expect.any(Array) } });
    }
  });

  it("scopes traces to the caller's tenant: another tenant gets 404 for the trace and for feedback on it", async () => {
    const acme = asPrincipal(app, { keyId: 'key-acme', tenantId: 'acme', role: 'reader', collections: null });
    const globex = asPrincipal(app, { keyId: 'key-globex', tenantId: 'globex', role: 'admin', collections: null });
    const r = await answer('What combines the dense and BM25 rankings?', {}, acme);
    expect(r.cache).toBe('miss'); // acme's cache entries are its own, though the default tenant asked similar things
    const own = await trace(r.requestId, acme);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ tenantId: 'acme', keyId: 'key-acme' });
    expect((await trace(r.requestId, globex)).status).toBe(404);
    expect((await trace(r.requestId)).status).toBe(404);
    const res = await globex.request('/v1/feedback', post({ requestId: r.requestId, rating: 'down' }));
    expect(res.status).toBe(404);
  });

  it('/metrics counters move by what the requests did', async () => {
    const before = parsePrometheus(await metricsText());
    const question = `What is the hard cap per chunk ${Date.now()}?`;
    await answer(question);
    await answer(question);
    await app.request('/v1/collections/guide/search', post({ query: 'fusion', topK: 2 }));
    await app.request('/v1/collections/nope/answer', post({ question: 'anything?' }));
    const after = parsePrometheus(await metricsText());
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels);

    expect(delta('ragline_answer_cache_requests_total', { result: 'hit' })).toBe(1);
    expect(delta('ragline_answer_cache_requests_total', { result: 'miss' })).toBe(1);
    expect(delta('ragline_requests_by_outcome_total', { kind: 'answer', outcome: 'answered' })).toBe(2);
    expect(delta('ragline_requests_by_outcome_total', { kind: 'search', outcome: 'answered' })).toBe(1);
    expect(delta('ragline_request_errors_total', { code: 'not_found' })).toBe(1);
    // One miss ran every stage; the hit ran none.
    expect(delta('ragline_stage_duration_seconds_count', { kind: 'answer', stage: 'generate' })).toBe(1);
    expect(delta('ragline_stage_duration_seconds_count', { kind: 'search', stage: 'bm25' })).toBe(1);
    expect(sampleValue(after, 'ragline_query_embedding_cache_lookups', { result: 'miss' })).toBeGreaterThan(0);
    // The first search of each collection built its BM25 index after the metrics were registered.
    expect(sampleValue(after, 'ragline_bm25_sync_duration_seconds_count', { initial: 'true' })).toBeGreaterThan(0);
    expect(after.some((s) => s.name === 'ragline_ingest_queue_oldest_age_seconds')).toBe(true);
  });

  it('protects /metrics when API keys are configured', async () => {
    const keyed = await Ragline.open(configSchema.parse({ server: { apiKeys: ['metrics-key-123'] } }), {
      store,
      embedder: await testEmbedder(),
    });
    const other = createApi(keyed, { operations: openOperations(keyed, AnswerService.fromConfig(keyed), { cache: null }) });
    expect((await other.request('/metrics')).status).toBe(401);
    const ok = await other.request('/metrics', { headers: { authorization: 'Bearer metrics-key-123' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('ragline_answer_cache_requests_total');
  });

  it('purges traces past the retention period, with their feedback', async () => {
    const ledgerStore = operations.ledger.store;
    const old: Trace = { ...(await storedTrace((await answer('Why purge?')).requestId)), id: `old-${Date.now()}` };
    old.createdAt = new Date(Date.now() - 31 * 86_400_000).toISOString();
    await ledgerStore.insertTraces([old]);
    await ledgerStore.putFeedback({ requestId: old.id, rating: 1, comment: null, expected: null });
    const recent = await ledgerStore.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM request_traces WHERE created_at > now() - interval '1 day'",
    );
    expect(await operations.ledger.purge()).toBe(1);
    expect(await ledgerStore.getTrace(old.id)).toBeNull();
    expect(await ledgerStore.getFeedback(old.id)).toBeNull();
    const kept = await ledgerStore.query<{ n: number }>('SELECT count(*)::int AS n FROM request_traces');
    expect(kept.rows[0]!.n).toBe(recent.rows[0]!.n);
  });

  it('a failing database never fails the request path: writes are retried, and the buffer is bounded', async () => {
    // Rows the database refuses (the kind CHECK constraint): every insert of the batch fails.
    const ledger = new RequestLedger(operations.ledger.store, { flushMs: 10_000, batchSize: 1_000, maxBuffered: 3, retentionDays: 30 });
    const base = await storedTrace((await answer('Is this buffered?')).requestId);
    for (let i = 0; i < 5; i++) ledger.record({ ...base, id: `refused-${i}`, kind: 'bogus' as Trace['kind'] });
    expect(ledger.stats).toMatchObject({ recorded: 5, dropped: 2 });
    await ledger.flush(); // resolves although the insert failed
    expect(ledger.stats).toMatchObject({ written: 0, failedFlushes: 1 });
    expect(await operations.ledger.store.getTrace('refused-4')).toBeNull();

    // The same buffered traces reach a working database on the next flush.
    const healthy = new RequestLedger(operations.ledger.store, { flushMs: 10_000, batchSize: 1_000, maxBuffered: 3, retentionDays: 30 });
    for (let i = 2; i < 5; i++) healthy.record({ ...base, id: `buffered-${i}-${Date.now()}` });
    await healthy.close();
    expect(healthy.stats).toMatchObject({ written: 3, dropped: 0 });
  });
});
