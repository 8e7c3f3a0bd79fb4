import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pinecone } from '@pinecone-database/pinecone';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { RaglineError } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import { matchesFilter, parseFilter, type FilterInput } from '../../store/filters.ts';
import { openStore } from '../../store/index.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { PineconeDenseIndex, type PineconeDenseIndexOptions } from '../../store/pinecone.ts';
import { SqlStore } from '../../store/sql-store.ts';
import type { ChunkInput, DocumentReplacement } from '../../store/types.ts';
import { chunkInput } from '../../testkit/scifact-fixture.ts';
import { CONNECTION_RESET, FakePinecone } from './fake-pinecone.ts';
import { seededUnitVector } from '../../testkit/unit-vectors.ts';

/**
 * Contract tests for the Pinecone dense index: the real SDK against a local fake of Pinecone's
 * REST API, behind a PGlite store (the source of truth for everything but the dense search).
 */

const DIM = 16;
const fake = new FakePinecone({ dimension: DIM });

function denseIndex(overrides: Partial<PineconeDenseIndexOptions> = {}) {
  return new PineconeDenseIndex({ apiKey: fake.apiKey, index: fake.indexName, controllerHost: fake.url, maxRetries: 1, ...overrides });
}

const unitVector = (seed: number) => seededUnitVector(seed, DIM);

const chunk = (ordinal: number, text: string, embedding: number[], page: number | null = null) =>
  chunkInput(ordinal, text, embedding, { pageStart: page, pageEnd: page });

function doc(collectionId: string, source: string, chunks: ChunkInput[], metadata: Record<string, unknown> = {}): DocumentReplacement {
  return {
    collectionId,
    source,
    title: `Title of ${source}`,
    mime: 'text/plain',
    contentHash: chunks.map((c) => c.text).join('|'),
    metadata,
    pageCount: null,
    chunks,
  };
}

async function rejection(promise: Promise<unknown>): Promise<RaglineError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a RaglineError').toBeInstanceOf(RaglineError);
  return err as RaglineError;
}

const ids = (hits: { chunk: { id: string } }[]) => hits.map((h) => h.chunk.id);
const lastQuery = () => fake.to('/query').at(-1)!.body;

let store: SqlStore;

beforeAll(async () => {
  await fake.start();
  store = await openPgliteStore(undefined, { denseIndex: denseIndex() });
});
afterAll(async () => {
  await store?.close();
  await fake.stop();
});
beforeEach(() => fake.reset());
afterEach(() => vi.restoreAllMocks());

