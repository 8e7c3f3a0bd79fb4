import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileDense } from '../../facade/dense-reconcile.ts';
import { parseFilter } from '../../store/filters.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { PineconeDenseIndex } from '../../store/pinecone.ts';
import type { SqlStore } from '../../store/sql-store.ts';
import { chunkInput } from '../../testkit/scifact-fixture.ts';
import { FakePinecone } from './fake-pinecone.ts';
import { seededUnitVector } from '../../testkit/unit-vectors.ts';

/**
 * reconcile rebuilds and repairs a collection's dense namespace from the embeddings in SQL,
 * through the real SDK against the local fake: missing, orphaned and stale vectors (values or
 * filter metadata) are counted and fixed, and a chunk written meanwhile is not taken for an orphan.
 */

const DIM = 8;

const unitVector = (seed: number) => seededUnitVector(seed, DIM);

describe('ragline reconcile: the Pinecone dense namespace repaired from SQL (PGlite, real SDK, local fake)', () => {
  const fake = new FakePinecone({ dimension: DIM });
  let store: SqlStore;
  let dense: PineconeDenseIndex;
  let collectionId: string;
  const chunkIds: string[] = [];

  beforeAll(async () => {
    await fake.start();
    dense = new PineconeDenseIndex({ apiKey: fake.apiKey, index: fake.indexName, controllerHost: fake.url, maxRetries: 0 });
    store = await openPgliteStore(undefined, { denseIndex: dense });
    collectionId = (await store.createCollection({ name: 'papers', embeddingModel: 'test', dimensions: DIM })).id;
    for (let d = 0; d < 12; d++) {
      const document = await store.replaceDocument({
        collectionId,
        source: `doc-${d}.txt`,
        title: `paper ${d}`,
        mime: 'text/plain',
        contentHash: `h${d}`,
        metadata: { shard: d % 3 },
        pageCount: null,
        chunks: [0, 1, 2].map((o) => chunkInput(o, `document ${d} chunk ${o}`, unitVector(d * 10 + o))),
      });
      for (const c of await store.chunksOfDocuments(collectionId, [document.id])) chunkIds.push(c.id);
    }
  });

  afterAll(async () => {
    await store?.close();
    await fake.stop();
  });

  it('finds an intact namespace intact, then rebuilds a lost one from the SQL embeddings', async () => {
    expect(await reconcileDense(store, dense, collectionId)).toEqual({
      chunks: 36,
      vectors: 36,
      missing: 0,
      orphaned: 0,
      stale: 0,
      upserted: 0,
      deleted: 0,
    });
    const before = new Map(fake.vectors(collectionId).map((v) => [v.id, v]));
    fake.namespaces.delete(collectionId);
    expect(await reconcileDense(store, dense, collectionId)).toMatchObject({ chunks: 36, vectors: 0, missing: 36, upserted: 36 });
    // The same values (as float32, which SQL and Pinecone keep) and filter metadata as ingest wrote.
    for (const v of fake.vectors(collectionId)) {
      v.values.forEach((x, i) => expect(x).toBeCloseTo(before.get(v.id)!.values[i]!, 6));
      expect(v.metadata).toEqual(before.get(v.id)!.metadata);
    }
    const [hit] = await store.denseSearch({ collectionId, vector: unitVector(51), limit: 1, filter: parseFilter({ 'metadata.shard': 2 }) });
    expect(hit!.chunk.text).toBe('document 5 chunk 1');
  });

  it('counts and fixes missing, orphaned and stale vectors; a second run finds nothing', async () => {
    const ns = fake.namespaces.get(collectionId)!;
    ns.delete(chunkIds[0]!);
    ns.delete(chunkIds[1]!);
    ns.set('00000000-0000-4000-8000-00000000beef', { id: '00000000-0000-4000-8000-00000000beef', values: unitVector(999), metadata: {} });
    const wrongValues = ns.get(chunkIds[5]!)!;
    ns.set(chunkIds[5]!, { ...wrongValues, values: unitVector(777) });
    const wrongMetadata = ns.get(chunkIds[7]!)!;
    ns.set(chunkIds[7]!, { ...wrongMetadata, metadata: { ...wrongMetadata.metadata, 'metadata.shard': 99 } });

    expect(await reconcileDense(store, dense, collectionId)).toEqual({
      chunks: 36,
      vectors: 35,
      missing: 2,
      orphaned: 1,
      stale: 2,
      upserted: 4,
      deleted: 1,
    });
    expect(ns.has('00000000-0000-4000-8000-00000000beef')).toBe(false);
    expect(ns.get(chunkIds[7]!)!.metadata['metadata.shard']).toBe(wrongMetadata.metadata['metadata.shard']);
    expect(await reconcileDense(store, dense, collectionId)).toMatchObject({ missing: 0, orphaned: 0, stale: 0, upserted: 0, deleted: 0 });
  });

  it('does not delete the vectors of chunks its SQL pages missed while documents were written or deleted', async () => {
    // Paging by offset skips a document when an earlier one is deleted between two pages; its vectors
    // then look like orphans. Simulated here by a page that leaves one document out.
    const listDocuments = store.listDocuments.bind(store);
    let skipped: string | undefined;
    store.listDocuments = async (id, options) => {
      const page = await listDocuments(id, options);
      if (options?.offset === 0 && page.length) skipped = page.splice(0, 1)[0]!.id;
      return page;
    };
    try {
      const report = await reconcileDense(store, dense, collectionId);
      expect(report.orphaned).toBe(0);
      const [first] = await store.chunksOfDocuments(collectionId, [skipped!]);
      expect(fake.namespaces.get(collectionId)!.has(first!.id)).toBe(true);
    } finally {
      store.listDocuments = listDocuments;
    }
  });
});
