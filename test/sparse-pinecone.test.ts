import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { type Config, loadConfig } from '../core/config.ts';
import { datasetPath } from '../core/shared-data.ts';
import { loadBeir } from '../eval/beir.ts';
import { evaluateRun, type Run } from '../eval/metrics.ts';
import { documentRanking } from '../eval/runner.ts';
import { Ragline } from '../facade/ragline.ts';
import { reconcileSparse } from '../facade/sparse-reconcile.ts';
import { Tenancy } from '../facade/tenancy.ts';
import type { IngestInput } from '../ingest/pipeline.ts';
import type { Embedder } from '../models/types.ts';
import type { SearchRequestInput } from '../retrieval/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { sparseIndexFromConfig } from '../store/pinecone-sparse.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { FakePinecone } from '../testkit/fake-pinecone.ts';
import { cachingEmbedder } from '../testkit/scifact-fixture.ts';
import { describeShared, TEST_MODEL_DIR } from './helpers/shared.ts';
import { OPERATOR } from './helpers/tenants.ts';

/**
 * RAGLINE_SPARSE=pinecone end to end: documents ingested through the facade (pgvector dense in
 * PGlite, BM25 sparse vectors in the Pinecone fake through the real SDK), searched through the
 * facade, against a second Ragline on the same database that uses the in-process BM25.
 */

const SLICE = 150;
const QUERIES = 60;

/** The embedder stays open for the other Ragline instances of this file (Ragline.close would dispose it). */
const keepOpen = (embedder: Embedder): Embedder => Object.assign(Object.create(embedder) as Embedder, { close: async () => {} });

function sparseConfig(fake: FakePinecone, extra: Record<string, string> = {}): Config {
  return loadConfig({
    RAG_MODEL_DIR: TEST_MODEL_DIR,
    RAGLINE_SPARSE: 'pinecone',
    PINECONE_SPARSE_INDEX: fake.indexName,
    PINECONE_SPARSE_HOST: fake.url,
    PINECONE_SPARSE_API_KEY: fake.apiKey,
    RAGLINE_SPARSE_RETRY_DELAY_MS: '5',
    RAGLINE_QUERY_EMBEDDING_CACHE_SIZE: '0',
    ...extra,
  });
}

const text = (source: string, body: string, metadata: Record<string, unknown> = {}, title?: string): IngestInput => ({
  source,
  bytes: new TextEncoder().encode(body),
  mime: 'text/plain',
  metadata,
  ...(title ? { title } : {}),
});

async function statsRow(store: SqlStore, collectionId: string): Promise<number> {
  const { rows } = await store.db.query<{ chunks: number }>('SELECT chunks FROM sparse_collection_stats WHERE collection_id = $1', [
    collectionId,
  ]);
  return Number(rows[0]?.chunks ?? 0);
}

