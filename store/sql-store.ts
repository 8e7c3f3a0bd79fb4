import { DEFAULT_TENANT_ID } from '../core/api-keys.ts';
import { DENSE_SEARCH_DEFAULTS } from '../core/config.ts';
import { RaglineError, badRequest } from '../core/errors.ts';
import { chunkFilter, documentFilter, filterToSql, pageMatchesLikeSql, type Filter } from './filters.ts';
import { LocalCollectionChanges } from './collection-changes.ts';
import { cleanupAfterCommit, type DenseIndex, type DenseIndexEntry } from './dense-index.ts';
import {
  chunksOfDocumentsBySimilarity,
  countDocumentVectors,
  documentSimilarities,
  documentVectorIndexName,
  documentVectorIndexSql,
  documentsWithoutVector,
  nearestDocuments,
  poolMissingDocumentVectors,
  putDocumentVector,
  type DocumentChunkCandidate,
  type DocumentPooling,
  type DocumentVectorHit,
} from './document-vectors.ts';
import type { KeywordChunk, KeywordIndexWriter } from './keyword-index.ts';
import { type FrequencyDelta, type FrequencyTotals, SqlSparseFrequencies } from './sparse-frequencies.ts';
import { migrate } from './migrate.ts';
import { INSERT_CHUNKS_SQL, chunkRowPlaceholders, decodeVector, toVectorLiteral, vectorAsBase64, type SqlExecutor } from './sql.ts';
import { VectorCopies } from './vector-copies.ts';
import type {
  ChunkInput,
  ChunkRecord,
  Collection,
  DenseCandidate,
  DenseHit,
  DenseQuery,
  DocumentRecord,
  DocumentReplacement,
  Store,
} from './types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INSERT_BATCH = 200;
const DEFAULT_EF_SEARCH = 40;
/** Refresh planner statistics once this many chunk rows, plus this share of the table, have changed. */
const ANALYZE_MIN_ROWS = 500;
const ANALYZE_GROWTH = 0.2;
/**
 * An int8 scan re-ranks at most this many rows per result asked for; when more rows are within its
 * error bound of the top (near-duplicate vectors), the search runs in SQL instead, staying exact.
 */
const INT8_MAX_CANDIDATES_PER_RESULT = 10;

/**
 * How a filtered pgvector search finds its rows. `iterative-scan` walks the HNSW graph and tests
 * each node it reaches against the filter until enough match; `pre-filter` reads only the rows of
 * the matching documents and computes every distance (exact); `auto` pre-filters when the matching
 * documents hold at most `prefilterMaxChunks` chunks, and walks the graph otherwise.
 */
export type FilteredPlan = 'auto' | 'iterative-scan' | 'pre-filter';

/** Knobs of the SQL store beyond the Store contract, for measurements. */
export interface DenseSearchTuning {
  /**
   * Walk the HNSW index even where the planner would rather scan exactly (small collections,
   * selective filters), so tests and benchmarks can measure the index itself.
   */
  forceIndex?: boolean;
  /** Overrides the plan of a filtered search (default `auto`), so both plans can be tested and measured. */
  filteredPlan?: FilteredPlan;
  /** false: rank a pre-filtered search in SQL even where the int8 copy could (to measure both). */
  int8Scan?: boolean;
}

