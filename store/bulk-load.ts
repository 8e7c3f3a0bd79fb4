import { RaglineError } from '../core/errors.ts';
import { INSERT_CHUNKS_SQL, chunkRowPlaceholders } from './sql.ts';
import type { SqlStore } from './sql-store.ts';
import type { ChunkInput } from './types.ts';

/**
 * Fills a new, empty collection fast: many documents per transaction, multi-row INSERTs, the HNSW
 * index dropped while loading and built once afterwards, statistics refreshed at the end.
 * `replaceDocument` pays a transaction, a version bump and an index update per document, which
 * made loading 100k chunks into PGlite take most of an hour. What this skips is what a fresh
 * collection does not need: replacing an existing version (a source already present fails the
 * load), Pinecone, keyword index writers and document vectors. Benchmarks and fixtures only.
 */

export interface BulkDocument {
  source: string;
  title: string;
  metadata?: Record<string, unknown>;
  mime?: string;
  chunks: ChunkInput[];
}

export interface BulkLoadResult {
  documents: number;
  chunks: number;
  insertSeconds: number;
  indexSeconds: number;
}

export interface BulkLoadOptions {
  /** Chunks per transaction: bigger is faster until one transaction's statement text gets large. */
  chunksPerTransaction?: number;
  maintenanceWorkMem?: string;
  /** false: leave the collection without its HNSW index (searches are exact scans), e.g. when only BM25 is measured. */
  vectorIndex?: boolean;
  /** Called after each transaction with the totals so far. */
  onProgress?: (loaded: { documents: number; chunks: number; seconds: number }) => void;
}

/** Postgres allows 65,535 bind parameters per statement; a chunk row takes 12. */
const CHUNK_ROWS_PER_STATEMENT = 2000;
const DOCUMENT_ROWS_PER_STATEMENT = 2000;

export async function bulkLoadDocuments(
  store: SqlStore,
  collectionId: string,
  documents: Iterable<BulkDocument>,
  options: BulkLoadOptions = {},
): Promise<BulkLoadResult> {
  const collection = await store.getCollectionById(collectionId);
  if (!collection) throw new RaglineError('not_found', `collection ${collectionId} not found`);
  const perTransaction = options.chunksPerTransaction ?? 10_000;
  await store.dropVectorIndex(collectionId);
  const started = performance.now();
  const totals = { documents: 0, chunks: 0 };
  let batch: BulkDocument[] = [];
  let batchChunks = 0;
  const flush = async () => {
    if (!batch.length) return;
    const docs = batch;
    batch = [];
    batchChunks = 0;
    await store.db.transaction(async (tx) => {
      // The version bump is what tells BM25 registries and other replicas that the collection changed.
      await tx.query('UPDATE collections SET version = version + 1 WHERE id = $1', [collectionId]);
      const ids = new Map<string, string>();
      for (let i = 0; i < docs.length; i += DOCUMENT_ROWS_PER_STATEMENT) {
        const slice = docs.slice(i, i + DOCUMENT_ROWS_PER_STATEMENT);
        const params: unknown[] = [collectionId];
        const values = slice.map((d) => {
          const p = params.length;
          params.push(d.source, d.title, d.mime ?? 'text/plain', d.source, JSON.stringify(d.metadata ?? {}), d.chunks.length);
          return `($1, $${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::jsonb, $${p + 6}, nextval('upload_seq'))`;
        });
        const { rows } = await tx.query<{ id: string; source: string }>(
          `INSERT INTO documents (collection_id, source, title, mime, content_hash, metadata, chunk_count, upload_seq)
           VALUES ${values.join(', ')} RETURNING id, source`,
          params,
        );
        for (const r of rows) ids.set(r.source, String(r.id));
      }
      const rows = docs.flatMap((d) => {
        if (d.chunks.some((c) => c.embedding.length !== collection.dimensions)) {
          throw new RaglineError('model_mismatch', `${d.source}: embeddings must have ${collection.dimensions} dimensions`);
        }
        return d.chunks.map((c) => ({ documentId: ids.get(d.source)!, chunk: c }));
      });
      for (let i = 0; i < rows.length; i += CHUNK_ROWS_PER_STATEMENT) {
        const params: unknown[] = [collectionId];
        const values = rows.slice(i, i + CHUNK_ROWS_PER_STATEMENT).map(({ documentId, chunk }) => {
          params.push(documentId);
          return `($1, $${params.length}, ${chunkRowPlaceholders(params, chunk)})`;
        });
        await tx.query(`${INSERT_CHUNKS_SQL} ${values.join(', ')}`, params);
      }
    });
    totals.documents += docs.length;
    totals.chunks += docs.reduce((s, d) => s + d.chunks.length, 0);
    options.onProgress?.({ ...totals, seconds: (performance.now() - started) / 1000 });
  };
  for (const doc of documents) {
    batch.push(doc);
    batchChunks += doc.chunks.length;
    if (batchChunks >= perTransaction) await flush();
  }
  await flush();
  store.localChanges.announce({ collectionId, deleted: false });
  const insertSeconds = (performance.now() - started) / 1000;
  const indexStarted = performance.now();
  if (options.vectorIndex !== false) {
    await store.buildVectorIndex(collectionId, { maintenanceWorkMem: options.maintenanceWorkMem ?? '1GB' });
  }
  const indexSeconds = (performance.now() - indexStarted) / 1000;
  // Only the columns the planner estimates with, as the store's own upkeep does.
  await store.db.query('ANALYZE chunks (collection_id, document_id, page_start)');
  await store.db.query('ANALYZE documents');
  return { ...totals, insertSeconds, indexSeconds };
}
