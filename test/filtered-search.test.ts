import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENSE_SEARCH_DEFAULTS, loadConfig } from '../core/config.ts';
import { mulberry32 } from '../core/random.ts';
import { cosine } from '../core/vectors.ts';
import { matchesFilter, parseFilter, type FilterInput } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { FilteredPlan, SqlStore } from '../store/sql-store.ts';
import { TenancyStore } from '../store/tenancy.ts';
import type { ChunkRecord, Collection } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { openScratchStore, postgresUnavailable } from './helpers/postgres.ts';
import { randomUnitVector } from '../testkit/unit-vectors.ts';

/**
 * Filtered pgvector search through both plans the SQL store can choose (store/sql-store.ts
 * FilteredPlan), on PGlite and on the Postgres server: every filter operator returns exactly the
 * rows brute force over the stored records returns, whichever plan runs. Vectors are seeded random
 * unit vectors: filtering is what is tested here; test/conformance/store.test.ts covers real
 * embeddings and recall.
 */

const DIMENSIONS = 32;
const DOCUMENTS = 120;
const PER_DOCUMENT = 5;
const K = 10;
const QUERIES = 4;
const DAY = 86_400_000;
const FIRST_DAY = Date.parse('2024-01-01T00:00:00.000Z');

const unitVector = (random: () => number) => randomUnitVector(random, DIMENSIONS);

const documentOf = (d: number) => ({
  source: `docs/${d % 3 === 0 ? 'alpha' : 'beta'}/file-${d}.txt`,
  title: `Title ${d % 7}`,
  mime: d % 2 ? 'text/plain' : 'text/markdown',
  updatedAt: new Date(FIRST_DAY + d * DAY).toISOString(),
  metadata: {
    n: d % 10,
    tag: `t${d % 4}`,
    flag: d % 5 === 0,
    year: 2000 + (d % 20),
    ...(d % 6 === 0 ? {} : { opt: d % 4 ? 'xyz' : 'abc' }),
  } as Record<string, unknown>,
});

/** Every operator on every kind of field, plus conjunctions and a filter nothing matches. */
const FILTERS: FilterInput[] = [
  { 'metadata.n': 3 },
  { 'metadata.tag': { ne: 't1' } },
  { 'metadata.tag': { in: ['t0', 't2'] } },
  { 'metadata.year': { gt: 2010 } },
  { 'metadata.year': { gte: 2015, lt: 2018 } },
  { 'metadata.year': { lte: 2003 } },
  { 'metadata.opt': { prefix: 'x' } },
  { 'metadata.opt': { ne: 'xyz' } },
  { 'metadata.flag': true },
  { source: { prefix: 'docs/alpha/' } },
  { source: { in: ['docs/beta/file-1.txt', 'docs/alpha/file-3.txt'] } },
  { title: 'Title 3' },
  { title: { gte: 'Title 5' } },
  { mime: { ne: 'text/plain' } },
  { page: { gte: 2, lte: 3 } },
  { page: 0 },
  { updatedAt: { gte: '2024-02-01T00:00:00.000Z', lt: '2024-03-01T00:00:00.000Z' } },
  { createdAt: { lte: '2999-01-01T00:00:00.000Z' } },
  { 'metadata.tag': 't2', page: { gt: 1 }, mime: 'text/markdown' },
  { 'metadata.n': 99 },
];