export interface SqlStoreOptions {
  /** A filtered search pre-filters when its documents hold at most this many chunks (see FilteredPlan). */
  prefilterMaxChunks?: number;
  /** A filtered graph walk runs with hnsw.ef_search at least this (DENSE_SEARCH_DEFAULTS.filteredEfSearch). */
  filteredEfSearch?: number;
  /**
   * Pre-filtered searches rank the matching rows through an in-process int8 copy of the vectors
   * (store/vector-copies.ts) instead of computing every distance in SQL (DENSE_SEARCH_DEFAULTS.int8Scan).
   * Only PGlite stores keep copies; a Postgres server ranks in SQL.
   */
  int8Scan?: boolean;
  /** Estimated heap the int8 copies may hold, in MB (DENSE_SEARCH_DEFAULTS.int8MemoryMb). */
  int8MemoryMb?: number;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

function toCollection(r: Record<string, unknown>): Collection {
  return {
    id: String(r.id),
    name: String(r.name),
    tenantId: String(r.tenant_id ?? DEFAULT_TENANT_ID),
    embeddingModel: String(r.embedding_model),
    dimensions: Number(r.dimensions),
    metadata: (r.metadata as Record<string, unknown>) ?? {},
    version: Number(r.version),
    createdAt: iso(r.created_at),
  };
}

function toDocument(r: Record<string, unknown>): DocumentRecord {
  return {
    id: String(r.id),
    collectionId: String(r.collection_id),
    source: String(r.source),
    title: String(r.title),
    mime: String(r.mime),
    contentHash: String(r.content_hash),
    metadata: (r.metadata as Record<string, unknown>) ?? {},
    version: Number(r.version),
    chunkCount: Number(r.chunk_count),
    pageCount: r.page_count === null ? null : Number(r.page_count),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

const CHUNK_COLUMNS = `c.id, c.collection_id, c.document_id, c.ordinal, c.text, c.token_count, c.page_start, c.page_end,
  c.heading_path, c.char_start, c.char_end, c.kind, c.metadata, d.source, d.title, d.mime, d.metadata AS document_metadata,
  d.created_at, d.updated_at, d.version AS document_version`;

function toChunk(r: Record<string, unknown>): ChunkRecord {
  return {
    id: String(r.id),
    collectionId: String(r.collection_id),
    documentId: String(r.document_id),
    ordinal: Number(r.ordinal),
    text: String(r.text),
    tokenCount: Number(r.token_count),
    pageStart: r.page_start === null ? null : Number(r.page_start),
    pageEnd: r.page_end === null ? null : Number(r.page_end),
    headingPath: (r.heading_path as string[]) ?? [],
    charStart: Number(r.char_start),
    charEnd: Number(r.char_end),
    kind: String(r.kind),
    metadata: (r.metadata as Record<string, unknown>) ?? {},
    source: String(r.source),
    title: String(r.title),
    mime: String(r.mime),
    documentMetadata: (r.document_metadata as Record<string, unknown>) ?? {},
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    documentVersion: Number(r.document_version),
  };
}

/** Ids reach SQL text only in index names and partial-index predicates, so they must be uuids. */
function assertUuid(id: string): string {
  if (!UUID.test(id)) throw new RaglineError('internal', `not a uuid: ${id}`);
  return id.toLowerCase();
}

const indexName = (collectionId: string) => `chunks_hnsw_${assertUuid(collectionId).replace(/-/g, '')}`;

/**
 * One typed, partial HNSW index per collection: typed so pgvector can index it, partial so a
 * collection's search never walks other tenants' vectors (no post-filter starvation).
 */
function vectorIndexSql(collection: Collection): string {
  return `CREATE INDEX IF NOT EXISTS ${indexName(collection.id)} ON chunks
    USING hnsw ((embedding::vector(${collection.dimensions})) vector_cosine_ops) WHERE collection_id = '${assertUuid(collection.id)}'`;
}

export class SqlStore implements Store {
  constructor(
    readonly kind: 'pglite' | 'postgres',
    /** The underlying connection, for subsystems that share the database (the job queue). */
    readonly db: SqlExecutor,
    /**
     * Where dense search runs instead of pgvector (Pinecone). The embeddings are still stored
     * here, and `exact` searches still scan them here: the ground truth to measure the index by.
     */
    readonly denseIndex?: DenseIndex,
    private readonly options: SqlStoreOptions = {},
  ) {
    this.vectorCopies =
      kind === 'pglite' && !denseIndex
        ? new VectorCopies(db, {
            enabled: options.int8Scan ?? DENSE_SEARCH_DEFAULTS.int8Scan,
            memoryBudgetBytes: (options.int8MemoryMb ?? DENSE_SEARCH_DEFAULTS.int8MemoryMb) * 1024 * 1024,
          })
        : undefined;
    // A deleted collection's copy is freed at once; other changes are caught up by the next search.
    this.localChanges.subscribe((change) => {
      if (change.deleted) this.vectorCopies?.drop(change.collectionId);
    });
  }

  /** Announces this process's collection writes as soon as they commit (caches evict on them). */
  readonly localChanges = new LocalCollectionChanges();

  /** The int8 copies filtered searches scan (PGlite with pgvector only; see SqlStoreOptions.int8Scan). */
  readonly vectorCopies: VectorCopies | undefined;

  /** Keyword data kept beside the chunk rows (RAGLINE_SPARSE=pinecone); none by default. */
  private keywordIndex: KeywordIndexWriter | undefined;

  /** Every later chunk write also goes through `writer`, inside its transaction (set once, by Ragline.open). */
  attachKeywordIndex(writer: KeywordIndexWriter): void {
    if (this.keywordIndex && this.keywordIndex !== writer) throw new RaglineError('internal', 'a keyword index is already attached');
    this.keywordIndex = writer;
  }

  get denseBackend(): 'pgvector' | 'pinecone' {
    return this.denseIndex?.backend ?? 'pgvector';
  }

  async migrate(): Promise<void> {
    await migrate(this.db);
  }

  /** Chunk rows written since the planner statistics were refreshed, and the row count at that refresh. */
  private readonly statistics = { changedRows: 0, rowsAtAnalyze: -1, running: undefined as Promise<void> | undefined };

  async close(): Promise<void> {
    await this.vectorCopies?.close();
    await this.statistics.running;
    await this.db.close();
  }

  /**
   * Keeps the planner's row estimates current as chunks are written. With stale estimates a
   * collection that grew to 100k chunks still looks tiny, and every search becomes an exact scan
   * (or the reverse). A Postgres server's autovacuum catches up within a minute or so; PGlite has
   * no autovacuum at all, so the store does it, like autovacuum does: after enough change.
   */
  private async noteChunkChanges(rows: number): Promise<void> {
    const stats = this.statistics;
    stats.changedRows += rows;
    if (stats.running) return;
    if (stats.rowsAtAnalyze < 0) stats.rowsAtAnalyze = await this.chunkRowEstimate();
    if (stats.changedRows < ANALYZE_MIN_ROWS + ANALYZE_GROWTH * stats.rowsAtAnalyze) return;
    stats.changedRows = 0;
    stats.running = (async () => {
      // Only the columns the planner estimates with: sampling the vectors would cost far more.
      await this.db.query('ANALYZE chunks (collection_id, document_id, page_start)');
      await this.db.query('ANALYZE documents');
      stats.rowsAtAnalyze = await this.chunkRowEstimate();
    })().finally(() => {
      stats.running = undefined;
    });
    await stats.running;
  }

  private async chunkRowEstimate(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>("SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'chunks'::regclass");
    return Math.max(0, Number(rows[0]?.n ?? 0));
  }

  async createCollection(input: {
    name: string;
    embeddingModel: string;
    dimensions: number;
    metadata?: Record<string, unknown>;
    tenantId?: string;
  }): Promise<Collection> {
    // A uuid-shaped name could be taken for another collection's id.
    if (UUID.test(input.name)) throw badRequest('a collection name must not look like a uuid', { name: input.name });
    const tenantId = input.tenantId ?? DEFAULT_TENANT_ID;
    await this.denseIndex?.assertDimensions(input.dimensions);
    return this.db.transaction(async (tx) => {
      const existing = await tx.query('SELECT id FROM collections WHERE tenant_id = $1 AND name = $2 AND deleted_at IS NULL', [
        tenantId,
        input.name,
      ]);
      if (existing.rows.length) throw new RaglineError('conflict', `collection "${input.name}" already exists`, { name: input.name });
      const { rows } = await tx
        .query(`INSERT INTO collections (name, embedding_model, dimensions, metadata, tenant_id) VALUES ($1, $2, $3, $4, $5) RETURNING *`, [
          input.name,
          input.embeddingModel,
          input.dimensions,
          JSON.stringify(input.metadata ?? {}),
          tenantId,
        ])
        .catch((err: unknown) => {
          // A concurrent create of the same name passed the check above; the unique constraint caught it.
          if ((err as { code?: unknown }).code === '23505') {
            throw new RaglineError('conflict', `collection "${input.name}" already exists`, { name: input.name });
          }
          throw err;
        });
      const collection = toCollection(rows[0]!);
      if (!this.denseIndex) await tx.query(vectorIndexSql(collection));
      await tx.query(documentVectorIndexSql(collection));
      return collection;
    });
  }

  /**
   * Bulk loads: inserting into an HNSW index updates the graph row by row, which is far slower
   * than loading without it and building it once. Drop the collection's index, load, then call
   * buildVectorIndex. Searches in between are exact (correct, but slow on a large collection).
   */
  async dropVectorIndex(collectionId: string): Promise<void> {
    await this.db.query(`DROP INDEX IF EXISTS ${indexName(collectionId)}`);
  }

  /** (Re)builds the collection's HNSW index; `maintenanceWorkMem` (e.g. '1GB') should hold the whole graph. */
  async buildVectorIndex(collectionId: string, options: { maintenanceWorkMem?: string } = {}): Promise<void> {
    const collection = await this.getCollectionById(collectionId);
    if (!collection) throw new RaglineError('not_found', `collection ${collectionId} not found`);
    await this.db.transaction(async (tx) => {
      if (options.maintenanceWorkMem) {
        if (!/^\d+\s*(kB|MB|GB)$/.test(options.maintenanceWorkMem)) throw badRequest('maintenanceWorkMem must look like 512MB or 1GB');
        await tx.query(`SET LOCAL maintenance_work_mem = '${options.maintenanceWorkMem}'`);
      }
      await tx.query(vectorIndexSql(collection));
      await tx.query(documentVectorIndexSql(collection));
    });
  }

  /** Within one tenant, live collections only: a uuid is only ever an id (names cannot look like one), anything else a name. */
  async getCollection(idOrName: string, tenantId: string = DEFAULT_TENANT_ID): Promise<Collection | null> {
    const { rows } = UUID.test(idOrName)
      ? await this.db.query('SELECT * FROM collections WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL', [idOrName, tenantId])
      : await this.db.query('SELECT * FROM collections WHERE name = $1 AND tenant_id = $2 AND deleted_at IS NULL', [idOrName, tenantId]);
    return rows[0] ? toCollection(rows[0]) : null;
  }

  async getCollectionById(id: string): Promise<Collection | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query('SELECT * FROM collections WHERE id = $1 AND deleted_at IS NULL', [id]);
    return rows[0] ? toCollection(rows[0]) : null;
  }

  async listCollections(tenantId: string = DEFAULT_TENANT_ID): Promise<Collection[]> {
    const { rows } = await this.db.query('SELECT * FROM collections WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY name', [tenantId]);
    return rows.map(toCollection);
  }

  async listAllCollections(): Promise<Collection[]> {
    const { rows } = await this.db.query('SELECT * FROM collections WHERE deleted_at IS NULL ORDER BY tenant_id, name');
    return rows.map(toCollection);
  }

  async deleteCollection(id: string): Promise<boolean> {
    const deleted = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query('DELETE FROM collections WHERE id = $1 RETURNING id', [assertUuid(id)]);
      if (!rows.length) return false;
      await tx.query(`DROP INDEX IF EXISTS ${indexName(id)}`);
      await tx.query(`DROP INDEX IF EXISTS ${documentVectorIndexName(id)}`);
      return true;
    });
    if (deleted) this.localChanges.announce({ collectionId: id, deleted: true });
    const denseIndex = this.denseIndex;
    if (deleted && denseIndex) {
      await cleanupAfterCommit("deleting the collection's dense vectors", { collectionId: id }, () => denseIndex.deleteCollection(id));
    }
    const keywordIndex = this.keywordIndex;
    if (deleted && keywordIndex) {
      await cleanupAfterCommit("deleting the collection's sparse vectors", { collectionId: id }, () => keywordIndex.collectionDeleted(id));
    }
    return deleted;
  }