describe('Pinecone dense index contract (real SDK, fake server)', () => {
  it('round trip: vectors keyed by chunk id in the collection namespace, with filterable metadata; search, replace, delete', async () => {
    expect(store.denseBackend).toBe('pinecone');
    expect(store.kind).toBe('pglite');
    const c = await store.createCollection({ name: 'round-trip', embeddingModel: 'test', dimensions: DIM });

    // The control-plane call checked the dimension, with the SDK's headers.
    const [describe] = fake.to('/indexes');
    expect(describe).toMatchObject({ method: 'GET', path: `/indexes/${fake.indexName}` });
    expect(describe!.headers['api-key']).toBe(fake.apiKey);
    expect(describe!.headers['x-pinecone-api-version']).toMatch(/^\d{4}-\d{2}$/);
    // No pgvector index is built for a Pinecone-backed collection.
    const { rows } = await store.db.query('SELECT indexname FROM pg_indexes WHERE indexname = $1', [
      `chunks_hnsw_${c.id.replace(/-/g, '')}`,
    ]);
    expect(rows).toEqual([]);

    const metadata = { lang: 'en', year: 2020, draft: false, tags: ['a', 'b'], nested: { x: 1 }, missing: null, mixed: ['a', 1] };
    const v1 = await store.replaceDocument(
      doc(
        c.id,
        'paper.pdf',
        [chunk(0, 'first chunk', unitVector(1), 1), chunk(1, 'second chunk', unitVector(2), 2), chunk(2, 'third', unitVector(3))],
        metadata,
      ),
    );
    const v1Chunks = await store.chunksOfDocuments(c.id, [v1.id]);
    const stored = new Map(fake.vectors(c.id).map((v) => [v.id, v]));
    expect([...stored.keys()].sort()).toEqual(v1Chunks.map((ch) => ch.id).sort());
    const first = stored.get(v1Chunks[0]!.id)!;
    expect(first.values).toEqual(unitVector(1));
    expect(first.metadata).toEqual({
      collectionId: c.id,
      documentId: v1.id,
      source: 'paper.pdf',
      title: 'Title of paper.pdf',
      mime: 'text/plain',
      createdAt: Date.parse(v1.createdAt),
      updatedAt: Date.parse(v1.updatedAt),
      pageStart: 1,
      pageEnd: 1,
      'metadata.lang': 'en',
      'metadata.year': 2020,
      'metadata.draft': false,
      'metadata.tags': ['a', 'b'],
    });
    expect(stored.get(v1Chunks[2]!.id)!.metadata).not.toHaveProperty('pageStart');

    const hits = await store.denseSearch({ collectionId: c.id, vector: unitVector(2), limit: 2 });
    expect(hits.map((h) => h.chunk.text)).toEqual(['second chunk', expect.any(String)]);
    expect(hits[0]!.similarity).toBeCloseTo(1, 6);
    expect(hits[0]!.chunk).toEqual(v1Chunks[1]);
    expect(lastQuery()).toMatchObject({ namespace: c.id, topK: 2, includeValues: false, includeMetadata: false });
    expect(lastQuery()).not.toHaveProperty('filter');

    // The SDK's own view of the fake agrees.
    const sdk = new Pinecone({ apiKey: fake.apiKey, maxRetries: 0 }).index({ name: fake.indexName, host: fake.url });
    expect((await sdk.describeIndexStats()).namespaces?.[c.id]?.recordCount).toBe(3);

    // Replace: new ids in, the old version's ids out.
    const v2 = await store.replaceDocument(doc(c.id, 'paper.pdf', [chunk(0, 'rewritten', unitVector(4))], { lang: 'de' }));
    expect(v2).toMatchObject({ id: v1.id, version: 2 });
    const v2Chunks = await store.chunksOfDocuments(c.id, [v1.id]);
    expect(fake.vectors(c.id).map((v) => v.id)).toEqual(v2Chunks.map((ch) => ch.id));
    expect(fake.vectors(c.id)[0]!.metadata).toMatchObject({ 'metadata.lang': 'de', updatedAt: Date.parse(v2.updatedAt) });
    expect(fake.to('/vectors/delete').at(-1)!.body).toEqual({ ids: expect.arrayContaining(v1Chunks.map((ch) => ch.id)), namespace: c.id });

    expect(await store.deleteDocument(c.id, v1.id)).toBe(true);
    expect(fake.vectors(c.id)).toEqual([]);
    expect(await store.denseSearch({ collectionId: c.id, vector: unitVector(4), limit: 5 })).toEqual([]);

    expect(await store.deleteCollection(c.id)).toBe(true);
    expect(fake.to('/vectors/delete').at(-1)!.body).toEqual({ deleteAll: true, namespace: c.id });
    expect(fake.namespaces.has(c.id)).toBe(false);
  });

  describe('filters', () => {
    const DOCS = 40;
    let collectionId: string;
    const vectorOf = (d: number, j: number) => unitVector(1000 + d * 2 + j);

    beforeAll(async () => {
      collectionId = (await store.createCollection({ name: 'filters', embeddingModel: 'test', dimensions: DIM })).id;
      for (let d = 0; d < DOCS; d++) {
        const metadata: Record<string, unknown> = { n: d, group: d % 3, tags: [`t${d % 4}`], draft: d % 7 === 0 };
        if (d % 5) metadata.lang = d % 2 ? 'en' : 'de'; // every fifth document has no lang at all
        await store.replaceDocument(
          doc(
            collectionId,
            `doc-${d}`,
            [chunk(0, `doc ${d} a`, vectorOf(d, 0)), chunk(1, `doc ${d} b`, vectorOf(d, 1), (d % 10) + 1)],
            metadata,
          ),
        );
      }
    });

    /**
     * Dense search through Pinecone must equal the exact search in SQL: same chunks, same order,
     * same similarity. Returns the hits and the query requests Pinecone received for them.
     */
    async function expectExact(input: FilterInput, limit = 10, query = unitVector(7)) {
      const filter = parseFilter(input);
      const before = fake.to('/query').length;
      const hits = await store.denseSearch({ collectionId, vector: query, limit, filter });
      const queries = fake
        .to('/query')
        .slice(before)
        .map((r) => r.body);
      const exact = await store.denseSearch({ collectionId, vector: query, limit, filter, exact: true });
      expect(ids(hits)).toEqual(ids(exact));
      hits.forEach((h, i) => expect(h.similarity).toBeCloseTo(exact[i]!.similarity, 5));
      for (const h of hits) expect(matchesFilter(h.chunk, filter)).toBe(true);
      return { hits, queries };
    }

    it('pushes down what Pinecone can evaluate exactly, and asks for just `limit` results', async () => {
      const now = new Date().toISOString();
      const cases: [FilterInput, unknown][] = [
        [{ 'metadata.group': 1 }, { 'metadata.group': { $eq: 1 } }],
        [{ 'metadata.n': { gte: 10, lt: 30 } }, { $and: [{ 'metadata.n': { $gte: 10 } }, { 'metadata.n': { $lt: 30 } }] }],
        [{ 'metadata.draft': true }, { 'metadata.draft': { $eq: true } }],
        [{ 'metadata.lang': { in: ['de', 'fr'] } }, { 'metadata.lang': { $in: ['de', 'fr'] } }],
        [{ source: { in: ['doc-3', 'doc-4', 'doc-5'] } }, { source: { $in: ['doc-3', 'doc-4', 'doc-5'] } }],
        [{ source: { ne: 'doc-3' } }, { source: { $ne: 'doc-3' } }],
        [{ page: { gte: 5 } }, { pageStart: { $gte: 5 } }],
        [{ createdAt: { lte: now } }, { createdAt: { $lte: Date.parse(now) } }],
      ];
      for (const [input, pushed] of cases) {
        const { hits, queries } = await expectExact(input);
        expect(hits.length, JSON.stringify(input)).toBeGreaterThan(0);
        expect(queries, JSON.stringify(input)).toEqual([expect.objectContaining({ filter: pushed, topK: 10 })]);
      }
    });

    it('keeps in JS what it cannot push down (prefix, string ranges, ne on an optional field), over-fetching', async () => {
      // ne on metadata is not pushed: the documents without `lang` match it and must come back.
      const notEnglish = await expectExact({ 'metadata.lang': { ne: 'en' } }, 30);
      expect(notEnglish.queries[0]).not.toHaveProperty('filter');
      expect(notEnglish.queries[0]!.topK).toBe(80); // 2 × 30 + 20
      expect(notEnglish.hits.some((h) => !('lang' in h.chunk.documentMetadata))).toBe(true);

      const prefixed = await expectExact({ source: { prefix: 'doc-1' }, 'metadata.group': { in: [0, 2] } });
      expect(prefixed.queries[0]).toMatchObject({ filter: { 'metadata.group': { $in: [0, 2] } }, topK: 40 });

      const range = await expectExact({ title: { gt: 'Title of doc-3' } });
      expect(range.queries[0]).not.toHaveProperty('filter');
    });

    it('applies the exact predicate to whatever Pinecone returns: a list field matched by $eq does not leak', async () => {
      // Pinecone's $eq matches a list that contains the value; the filter's eq compares whole values.
      const { hits, queries } = await expectExact({ 'metadata.tags': 't1' });
      expect(hits).toEqual([]);
      expect(queries[0]).toMatchObject({ filter: { 'metadata.tags': { $eq: 't1' } } });
      // Pinecone did return the chunks tagged ['t1']: the predicate dropped them.
      expect(fake.vectors(collectionId).some((v) => (v.metadata['metadata.tags'] as string[]).includes('t1'))).toBe(true);
    });

    it('asks again for more when the post-filter leaves fewer than `limit`', async () => {
      // A query pointing away from the doc-3x chunks, so few of them are among the first candidates.
      const prefixed = Array.from({ length: DOCS }, (_, d) => d).filter((d) => `doc-${d}`.startsWith('doc-3'));
      const sum = new Array<number>(DIM).fill(0);
      for (const d of prefixed) for (const j of [0, 1]) vectorOf(d, j).forEach((x, i) => (sum[i]! -= x));
      const { hits, queries } = await expectExact({ source: { prefix: 'doc-3' } }, 20, sum);
      expect(hits).toHaveLength(20);
      // 2 × 20 + 20 first; then four times as many (the fake holds 80 vectors, so that is all of them).
      expect(queries.map((q) => q.topK)).toEqual([60, 240]);
    });
  });

  describe('consistency', () => {
    it('a dropped connection is sent again (upserts and queries are idempotent); a second drop too, a third fails', async () => {
      const c = await store.createCollection({ name: 'resets', embeddingModel: 'test', dimensions: DIM });
      fake.failNext('/vectors/upsert', CONNECTION_RESET);
      const stored = await store.replaceDocument(doc(c.id, 'reset.txt', [chunk(0, 'kept', unitVector(21))]));
      const [kept] = await store.chunksOfDocuments(c.id, [stored.id]);
      expect(fake.vectors(c.id).map((v) => v.id)).toEqual([kept!.id]);

      fake.failNext('/query', CONNECTION_RESET, CONNECTION_RESET);
      expect(ids(await store.denseSearch({ collectionId: c.id, vector: unitVector(21), limit: 1 }))).toEqual([kept!.id]);

      fake.failNext('/query', CONNECTION_RESET, CONNECTION_RESET, CONNECTION_RESET);
      const err = await rejection(store.denseSearch({ collectionId: c.id, vector: unitVector(21), limit: 1 }));
      expect(err.code).toBe('upstream_unavailable');
      fake.reset();
    });

    it('a Pinecone failure during replaceDocument leaves the old version intact in SQL and in dense search', async () => {
      const c = await store.createCollection({ name: 'failures', embeddingModel: 'test', dimensions: DIM });
      const v1 = await store.replaceDocument(
        doc(c.id, 'paper.txt', [chunk(0, 'old one', unitVector(11)), chunk(1, 'old two', unitVector(12))]),
      );
      const v1Chunks = await store.chunksOfDocuments(c.id, [v1.id]);
      const collectionVersion = (await store.getCollection(c.id))!.version;

      // Every attempt fails (the SDK retries once): the replacement is refused.
      fake.failNext('/vectors/upsert', 503, 503);
      const err = await rejection(store.replaceDocument(doc(c.id, 'paper.txt', [chunk(0, 'new', unitVector(13))])));
      expect(err.code).toBe('upstream_unavailable');
      expect(err.message).toMatch(/Pinecone upsert failed/);
      expect(fake.to('/vectors/upsert')).toHaveLength(3);

      expect(await store.getDocumentBySource(c.id, 'paper.txt')).toEqual(v1);
      expect(await store.chunksOfDocuments(c.id, [v1.id])).toEqual(v1Chunks);
      expect((await store.getCollection(c.id))!.version).toBe(collectionVersion);
      expect(
        fake
          .vectors(c.id)
          .map((v) => v.id)
          .sort(),
      ).toEqual(v1Chunks.map((ch) => ch.id).sort());
      const hits = await store.denseSearch({ collectionId: c.id, vector: unitVector(11), limit: 5 });
      expect(ids(hits)).toEqual([v1Chunks[0]!.id, v1Chunks[1]!.id]);
      expect(hits[0]!.similarity).toBeCloseTo(1, 6);

      // A failure part way (the second batch of 100) removes the first batch again.
      fake.failNext('/vectors/upsert', 0, 503, 503);
      const big = Array.from({ length: 150 }, (_, i) => chunk(i, `big ${i}`, unitVector(100 + i)));
      expect((await rejection(store.replaceDocument(doc(c.id, 'paper.txt', big)))).code).toBe('upstream_unavailable');
      expect(
        fake
          .to('/vectors/upsert')
          .slice(-3)
          .map((r) => (r.body.vectors as unknown[]).length),
      ).toEqual([100, 50, 50]);
      expect(
        fake
          .vectors(c.id)
          .map((v) => v.id)
          .sort(),
      ).toEqual(v1Chunks.map((ch) => ch.id).sort());
      expect(await store.chunksOfDocuments(c.id, [v1.id])).toEqual(v1Chunks);

      // One 503 is ridden out by the SDK's retry.
      fake.failNext('/vectors/upsert', 503);
      const v2 = await store.replaceDocument(doc(c.id, 'paper.txt', [chunk(0, 'new', unitVector(13))]));
      expect(v2.version).toBe(2);
      expect(ids(await store.denseSearch({ collectionId: c.id, vector: unitVector(13), limit: 5 }))).toEqual(
        (await store.chunksOfDocuments(c.id, [v1.id])).map((ch) => ch.id),
      );
    });

    it('orphan vectors left by a failed cleanup are logged and never returned', async () => {
      const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
      const c = await store.createCollection({ name: 'orphans', embeddingModel: 'test', dimensions: DIM });
      const v1 = await store.replaceDocument(
        doc(
          c.id,
          'a.txt',
          [0, 1, 2].map((i) => chunk(i, `v1 ${i}`, unitVector(200 + i))),
        ),
      );
      const v1Ids = (await store.chunksOfDocuments(c.id, [v1.id])).map((ch) => ch.id);

      fake.failNext('/vectors/delete', 503, 503);
      const v2 = await store.replaceDocument(
        doc(
          c.id,
          'a.txt',
          [0, 1, 2].map((i) => chunk(i, `v2 ${i}`, unitVector(300 + i))),
        ),
      );
      expect(v2.version).toBe(2);
      const v2Ids = (await store.chunksOfDocuments(c.id, [v1.id])).map((ch) => ch.id);
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ documentId: v1.id }), expect.stringMatching(/orphan/));
      expect(fake.vectors(c.id)).toHaveLength(6); // the three of v1 are orphans now

      // The orphans are the nearest vectors to this query, and still only v2 comes back, `limit` of it.
      const hits = await store.denseSearch({ collectionId: c.id, vector: unitVector(200), limit: 3 });
      expect(ids(hits).sort()).toEqual([...v2Ids].sort());
      expect(ids(hits).some((id) => v1Ids.includes(id))).toBe(false);
      expect(fake.to('/query').map((r) => r.body.topK)).toEqual([3, 12]);

      fake.failNext('/vectors/delete', 503, 503);
      expect(await store.deleteDocument(c.id, v1.id)).toBe(true);
      expect(warn).toHaveBeenCalledTimes(2);
      expect(await store.denseSearch({ collectionId: c.id, vector: unitVector(300), limit: 3 })).toEqual([]);

      // Deleting the collection empties its namespace, orphans included.
      expect(await store.deleteCollection(c.id)).toBe(true);
      expect(fake.namespaces.has(c.id)).toBe(false);
      expect(warn).toHaveBeenCalledTimes(2);
    });

    it('deleting a collection that never had vectors is quiet (Pinecone answers 404 for the namespace)', async () => {
      const warn = vi.spyOn(logger, 'warn');
      const c = await store.createCollection({ name: 'empty', embeddingModel: 'test', dimensions: DIM });
      expect(await store.deleteCollection(c.id)).toBe(true);
      expect(fake.to('/vectors/delete')).toHaveLength(1);
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('configuration', () => {
    it('refuses a collection whose dimension differs from the index, naming both numbers', async () => {
      const err = await rejection(store.createCollection({ name: 'eight', embeddingModel: 'test', dimensions: 8 }));
      expect(err.code).toBe('invalid_config');
      expect(err.message).toContain(`holds ${DIM}-dimensional vectors`);
      expect(err.message).toContain('have 8 dimensions');
      expect(err.details).toMatchObject({ variable: 'PINECONE_INDEX', indexDimensions: DIM, collectionDimensions: 8 });
      expect(await store.getCollection('eight')).toBeNull();
    });

    it('refuses to write to or search an existing collection when the index has another dimension', async () => {
      const c = await store.createCollection({ name: 'sixteen', embeddingModel: 'test', dimensions: DIM });
      const v1 = await store.replaceDocument(doc(c.id, 'x.txt', [chunk(0, 'x', unitVector(1))]));
      fake.dimension = 32;
      try {
        const other = new SqlStore('pglite', store.db, denseIndex());
        const write = await rejection(other.replaceDocument(doc(c.id, 'x.txt', [chunk(0, 'y', unitVector(2))])));
        expect(write.code).toBe('invalid_config');
        expect(write.message).toMatch(/holds 32-dimensional vectors.*have 16 dimensions/);
        expect((await rejection(other.denseSearch({ collectionId: c.id, vector: unitVector(1), limit: 3 }))).code).toBe('invalid_config');
        expect(await store.getDocument(c.id, v1.id)).toEqual(v1);
      } finally {
        fake.dimension = DIM;
      }
    });

    it('names the variable to fix: unknown index, rejected key, wrong metric', async () => {
      const missing = await rejection(denseIndex({ index: 'no-such-index' }).assertDimensions(DIM));
      expect(missing).toMatchObject({ code: 'invalid_config', details: { variable: 'PINECONE_INDEX' } });
      expect(missing.message).toContain('no-such-index');

      const key = await rejection(denseIndex({ apiKey: 'wrong' }).assertDimensions(DIM));
      expect(key).toMatchObject({ code: 'invalid_config', details: { variable: 'PINECONE_API_KEY' } });

      fake.metric = 'euclidean';
      try {
        const metric = await rejection(denseIndex().assertDimensions(DIM));
        expect(metric.message).toMatch(/cosine metric/);
      } finally {
        fake.metric = 'cosine';
      }
    });

    it('openStore wires Pinecone from the environment; PINECONE_HOST points the data plane at a given host', async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-pinecone-'));
      fake.reportedHost = 'http://127.0.0.1:9'; // what describe-index says: unreachable
      const config = loadConfig({
        RAGLINE_DATA_DIR: dataDir,
        PINECONE_API_KEY: fake.apiKey,
        PINECONE_INDEX: fake.indexName,
        PINECONE_CONTROLLER_HOST: fake.url,
        PINECONE_HOST: fake.url,
      });
      expect(config.pinecone).toEqual({ apiKey: fake.apiKey, index: fake.indexName, controllerHost: fake.url, host: fake.url });
      const configured = await openStore(config);
      try {
        expect(configured.denseBackend).toBe('pinecone');
        const c = await configured.createCollection({ name: 'from-env', embeddingModel: 'test', dimensions: DIM });
        await configured.replaceDocument(doc(c.id, 'e.txt', [chunk(0, 'env', unitVector(5))]));
        expect(fake.vectors(c.id)).toHaveLength(1);
        const hits = await configured.denseSearch({ collectionId: c.id, vector: unitVector(5), limit: 1 });
        expect(hits.map((h) => h.chunk.text)).toEqual(['env']);
      } finally {
        fake.reportedHost = undefined;
        await configured.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
