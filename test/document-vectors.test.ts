import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT_ID } from '../core/api-keys.ts';
import { cosine } from '../core/vectors.ts';
import { configSchema } from '../core/config.ts';
import { backfillDocumentVectors, ingestPooling, meanVector } from '../ingest/document-vectors.ts';
import { Ragline } from '../facade/ragline.ts';
import { parseFilter } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { TenancyStore } from '../store/tenancy.ts';
import type { ChunkInput, Collection } from '../store/types.ts';
import type { Embedder } from '../models/types.ts';
import { describePostgres, openScratchStore } from './helpers/postgres.ts';
import { IngestionPipeline, type IngestOutcome } from '../ingest/pipeline.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

/**
 * Document vectors (migration 015) live and die with their documents, on PGlite and on the
 * Postgres server: replaced with a new version, deleted with the document, invisible while the
 * collection is soft-deleted, gone when it is purged.
 */

const DIMENSIONS = 8;

/** A unit vector pointing mostly along axis `axis`, tilted by `tilt` towards the next axis. */
function unit(axis: number, tilt = 0): Float32Array {
  const v = new Float32Array(DIMENSIONS);
  v[axis % DIMENSIONS] = 1;
  v[(axis + 1) % DIMENSIONS] = tilt;
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function chunk(ordinal: number, embedding: Float32Array, page: number | null = null): ChunkInput {
  const text = `chunk ${ordinal}`;
  return {
    ordinal,
    text,
    tokenCount: 2,
    pageStart: page,
    pageEnd: page,
    headingPath: [],
    charStart: 0,
    charEnd: text.length,
    kind: 'text',
    embedding,
  };
}

async function addDocument(store: SqlStore, collection: Collection, source: string, vectors: Float32Array[], page: number | null = null) {
  return store.replaceDocument({
    collectionId: collection.id,
    source,
    title: source,
    mime: 'text/plain',
    contentHash: `${source}-${vectors.length}-${vectors[0]![0]}`,
    metadata: {},
    pageCount: null,
    chunks: vectors.map((v, i) => chunk(i, v, page)),
  });
}

async function rowsOf(store: SqlStore, collectionId: string): Promise<number> {
  const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM document_vectors WHERE collection_id = $1', [
    collectionId,
  ]);
  return Number(rows[0]!.n);
}

/** An embedder that records what it was asked and answers with a fixed vector. */
function recordingEmbedder(vector: Float32Array): Embedder & { texts: string[] } {
  const texts: string[] = [];
  return {
    modelId: 'recording',
    dimensions: DIMENSIONS,
    maxTokens: 256,
    tokenizer: { count: (t: string) => t.split(/\s+/).length, truncate: (t: string) => t } as unknown as Embedder['tokenizer'],
    texts,
    async embed(batch: string[]) {
      texts.push(...batch);
      return batch.map(() => vector);
    },
    async close() {},
  } as Embedder & { texts: string[] };
}