  async getDocumentBySource(collectionId: string, source: string): Promise<DocumentRecord | null> {
    const { rows } = await this.db.query('SELECT * FROM documents WHERE collection_id = $1 AND source = $2', [collectionId, source]);
    return rows[0] ? toDocument(rows[0]) : null;
  }

  async getDocument(collectionId: string, documentId: string): Promise<DocumentRecord | null> {
    if (!UUID.test(documentId)) return null;
    const { rows } = await this.db.query('SELECT * FROM documents WHERE collection_id = $1 AND id = $2', [collectionId, documentId]);
    return rows[0] ? toDocument(rows[0]) : null;
  }

  async listDocuments(collectionId: string, options: { limit?: number; offset?: number } = {}): Promise<DocumentRecord[]> {
    const { rows } = await this.db.query('SELECT * FROM documents WHERE collection_id = $1 ORDER BY source LIMIT $2 OFFSET $3', [
      collectionId,
      options.limit ?? 100,
      options.offset ?? 0,
    ]);
    return rows.map(toDocument);
  }

  async replaceDocument(input: DocumentReplacement): Promise<DocumentRecord> {
    const collection = await this.getCollectionById(input.collectionId);
    if (!collection) throw new RaglineError('not_found', `collection ${input.collectionId} not found`);
    for (const chunk of input.chunks) {
      if (chunk.embedding.length !== collection.dimensions) {
        throw new RaglineError(
          'model_mismatch',
          `chunk ${chunk.ordinal} has a ${chunk.embedding.length}-d embedding; collection "${collection.name}" holds ${collection.dimensions}-d vectors`,
        );
      }
    }
    await this.denseIndex?.assertDimensions(collection.dimensions);
    const keywordIndex = this.keywordIndex;
    const { document, oldChunkIds, afterCommit } = await this.db.transaction(async (tx) => {
      // Row lock on the collection serialises writers of one collection's version counter.
      await tx.query('UPDATE collections SET version = version + 1 WHERE id = $1', [collection.id]);
      // Read before the upsert below overwrites the title they were analyzed with.
      const removed = keywordIndex
        ? await keywordChunksOf(tx, 'd.collection_id = $1 AND d.source = $2', [collection.id, input.source])
        : [];
      const { rows } = await tx.query(
        `INSERT INTO documents (collection_id, source, title, mime, content_hash, metadata, page_count, chunk_count, upload_seq, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9::bigint, nextval('upload_seq')), coalesce($10::timestamptz, now()))
         ON CONFLICT (collection_id, source) DO UPDATE SET
           title = EXCLUDED.title, mime = EXCLUDED.mime, content_hash = EXCLUDED.content_hash,
           metadata = EXCLUDED.metadata, page_count = EXCLUDED.page_count, chunk_count = EXCLUDED.chunk_count,
           version = documents.version + 1, updated_at = EXCLUDED.updated_at, upload_seq = EXCLUDED.upload_seq
         WHERE documents.upload_seq IS NULL OR documents.upload_seq < EXCLUDED.upload_seq
         RETURNING *`,
        [
          collection.id,
          input.source,
          input.title,
          input.mime,
          input.contentHash,
          JSON.stringify(input.metadata),
          input.pageCount,
          input.chunks.length,
          input.uploadSeq ?? null,
          input.updatedAt ?? null,
        ],
      );
      if (!rows[0]) throw supersededUpload(input.source); // rolls back the version bump too
      const document = toDocument(rows[0]);
      const old = await tx.query<{ id: string }>('DELETE FROM chunks WHERE document_id = $1 RETURNING id', [document.id]);
      // The old version's document vector goes with its chunks; the ingest step writes the new one.
      await tx.query('DELETE FROM document_vectors WHERE document_id = $1', [document.id]);
      const inserted: DenseIndexEntry[] = [];
      for (let i = 0; i < input.chunks.length; i += INSERT_BATCH) {
        inserted.push(...(await this.insertChunks(tx, collection.id, document.id, input.chunks.slice(i, i + INSERT_BATCH))));
      }
      // Before the commit (the collection row stays locked meanwhile): when the dense index
      // refuses the new vectors, the transaction rolls back and the old version stays.
      if (this.denseIndex && inserted.length) await this.denseIndex.upsert(document, inserted);
      const added = inserted.map(({ id, chunk }) => ({ id, title: document.title, headingPath: chunk.headingPath, text: chunk.text }));
      const afterCommit = await keywordIndex?.chunksChanged(tx, { collectionId: collection.id, added, removed });
      return { document, oldChunkIds: old.rows.map((r) => String(r.id)), afterCommit };
    });
    this.localChanges.announce({ collectionId: collection.id, deleted: false });
    await afterCommit?.();
    const denseIndex = this.denseIndex;
    if (denseIndex && oldChunkIds.length) {
      await cleanupAfterCommit("deleting the replaced version's dense vectors", { documentId: document.id }, () =>
        denseIndex.delete(collection.id, oldChunkIds),
      );
    }
    await this.noteChunkChanges(input.chunks.length);
    return document;
  }

