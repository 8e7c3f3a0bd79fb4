import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Json } from '../helpers/tenants.ts';
import { type PgliteApi, closePgliteApi, openPgliteApi } from '../helpers/pglite-api.ts';
import { describeShared } from '../helpers/shared.ts';
import { routingReport } from '../../store/routing-report.ts';
import { ledgerReport } from '../../store/ledger-report.ts';
import { LedgerStore } from '../../store/ledger.ts';
import { FakeOpenAI, respond } from './fake-openai.ts';

/**
 * Model routing, contract-tested: the real openai SDK against two local OpenAI-compatible fakes, a
 * cheap "small" model and a dear "strong" one on different base URLs. An easy question must reach
 * only the small server, a hard one only the strong server, and the trace must say why.
 */

const CHAT = '/v1/chat/completions';
const small = new FakeOpenAI();
const strong = new FakeOpenAI();

const DOCS = [
  ['server.txt', 'The Ragline server listens on port 8787 by default.'],
  ['storage.txt', 'Embedded mode keeps every collection in a PGlite database under the data directory.'],
  ['backups.txt', 'Backups are taken nightly with pg_dump and kept for thirty days in object storage.'],
  ['fusion.txt', 'Hybrid search fuses BM25 and dense rankings with convex weights chosen per query.'],
] as const;

const EASY = 'Which port does the Ragline server listen on by default?';
const HARD =
  'Compare how embedded mode stores collections with how backups are taken and kept, and explain which of the two matters more for recovery after a disk failure?';

