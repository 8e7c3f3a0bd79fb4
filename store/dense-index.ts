import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { ChunkInput, ChunkRecord, DenseHit, DenseQuery, DocumentRecord } from './types.ts';

/**
 * Where dense vectors are searched, when not in pgvector. The SQL database stays the source of
 * truth for collections, documents, chunk text, metadata and the embeddings themselves (so an
 * external index can be rebuilt from it); the external index only answers nearest-neighbour
 * queries, by chunk id.
 *
 * Consistency rules, as SqlStore applies them:
 * - replaceDocument writes the new chunks' vectors before its transaction commits: when the
 *   write fails the transaction rolls back and the old version stays, in SQL and in the index.
 * - Vectors of a replaced or deleted version are removed after the commit. That may fail; the
 *   leftover ("orphan") vectors are harmless because search joins every hit against the chunk
 *   rows and drops ids that no longer exist.
 * - search applies the exact filter predicate (filters.ts) to the joined chunks, whatever part
 *   of the filter the index could evaluate itself, so excluded chunks never leak.
 */
export interface DenseIndex {
  readonly backend: 'pinecone';
  /** Refuses (RaglineError) a collection whose vectors the index cannot hold. */
  assertDimensions(dimensions: number): Promise<void>;
  /** Writes the vectors of a document's chunks (ids from the chunk rows). */
  upsert(document: DocumentRecord, chunks: DenseIndexEntry[]): Promise<void>;
  delete(collectionId: string, chunkIds: string[]): Promise<void>;
  deleteCollection(collectionId: string): Promise<void>;
  /** The nearest chunks, best first, at most `query.limit`; `loadChunks` reads chunk rows by id. */
  search(query: DenseQuery, loadChunks: (ids: string[]) => Promise<ChunkRecord[]>): Promise<DenseHit[]>;
  /** For reconcile: every vector id in the collection's namespace. */
  listIds(collectionId: string): Promise<string[]>;
  /** For reconcile: the stored values and metadata of these ids (ids the index lacks are absent). */
  fetch(collectionId: string, ids: string[]): Promise<Map<string, DenseIndexRecord>>;
  /** For reconcile: writes these records as they are (no rollback: every record is already right on its own). */
  write(collectionId: string, records: (DenseIndexRecord & { id: string })[]): Promise<void>;
}

/** A vector as the index holds it, with the metadata its filters read (vectorMetadata). */
export interface DenseIndexRecord {
  values: number[];
  metadata: Record<string, string | number | boolean | string[]>;
}

export interface DenseIndexEntry {
  id: string;
  chunk: ChunkInput;
}

/**
 * Cleanup after a commit: a failure is logged, not thrown, because the committed change is
 * already visible and the vectors left behind are dropped by every search.
 */
export async function cleanupAfterCommit(what: string, details: Record<string, unknown>, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    logger.warn(
      { ...details, err: errorMessage(err) },
      `${what} failed: the orphan vectors stay in the dense index (searches drop them) until deleted`,
    );
  }
}