  private async insertChunks(tx: SqlExecutor, collectionId: string, documentId: string, chunks: ChunkInput[]): Promise<DenseIndexEntry[]> {
    const params: unknown[] = [collectionId, documentId];
    const values = chunks.map((c) => `($1, $2, ${chunkRowPlaceholders(params, c)})`);
    const { rows } = await tx.query<{ id: string; ordinal: number }>(
      `${INSERT_CHUNKS_SQL} ${values.join(', ')} RETURNING id, ordinal`,
      params,
    );
    const byOrdinal = new Map(chunks.map((c) => [c.ordinal, c]));
    return rows.map((r) => ({ id: String(r.id), chunk: byOrdinal.get(Number(r.ordinal))! }));
  }

  async deleteDocument(collectionId: string, documentId: string): Promise<boolean> {
    if (!UUID.test(documentId)) return false;
    const keywordIndex = this.keywordIndex;
    const deleted = await this.db.transaction(async (tx) => {
      const chunkIds = this.denseIndex
        ? (await tx.query<{ id: string }>('SELECT id FROM chunks WHERE document_id = $1', [documentId])).rows.map((r) => String(r.id))
        : [];
      const removed = keywordIndex ? await keywordChunksOf(tx, 'd.collection_id = $1 AND d.id = $2', [collectionId, documentId]) : [];
      const { rows } = await tx.query<{ chunk_count: number }>(
        'DELETE FROM documents WHERE collection_id = $1 AND id = $2 RETURNING chunk_count',
        [collectionId, documentId],
      );
      if (rows.length) await tx.query('UPDATE collections SET version = version + 1 WHERE id = $1', [collectionId]);
      if (!rows.length) return null;
      const afterCommit = await keywordIndex?.chunksChanged(tx, { collectionId, added: [], removed });
      return { chunks: Number(rows[0]!.chunk_count), chunkIds, afterCommit };
    });
    if (deleted === null) return false;
    this.localChanges.announce({ collectionId, deleted: false });
    await deleted.afterCommit?.();
    const denseIndex = this.denseIndex;
    if (denseIndex && deleted.chunkIds.length) {
      await cleanupAfterCommit("deleting the document's dense vectors", { documentId }, () =>
        denseIndex.delete(collectionId, deleted.chunkIds),
      );
    }
    await this.noteChunkChanges(deleted.chunks);
    return true;
  }