function suite(name: string, open: () => Promise<{ store: SqlStore; cleanup(): Promise<void> }>) {
  describe(name, () => {
    let store: SqlStore;
    let cleanup: () => Promise<void>;
    let n = 0;
    const newCollection = () => store.createCollection({ name: `docvec-${++n}`, embeddingModel: 'test', dimensions: DIMENSIONS });

    beforeAll(async () => {
      ({ store, cleanup } = await open());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it('ranks documents by their vectors and reports exact similarities', async () => {
      const collection = await newCollection();
      const docs = [];
      for (let i = 0; i < 4; i++) {
        const doc = await addDocument(store, collection, `doc-${i}`, [unit(i)]);
        expect(await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'mean', vector: unit(i) })).toBe(
          true,
        );
        docs.push(doc);
      }
      const query = unit(2, 0.3);
      const nearest = await store.nearestDocuments({ collectionId: collection.id, vector: query, limit: 2 });
      expect(nearest.map((h) => h.documentId)).toEqual([docs[2]!.id, docs[3]!.id]);
      expect(nearest[0]!.similarity).toBeCloseTo(cosine(query, unit(2)), 5);
      const similarities = await store.documentSimilarities({ collectionId: collection.id, vector: query }, [docs[0]!.id, docs[3]!.id]);
      expect(similarities.get(docs[3]!.id)).toBeCloseTo(cosine(query, unit(3)), 5);
      expect(similarities.get(docs[0]!.id)).toBeCloseTo(0, 5);
      expect(await store.countDocumentVectors(collection.id)).toEqual({ mean: 4, firstWindow: 0 });
    });

    it('a replaced document loses its old vector; a deleted one takes its vector with it', async () => {
      const collection = await newCollection();
      const doc = await addDocument(store, collection, 'a', [unit(0)]);
      await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'mean', vector: unit(0) });
      expect(await rowsOf(store, collection.id)).toBe(1);
      const replaced = await addDocument(store, collection, 'a', [unit(1), unit(2)]);
      expect(replaced.id).toBe(doc.id);
      expect(await rowsOf(store, collection.id)).toBe(0);
      await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'mean', vector: unit(1) });
      expect(await store.deleteDocument(collection.id, doc.id)).toBe(true);
      expect(await rowsOf(store, collection.id)).toBe(0);
      // Writing the vector of a document deleted meanwhile is refused, not an orphan row.
      expect(await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'mean', vector: unit(1) })).toBe(
        false,
      );
      expect(await rowsOf(store, collection.id)).toBe(0);
    });

    it('a soft-deleted collection is not searched, a restored one is, a purged one keeps nothing', async () => {
      const collection = await newCollection();
      const doc = await addDocument(store, collection, 'a', [unit(0)]);
      await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'mean', vector: unit(0) });
      const tenancy = TenancyStore.forStore(store);
      expect(await tenancy.softDeleteCollection(DEFAULT_TENANT_ID, collection.id)).toBe(true);
      await expect(store.nearestDocuments({ collectionId: collection.id, vector: unit(0), limit: 1 })).rejects.toMatchObject({
        code: 'not_found',
      });
      await tenancy.restoreCollection(DEFAULT_TENANT_ID, collection.id, 30);
      expect((await store.nearestDocuments({ collectionId: collection.id, vector: unit(0), limit: 1 }))[0]?.documentId).toBe(doc.id);
      expect(await store.deleteCollection(collection.id)).toBe(true);
      expect(await rowsOf(store, collection.id)).toBe(0);
    });

    it('mean pooling in SQL is the normalised mean of the chunk vectors, and replaces first-window vectors', async () => {
      const collection = await newCollection();
      const vectors = [unit(0), unit(1, 0.5), unit(4)];
      const doc = await addDocument(store, collection, 'three', vectors);
      const single = await addDocument(store, collection, 'one', [unit(5)]);
      await store.putDocumentVector({ collectionId: collection.id, documentId: single.id, pooling: 'first-window', vector: unit(6) });
      expect(await store.poolMissingDocumentVectors(collection.id)).toBe(2);
      expect(await store.poolMissingDocumentVectors(collection.id)).toBe(0);
      const expected = meanVector(vectors);
      const probe = unit(1, 0.2);
      const got = await store.documentSimilarities({ collectionId: collection.id, vector: probe }, [doc.id, single.id]);
      expect(got.get(doc.id)).toBeCloseTo(cosine(probe, expected), 5);
      expect(got.get(single.id)).toBeCloseTo(cosine(probe, unit(5)), 5);
      expect(await store.countDocumentVectors(collection.id)).toEqual({ mean: 2, firstWindow: 0 });
    });

    it('first-window backfill embeds the title and chunk texts of documents lacking that pooling, once', async () => {
      const collection = await newCollection();
      await addDocument(store, collection, 'two', [unit(0), unit(1)]);
      await store.poolMissingDocumentVectors(collection.id);
      const embedder = recordingEmbedder(unit(3));
      expect(await backfillDocumentVectors(store, embedder, collection.id, 'first-window')).toEqual({ written: 1, embedded: 1 });
      expect(embedder.texts).toEqual(['two\n\nchunk 0\n\nchunk 1']);
      expect(await backfillDocumentVectors(store, embedder, collection.id, 'first-window')).toEqual({ written: 0, embedded: 0 });
      expect(await store.countDocumentVectors(collection.id)).toEqual({ mean: 0, firstWindow: 1 });
    });

    it('the chunks of given documents come back scored exactly, through the search filter', async () => {
      const collection = await newCollection();
      const onPage1 = await addDocument(store, collection, 'p1', [unit(0), unit(1)], 1);
      const onPage2 = await addDocument(store, collection, 'p2', [unit(2)], 2);
      const query = { collectionId: collection.id, vector: unit(1) };
      const all = await store.chunksOfDocumentsBySimilarity(query, [onPage1.id, onPage2.id]);
      expect(all).toHaveLength(3);
      expect(Math.max(...all.filter((c) => c.documentId === onPage1.id).map((c) => c.similarity))).toBeCloseTo(1, 5);
      const filtered = await store.chunksOfDocumentsBySimilarity(query, [onPage1.id, onPage2.id], parseFilter({ page: 2 }));
      expect(filtered.map((c) => c.documentId)).toEqual([onPage2.id]);
    });
  });
}

suite('document vectors: pglite', async () => {
  const store = await openPgliteStore();
  return { store, cleanup: () => store.close() };
});

const describePg = await describePostgres();
describePg('document vectors: postgres server', () => {
  suite('scratch database', async () => {
    const { store, close } = await openScratchStore('docvec');
    return { store, cleanup: close };
  });
});

