import type { KeywordChunk, KeywordIndexWriter, ChunkChange } from '../store/keyword-index.ts';
import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { PineconeSparseIndex } from '../store/pinecone-sparse.ts';
import { SqlSparseFrequencies } from '../store/sparse-frequencies.ts';
import type { SqlExecutor } from '../store/sql.ts';
import { DEFAULT_BM25_OPTIONS } from './bm25.ts';
import { analyzeChunk, encodeChunk, frequencyDelta, type SparseBm25Options } from './sparse-bm25.ts';

/**
 * Keeps a collection's Pinecone sparse namespace and its SQL document frequencies in step with
 * its chunk rows (RAGLINE_SPARSE=pinecone). Within the write's transaction: the frequency delta
 * (added chunks minus removed ones) is applied, then the added chunks are encoded against the
 * collection's average lengths after that delta and upserted, so a refused upsert (429s past
 * the retries, an outage) rolls the whole write back and the ingest job fails with the old
 * version intact in SQL and in Pinecone. The removed chunks' vectors are deleted after the
 * commit; when that fails they stay as orphans, which search drops (it joins every hit against
 * the chunk rows) and `ragline reconcile` deletes.
 */
export class SparseVectorWriter implements KeywordIndexWriter {
  private readonly options: SparseBm25Options;

  constructor(
    private readonly sparse: PineconeSparseIndex,
    options: Partial<SparseBm25Options> = {},
  ) {
    this.options = { ...DEFAULT_BM25_OPTIONS, ...options };
  }

  async chunksChanged(tx: SqlExecutor, change: ChunkChange): Promise<() => Promise<void>> {
    const { collectionId } = change;
    const analyze = (c: KeywordChunk) => analyzeChunk(c, this.options);
    const added = change.added.map(analyze);
    const frequencies = new SqlSparseFrequencies(tx);
    await frequencies.apply(collectionId, frequencyDelta(added, change.removed.map(analyze)));
    if (added.length) {
      const stats = await frequencies.load(collectionId, []);
      const records = change.added.map((c, i) => ({ id: c.id, sparseValues: encodeChunk(added[i]!, stats, this.options) }));
      try {
        await this.sparse.upsert(collectionId, records);
      } catch (err) {
        // The transaction rolls back: these chunk ids will never exist. Best effort; search ignores them anyway.
        await this.sparse
          .delete(
            collectionId,
            records.map((r) => r.id),
          )
          .catch(() => {});
        throw err;
      }
    }
    const removedIds = change.removed.map((c) => c.id);
    return async () => {
      if (!removedIds.length) return;
      try {
        await this.sparse.delete(collectionId, removedIds);
      } catch (err) {
        // The change is committed and visible; the leftover vectors are dropped by every search.
        logger.warn(
          { collectionId, vectors: removedIds.length, err: errorMessage(err) },
          'deleting removed chunks from the sparse index failed: the orphan vectors stay until `ragline reconcile` deletes them',
        );
      }
    };
  }

  collectionDeleted(collectionId: string): Promise<void> {
    return this.sparse.deleteNamespace(collectionId);
  }
}