  async documentVersions(collectionId: string): Promise<Map<string, number>> {
    const { rows } = await this.db.query<{ id: string; version: number }>('SELECT id, version FROM documents WHERE collection_id = $1', [
      collectionId,
    ]);
    return new Map(rows.map((r) => [String(r.id), Number(r.version)]));
  }

  async chunksOfDocuments(collectionId: string, documentIds: string[]): Promise<ChunkRecord[]> {
    if (!documentIds.length) return [];
    const { rows } = await this.db.query(
      `SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id
       WHERE c.collection_id = $1 AND c.document_id = ANY($2::uuid[]) ORDER BY c.document_id, c.ordinal`,
      [collectionId, documentIds],
    );
    return rows.map(toChunk);
  }

  async chunkEmbeddings(collectionId: string, documentIds: string[]): Promise<Map<string, Float32Array>> {
    const embeddings = new Map<string, Float32Array>();
    if (!documentIds.length) return embeddings;
    const { rows } = await this.db.query(
      `SELECT id, ${vectorAsBase64('embedding')} AS embedding FROM chunks WHERE collection_id = $1 AND document_id = ANY($2::uuid[])`,
      [collectionId, documentIds],
    );
    for (const r of rows) embeddings.set(String(r.id), decodeVector(String(r.embedding)));
    return embeddings;
  }

  async getChunks(ids: string[]): Promise<ChunkRecord[]> {
    const valid = ids.filter((id) => UUID.test(id));
    if (!valid.length) return [];
    const { rows } = await this.db.query(
      `SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY($1::uuid[])`,
      [valid],
    );
    return rows.map(toChunk);
  }

  keywordFrequencyTotals(collectionId: string): Promise<FrequencyTotals> {
    return new SqlSparseFrequencies(this.db).totals(collectionId);
  }

  async rebuildKeywordFrequencies(collectionId: string, count: (chunks: KeywordChunk[]) => FrequencyDelta): Promise<number> {
    return this.db.transaction(async (tx) => {
      // The lock a writer takes first (replaceDocument's version bump): no write commits in between.
      await tx.query('SELECT id FROM collections WHERE id = $1 FOR UPDATE', [collectionId]);
      const chunks = await keywordChunksOf(tx, 'c.collection_id = $1', [collectionId]);
      const frequencies = new SqlSparseFrequencies(tx);
      await frequencies.clear(collectionId);
      await frequencies.apply(collectionId, count(chunks));
      return chunks.length;
    });
  }

  async countChunks(collectionId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM chunks WHERE collection_id = $1', [collectionId]);
    return Number(rows[0]?.n ?? 0);
  }

  async denseSearch(query: DenseQuery, tuning: DenseSearchTuning = {}): Promise<DenseHit[]> {
    if (this.denseIndex && !query.exact) {
      const collection = await this.queriedCollection(query);
      return this.denseIndex.search({ ...query, collectionId: collection.id }, (ids) => this.getChunks(ids));
    }
    const rows = await this.runDenseSearch(query, tuning, CHUNK_COLUMNS);
    return rows.map((r) => ({ chunk: toChunk(r), similarity: 1 - Number(r.distance) }));
  }

