import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSparse } from '../../facade/sparse-reconcile.ts';
import { CorpusFrequencies, analyzeChunk } from '../../retrieval/sparse-bm25.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { PineconeSparseIndex } from '../../store/pinecone-sparse.ts';
import type { SqlStore } from '../../store/sql-store.ts';
import { chunkInput, sciFactPassages } from '../../testkit/scifact-fixture.ts';
import { FakePinecone } from './fake-pinecone.ts';

/**
 * reconcile rebuilds and repairs a collection's sparse namespace from SQL, through the real SDK
 * against the local fake: missing, orphaned and stale vectors are counted and fixed; 429s retried.
 */

describe('ragline reconcile: the Pinecone sparse namespace repaired from SQL (PGlite, real SDK, local fake)', () => {
  const fake = new FakePinecone({ dimension: 0, vectorType: 'sparse' });
  let store: SqlStore;
  let sparse: PineconeSparseIndex;
  let collectionId: string;
  const documentIds: string[] = [];

  beforeAll(async () => {
    await fake.start();
    store = await openPgliteStore();
    sparse = new PineconeSparseIndex({ apiKey: fake.apiKey, host: fake.url, index: fake.indexName, retryDelayMs: 10, maxRetries: 0 });
    collectionId = (await store.createCollection({ name: 'papers', embeddingModel: 'test', dimensions: 4 })).id;
    for (const passage of sciFactPassages(40)) {
      const document = await store.replaceDocument({
        collectionId,
        source: `${passage.id}.txt`,
        title: `paper ${passage.id}`,
        mime: 'text/plain',
        contentHash: passage.id,
        metadata: {},
        pageCount: null,
        chunks: [chunkInput(0, passage.text, [1, 0, 0, 0])],
      });
      documentIds.push(document.id);
    }
  });

  afterAll(async () => {
    await store?.close();
    await fake.stop();
  });

  const namespace = () => fake.namespaces.get(collectionId)!;

  it('fills an empty namespace, then finds nothing to do', async () => {
    // Written before the sparse backend was on: SQL has no document frequencies for them yet.
    expect((await store.keywordFrequencyTotals(collectionId)).chunks).toBe(0);
    const first = await reconcileSparse(store, sparse, collectionId);
    expect(first).toMatchObject({ chunks: 40, vectors: 0, missing: 40, orphaned: 0, stale: 0, upserted: 40, deleted: 0 });
    expect(first.frequenciesRebuilt).toBe(true);
    expect(fake.vectors(collectionId)).toHaveLength(40);
    // Recounted from the chunk rows: what the query side reads now counts every chunk.
    const local = new CorpusFrequencies();
    for (const c of await store.chunksOfDocuments(collectionId, documentIds)) local.add(analyzeChunk(c));
    expect(await store.keywordFrequencyTotals(collectionId)).toEqual(local.totals());
    const again = await reconcileSparse(store, sparse, collectionId);
    expect(again).toMatchObject({ chunks: 40, vectors: 40, missing: 0, orphaned: 0, stale: 0, upserted: 0, deleted: 0 });
    expect(again.frequenciesRebuilt).toBe(false);
  });

  it('repairs 3 missing, 2 orphaned and 2 stale vectors with exact counts, retrying two 429s', async () => {
    const ids = [...namespace().keys()].sort();
    for (const id of ids.slice(0, 3)) namespace().delete(id);
    for (const id of ids.slice(3, 5)) namespace().get(id)!.sparseValues!.values[0]! *= 2;
    await sparse.upsert(collectionId, [
      { id: 'ghost-1', sparseValues: { indices: [1], values: [1] } },
      { id: 'ghost-2', sparseValues: { indices: [2], values: [1] } },
    ]);
    fake.failNext('/vectors/list', 429, 429);

    const report = await reconcileSparse(store, sparse, collectionId);
    expect(report).toMatchObject({
      chunks: 40,
      vectors: 39,
      missing: 3,
      orphaned: 2,
      stale: 2,
      upserted: 5,
      deleted: 2,
      rateLimitedRetries: 2,
    });
    expect(
      fake
        .vectors(collectionId)
        .map((v) => v.id)
        .sort(),
    ).toEqual(ids);
    expect(await reconcileSparse(store, sparse, collectionId)).toMatchObject({ missing: 0, orphaned: 0, stale: 0 });
  });

  it("a document deleted in SQL leaves an orphan; the others' weights move with the average length and are re-encoded", async () => {
    await store.deleteDocument(collectionId, documentIds[0]!);
    const report = await reconcileSparse(store, sparse, collectionId);
    expect(report).toMatchObject({ chunks: 39, vectors: 40, missing: 0, orphaned: 1, deleted: 1 });
    expect(report.stale).toBeGreaterThan(0);
    expect(fake.vectors(collectionId)).toHaveLength(39);
    expect(await reconcileSparse(store, sparse, collectionId)).toMatchObject({ missing: 0, orphaned: 0, stale: 0 });
  });

  it('gives up with a clear error after the 429 retries are spent', async () => {
    const impatient = new PineconeSparseIndex({
      apiKey: fake.apiKey,
      host: fake.url,
      index: fake.indexName,
      retryDelayMs: 5,
      rateLimitRetries: 2,
      maxRetries: 0,
    });
    fake.failNext('/vectors/list', 429, 429, 429);
    await expect(reconcileSparse(store, impatient, collectionId)).rejects.toMatchObject({
      code: 'upstream_unavailable',
      message: expect.stringMatching(/rate limited \(429\) 3 times/),
    });
  });
});