describeShared('the ingest step stores a document vector after the chunks (real model, PGlite)', () => {
  const text = `Leaves\n\n${Array.from({ length: 12 }, (_, i) => `Sentence ${i} says that mitochondria shape the leaf ${i} times a day.`).join(' ')}`;
  const chunking = { strategy: 'fixed' as const, maxTokens: 96, minTokens: 0, targetTokens: 80 };
  let store: SqlStore;
  beforeAll(async () => {
    store = await openPgliteStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  const ingest = async (pooling: 'off' | 'mean' | 'first-window', name: string) => {
    const embedder = await testEmbedder();
    const collection = await store.createCollection({ name, embeddingModel: embedder.modelId, dimensions: embedder.dimensions });
    const pipeline = new IngestionPipeline(store, embedder, chunking, { documentPooling: pooling });
    const outcome = (await pipeline.ingest(collection, {
      source: 'leaf.txt',
      bytes: new TextEncoder().encode(text),
      mime: 'text/plain',
      title: 'Leaves',
    })) as Extract<IngestOutcome, { chunks: number }>;
    expect(outcome).toMatchObject({ status: 'ingested' });
    expect(outcome.chunks).toBeGreaterThan(1);
    return { collection, outcome, counts: await store.countDocumentVectors(collection.id) };
  };

  it('off stores none; mean embeds nothing extra; first-window embeds one text', async () => {
    const off = await ingest('off', 'off');
    expect(off.counts).toEqual({ mean: 0, firstWindow: 0 });
    const mean = await ingest('mean', 'mean');
    expect(mean.outcome.extraEmbedded).toBe(0);
    expect(mean.counts).toEqual({ mean: 1, firstWindow: 0 });
    const first = await ingest('first-window', 'first');
    expect(first.outcome.extraEmbedded).toBe(1);
    expect(first.counts).toEqual({ mean: 0, firstWindow: 1 });
    // The stored mean is what SQL pooling of the same chunks gives.
    const [chunkVector] = await (await testEmbedder()).embed(['Leaves'], 'query');
    const stored = await store.documentSimilarities({ collectionId: mean.collection.id, vector: chunkVector! }, [mean.outcome.document.id]);
    await store.db.query('DELETE FROM document_vectors WHERE collection_id = $1', [mean.collection.id]);
    expect(await store.poolMissingDocumentVectors(mean.collection.id)).toBe(1);
    const pooled = await store.documentSimilarities({ collectionId: mean.collection.id, vector: chunkVector! }, [mean.outcome.document.id]);
    expect(pooled.get(mean.outcome.document.id)).toBeCloseTo(stored.get(mean.outcome.document.id)!, 4);
  });
});

describeShared('Ragline writes document vectors during ingest only while something reads them (real model, PGlite)', () => {
  const text = `Roots\n\n${Array.from({ length: 12 }, (_, i) => `Sentence ${i} says that root hairs take up water ${i} times an hour.`).join(' ')}`;
  const stores: SqlStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  const vectorsAfterIngest = async (documentVectors: Record<string, unknown>) => {
    const store = await openPgliteStore();
    stores.push(store);
    const config = configSchema.parse({
      chunking: { strategy: 'fixed', maxTokens: 96, minTokens: 0, targetTokens: 80 },
      documentVectors,
    });
    const ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    const collection = await ragline.ensureCollection('roots');
    const [outcome] = await ragline.ingest(collection, [
      { source: 'roots.txt', bytes: new TextEncoder().encode(text), mime: 'text/plain' },
    ]);
    expect(outcome).toMatchObject({ status: 'ingested' });
    expect((outcome as Extract<IngestOutcome, { chunks: number }>).chunks).toBeGreaterThan(1);
    return store.countDocumentVectors(collection.id);
  };

  it('β = 0 and no document candidates (the default): none written', async () => {
    expect(configSchema.parse({}).documentVectors).toMatchObject({ weight: 0, candidates: 0 });
    expect(await vectorsAfterIngest({})).toEqual({ mean: 0, firstWindow: 0 });
    expect(await vectorsAfterIngest({ pooling: 'first-window' })).toEqual({ mean: 0, firstWindow: 0 });
  });

  it('β > 0 or document candidates: the configured pooling is written', async () => {
    expect(await vectorsAfterIngest({ weight: 0.5 })).toEqual({ mean: 1, firstWindow: 0 });
    expect(await vectorsAfterIngest({ pooling: 'first-window', candidates: 20 })).toEqual({ mean: 0, firstWindow: 1 });
  });

  it('the rule itself', () => {
    expect(ingestPooling({ pooling: 'mean', weight: 0, candidates: 0 })).toBe('off');
    expect(ingestPooling({ pooling: 'first-window', weight: 1, candidates: 0 })).toBe('first-window');
    expect(ingestPooling({ pooling: 'off', weight: 1, candidates: 5 })).toBe('off');
  });
});