  async denseCandidates(query: DenseQuery, tuning: DenseSearchTuning = {}): Promise<DenseCandidate[]> {
    if (this.denseIndex && !query.exact) {
      return (await this.denseSearch(query)).map((h) => ({
        id: h.chunk.id,
        documentId: h.chunk.documentId,
        similarity: h.similarity,
        updatedAt: h.chunk.updatedAt,
      }));
    }
    const rows = await this.runDenseSearch(query, tuning, 'c.id, c.document_id, d.updated_at');
    return rows.map((r) => ({
      id: String(r.id),
      documentId: String(r.document_id),
      similarity: 1 - Number(r.distance),
      updatedAt: iso(r.updated_at),
    }));
  }

  // ---- document vectors (store/document-vectors.ts) ----

  putDocumentVector(input: { collectionId: string; documentId: string; pooling: DocumentPooling; vector: Float32Array | number[] }) {
    return putDocumentVector(this.db, input);
  }

  async poolMissingDocumentVectors(collectionId: string): Promise<number> {
    const collection = await this.getCollectionById(collectionId);
    if (!collection) throw new RaglineError('not_found', `collection ${collectionId} not found`);
    return poolMissingDocumentVectors(this.db, collection);
  }

  documentsWithoutVector(collectionId: string, pooling: DocumentPooling, limit: number): Promise<string[]> {
    return documentsWithoutVector(this.db, collectionId, pooling, limit);
  }

  countDocumentVectors(collectionId: string): Promise<{ mean: number; firstWindow: number }> {
    return countDocumentVectors(this.db, collectionId);
  }

  async nearestDocuments(query: DenseQuery): Promise<DocumentVectorHit[]> {
    const collection = await this.queriedCollection(query);
    return nearestDocuments(this.db, collection, query.vector, query.limit, query.efSearch ?? DEFAULT_EF_SEARCH);
  }

  async documentSimilarities(query: Omit<DenseQuery, 'limit'>, documentIds: string[]): Promise<Map<string, number>> {
    const collection = await this.queriedCollection({ ...query, limit: 1 });
    return documentSimilarities(this.db, collection, query.vector, documentIds);
  }

  async chunksOfDocumentsBySimilarity(
    query: Omit<DenseQuery, 'limit'>,
    documentIds: string[],
    filter: Filter = [],
  ): Promise<DocumentChunkCandidate[]> {
    const collection = await this.queriedCollection({ ...query, limit: 1 });
    return chunksOfDocumentsBySimilarity(this.db, collection, query.vector, documentIds, filter);
  }

  private async runDenseSearch(query: DenseQuery, tuning: DenseSearchTuning, columns: string): Promise<Record<string, unknown>[]> {
    const collection = await this.queriedCollection(query);
    const ranked = await this.int8DenseSearch(collection, query, tuning, columns);
    if (ranked) return ranked;
    const { rows } = await this.db.transaction(async (tx) => {
      const { sql, params } = await this.denseSearchPlan(tx, collection, query, tuning, columns);
      return tx.query<Record<string, unknown>>(sql, params);
    });
    return rows;
  }

  /**
   * The pre-filter plan through the collection's int8 copy: SQL finds the matching documents (and
   * reads the collection version, in the same transaction), the copy scores their rows in
   * JavaScript and keeps every row the quantisation error bound cannot rule out of the top
   * `limit`, and SQL ranks just those by exact distance. Undefined when the SQL plans must run
   * instead: no copy (disabled, loading, over budget), a stale one, a filter that `auto` would
   * walk the graph for even so (more than DENSE_SEARCH_DEFAULTS.int8PrefilterMaxChunks matching
   * chunks; the copy's scan is cheap enough to pre-filter far more rows than SQL), or more rows
   * within the bound than are worth re-ranking.
   */
  private async int8DenseSearch(
    collection: Collection,
    query: DenseQuery,
    tuning: DenseSearchTuning,
    columns: string,
  ): Promise<Record<string, unknown>[] | undefined> {
    const copies = this.vectorCopies;
    const filter = query.filter ?? [];
    const requested = tuning.filteredPlan ?? 'auto';
    if (!copies || !filter.length || query.exact || tuning.forceIndex || requested === 'iterative-scan') return undefined;
    const maxChunks = this.options.prefilterMaxChunks ?? DENSE_SEARCH_DEFAULTS.prefilterMaxChunks;
    if (requested === 'auto' && maxChunks <= 0) return undefined;
    if (tuning.int8Scan === false) return copies.fallback('disabled');
    const state = await copies.current(collection);
    if (!state) return undefined;
    const copyMaxChunks = Math.max(maxChunks, DENSE_SEARCH_DEFAULTS.int8PrefilterMaxChunks);
    const limit = Math.max(1, Math.floor(query.limit));
    const collectionId = assertUuid(collection.id);
    const pageClauses = chunkFilter(filter);
    return this.db.transaction(async (tx) => {
      const params: unknown[] = [];
      const where = filterToSql(documentFilter(filter), params);
      // auto: no more documents than could still be pre-filtered (each holds at least one chunk).
      const cap = requested === 'auto' ? `LIMIT ${copyMaxChunks + 1}` : '';
      const { rows } = await tx.query<{ version: number | null; ids: string[]; n: number }>(
        `SELECT (SELECT version FROM collections WHERE id = '${collectionId}' AND deleted_at IS NULL) AS version,
           coalesce(array_agg(m.id), '{}') AS ids, coalesce(sum(m.chunk_count), 0)::float8 AS n
         FROM (SELECT d.id::text AS id, d.chunk_count FROM documents d
           WHERE d.collection_id = '${collectionId}' AND d.chunk_count > 0 AND ${where} ${cap}) m`,
        params,
      );
      const found = rows[0]!;
      if (requested === 'auto' && Number(found.n) > copyMaxChunks) return undefined; // auto walks the graph
      if (found.version === null || Number(found.version) !== state.version) return copies.fallback('stale');
      const candidates = state.copy.candidates(query.vector, found.ids, {
        limit,
        maxCandidates: limit * INT8_MAX_CANDIDATES_PER_RESULT,
        pageTest: pageClauses.length ? (page) => pageClauses.every((clause) => pageMatchesLikeSql(page, clause)) : undefined,
      });
      if (!candidates.exact) return copies.fallback('inexact');
      copies.stats.scans += 1;
      copies.stats.rowsScanned += candidates.scanned;
      copies.stats.candidatesReranked += candidates.ids.length;
      if (!candidates.ids.length) return [];
      const typed = `vector(${collection.dimensions})`;
      const ranked = await tx.query<Record<string, unknown>>(
        `SELECT ${columns}, (c.embedding::${typed} <=> $1::${typed}) AS distance
         FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.id = ANY($2::uuid[])
         ORDER BY distance, c.id
         LIMIT $3`,
        [toVectorLiteral(query.vector), candidates.ids, limit],
      );
      return ranked.rows;
    });
  }