describeShared('model routing contract (two fake OpenAI servers, real SDK, PGlite + real model)', () => {
  let api: PgliteApi;

  const ask = async (question: string, extra: Record<string, unknown> = {}) => {
    const res = await api.app.request('/v1/collections/guide/answer', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ question, ...extra }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  const traceOf = async (requestId: string) => (await (await api.app.request(`/v1/requests/${requestId}`)).json()) as Json;

  beforeAll(async () => {
    await small.start();
    await strong.start();
    // Each fake names itself in its answer and cites the first document.
    small.setDefault(CHAT, respond.chat({ content: 'Answered by the small model [1].', model: 'small-model' }));
    strong.setDefault(CHAT, respond.chat({ content: 'Answered by the strong model [1].', model: 'strong-model' }));
    api = await openPgliteApi({
      openai: { baseUrl: strong.baseURL, apiKey: 'sk-strong', chatModel: 'strong-model', maxRetries: 0 },
      routing: {
        smallBaseUrl: small.baseURL,
        smallApiKey: 'sk-small',
        smallModel: 'small-model',
        smallInputPerMTok: 0.1,
        smallOutputPerMTok: 0.4,
        strongInputPerMTok: 5,
        strongOutputPerMTok: 15,
      },
      operations: { answerCacheSize: 0 },
    });
    const collection = await api.ragline.createCollection('guide');
    const encoder = new TextEncoder();
    await api.ragline.ingest(
      collection,
      DOCS.map(([source, text]) => ({ source, bytes: encoder.encode(text), mime: 'text/plain' })),
    );
  });

  afterAll(async () => {
    await closePgliteApi(api);
    await small.stop();
    await strong.stop();
  });

  beforeEach(() => {
    small.reset();
    strong.reset();
  });

  it('sends an easy question to the small model only, and the trace says why', async () => {
    const answer = await ask(EASY);
    expect(small.to(CHAT)).toHaveLength(1);
    expect(strong.to(CHAT)).toHaveLength(0);
    expect(small.to(CHAT)[0]!.headers.authorization).toBe('Bearer sk-small');
    expect(small.to(CHAT)[0]!.body.model).toBe('small-model');
    expect(answer.model).toBe('small-model');
    expect(answer.routing).toMatchObject({ tier: 'small', strongModel: 'strong-model' });
    // 321 prompt + 12 completion tokens (the fake's usage), priced at each model.
    expect(answer.usage.costUsd).toBeCloseTo((321 * 0.1 + 12 * 0.4) / 1e6, 10);
    expect(answer.routing.strongCostUsd).toBeCloseTo((321 * 5 + 12 * 15) / 1e6, 10);

    const trace = await traceOf(answer.requestId);
    expect(trace.model).toBe('small-model');
    expect(trace.routing.tier).toBe('small');
    expect(trace.routing.reason).toMatch(/^easy: \d+ words, 1 clause/);
    expect(trace.routing.signals.documents).toBe(1);
  });

  it('sends a long multi-clause question needing several sources to the strong model', async () => {
    const answer = await ask(HARD);
    expect(strong.to(CHAT)).toHaveLength(1);
    expect(small.to(CHAT)).toHaveLength(0);
    expect(strong.to(CHAT)[0]!.headers.authorization).toBe('Bearer sk-strong');
    expect(answer.model).toBe('strong-model');
    const trace = await traceOf(answer.requestId);
    expect(trace.routing).toMatchObject({ tier: 'strong' });
    expect(trace.routing.reason).toMatch(/words \(> 16\)/);
    expect(trace.routing.strongCostUsd).toBeCloseTo(trace.costUsd, 10);
  });

  it('streams through the routed model too', async () => {
    small.enqueue(CHAT, respond.chatStream(['Streamed ', 'by small [1].']));
    const res = await api.app.request('/v1/collections/guide/answer', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ question: EASY, stream: true }),
    });
    const text = await res.text();
    expect(small.to(CHAT)).toHaveLength(1);
    expect(strong.to(CHAT)).toHaveLength(0);
    expect(text).toContain('"tier":"small"');
  });

  it('reports the cost saved against always using the strong model, priced from the same tokens', async () => {
    await ask(EASY);
    await ask(HARD);
    const ledger = new LedgerStore(api.store.db);
    // The app's ledger writes off the hot path: wait until every routed answer is stored.
    let report = await routingReport(ledger, new Date(0));
    for (let i = 0; i < 50 && report.routed < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      report = await routingReport(ledger, new Date(0));
    }
    expect(report).toMatchObject({ routed: 5, small: 3, strong: 2 });
    // Recomputed here from each trace's own tokens: what was paid, and those tokens at the strong price.
    const { rows } = await ledger.query<{ tokens_in: number; tokens_out: number; cost_usd: number }>(
      "SELECT tokens_in, tokens_out, cost_usd FROM request_traces WHERE routing IS NOT NULL AND kind = 'answer'",
    );
    const paid = rows.reduce((sum, r) => sum + Number(r.cost_usd), 0);
    const strongOnly = rows.reduce((sum, r) => sum + (Number(r.tokens_in) * 5 + Number(r.tokens_out) * 15) / 1e6, 0);
    expect(report.costUsd).toBeCloseTo(paid, 9);
    expect(report.strongOnlyCostUsd).toBeCloseTo(strongOnly, 9);
    expect(report.savedUsd).toBeCloseTo(strongOnly - paid, 9);
    expect(report.savedUsd).toBeGreaterThan(0);
    expect((await ledgerReport(ledger, new Date(0))).routing.savedUsd).toBe(report.savedUsd);
  });

  it('honours a config that forces the strong model, and says so', async () => {
    await api.app.request('/v1/collections/guide/configs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'always-strong',
        settings: { generation: { routing: 'strong', model: 'strong-model-b', temperature: 0.7, maxTokens: 64 } },
      }),
    });
    const answer = await ask(EASY, { config: 'always-strong' });
    expect(small.to(CHAT)).toHaveLength(0);
    expect(strong.to(CHAT)[0]!.body).toMatchObject({ model: 'strong-model-b', temperature: 0.7, max_tokens: 64 });
    expect(answer.routing).toMatchObject({ tier: 'strong', reason: 'the config sets routing: strong', strongModel: 'strong-model-b' });
  });
});