describeShared('keyword search in Pinecone sparse vectors, through the facade (RAGLINE_SPARSE=pinecone)', () => {
  const fake = new FakePinecone({ dimension: 0, vectorType: 'sparse' });
  let embedder: Embedder;
  let store: SqlStore;
  let sparse: Ragline;
  let local: Ragline;
  let corpus: Collection;
  const dataset = loadBeir(datasetPath('scifact'), { splits: ['test'], limit: SLICE });
  const qrels = dataset.qrels.get('test')!;
  const queries = [...qrels.keys()].slice(0, QUERIES).map((id) => ({ id, text: dataset.queries.get(id)! }));
  const judged = new Map(queries.map((q) => [q.id, qrels.get(q.id)!]));

  beforeAll(async () => {
    await fake.start();
    embedder = keepOpen(cachingEmbedder(await testEmbedder()));
    store = await openPgliteStore();
    sparse = await Ragline.open(sparseConfig(fake), { store, embedder });
    local = await Ragline.open(loadConfig({ RAG_MODEL_DIR: TEST_MODEL_DIR, RAGLINE_QUERY_EMBEDDING_CACHE_SIZE: '0' }), { store, embedder });
    corpus = await sparse.createCollection('scifact');
    const outcomes = await sparse.ingest(
      corpus,
      dataset.corpus.map((d, i) => text(d.id, `${d.title}\n\n${d.text}`, { group: i % 3 }, d.title)),
    );
    expect(outcomes.filter((o) => o.status === 'failed')).toEqual([]);
  }, 20 * 60_000);

  afterAll(async () => {
    await local?.bm25.close();
    await sparse?.close();
    await fake.stop();
  });

  const run = async (ragline: Ragline, request: Omit<SearchRequestInput, 'query'>) => {
    const out: Run = new Map();
    const responses = [];
    for (const q of queries) {
      const response = await ragline.search(corpus, { query: q.text, topK: 10, ...request });
      out.set(q.id, documentRanking(response));
      responses.push(response);
    }
    return { run: out, responses };
  };

  it('every chunk has its sparse vector and SQL holds the frequencies; the replica loads no BM25 index', async () => {
    const chunks = await store.countChunks(corpus.id);
    expect(chunks).toBeGreaterThan(SLICE);
    expect(fake.vectors(corpus.id)).toHaveLength(chunks);
    expect(await statsRow(store, corpus.id)).toBe(chunks);
    await sparse.search(corpus, { query: 'vitamin D deficiency', mode: 'hybrid' });
    // The first /readyz starts the warm-up; with nothing to load it is ready as soon as it ran.
    const app = createApi(sparse);
    await app.request('/readyz');
    await sparse.warming;
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { keywordSearch: 'pinecone', bm25: { collections: [] } } });
    await sparse.warmUp();
    expect(sparse.readiness.indexesBuilt).toBe(true);
    expect(sparse.bm25.readiness().collections).toEqual([]);
    expect(sparse.bm25.readiness().changeFeed).toBe('off');
  });

  it(`BM25 through Pinecone ranks like the in-process BM25 (${QUERIES} SciFact queries), exactly so after reconcile`, async () => {
    const before = await run(sparse, { mode: 'bm25' });
    const truth = await run(local, { mode: 'bm25' });
    const ndcg = (r: Run) => evaluateRun(r, judged).mean.ndcg10;
    // Chunks were encoded against the average lengths of the collection as it grew: close, not equal.
    expect(ndcg(truth.run)).toBeGreaterThan(0.3);
    console.log(
      `[sparse e2e] ${SLICE} docs, ${QUERIES} queries: nDCG@10 in-process ${ndcg(truth.run).toFixed(4)}, Pinecone ${ndcg(before.run).toFixed(4)}`,
    );
    expect(Math.abs(ndcg(before.run) - ndcg(truth.run))).toBeLessThanOrEqual(0.005);
    const sameTop = before.responses.filter((r, i) => r.hits[0]?.chunk.id === truth.responses[i]!.hits[0]?.chunk.id).length;
    expect(sameTop).toBeGreaterThanOrEqual(QUERIES * 0.9);

    const report = await reconcileSparse(store, sparseIndexFromConfig(sparse.config), corpus.id);
    expect(report.missing + report.orphaned).toBe(0);
    // The deltas every write applied add up to a recount from the chunk rows.
    expect(report.frequenciesRebuilt).toBe(false);
    const after = await run(sparse, { mode: 'bm25' });
    after.responses.forEach((response, i) => {
      const expected = truth.responses[i]!.hits;
      expect(response.hits.map((h) => h.chunk.id)).toEqual(expected.map((h) => h.chunk.id));
      response.hits.forEach((h, j) => expect(h.explanation.bm25Score).toBeCloseTo(expected[j]!.explanation.bm25Score!, 6));
    });
  });

  it('hybrid search fuses as before: same query-dependent weights and the same top results', async () => {
    await reconcileSparse(store, sparseIndexFromConfig(sparse.config), corpus.id);
    const viaPinecone = await run(sparse, { mode: 'hybrid' });
    const inProcess = await run(local, { mode: 'hybrid' });
    viaPinecone.responses.forEach((response, i) => {
      const expected = inProcess.responses[i]!;
      expect(response.settings).toEqual(expected.settings);
      expect(response.hits.map((h) => h.chunk.id)).toEqual(expected.hits.map((h) => h.chunk.id));
    });
    // The weights really vary with the BM25 scores (not one constant pair for every query).
    expect(new Set(viaPinecone.responses.map((r) => JSON.stringify(r.settings.weights))).size).toBeGreaterThan(1);
  });

  it('a metadata filter is applied to the sparse candidates like the in-process index applies it', async () => {
    for (const q of queries.slice(0, 15)) {
      const request = { query: q.text, mode: 'bm25' as const, topK: 10, filter: { 'metadata.group': 1 } };
      const [got, want] = [await sparse.search(corpus, request), await local.search(corpus, request)];
      expect(got.hits.every((h) => h.chunk.documentMetadata.group === 1)).toBe(true);
      expect(got.hits.map((h) => h.chunk.id)).toEqual(want.hits.map((h) => h.chunk.id));
    }
  });

  it('re-ingesting a document replaces its vectors; deleting it removes them and its frequencies', async () => {
    const c = await sparse.createCollection('changes');
    const [first] = await sparse.ingest(c, [text('notes.txt', 'Zebrafish regenerate their heart muscle after injury.')]);
    expect(first!.status).toBe('ingested');
    const oldIds = fake.vectors(c.id).map((v) => v.id);
    expect(oldIds.length).toBeGreaterThan(0);
    const hit = await sparse.search(c, { query: 'zebrafish heart', mode: 'bm25' });
    expect(hit.hits.map((h) => h.chunk.id)).toEqual(oldIds);

    const [second] = await sparse.ingest(c, [text('notes.txt', 'Axolotls regrow whole limbs, bones and nerves included.')]);
    expect(second!.status).toBe('updated');
    const newIds = fake.vectors(c.id).map((v) => v.id);
    expect(newIds.some((id) => oldIds.includes(id))).toBe(false);
    expect((await sparse.search(c, { query: 'zebrafish heart', mode: 'bm25' })).hits).toEqual([]);
    expect((await sparse.search(c, { query: 'axolotl limbs', mode: 'bm25' })).hits.map((h) => h.chunk.id)).toEqual(newIds);

    const document = second!.status === 'updated' ? second!.document : undefined;
    expect(await sparse.deleteDocument(c, document!.id)).toBe(true);
    expect(fake.vectors(c.id)).toEqual([]);
    expect(await statsRow(store, c.id)).toBe(0);
    const { rows } = await store.db.query('SELECT 1 FROM sparse_term_frequencies WHERE collection_id = $1', [c.id]);
    expect(rows).toEqual([]);
    expect((await sparse.search(c, { query: 'axolotl limbs', mode: 'bm25' })).hits).toEqual([]);
  });

  it('a burst of 429s during ingest is retried; past the retries the job fails and nothing is half-written', async () => {
    const c = await sparse.createCollection('limits');
    fake.reset();
    fake.failNext('/vectors/upsert', 429, 429, 429);
    const [ok] = await sparse.ingest(c, [text('a.txt', 'Mitochondria produce most of the cell energy supply.')]);
    expect(ok!.status).toBe('ingested');
    expect(fake.to('/vectors/upsert')).toHaveLength(4);
    expect(fake.vectors(c.id).length).toBeGreaterThan(0);

    // Five retries by default: six 429s in a row exhaust them.
    fake.failNext('/vectors/upsert', 429, 429, 429, 429, 429, 429);
    const [failed] = await sparse.ingest(c, [text('b.txt', 'Ribosomes translate messenger RNA into proteins.')]);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'upstream_unavailable' } });
    expect(failed!.status === 'failed' && failed!.error.message).toMatch(/429/);
    expect(await store.getDocumentBySource(c.id, 'b.txt')).toBeNull();
    expect(await statsRow(store, c.id)).toBe(await store.countChunks(c.id));
    expect((await sparse.search(c, { query: 'ribosomes proteins', mode: 'bm25' })).hits).toEqual([]);
    // The job can be retried once Pinecone accepts writes again.
    const [retried] = await sparse.ingest(c, [text('b.txt', 'Ribosomes translate messenger RNA into proteins.')]);
    expect(retried!.status).toBe('ingested');
    expect((await sparse.search(c, { query: 'ribosomes proteins', mode: 'bm25' })).hits).toHaveLength(1);
  });

  it('soft delete keeps the vectors for a restore; the purge removes the namespace', async () => {
    const tenancy = Tenancy.for(sparse);
    const c = await sparse.createCollection('restorable');
    await sparse.ingest(c, [text('r.txt', 'Penguins huddle together to survive the antarctic winter.')]);
    const ids = fake.vectors(c.id).map((v) => v.id);
    await tenancy.deleteCollection(OPERATOR, c);
    await expect(sparse.search('restorable', { query: 'penguins', mode: 'bm25' })).rejects.toMatchObject({ code: 'not_found' });
    expect(fake.vectors(c.id).map((v) => v.id)).toEqual(ids);
    await tenancy.restoreCollection(OPERATOR, 'default', c.id);
    expect((await sparse.search('restorable', { query: 'penguins winter', mode: 'bm25' })).hits.map((h) => h.chunk.id)).toEqual(ids);

    expect(await sparse.deleteCollection(c.id)).toBe(true);
    expect(fake.namespaces.has(c.id)).toBe(false);
  });

  it("tenants are kept apart: one tenant's search never returns another's chunks of the same text", async () => {
    const tenancy = Tenancy.for(sparse);
    await tenancy.createTenant(OPERATOR, 'team-sparse');
    const mine = await sparse.createCollection('shared-name');
    const theirs = await sparse.createCollection('shared-name', {}, 'team-sparse');
    const body = 'Tardigrades survive vacuum, radiation and years without water.';
    await sparse.ingest(mine, [text('t.txt', body)]);
    await sparse.ingest(theirs, [text('t.txt', body)]);
    const found = await sparse.search(mine, { query: 'tardigrades survive', mode: 'bm25' });
    expect(found.hits).toHaveLength(1);
    expect(found.hits[0]!.chunk.collectionId).toBe(mine.id);
  });
});

describe('RAGLINE_SPARSE=pinecone configuration', () => {
  it('refuses to start without the sparse index settings, naming the variable', async () => {
    const store = await openPgliteStore();
    try {
      const config = loadConfig({ RAGLINE_SPARSE: 'pinecone', PINECONE_SPARSE_INDEX: 'kw' });
      await expect(Ragline.open(config, { store })).rejects.toThrow(/PINECONE_SPARSE_API_KEY/);
    } finally {
      await store.close();
    }
  });
});