  /** The query plan of the pgvector search (EXPLAIN text), e.g. to check the HNSW index is chosen. */
  async explainDenseSearch(query: DenseQuery, tuning: DenseSearchTuning = {}): Promise<string> {
    const collection = await this.queriedCollection(query);
    const { rows } = await this.db.transaction(async (tx) => {
      const { sql, params } = await this.denseSearchPlan(tx, collection, query, tuning, CHUNK_COLUMNS);
      return tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
    });
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  /** How a filtered search would find its rows (null without a filter, for exact searches and with forceIndex). */
  async filteredPlanOf(query: DenseQuery, tuning: DenseSearchTuning = {}): Promise<Exclude<FilteredPlan, 'auto'> | null> {
    const collection = await this.queriedCollection(query);
    return this.db.transaction(async (tx) => (await this.denseSearchPlan(tx, collection, query, tuning, 'c.id')).filteredPlan);
  }

  /**
   * Applies the search's settings inside `tx` (one round trip, which also counts the chunks a
   * filter can match when the plan depends on it) and returns the k-NN query selecting `columns`
   * (of `chunks c JOIN documents d`).
   */
  private async denseSearchPlan(
    tx: SqlExecutor,
    collection: Collection,
    query: DenseQuery,
    tuning: DenseSearchTuning,
    columns: string,
  ): Promise<{ sql: string; params: unknown[]; filteredPlan: Exclude<FilteredPlan, 'auto'> | null }> {
    const limit = Math.max(1, Math.floor(query.limit));
    const filter = query.filter ?? [];
    const collectionId = assertUuid(collection.id);
    const choosing = filter.length > 0 && !query.exact && !tuning.forceIndex;
    const requested = choosing ? (tuning.filteredPlan ?? 'auto') : null;
    const maxChunks = this.options.prefilterMaxChunks ?? DENSE_SEARCH_DEFAULTS.prefilterMaxChunks;
    const estimating = requested === 'auto' && maxChunks > 0;
    const filteredEf = filter.length ? (this.options.filteredEfSearch ?? DENSE_SEARCH_DEFAULTS.filteredEfSearch) : 0;
    const efSearch = Math.min(1000, Math.max(query.efSearch ?? DEFAULT_EF_SEARCH, limit, filteredEf));
    // JIT compilation costs more than a k-NN query takes; a forced plan's huge costs would trigger it.
    const settings: Record<string, string> = { jit: 'off' };
    if (!query.exact) {
      settings['hnsw.ef_search'] = String(efSearch);
      // With a filter, keep scanning the graph until `limit` matches are found, instead of
      // post-filtering ef_search candidates and silently returning fewer results.
      if (filter.length) settings['hnsw.iterative_scan'] = 'relaxed_order';
      // Only the HNSW index yields rows in distance order, so forbidding sorts leaves it as the one plan.
      if (tuning.forceIndex) settings.enable_sort = 'off';
    }
    // The two filtered plans, as settings. The planner cannot choose between them itself: it has no
    // statistics on metadata expressions and takes any jsonb test for a selective one.
    // - pre-filter: HNSW serves index scans only, so without them the planner reaches the matching
    //   documents' chunks through the btree indexes (bitmap scans) and sorts their exact distances;
    //   without hash and merge joins it cannot read the whole collection to join it instead.
    // - iterative-scan: forbidding sorts leaves the graph walk as the one plan.
    const planSettings = {
      enable_indexscan: { pre: 'off', walk: 'on' },
      enable_hashjoin: { pre: 'off', walk: 'on' },
      enable_mergejoin: { pre: 'off', walk: 'on' },
      enable_sort: { pre: 'on', walk: 'off' },
    };
    // set_config(…, true) lasts until the transaction ends, like SET LOCAL.
    const set = (name: string, value: string) => `set_config('${name}', ${value}, true)`;
    const assignments = Object.entries(settings).map(([name, value]) => set(name, `'${value}'`));
    const estimateParams: unknown[] = [];
    let statement: string;
    if (estimating) {
      // Chunks of the matching documents (page clauses left out: an upper bound), counted no further than
      // the threshold: documents with chunks hold at least one each, so LIMIT maxChunks + 1 settles it.
      // The count picks the plan's settings in the same round trip as the others.
      const where = filterToSql(documentFilter(filter), estimateParams);
      const chosen = Object.entries(planSettings).map(([name, v]) =>
        set(name, `CASE WHEN m.n <= ${maxChunks} THEN '${v.pre}' ELSE '${v.walk}' END`),
      );
      statement = `WITH m AS (SELECT coalesce(sum(x.chunk_count), 0)::float8 AS n FROM (SELECT d.chunk_count FROM documents d
          WHERE d.collection_id = '${collectionId}' AND d.chunk_count > 0 AND ${where} LIMIT ${maxChunks + 1}) x)
        SELECT ${[...assignments, ...chosen].join(', ')}, m.n AS matching FROM m`;
    } else {
      const fixed =
        query.exact || requested === 'pre-filter'
          ? [set('enable_indexscan', `'off'`)]
          : requested !== null
            ? [set('enable_sort', `'off'`)] // iterative-scan, or auto with pre-filtering switched off
            : [];
      if (requested === 'pre-filter') fixed.push(set('enable_hashjoin', `'off'`), set('enable_mergejoin', `'off'`));
      statement = `SELECT ${[...assignments, ...fixed].join(', ')}`;
    }
    const { rows } = await tx.query<{ matching?: number }>(statement, estimateParams);
    const filteredPlan =
      requested === null
        ? null
        : requested === 'pre-filter' || (estimating && Number(rows[0]?.matching) <= maxChunks)
          ? 'pre-filter'
          : 'iterative-scan';

    const params: unknown[] = [toVectorLiteral(query.vector), limit];
    const typed = `vector(${collection.dimensions})`;
    if (filteredPlan === 'pre-filter') {
      // The matching documents first (a materialised CTE, so the planner cannot start from the chunks
      // instead), then their chunks by document id; page clauses are the chunk's own. Two guards
      // against plans that read the whole collection (measured at 70k chunks): the join sits behind
      // OFFSET 0, because when the planner expects many matching documents (a source prefix, whose
      // statistics it has) it would rather sort every chunk by distance and join until LIMIT is
      // reached (104 ms instead of 15); and the chunks are not tested for the collection again (a
      // chunk belongs to its document's collection), because on stale statistics that test made it
      // AND each document's chunks with the whole collection's index (367 ms instead of 8).
      const documentWhere = filterToSql(documentFilter(filter), params);
      const chunkWhere = filterToSql(chunkFilter(filter), params);
      const sql = `WITH d AS MATERIALIZED (SELECT * FROM documents d WHERE d.collection_id = '${collectionId}' AND ${documentWhere}),
        nearest AS MATERIALIZED (
          SELECT * FROM (
            SELECT ${columns}, (c.embedding::${typed} <=> $1::${typed}) AS distance
            FROM d JOIN chunks c ON c.document_id = d.id
            WHERE ${chunkWhere}
            OFFSET 0) matching
          ORDER BY matching.distance
          LIMIT $2)
        SELECT * FROM nearest ORDER BY distance, id`;
      return { sql, params, filteredPlan };
    }
    const where = filterToSql(filter, params);
    // The collection id is inlined (a validated uuid) so the planner matches the partial index.
    const sql = `WITH nearest AS MATERIALIZED (
        SELECT ${columns}, (c.embedding::${typed} <=> $1::${typed}) AS distance
        FROM chunks c JOIN documents d ON d.id = c.document_id
        WHERE c.collection_id = '${collectionId}' AND d.collection_id = '${collectionId}' AND ${where}
        ORDER BY c.embedding::${typed} <=> $1::${typed}
        LIMIT $2)
      SELECT * FROM nearest ORDER BY distance, id`;
    return { sql, params, filteredPlan };
  }

  private async queriedCollection(query: DenseQuery): Promise<Collection> {
    const collection = await this.getCollectionById(query.collectionId);
    if (!collection) throw new RaglineError('not_found', `collection ${query.collectionId} not found`);
    if (query.vector.length !== collection.dimensions) {
      throw badRequest(`query vector has ${query.vector.length} dimensions; the collection holds ${collection.dimensions}`);
    }
    return collection;
  }
}

/** The chunks of the documents `where` selects (over `documents d`), as the keyword analyzer reads them. */
async function keywordChunksOf(tx: SqlExecutor, where: string, params: unknown[]): Promise<KeywordChunk[]> {
  const { rows } = await tx.query<{ id: string; title: string; heading_path: string[] | null; text: string }>(
    `SELECT c.id, d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE ${where}`,
    params,
  );
  return rows.map((r) => ({ id: String(r.id), title: String(r.title), headingPath: r.heading_path ?? [], text: String(r.text) }));
}

/** Last upload wins: an older upload (a slow concurrent job, a late retry) must not undo a newer one. */
const supersededUpload = (source: string) =>
  new RaglineError('conflict', `${source}: a newer upload of this source was already ingested; this older one is not applied`, {
    source,
    reason: 'superseded',
  });
