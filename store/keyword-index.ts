import type { SqlExecutor } from './sql.ts';
import type { KeywordChunk } from './types.ts';

export type { KeywordChunk };

/**
 * Keyword data derived from the chunk rows and kept outside them (BM25 sparse vectors in
 * Pinecone, their document frequencies in SQL). SqlStore calls it inside the transaction that
 * changes the chunks, so the frequencies move with the rows and a refused vector write rolls the
 * change back; what can only happen after the commit (deleting vectors of removed chunks) it
 * returns, and the store runs it once committed. The encoding lives above the store
 * (retrieval/sparse-bm25.ts), hence the interface.
 */
export interface KeywordIndexWriter {
  /** Inside the write's transaction (`tx`); a throw rolls the write back. Resolves to the cleanup to run after the commit. */
  chunksChanged(tx: SqlExecutor, change: ChunkChange): Promise<() => Promise<void>>;
  /** After a collection was removed for good (its SQL rows, frequencies included, went with it). */
  collectionDeleted(collectionId: string): Promise<void>;
}

export interface ChunkChange {
  collectionId: string;
  added: KeywordChunk[];
  removed: KeywordChunk[];
}
