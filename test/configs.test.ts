import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, OPERATOR, type TenancyFixture, jsonRequest, tenancyFixture } from './helpers/tenants.ts';
import { describeShared } from './helpers/shared.ts';
import { assignVariant } from '../facade/configs.ts';

/** Named, versioned collection configs through the HTTP API, over PGlite and the real model. */

const TEXTS = [
  'Reciprocal rank fusion combines the dense and the keyword rankings by summing reciprocal ranks.',
  'The convex fusion normalises both score lists and mixes them with weights chosen per query.',
  'Chunks are cut at semantic boundaries under a hard cap of tokens counted by the model tokenizer.',
  'The answer endpoint cites its sources with numbered markers that are verified against the context.',
  'Uploads are stored before processing and durable jobs are claimed with skip locked by workers.',
  'The BM25 index is rebuilt from a snapshot stored in SQL when a replica starts.',
  'Rate limits count requests per key, per tenant and for the whole server in Redis.',
  'Prompt injection screening fences suspicious chunks as untrusted data in the prompt.',
];

// Words from every text, so BM25 alone finds more hits than any topK below.
const BROAD = 'fusion rankings chunks answer uploads index rate limits prompt';

describeShared('collection configs (PGlite + real model)', () => {
  let f: TenancyFixture;
  let admin: string;
  let reader: string;
  const base = '/v1/collections/guide';

  const call = async (method: string, path: string, body: unknown, key = admin) => {
    const res = await f.app.request(path, jsonRequest(method, body, key));
    return { status: res.status, body: (await res.json()) as Json };
  };
  const trace = async (requestId: string) => (await call('GET', `/v1/requests/${requestId}`, undefined)).body;

  beforeAll(async () => {
    f = await tenancyFixture();
    await f.tenancy.createTenant(OPERATOR, 'team-c');
    const collection = await f.ragline.createCollection('guide', {}, 'team-c');
    const encoder = new TextEncoder();
    await f.ragline.ingest(
      collection,
      TEXTS.map((text, i) => ({ source: `doc-${i}.txt`, bytes: encoder.encode(text), mime: 'text/plain' })),
    );
    admin = await f.key('team-c', 'admin');
    reader = await f.key('team-c', 'reader');
  });

  afterAll(async () => {
    await f?.close();
  });

  it('applies the active config to requests, lets explicit fields win, and records the version in the trace', async () => {
    const none = await call('POST', `${base}/search`, { query: 'how does fusion combine rankings' });
    expect(none.body.hits).toHaveLength(8); // the schema's default topK
    expect((await trace(none.body.requestId)).configName).toBeNull();

    const v1 = await call('POST', `${base}/configs`, { name: 'main', settings: { retrieval: { topK: 2, mode: 'bm25' } } });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ config: { name: 'main', version: 1 }, active: true });

    const first = await call('POST', `${base}/search`, { query: BROAD });
    expect(first.body.hits).toHaveLength(2);
    expect(first.body.settings.mode).toBe('bm25');
    expect(await trace(first.body.requestId)).toMatchObject({ configName: 'main', configVersion: 1, experiment: null });

    const explicit = await call('POST', `${base}/search`, { query: BROAD, topK: 3 });
    expect(explicit.body.hits).toHaveLength(3);
    expect(explicit.body.settings.mode).toBe('bm25'); // unset field: still the config's
  });

  it('rolls back: set v1, set v2, rollback, and the next answer behaves like v1 again (audited)', async () => {
    await call('POST', `${base}/configs`, { name: 'main', settings: { retrieval: { topK: 2, mode: 'bm25' } } });
    const v2 = await call('POST', `${base}/configs`, {
      name: 'main',
      settings: { retrieval: { topK: 7, mode: 'dense' } },
      note: 'wider',
    });
    const version2 = v2.body.config.version as number;
    const withV2 = await call('POST', `${base}/answer`, { question: 'How are the rankings fused?' });
    expect(withV2.status).toBe(200);
    expect(withV2.body.chunks).toHaveLength(7);
    expect(await trace(withV2.body.requestId)).toMatchObject({ configVersion: version2, settings: { mode: 'dense', topK: 7 } });

    const rolled = await call('POST', `${base}/configs/main/rollback`, {});
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ version: version2 + 1, settings: { retrieval: { topK: 2, mode: 'bm25' } } });

    const afterRollback = await call('POST', `${base}/answer`, { question: `How do ${BROAD} work?` });
    // topK 2 is outside the answer's 5–10 guard: a config's topK is taken as a deliberate choice.
    expect(afterRollback.body.chunks).toHaveLength(2);
    expect(afterRollback.body.chunks.every((c: Json) => c.denseScore === null)).toBe(true); // BM25 only, as in v1
    expect(await trace(afterRollback.body.requestId)).toMatchObject({ configVersion: version2 + 1, settings: { mode: 'bm25' } });

    const history = await call('GET', `${base}/configs/main/history`, undefined, reader);
    expect(history.body.versions.map((v: Json) => v.version).slice(0, 3)).toEqual([version2 + 1, version2, version2 - 1]);
    const audit = await call('GET', '/v1/audit?action=config.rollback', undefined);
    expect(audit.body.entries[0]).toMatchObject({ action: 'config.rollback', details: { name: 'main', from: version2, to: version2 - 1 } });
  });

  it('moves the collection version on every config change, so caches keyed by the version never serve the old behaviour', async () => {
    const version = async () => (await f.ragline.collection('guide', 'team-c')).version;
    const before = await version();
    await call('POST', `${base}/configs`, { name: 'wide', settings: { retrieval: { topK: 3 } } });
    expect(await version()).toBe(before + 1);
    await call('POST', `${base}/configs/wide/activate`, undefined);
    expect(await version()).toBe(before + 2);
    const searched = await call('POST', `${base}/search`, { query: BROAD });
    expect(searched.body.hits).toHaveLength(3);
    await call('POST', `${base}/configs/main/activate`, undefined);
    expect((await call('POST', `${base}/search`, { query: BROAD })).body.hits).toHaveLength(2);
  });

  it('applies the answer policy: a config demanding a near-perfect match answers "not covered"', async () => {
    await call('POST', `${base}/configs`, { name: 'strict', settings: { policy: { minDenseSimilarity: 0.99 } } });
    const strict = await call('POST', `${base}/answer`, { question: 'How are the rankings fused?', config: 'strict' });
    expect(strict.body.kind).toBe('not_covered');
    expect(strict.body.confidence.minDenseSimilarity).toBe(0.99);
    expect(await trace(strict.body.requestId)).toMatchObject({ configName: 'strict', outcome: 'not_covered' });
    const named = await call('POST', `${base}/answer`, { question: 'How are the rankings fused?', config: 'main' });
    expect(named.body.kind).toBe('extractive');
  });

  it('lets readers read and only admins change; bad input is a 4xx naming the problem', async () => {
    expect((await call('GET', `${base}/configs`, undefined, reader)).body).toMatchObject({ active: 'main' });
    expect((await call('GET', `${base}/configs/main`, undefined, reader)).status).toBe(200);
    const denied = await call('POST', `${base}/configs`, { name: 'x', settings: {} }, reader);
    expect(denied.status).toBe(403);
    expect((await call('POST', `${base}/configs/main/rollback`, {}, reader)).status).toBe(403);

    const bad = await call('POST', `${base}/configs`, { name: 'x', settings: { retrieval: { topK: 0 } } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('topK');
    const unknownField = await call('POST', `${base}/configs`, { name: 'x', settings: { retrieval: { speed: 'max' } } });
    expect(unknownField.status).toBe(400);
    const badName = await call('POST', `${base}/configs`, { name: '../etc', settings: {} });
    expect(badName.status).toBe(400);

    const unknownConfig = await call('POST', `${base}/search`, { query: 'fusion', config: 'nope' });
    expect(unknownConfig.status).toBe(400);
    expect(unknownConfig.body.error.message).toContain('"nope"');

    await call('POST', `${base}/configs`, { name: 'single', settings: {} });
    const nothingBefore = await call('POST', `${base}/configs/single/rollback`, {});
    expect(nothingBefore.status).toBe(409);
    expect((await call('GET', `${base}/configs/missing`, undefined)).status).toBe(404);
    expect((await call('GET', `${base}/configs/main?version=999`, undefined)).status).toBe(404);
  });

  it('keeps each API key in one variant when requests name no user', async () => {
    await call('POST', `${base}/configs`, { name: 'narrow', settings: { retrieval: { topK: 1, mode: 'bm25' } } });
    const started = await call('POST', `${base}/experiments`, {
      name: 'by-key',
      variants: [
        { config: 'main', percent: 50 },
        { config: 'narrow', percent: 50 },
      ],
    });
    expect(started.status).toBe(201);
    const collection = (await f.store.getCollection('guide', 'team-c'))!;
    for (let k = 0; k < 6; k++) {
      const key = await f.key('team-c', 'reader');
      const variants = new Set<string>();
      for (let r = 0; r < 3; r++) {
        const res = await call('POST', `${base}/search`, { query: BROAD }, key);
        const t = await trace(res.body.requestId);
        expect(t.experiment).toBe('by-key');
        expect(t.variant).toBe(assignVariant(collection.id, 'by-key', `key:${t.keyId}`, started.body.variants));
        expect(res.body.hits).toHaveLength(t.variant === 'narrow' ? 1 : 2);
        variants.add(t.variant);
      }
      expect(variants.size).toBe(1);
    }
    await call('POST', `${base}/experiments/by-key/stop`, { winner: 'main' });
  });
});

describe('variant assignment', () => {
  const variants = [
    { config: 'a', percent: 70 },
    { config: 'b', percent: 30 },
  ];

  it('is a pure function of collection, experiment and subject, and follows the percentages', () => {
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) {
      const subject = `user:${i}`;
      const v = assignVariant('c1', 'exp', subject, variants);
      expect(assignVariant('c1', 'exp', subject, variants)).toBe(v);
      counts[v]!++;
    }
    expect(counts.a! / 4000).toBeGreaterThan(0.66);
    expect(counts.a! / 4000).toBeLessThan(0.74);
    // Another experiment reshuffles: many subjects land elsewhere.
    let moved = 0;
    for (let i = 0; i < 1000; i++) {
      if (assignVariant('c1', 'exp', `user:${i}`, variants) !== assignVariant('c1', 'exp2', `user:${i}`, variants)) moved++;
    }
    expect(moved).toBeGreaterThan(200);
  });
});