const pgProblem = await postgresUnavailable();
const factories = [
  {
    name: 'pglite',
    skip: null as string | null,
    open: async (prefilterMaxChunks?: number) => {
      const store = await openPgliteStore(undefined, { prefilterMaxChunks });
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'postgres server',
    skip: pgProblem && !process.env.CI ? pgProblem : null,
    open: async (prefilterMaxChunks?: number) => {
      if (pgProblem) throw new Error(pgProblem);
      const { store, close } = await openScratchStore('filtered', { prefilterMaxChunks });
      return { store, close };
    },
  },
];

/** Forcing the iterative scan also forces the index, so it is walked even where the planner would scan. */
const PLAN_TUNING: Record<Exclude<FilteredPlan, 'auto'>, { filteredPlan: FilteredPlan; forceIndex?: boolean }> = {
  'pre-filter': { filteredPlan: 'pre-filter' },
  'iterative-scan': { filteredPlan: 'iterative-scan', forceIndex: true },
};

describe.each(factories)('filtered dense search: $name', (factory) => {
  if (factory.skip) {
    it.skip(`[skipped: ${factory.skip}]`, () => {});
    return;
  }
  let store: SqlStore;
  let close: () => Promise<void>;
  let collection: Collection;
  const vectors = new Map<string, Float32Array>();
  const random = mulberry32(14);
  const queries = Array.from({ length: QUERIES }, () => unitVector(random));

  async function storedChunks(): Promise<ChunkRecord[]> {
    return store.chunksOfDocuments(collection.id, [...(await store.documentVersions(collection.id)).keys()]);
  }

  function bruteForce(chunks: ChunkRecord[], query: Float32Array, filter: ReturnType<typeof parseFilter>): string[] {
    return chunks
      .filter((c) => matchesFilter(c, filter))
      .map((c) => ({ id: c.id, s: cosine(query, vectors.get(c.id)!) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, K)
      .map((x) => x.id);
  }

  async function ingest(d: number, overrides: { metadata?: Record<string, unknown> } = {}) {
    const doc = documentOf(d);
    const chunks = Array.from({ length: PER_DOCUMENT }, (_, j) =>
      chunkInput(j, `document ${d} chunk ${j}`, unitVector(mulberry32(d * 100 + j + 1)), { pageStart: j === 4 ? null : j }),
    );
    await store.replaceDocument({
      collectionId: collection.id,
      source: doc.source,
      title: doc.title,
      mime: doc.mime,
      contentHash: `${d}-${JSON.stringify(overrides)}`,
      metadata: overrides.metadata ?? doc.metadata,
      pageCount: null,
      updatedAt: doc.updatedAt,
      chunks,
    });
    const stored = (await store.chunksOfDocuments(collection.id, [(await store.getDocumentBySource(collection.id, doc.source))!.id]))!;
    for (const c of stored) vectors.set(c.id, unitVector(mulberry32(d * 100 + c.ordinal + 1)));
  }

  beforeAll(async () => {
    ({ store, close } = await factory.open());
    collection = await store.createCollection({ name: 'filtered', embeddingModel: 'test', dimensions: DIMENSIONS });
    for (let d = 0; d < DOCUMENTS; d++) await ingest(d);
  }, 120_000);

  afterAll(() => close());

  it('pre-filtering returns exactly the brute-force top-K for every filter operator', async () => {
    const chunks = await storedChunks();
    expect(chunks).toHaveLength(DOCUMENTS * PER_DOCUMENT);
    for (const input of FILTERS) {
      const filter = parseFilter(input);
      for (const query of queries) {
        const request = { collectionId: collection.id, vector: query, limit: K, filter };
        const truth = bruteForce(chunks, query, filter);
        const hits = await store.denseSearch(request, PLAN_TUNING['pre-filter']);
        expect(
          hits.map((h) => h.chunk.id),
          JSON.stringify(input),
        ).toEqual(truth);
        expect((await store.denseSearch({ ...request, exact: true })).map((h) => h.chunk.id)).toEqual(truth);
      }
    }
  });

  it('the iterative HNSW scan returns only matching rows, as many as match up to K, and nearly the exact top-K', async () => {
    const chunks = await storedChunks();
    let found = 0;
    let expected = 0;
    for (const input of FILTERS) {
      const filter = parseFilter(input);
      for (const query of queries) {
        const request = { collectionId: collection.id, vector: query, limit: K, filter };
        const truth = bruteForce(chunks, query, filter);
        const hits = await store.denseSearch(request, PLAN_TUNING['iterative-scan']);
        expect(hits.every((h) => matchesFilter(h.chunk, filter))).toBe(true);
        expect(hits, JSON.stringify(input)).toHaveLength(truth.length);
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.similarity).toBeGreaterThanOrEqual(hits[i]!.similarity);
        found += hits.filter((h) => truth.includes(h.chunk.id)).length;
        expected += truth.length;
      }
    }
    expect(found / expected).toBeGreaterThanOrEqual(0.9);
  });

  it('each forced plan is the plan that runs, and denseCandidates ranks as denseSearch does under both', async () => {
    const filter = parseFilter({ 'metadata.tag': 't2' });
    const request = { collectionId: collection.id, vector: queries[0]!, limit: K, filter };
    expect(await store.explainDenseSearch(request, PLAN_TUNING['iterative-scan'])).toContain('chunks_hnsw_');
    expect(await store.explainDenseSearch(request, PLAN_TUNING['pre-filter'])).not.toContain('chunks_hnsw_');
    expect(await store.filteredPlanOf(request, PLAN_TUNING['pre-filter'])).toBe('pre-filter');
    expect(await store.filteredPlanOf(request, { filteredPlan: 'iterative-scan' })).toBe('iterative-scan');
    for (const tuning of Object.values(PLAN_TUNING)) {
      const hits = await store.denseSearch(request, tuning);
      const candidates = await store.denseCandidates(request, tuning);
      expect(candidates.map((c) => c.id)).toEqual(hits.map((h) => h.chunk.id));
      expect(candidates.map((c) => c.updatedAt)).toEqual(hits.map((h) => h.chunk.updatedAt));
    }
  });

  it('auto pre-filters up to prefilterMaxChunks matching chunks and walks the index above it', async () => {
    expect(loadConfig({}).denseSearch.prefilterMaxChunks).toBe(DENSE_SEARCH_DEFAULTS.prefilterMaxChunks);
    expect(loadConfig({ RAGLINE_DENSE_PREFILTER_MAX_CHUNKS: '25' }).denseSearch.prefilterMaxChunks).toBe(25);
    const selective = parseFilter({ source: 'docs/beta/file-1.txt' }); // 5 chunks
    const broad = parseFilter({ 'metadata.tag': { ne: 't1' } }); // 45 of the 60 chunks below
    const pageOnly = parseFilter({ page: 0 }); // counted as every document's chunks: an upper bound
    const plans = async (maxChunks: number) => {
      const { store: other, close: closeOther } = await factory.open(maxChunks);
      try {
        const c = await other.createCollection({ name: 'auto', embeddingModel: 'test', dimensions: DIMENSIONS });
        for (let d = 0; d < 12; d++) {
          const doc = documentOf(d);
          const chunks = Array.from({ length: PER_DOCUMENT }, (_, j) =>
            chunkInput(j, `d${d} c${j}`, unitVector(mulberry32(d * 10 + j + 7))),
          );
          await other.replaceDocument({ collectionId: c.id, ...doc, contentHash: String(d), pageCount: null, chunks });
        }
        const request = (filter: typeof selective) => ({ collectionId: c.id, vector: queries[0]!, limit: K, filter });
        const out: string[] = [];
        for (const filter of [selective, broad, pageOnly]) {
          out.push(String(await other.filteredPlanOf(request(filter))));
          // Whatever auto chooses, it returns what the forced pre-filter (exact) returns here.
          const auto = await other.denseSearch(request(filter));
          expect(auto.map((h) => h.chunk.id)).toEqual(
            (await other.denseSearch(request(filter), PLAN_TUNING['pre-filter'])).map((h) => h.chunk.id),
          );
        }
        expect(await other.filteredPlanOf({ ...request(selective), exact: true })).toBeNull();
        expect(await other.filteredPlanOf({ collectionId: c.id, vector: queries[0]!, limit: K })).toBeNull();
        return out;
      } finally {
        await closeOther();
      }
    };
    expect(await plans(25)).toEqual(['pre-filter', 'iterative-scan', 'iterative-scan']);
    expect(await plans(60)).toEqual(['pre-filter', 'pre-filter', 'pre-filter']);
    expect(await plans(0)).toEqual(['iterative-scan', 'iterative-scan', 'iterative-scan']);
  }, 120_000);

  it('re-ingesting a document with new metadata moves it between filters under both plans', async () => {
    const d = 7; // metadata.n = 7, tag t3
    const source = documentOf(d).source;
    const newFilter = parseFilter({ 'metadata.n': 42 });
    const oldFilter = parseFilter({ 'metadata.n': 7 });
    await ingest(d, { metadata: { ...documentOf(d).metadata, n: 42 } });
    const docId = (await store.getDocumentBySource(collection.id, source))!.id;
    for (const tuning of Object.values(PLAN_TUNING)) {
      const moved = await store.denseSearch({ collectionId: collection.id, vector: queries[1]!, limit: K, filter: newFilter }, tuning);
      expect(moved.map((h) => h.chunk.documentId)).toEqual(Array(PER_DOCUMENT).fill(docId));
      const left = await store.denseSearch({ collectionId: collection.id, vector: queries[1]!, limit: 100, filter: oldFilter }, tuning);
      expect(left.some((h) => h.chunk.documentId === docId)).toBe(false);
      expect(left).toHaveLength((DOCUMENTS / 10 - 1) * PER_DOCUMENT);
    }
    await ingest(d);
  });

  it('deleted documents never appear, and a soft-deleted collection cannot be searched', async () => {
    const source = documentOf(11).source;
    const docId = (await store.getDocumentBySource(collection.id, source))!.id;
    const filter = parseFilter({ source });
    expect(await store.deleteDocument(collection.id, docId)).toBe(true);
    for (const tuning of Object.values(PLAN_TUNING)) {
      expect(await store.denseSearch({ collectionId: collection.id, vector: queries[2]!, limit: K, filter }, tuning)).toEqual([]);
      const broad = await store.denseSearch(
        { collectionId: collection.id, vector: queries[2]!, limit: 100, filter: parseFilter({ 'metadata.n': 1 }) },
        tuning,
      );
      expect(broad.some((h) => h.chunk.documentId === docId)).toBe(false);
    }
    await ingest(11);

    const doomed = await store.createCollection({ name: 'doomed', embeddingModel: 'test', dimensions: DIMENSIONS });
    await store.replaceDocument({
      collectionId: doomed.id,
      source: 'gone.txt',
      title: 'gone',
      mime: 'text/plain',
      contentHash: 'gone',
      metadata: { tag: 't0' },
      pageCount: null,
      chunks: [chunkInput(0, 'gone', queries[3]!)],
    });
    await new TenancyStore(store.db).softDeleteCollection(doomed.tenantId, doomed.id);
    const filter2 = parseFilter({ 'metadata.tag': 't0' });
    for (const tuning of Object.values(PLAN_TUNING)) {
      await expect(
        store.denseSearch({ collectionId: doomed.id, vector: queries[3]!, limit: K, filter: filter2 }, tuning),
      ).rejects.toMatchObject({
        code: 'not_found',
      });
    }
  });
});
