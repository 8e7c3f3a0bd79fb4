import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaglineError } from '../../core/errors.ts';
import { cosine } from '../../core/vectors.ts';
import { matchesFilter, parseFilter, type Filter } from '../../store/filters.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { PineconeDenseIndex } from '../../store/pinecone.ts';
import type { SqlStore } from '../../store/sql-store.ts';
import type { ChunkInput, DocumentReplacement } from '../../store/types.ts';
import { FakePinecone } from '../contract/fake-pinecone.ts';
import { Bm25Index } from '../../retrieval/bm25.ts';
import { Bm25Registry } from '../../retrieval/bm25-registry.ts';
import { LocalKeywordSearcher, PineconeKeywordSearcher, type KeywordSearcher } from '../../retrieval/keyword-search.ts';
import { SparseVectorWriter } from '../../retrieval/sparse-writer.ts';
import { PineconeSparseIndex } from '../../store/pinecone-sparse.ts';
import { SqlSparseFrequencies } from '../../store/sparse-frequencies.ts';
import { testEmbedder } from '../../testkit/embedder.ts';
import { describeShared } from '../helpers/shared.ts';
import { openScratchStore, postgresUnavailable } from '../helpers/postgres.ts';
import { cachingEmbedder, chunkInput, embedAll, sciFactPassages, sciFactTestQueries, type Passage } from '../../testkit/scifact-fixture.ts';

/**
 * One behavioural suite run against every Store implementation: PGlite in memory, the Postgres
 * server (a scratch database per run), and PGlite with dense search in Pinecone (a local fake of
 * its API, see test/contract/fake-pinecone.ts), and PGlite with keyword search as BM25 sparse
 * vectors in Pinecone (RAGLINE_SPARSE=pinecone, the same fake as a sparse index). Vectors are
 * real MiniLM embeddings of SciFact abstracts, cached on disk after the first run.
 */

const PASSAGES = 2000;
const PER_DOCUMENT = 5;
const DOCUMENTS = PASSAGES / PER_DOCUMENT;
/** Documents carry metadata.shard = index % 100, so one shard value matches 1 % of the chunks. */
const SHARDS = 100;
const QUERIES = 50;
const K = 10;

interface Fixture {
  modelId: string;
  dimensions: number;
  passages: Passage[];
  passageVectors: Float32Array[];
  queries: Passage[];
  queryVectors: Float32Array[];
}

interface StoreFactory {
  name: string;
  /** Set when the case is skipped (outside CI), with the reason shown in the report. */
  skipReason: string | null;
  /** Set when dense search does not run in pgvector: why the cases about pgvector's own index are skipped. */
  notPgvector: string | null;
  open(): Promise<{ store: SqlStore; cleanup(): Promise<void>; keywords?: KeywordSearcher }>;
}

