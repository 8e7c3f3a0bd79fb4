import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/random.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { parseFilter } from '../store/filters.ts';
import { bulkLoadDocuments, type BulkDocument } from '../store/bulk-load.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { ChunkRecord } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';

/**
 * The benches' bulk loader must leave exactly the rows replaceDocument leaves (what search,
 * BM25 and filters read), an HNSW index, and nothing at all when a transaction fails.
 */

const DIMENSIONS = 8;
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'kinase', 'protein', 'neuron', 'cell', 'tumour', 'signal'];

function documents(n: number, perDocument: number): BulkDocument[] {
  const random = mulberry32(7);
  return Array.from({ length: n }, (_, d) => ({
    source: `bulk/doc-${d}`,
    title: `Document ${d}`,
    metadata: { shard: d % 3, team: `t${d % 2}` },
    chunks: Array.from({ length: perDocument }, (_, i) => {
      const text = Array.from({ length: 12 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
      const v = Array.from({ length: DIMENSIONS }, () => random() - 0.5);
      return chunkInput(i, text, v, { headingPath: [`section ${i}`], pageStart: i + 1, pageEnd: i + 1 });
    }),
  }));
}

const comparable = (c: ChunkRecord) => ({
  source: c.source,
  ordinal: c.ordinal,
  text: c.text,
  tokenCount: c.tokenCount,
  headingPath: c.headingPath,
  pageStart: c.pageStart,
  pageEnd: c.pageEnd,
  title: c.title,
  documentMetadata: c.documentMetadata,
  documentVersion: c.documentVersion,
});

describe('bulkLoadDocuments (PGlite)', () => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await openPgliteStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  async function chunksOf(collectionId: string) {
    const versions = await store.documentVersions(collectionId);
    const chunks = await store.chunksOfDocuments(collectionId, [...versions.keys()]);
    return chunks.map(comparable).sort((a, b) => a.source.localeCompare(b.source) || a.ordinal - b.ordinal);
  }

  it('stores what replaceDocument stores, builds the index, and BM25 and filtered search see it', async () => {
    const docs = documents(30, 7);
    const reference = await store.createCollection({ name: 'by-replace', embeddingModel: 'm', dimensions: DIMENSIONS });
    for (const d of docs) {
      await store.replaceDocument({
        collectionId: reference.id,
        source: d.source,
        title: d.title,
        mime: 'text/plain',
        contentHash: d.source,
        metadata: d.metadata!,
        pageCount: null,
        chunks: d.chunks,
      });
    }
    const bulk = await store.createCollection({ name: 'by-bulk', embeddingModel: 'm', dimensions: DIMENSIONS });
    const progress: number[] = [];
    const result = await bulkLoadDocuments(store, bulk.id, docs, {
      chunksPerTransaction: 50,
      onProgress: (p) => progress.push(p.chunks),
    });
    expect(result).toMatchObject({ documents: 30, chunks: 210 });
    expect(progress.length).toBeGreaterThan(1); // several transactions
    expect(progress.at(-1)).toBe(210);
    expect(await chunksOf(bulk.id)).toEqual(await chunksOf(reference.id));
    expect(await store.countChunks(bulk.id)).toBe(210);

    const loaded = (await store.getCollectionById(bulk.id))!;
    expect(loaded.version).toBeGreaterThan(bulk.version);
    const plan = await store.explainDenseSearch(
      { collectionId: bulk.id, vector: docs[0]!.chunks[0]!.embedding, limit: 5 },
      { forceIndex: true },
    );
    expect(plan).toContain('chunks_hnsw_');

    const filter = parseFilter({ 'metadata.team': 't1' });
    const nearest = await store.denseSearch({
      collectionId: bulk.id,
      vector: docs[3]!.chunks[2]!.embedding,
      limit: 5,
      exact: true,
      filter,
    });
    expect(nearest.length).toBe(5);
    expect(nearest.every((h) => h.chunk.documentMetadata.team === 't1')).toBe(true);

    const registry = new Bm25Registry(store);
    const bm25 = await registry.ensureSynced(loaded);
    expect(bm25.size).toBe(210);
    expect(bm25.search('kinase tumour', { limit: 5 }).length).toBe(5);
    await registry.close();
  });

  it('leaves nothing of a failed transaction behind', async () => {
    const collection = await store.createCollection({ name: 'bulk-fails', embeddingModel: 'm', dimensions: DIMENSIONS });
    const docs = documents(4, 3);
    docs[3] = { ...docs[3]!, source: docs[2]!.source }; // a duplicate source in the same transaction
    await expect(bulkLoadDocuments(store, collection.id, docs, { chunksPerTransaction: 100 })).rejects.toThrow();
    expect(await store.countChunks(collection.id)).toBe(0);
    expect((await store.documentVersions(collection.id)).size).toBe(0);
  });

  it('refuses vectors of the wrong dimension', async () => {
    const collection = await store.createCollection({ name: 'bulk-dims', embeddingModel: 'm', dimensions: DIMENSIONS + 1 });
    await expect(bulkLoadDocuments(store, collection.id, documents(2, 2))).rejects.toThrow(/dimensions/);
    expect(await store.countChunks(collection.id)).toBe(0);
  });
});
