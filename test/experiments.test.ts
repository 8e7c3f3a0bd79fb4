import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { twoProportionTest, wilsonInterval } from '../core/statistics.ts';
import { Ragline } from '../facade/ragline.ts';
import type { Embedder } from '../models/types.ts';
import { openPostgresStore } from '../store/postgres.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { type TempDatabase, createScratchDatabase, describePostgres } from './helpers/postgres.ts';
import { SHARED_AVAILABLE } from './helpers/shared.ts';
import type { Json } from './helpers/tenants.ts';
import { EXPERIMENT_QUERY, EXPERIMENT_TEXTS } from './helpers/experiment-corpus.ts';

const describeIt = await describePostgres();

/**
 * Experiments over one Postgres database served by two independent Ragline instances (two
 * stores, two apps, as two replicas would be): a user lands in the same variant on both.
 */
(SHARED_AVAILABLE ? describeIt : describe.skip)('experiments on two Ragline instances over one Postgres', () => {
  let db: TempDatabase;
  let embedder: Embedder;
  const instances: { ragline: Ragline; app: Hono }[] = [];

  const call = async (app: Hono, method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const trace = async (app: Hono, id: string) => {
    for (let i = 0; i < 50; i++) {
      const res = await call(app, 'GET', `/v1/requests/${id}`);
      if (res.status === 200) return res.body;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`trace ${id} never stored`);
  };

  beforeAll(async () => {
    db = await createScratchDatabase('experiments');
    embedder = await testEmbedder();
    for (let i = 0; i < 2; i++) {
      const store = await openPostgresStore(db.url);
      const config = configSchema.parse({ server: { rateLimitPerMinute: 100_000 }, answer: { generator: 'extractive' } });
      const ragline = await Ragline.open(config, { store, embedder });
      instances.push({ ragline, app: createApi(ragline) });
    }
    const collection = await instances[0]!.ragline.createCollection('guide');
    const encoder = new TextEncoder();
    await instances[0]!.ragline.ingest(
      collection,
      EXPERIMENT_TEXTS.map((text, i) => ({ source: `doc-${i}.txt`, bytes: encoder.encode(text), mime: 'text/plain' })),
    );
    const [a] = instances;
    for (const [name, topK] of [
      ['control', 2],
      ['wider', 4],
    ] as const) {
      expect(
        (await call(a!.app, 'POST', '/v1/collections/guide/configs', { name, settings: { retrieval: { topK, mode: 'bm25' } } })).status,
      ).toBe(201);
    }
  });

  afterAll(async () => {
    // Not ragline.close(): the instances share the test embedder, which stays open for other suites.
    for (const i of instances) {
      await i.ragline.bm25.close();
      await i.ragline.store.close();
    }
    await db?.drop();
  });

  it('refuses experiments it could not run: bad splits, unknown configs, a second running one', async () => {
    const app = instances[0]!.app;
    const start = (body: unknown) => call(app, 'POST', '/v1/collections/guide/experiments', body);
    const uneven = await start({
      name: 'x',
      variants: [
        { config: 'control', percent: 50 },
        { config: 'wider', percent: 40 },
      ],
    });
    expect(uneven.status).toBe(400);
    expect(JSON.stringify(uneven.body)).toContain('add up to 100');
    expect((await start({ name: 'x', variants: [{ config: 'control', percent: 100 }] })).status).toBe(400);
    const unknown = await start({
      name: 'x',
      variants: [
        { config: 'control', percent: 50 },
        { config: 'ghost', percent: 50 },
      ],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('"ghost"');
  });

  it('assigns each user the same variant on both instances, and splits users between variants', async () => {
    const [a, b] = instances;
    const started = await call(a!.app, 'POST', '/v1/collections/guide/experiments', {
      name: 'topk',
      variants: [
        { config: 'control', percent: 50 },
        { config: 'wider', percent: 50 },
      ],
    });
    expect(started.status).toBe(201);
    const second = await call(b!.app, 'POST', '/v1/collections/guide/experiments', {
      name: 'other',
      variants: [
        { config: 'control', percent: 50 },
        { config: 'wider', percent: 50 },
      ],
    });
    expect(second.status).toBe(409);

    const seen = new Set<string>();
    for (let u = 0; u < 16; u++) {
      const body = { query: EXPERIMENT_QUERY, user: `user-${u}` };
      const [fromA, fromB] = [
        await call(a!.app, 'POST', '/v1/collections/guide/search', body),
        await call(b!.app, 'POST', '/v1/collections/guide/search', body),
      ];
      const [traceA, traceB] = [await trace(a!.app, fromA.body.requestId), await trace(b!.app, fromB.body.requestId)];
      expect(traceA.experiment).toBe('topk');
      expect(traceB.variant).toBe(traceA.variant);
      expect(fromA.body.hits).toHaveLength(traceA.variant === 'control' ? 2 : 4);
      expect(fromB.body.hits).toHaveLength(fromA.body.hits.length);
      seen.add(traceA.variant);
    }
    expect([...seen].sort()).toEqual(['control', 'wider']);

    // A request naming a config is outside the experiment.
    const named = await call(b!.app, 'POST', '/v1/collections/guide/search', { query: EXPERIMENT_QUERY, user: 'user-1', config: 'wider' });
    expect(await trace(b!.app, named.body.requestId)).toMatchObject({ configName: 'wider', experiment: null, variant: null });
  });

  it('reports per variant: requests, outcomes, feedback up-rate with its interval and the test against the first', async () => {
    const [a, b] = instances;
    for (let u = 0; u < 12; u++) {
      const app = u % 2 ? a!.app : b!.app;
      const answer = await call(app, 'POST', '/v1/collections/guide/answer', {
        question: `How do ${EXPERIMENT_QUERY} work?`,
        user: `rater-${u}`,
      });
      expect(answer.status).toBe(200);
      const rating = u % 3 === 0 ? 'down' : 'up';
      await trace(app, answer.body.requestId);
      expect((await call(app, 'POST', '/v1/feedback', { requestId: answer.body.requestId, rating })).status).toBe(200);
    }
    const report = await call(a!.app, 'GET', '/v1/collections/guide/experiments/topk/report');
    expect(report.status).toBe(200);
    const variants = report.body.variants as Json[];
    expect(variants.map((v) => v.config)).toEqual(['control', 'wider']);
    expect(variants.reduce((sum, v) => sum + v.searches, 0)).toBe(32);
    expect(variants.reduce((sum, v) => sum + v.answers, 0)).toBe(12);
    expect(variants.reduce((sum, v) => sum + v.feedback.rated, 0)).toBe(12);
    expect(variants.reduce((sum, v) => sum + v.feedback.up, 0)).toBe(8);
    for (const v of variants) {
      expect(v.latency.totalMs.p50).toBeGreaterThan(0);
      if (v.feedback.rated) {
        expect(v.feedback.interval95).toEqual(wilsonInterval(v.feedback.up, v.feedback.rated));
        expect(v.outcomes.answered + v.outcomes.notCovered + v.outcomes.fallback + v.outcomes.error).toBeCloseTo(1, 3);
      }
    }
    expect(variants[0]!.versusFirst).toBeNull();
  });

  it('stops with a winner, which then serves everyone as the active config (audited)', async () => {
    const [a, b] = instances;
    expect((await call(a!.app, 'POST', '/v1/collections/guide/experiments/topk/stop', { winner: 'ghost' })).status).toBe(400);
    const stopped = await call(a!.app, 'POST', '/v1/collections/guide/experiments/topk/stop', { winner: 'wider' });
    expect(stopped.body).toMatchObject({ state: 'stopped', winner: 'wider' });
    expect((await call(b!.app, 'POST', '/v1/collections/guide/experiments/topk/stop', { winner: 'wider' })).status).toBe(409);

    for (const user of ['user-0', 'user-1', 'user-2']) {
      const res = await call(b!.app, 'POST', '/v1/collections/guide/search', { query: EXPERIMENT_QUERY, user });
      expect(res.body.hits).toHaveLength(4);
      expect(await trace(b!.app, res.body.requestId)).toMatchObject({ configName: 'wider', experiment: null });
    }
    const audit = await call(a!.app, 'GET', '/v1/audit');
    const actions = (audit.body.entries as Json[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['experiment.start', 'experiment.stop', 'config.set']));
  });
});

describe('experiment statistics', () => {
  it('gives the Wilson interval of textbook examples', () => {
    expect(wilsonInterval(8, 10)).toEqual({ low: 0.4902, high: 0.9433 });
    expect(wilsonInterval(0, 10)).toEqual({ low: 0, high: 0.2775 });
    expect(wilsonInterval(0, 0)).toBeNull();
  });

  it('runs the two-proportion z-test with the pooled variance', () => {
    expect(twoProportionTest(45, 100, 60, 100)).toEqual({ difference: 0.15, z: 2.124, pValue: 0.0337 });
    expect(twoProportionTest(5, 10, 5, 10)).toEqual({ difference: 0, z: 0, pValue: 1 });
    expect(twoProportionTest(0, 10, 0, 10)).toBeNull();
    expect(twoProportionTest(1, 0, 1, 10)).toBeNull();
  });
});