const pgProblem = await postgresUnavailable();
const factories: StoreFactory[] = [
  {
    name: 'pglite (in memory)',
    skipReason: null,
    notPgvector: null,
    async open() {
      const store = await openPgliteStore();
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'postgres server (scratch database)',
    // In CI a missing server is a failure, not a skip.
    skipReason: pgProblem && !process.env.CI ? pgProblem : null,
    notPgvector: null,
    async open() {
      if (pgProblem) throw new Error(pgProblem);
      const { store, close } = await openScratchStore('conformance');
      return { store, cleanup: close };
    },
  },
  {
    name: 'pglite + pinecone (fake Pinecone server)',
    skipReason: null,
    notPgvector: 'dense search runs in Pinecone: there is no HNSW index, plan or ef_search to check',
    async open() {
      const fake = await new FakePinecone({ dimension: 384 }).start(); // all-MiniLM-L6-v2
      const denseIndex = new PineconeDenseIndex({ apiKey: fake.apiKey, index: fake.indexName, controllerHost: fake.url });
      const store = await openPgliteStore(undefined, { denseIndex });
      expect(store.denseBackend).toBe('pinecone');
      return { store, cleanup: () => store.close().finally(() => fake.stop()) };
    },
  },
  {
    name: 'pglite + keyword search in pinecone sparse vectors (fake Pinecone server)',
    skipReason: null,
    notPgvector: null,
    async open() {
      const fake = await new FakePinecone({ dimension: 0, vectorType: 'sparse' }).start();
      const sparse = new PineconeSparseIndex({ apiKey: fake.apiKey, index: fake.indexName, host: fake.url, retryDelayMs: 5 });
      const store = await openPgliteStore();
      store.attachKeywordIndex(new SparseVectorWriter(sparse));
      const keywords = new PineconeKeywordSearcher({ store, sparse, frequencies: new SqlSparseFrequencies(store.db) });
      return { store, keywords, cleanup: () => store.close().finally(() => fake.stop()) };
    },
  },
];

function documentInput(
  collectionId: string,
  source: string,
  chunks: ChunkInput[],
  metadata: Record<string, unknown> = {},
): DocumentReplacement {
  const contentHash = createHash('sha256')
    .update(chunks.map((c) => c.text).join('\n'))
    .digest('hex');
  return { collectionId, source, title: source, mime: 'text/plain', contentHash, metadata, pageCount: null, chunks };
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a RaglineError "${code}"`).toBeInstanceOf(RaglineError);
  expect((err as RaglineError).code).toBe(code);
}

/** Brute-force top-k passage indexes by cosine similarity, over the passages `eligible` admits. */
function bruteForce(fx: Fixture, query: Float32Array, k: number, eligible: (i: number) => boolean = () => true): number[] {
  return fx.passageVectors
    .map((v, i) => ({ i, s: eligible(i) ? cosine(query, v) : -Infinity }))
    .filter((x) => x.s > -Infinity)
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((x) => x.i);
}

const shardOf = (passageIndex: number) => Math.floor(passageIndex / PER_DOCUMENT) % SHARDS;
const groupOf = (passageIndex: number) => Math.floor(passageIndex / PER_DOCUMENT) % 4;

describeShared('store conformance', () => {
  let fx: Fixture;

  beforeAll(async () => {
    const embedder = cachingEmbedder(await testEmbedder());
    const passages = sciFactPassages(PASSAGES);
    const queries = sciFactTestQueries(QUERIES);
    expect(new Set(passages.map((p) => p.text)).size).toBe(PASSAGES);
    expect(queries).toHaveLength(QUERIES);
    fx = {
      modelId: embedder.modelId,
      dimensions: embedder.dimensions,
      passages,
      passageVectors: await embedAll(
        embedder,
        passages.map((p) => p.text),
        'passage',
      ),
      queries,
      queryVectors: await embedAll(
        embedder,
        queries.map((q) => q.text),
        'query',
      ),
    };
  }, 30 * 60_000); // the first run embeds ~2,000 abstracts; later runs read the cache

  describe.each(factories)('$name', (factory) => {
    if (factory.skipReason) {
      it.skip(`[skipped: ${factory.skipReason}]`, () => {});
      return;
    }

    /** A case about pgvector's own index: skipped, with the reason, where dense search runs elsewhere. */
    const itPgvector = (name: string, fn: () => Promise<void>) =>
      factory.notPgvector ? it.skip(`${name} [skipped: ${factory.notPgvector}]`, fn) : it(name, fn);

    let store: SqlStore;
    /** The factory's BM25 candidate source; the in-process registry unless the factory keeps keywords elsewhere. */
    let keywords: KeywordSearcher;
    let cleanup: () => Promise<void> = async () => {};
    /** The shared corpus collection: DOCUMENTS documents of PER_DOCUMENT SciFact abstracts each. */
    let corpusId: string;
    const passageIndexByText = new Map<string, number>();
    const vector = (i: number) => fx.passageVectors[i]!;
    const newCollection = (name: string) => store.createCollection({ name, embeddingModel: fx.modelId, dimensions: fx.dimensions });

    beforeAll(async () => {
      const opened = await factory.open();
      ({ store, cleanup } = opened);
      keywords = opened.keywords ?? new LocalKeywordSearcher(store, new Bm25Registry(store));
      fx.passages.forEach((p, i) => passageIndexByText.set(p.text, i));
      corpusId = (await newCollection('corpus')).id;
      for (let d = 0; d < DOCUMENTS; d++) {
        const chunks = Array.from({ length: PER_DOCUMENT }, (_, j) => {
          const i = d * PER_DOCUMENT + j;
          return chunkInput(j, fx.passages[i]!.text, vector(i));
        });
        await store.replaceDocument(documentInput(corpusId, `scifact/doc-${d}`, chunks, { shard: d % SHARDS, group: d % 4 }));
      }
    }, 10 * 60_000);

    afterAll(() => cleanup());

    it('creates, gets (by id and by name), lists and deletes collections', async () => {
      const alpha = await store.createCollection({
        name: 'alpha',
        embeddingModel: fx.modelId,
        dimensions: fx.dimensions,
        metadata: { team: 'search' },
      });
      expect(alpha).toMatchObject({ name: 'alpha', embeddingModel: fx.modelId, dimensions: 384, metadata: { team: 'search' }, version: 0 });
      expect(await store.getCollection(alpha.id)).toEqual(alpha);
      expect(await store.getCollection('alpha')).toEqual(alpha);
      expect(await store.getCollection('no-such-collection')).toBeNull();
      expect((await store.listCollections()).map((c) => c.name)).toEqual(expect.arrayContaining(['alpha', 'corpus']));

      await store.replaceDocument(documentInput(alpha.id, 'a.txt', [chunkInput(0, fx.passages[0]!.text, vector(0))]));
      const chunkIds = (await store.chunksOfDocuments(alpha.id, [...(await store.documentVersions(alpha.id)).keys()])).map((c) => c.id);
      expect(chunkIds).toHaveLength(1);

      expect(await store.deleteCollection(alpha.id)).toBe(true);
      expect(await store.getCollection(alpha.id)).toBeNull();
      expect(await store.getCollection('alpha')).toBeNull();
      expect(await store.getChunks(chunkIds)).toEqual([]);
      expect(await store.deleteCollection(alpha.id)).toBe(false);
      // Its partial HNSW index went with it.
      const { rows } = await store.db.query('SELECT indexname FROM pg_indexes WHERE indexname = $1', [
        `chunks_hnsw_${alpha.id.replace(/-/g, '')}`,
      ]);
      expect(rows).toEqual([]);
    });

    it('refuses a duplicate collection name with conflict, also when two creates race', async () => {
      await newCollection('dup');
      await expectCode(newCollection('dup'), 'conflict');
      const raced = await Promise.allSettled([newCollection('race'), newCollection('race')]);
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = raced.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(RaglineError);
      expect((rejected.reason as RaglineError).code).toBe('conflict');
    });

    it('inserts, replaces (atomically) and deletes documents', async () => {
      const c = await newCollection('docs');
      const first = [0, 1, 2].map((i) => chunkInput(i, fx.passages[i]!.text, vector(i)));
      const inserted = await store.replaceDocument(documentInput(c.id, 'paper.txt', first, { year: 2020 }));
      expect(inserted).toMatchObject({ source: 'paper.txt', version: 1, chunkCount: 3, metadata: { year: 2020 } });
      expect(await store.getDocumentBySource(c.id, 'paper.txt')).toEqual(inserted);
      expect(await store.getDocument(c.id, inserted.id)).toEqual(inserted);
      const oldChunks = await store.chunksOfDocuments(c.id, [inserted.id]);
      expect(oldChunks.map((ch) => ch.text)).toEqual(first.map((ch) => ch.text));
      expect(oldChunks.map((ch) => ch.ordinal)).toEqual([0, 1, 2]);
      expect((await store.getCollection(c.id))!.version).toBe(1);

      const second = [10, 11].map((i, ordinal) => chunkInput(ordinal, fx.passages[i]!.text, vector(i)));
      const replaced = await store.replaceDocument(documentInput(c.id, 'paper.txt', second, { year: 2021 }));
      expect(replaced).toMatchObject({ id: inserted.id, version: 2, chunkCount: 2, metadata: { year: 2021 } });
      expect(await store.getChunks(oldChunks.map((ch) => ch.id))).toEqual([]);
      const newChunks = await store.chunksOfDocuments(c.id, [inserted.id]);
      expect(newChunks.map((ch) => ch.text)).toEqual(second.map((ch) => ch.text));
      expect(newChunks.every((ch) => ch.documentVersion === 2)).toBe(true);
      expect(await store.countChunks(c.id)).toBe(2);
      expect(await store.documentVersions(c.id)).toEqual(new Map([[inserted.id, 2]]));
      expect((await store.getCollection(c.id))!.version).toBe(2);

      // A replacement that fails inside the transaction (duplicate ordinal) leaves version 2 intact.
      const broken = [chunkInput(0, 'x', vector(20)), chunkInput(0, 'y', vector(21))];
      await expect(store.replaceDocument(documentInput(c.id, 'paper.txt', broken))).rejects.toThrow();
      expect(await store.getDocument(c.id, inserted.id)).toEqual(replaced);
      expect((await store.chunksOfDocuments(c.id, [inserted.id])).map((ch) => ch.id)).toEqual(newChunks.map((ch) => ch.id));

      expect(await store.deleteDocument(c.id, inserted.id)).toBe(true);
      expect(await store.getDocument(c.id, inserted.id)).toBeNull();
      expect(await store.getChunks(newChunks.map((ch) => ch.id))).toEqual([]);
      expect(await store.countChunks(c.id)).toBe(0);
      expect(await store.deleteDocument(c.id, inserted.id)).toBe(false);
      expect((await store.getCollection(c.id))!.version).toBe(3);
    });

    it('k-NN without a filter: the nearest chunks, in order, with their cosine similarity', async () => {
      expect(await store.countChunks(corpusId)).toBe(PASSAGES);
      for (let q = 0; q < 5; q++) {
        const query = fx.queryVectors[q]!;
        const hits = await store.denseSearch({ collectionId: corpusId, vector: query, limit: K });
        expect(hits).toHaveLength(K);
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.similarity).toBeGreaterThanOrEqual(hits[i]!.similarity);
        for (const hit of hits) {
          const i = passageIndexByText.get(hit.chunk.text)!;
          expect(hit.chunk.collectionId).toBe(corpusId);
          expect(hit.similarity).toBeCloseTo(cosine(query, vector(i)), 4);
        }
        // The exact path is the ground truth for the recall test: it must equal brute force.
        const exact = await store.denseSearch({ collectionId: corpusId, vector: query, limit: K, exact: true });
        expect(exact.map((h) => passageIndexByText.get(h.chunk.text))).toEqual(bruteForce(fx, query, K));
      }
    });

    it('denseCandidates ranks exactly as denseSearch does, without loading the chunks', async () => {
      const filter = parseFilter({ 'metadata.group': 2 });
      for (let q = 0; q < 3; q++) {
        for (const f of [undefined, filter]) {
          const query = { collectionId: corpusId, vector: fx.queryVectors[q]!, limit: K, filter: f };
          const [hits, candidates] = [await store.denseSearch(query), await store.denseCandidates(query)];
          expect(candidates.map((c) => c.id)).toEqual(hits.map((h) => h.chunk.id));
          candidates.forEach((c, i) => {
            expect(c.similarity).toBeCloseTo(hits[i]!.similarity, 6);
            expect(c.updatedAt).toBe(hits[i]!.chunk.updatedAt);
            expect(c.documentId).toBe(hits[i]!.chunk.documentId);
          });
        }
      }
    });

    it('k-NN with a filter returns only matching chunks, nearest first', async () => {
      const filters: [Filter, (i: number) => boolean][] = [
        [parseFilter({ 'metadata.group': 2 }), (i) => groupOf(i) === 2],
        [
          parseFilter({ 'metadata.group': { in: [0, 3] }, source: { prefix: 'scifact/doc-1' } }),
          (i) => {
            const d = Math.floor(i / PER_DOCUMENT);
            return (groupOf(i) === 0 || groupOf(i) === 3) && `scifact/doc-${d}`.startsWith('scifact/doc-1');
          },
        ],
      ];
      for (const [filter, admits] of filters) {
        for (let q = 0; q < 5; q++) {
          const query = fx.queryVectors[q]!;
          const hits = await store.denseSearch({ collectionId: corpusId, vector: query, limit: K, filter });
          expect(hits).toHaveLength(K);
          for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.similarity).toBeGreaterThanOrEqual(hits[i]!.similarity);
          for (const hit of hits) {
            expect(matchesFilter(hit.chunk, filter)).toBe(true);
            expect(admits(passageIndexByText.get(hit.chunk.text)!)).toBe(true);
          }
          const exact = await store.denseSearch({ collectionId: corpusId, vector: query, limit: K, filter, exact: true });
          expect(exact.map((h) => passageIndexByText.get(h.chunk.text))).toEqual(bruteForce(fx, query, K, admits));
        }
      }
    });

    itPgvector('HNSW recall@10 against exact search is at least 0.95 on real embeddings', async () => {
      // At 2,000 chunks the planner rightly prefers an exact scan; forceIndex measures the index itself.
      const first = { collectionId: corpusId, vector: fx.queryVectors[0]!, limit: K };
      expect(await store.explainDenseSearch(first, { forceIndex: true }), 'forceIndex must walk the HNSW index').toContain('chunks_hnsw_');
      expect(await store.explainDenseSearch({ ...first, exact: true })).not.toContain('chunks_hnsw_');

      let indexRecall = 0;
      let defaultRecall = 0;
      for (const query of fx.queryVectors) {
        const request = { collectionId: corpusId, vector: query, limit: K };
        const truth = new Set((await store.denseSearch({ ...request, exact: true })).map((h) => h.chunk.id));
        const recall = (hits: { chunk: { id: string } }[]) => hits.filter((h) => truth.has(h.chunk.id)).length / K;
        indexRecall += recall(await store.denseSearch(request, { forceIndex: true }));
        defaultRecall += recall(await store.denseSearch(request));
      }
      indexRecall /= fx.queryVectors.length;
      defaultRecall /= fx.queryVectors.length;
      console.log(
        `[${factory.name}] recall@${K}, ${fx.queryVectors.length} queries over ${PASSAGES} chunks, default ef_search: ` +
          `HNSW index ${indexRecall.toFixed(4)}, planner's choice ${defaultRecall.toFixed(4)}`,
      );
      expect(indexRecall).toBeGreaterThanOrEqual(0.95);
      expect(defaultRecall).toBeGreaterThanOrEqual(0.95);
    });

    itPgvector('a filter matching 1 % of chunks can be forced through the HNSW index', async () => {
      for (const shard of [3, 42, 77]) {
        const filter = parseFilter({ 'metadata.shard': shard });
        expect(
          await store.explainDenseSearch({ collectionId: corpusId, vector: fx.queryVectors[0]!, limit: K, filter }, { forceIndex: true }),
        ).toContain('chunks_hnsw_');
      }
    });

    it('a filter matching 1 % of chunks still returns topK results, equal to the exact filtered top-K', async () => {
      for (const shard of [3, 42, 77]) {
        const filter = parseFilter({ 'metadata.shard': shard });
        // The HNSW walk alone would find ~0.4 matches among ef_search = 40 candidates: only the
        // iterative scan makes the forced index path return K (on pgvector; tuning is ignored elsewhere).
        for (let q = 0; q < 10; q++) {
          const request = { collectionId: corpusId, vector: fx.queryVectors[q]!, limit: K, filter };
          const truth = bruteForce(fx, fx.queryVectors[q]!, K, (i) => shardOf(i) === shard);
          const exact = await store.denseSearch({ ...request, exact: true });
          expect(exact.map((h) => passageIndexByText.get(h.chunk.text))).toEqual(truth);
          for (const hits of [await store.denseSearch(request), await store.denseSearch(request, { forceIndex: true })]) {
            expect(hits).toHaveLength(K);
            expect(hits.map((h) => h.chunk.id)).toEqual(exact.map((h) => h.chunk.id));
          }
        }
      }
    });

    it('20 parallel replaceDocument calls on different documents lose and duplicate nothing', async () => {
      const c = await newCollection('concurrent');
      const round = (sizeOf: (doc: number) => number, offset: number) =>
        Promise.all(
          Array.from({ length: 20 }, (_, doc) => {
            const chunks = Array.from({ length: sizeOf(doc) }, (_, j) => {
              const i = (offset + doc * 7 + j) % PASSAGES;
              return chunkInput(j, fx.passages[i]!.text, vector(i));
            });
            return store.replaceDocument(documentInput(c.id, `doc-${doc}`, chunks, { doc }));
          }),
        );
      const check = async (sizeOf: (doc: number) => number, version: number) => {
        const versions = await store.documentVersions(c.id);
        expect(versions.size).toBe(20);
        expect([...versions.values()].every((v) => v === version)).toBe(true);
        const expected = Array.from({ length: 20 }, (_, doc) => sizeOf(doc)).reduce((a, b) => a + b, 0);
        expect(await store.countChunks(c.id)).toBe(expected);
        const chunks = await store.chunksOfDocuments(c.id, [...versions.keys()]);
        expect(chunks).toHaveLength(expected);
        expect(new Set(chunks.map((ch) => ch.id)).size).toBe(expected);
        for (const [id] of versions) {
          const own = chunks.filter((ch) => ch.documentId === id);
          const doc = Number(own[0]!.documentMetadata.doc);
          expect(own.map((ch) => ch.ordinal)).toEqual(Array.from({ length: sizeOf(doc) }, (_, j) => j));
          expect(own.every((ch) => ch.documentVersion === version)).toBe(true);
        }
        return chunks;
      };

      const firstSize = (doc: number) => 3 + (doc % 5);
      const firstDocs = await round(firstSize, 0);
      expect(firstDocs.every((d) => d.version === 1)).toBe(true);
      const before = await check(firstSize, 1);

      const secondSize = (doc: number) => 1 + ((doc * 3) % 6);
      await round(secondSize, 500);
      await check(secondSize, 2);
      expect(await store.getChunks(before.map((ch) => ch.id))).toEqual([]);
      expect((await store.getCollection(c.id))!.version).toBe(40);
    });

    /** Exact BM25 over the collection's chunks as stored now: the ground truth for the keyword candidates. */
    const exactBm25 = async (collectionId: string) => {
      const index = new Bm25Index();
      index.add(await store.chunksOfDocuments(collectionId, [...(await store.documentVersions(collectionId)).keys()]));
      return index;
    };

    it('BM25 candidates rank like exact BM25 over the stored chunks, with its scores, filtered or not', async () => {
      const corpus = (await store.getCollectionById(corpusId))!;
      const exact = await exactBm25(corpusId);
      for (const filter of [parseFilter(undefined), parseFilter({ 'metadata.group': 2 })]) {
        let recall = 0;
        for (const query of fx.queries.slice(0, 20)) {
          const truth = exact.search(query.text, { limit: K, filter });
          const got = await keywords.candidates(corpus, query.text, filter, K);
          expect(got.list.ids).toHaveLength(truth.length);
          const truthScores = new Map(truth.map((h) => [h.id, h.score]));
          recall += got.list.ids.filter((id) => truthScores.has(id)).length / Math.max(1, truth.length);
          for (let i = 1; i < got.list.scores.length; i++) expect(got.list.scores[i - 1]!).toBeGreaterThanOrEqual(got.list.scores[i]!);
          for (const chunk of await store.getChunks(got.list.ids)) {
            expect(chunk.collectionId).toBe(corpusId);
            expect(matchesFilter(chunk, filter)).toBe(true);
          }
          // The scores are BM25 scores (fusion's query-dependent weights read them), not just a similar order;
          // sparse vectors encoded while the collection grew drift by a little from the final averages.
          got.list.ids.forEach((id, i) => {
            const want = truthScores.get(id);
            if (want !== undefined) expect(Math.abs(got.list.scores[i]! - want) / want).toBeLessThan(0.05);
          });
        }
        expect(recall / 20).toBeGreaterThanOrEqual(0.95);
      }
    });

    it('BM25 candidates follow replaced and deleted documents', async () => {
      const c = await newCollection('keywords');
      const marker = (word: string, i: number) => `${word} ${fx.passages[i]!.text}`;
      const doc = await store.replaceDocument(documentInput(c.id, 'k.txt', [chunkInput(0, marker('quokka', 30), vector(30))]));
      const first = (await store.chunksOfDocuments(c.id, [doc.id])).map((ch) => ch.id);
      const current = async () => (await store.getCollectionById(c.id))!;
      expect((await keywords.candidates(await current(), 'quokka', [], K)).list.ids).toEqual(first);

      await store.replaceDocument(documentInput(c.id, 'k.txt', [chunkInput(0, marker('wombat', 31), vector(31))]));
      const second = (await store.chunksOfDocuments(c.id, [doc.id])).map((ch) => ch.id);
      expect((await keywords.candidates(await current(), 'quokka', [], K)).list.ids).toEqual([]);
      expect((await keywords.candidates(await current(), 'wombat', [], K)).list.ids).toEqual(second);

      expect(await store.deleteDocument(c.id, doc.id)).toBe(true);
      expect((await keywords.candidates(await current(), 'wombat', [], K)).list.ids).toEqual([]);
    });

    it('refuses vectors of the wrong dimension with model_mismatch, writing nothing', async () => {
      const c = await newCollection('dims');
      expect(c).toMatchObject({ embeddingModel: fx.modelId, dimensions: fx.dimensions });
      const short = Array.from(vector(0).subarray(0, fx.dimensions - 1));
      await expectCode(
        store.replaceDocument(documentInput(c.id, 'bad.txt', [chunkInput(0, 'ok', vector(0)), chunkInput(1, 'bad', short)])),
        'model_mismatch',
      );
      expect(await store.getDocumentBySource(c.id, 'bad.txt')).toBeNull();
      expect(await store.countChunks(c.id)).toBe(0);
      expect((await store.getCollection(c.id))!.version).toBe(0);
      await expectCode(store.denseSearch({ collectionId: c.id, vector: short, limit: 5 }), 'bad_request');
    });
  });
});
