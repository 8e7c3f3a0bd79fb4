import { RaglineError } from '../core/errors.ts';
import { filterToSql, type Filter } from './filters.ts';
import { toVectorLiteral, type SqlExecutor } from './sql.ts';
import type { Collection, DocumentChunkCandidate, DocumentPooling, DocumentVectorHit } from './types.ts';

export type { DocumentChunkCandidate, DocumentPooling, DocumentVectorHit };

/**
 * Document vectors: one per document, beside its chunk vectors, in `document_vectors`
 * (migration 015), searched by pgvector with one partial HNSW index per collection, like chunks.
 * They stay in SQL whatever the chunk dense backend is (Pinecone does not hold them yet).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertUuid(id: string): string {
  if (!UUID.test(id)) throw new RaglineError('internal', `not a uuid: ${id}`);
  return id.toLowerCase();
}

export const documentVectorIndexName = (collectionId: string) => `document_vectors_hnsw_${assertUuid(collectionId).replace(/-/g, '')}`;

export function documentVectorIndexSql(collection: Collection): string {
  return `CREATE INDEX IF NOT EXISTS ${documentVectorIndexName(collection.id)} ON document_vectors
    USING hnsw ((embedding::vector(${collection.dimensions})) vector_cosine_ops) WHERE collection_id = '${assertUuid(collection.id)}'`;
}

/** Writes (or replaces) a document's vector; false when the document is gone (deleted meanwhile). */
export async function putDocumentVector(
  db: SqlExecutor,
  input: { collectionId: string; documentId: string; pooling: DocumentPooling; vector: Float32Array | number[] },
): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO document_vectors (document_id, collection_id, pooling, embedding)
     SELECT d.id, d.collection_id, $3, $4::vector FROM documents d WHERE d.id = $1 AND d.collection_id = $2
     ON CONFLICT (document_id) DO UPDATE SET pooling = EXCLUDED.pooling, embedding = EXCLUDED.embedding
     RETURNING document_id`,
    [input.documentId, input.collectionId, input.pooling, toVectorLiteral(input.vector)],
  );
  return rows.length > 0;
}

/** The normalised mean of each document's chunk vectors, for documents of the collection without a 'mean' vector. */
export async function poolMissingDocumentVectors(db: SqlExecutor, collection: Collection): Promise<number> {
  const typed = `vector(${collection.dimensions})`;
  const { rows } = await db.query(
    `INSERT INTO document_vectors (document_id, collection_id, pooling, embedding)
     SELECT c.document_id, c.collection_id, 'mean', l2_normalize(avg(c.embedding::${typed}))::vector
     FROM chunks c
     WHERE c.collection_id = $1
       AND NOT EXISTS (SELECT 1 FROM document_vectors v WHERE v.document_id = c.document_id AND v.pooling = 'mean')
     GROUP BY c.document_id, c.collection_id
     ON CONFLICT (document_id) DO UPDATE SET pooling = EXCLUDED.pooling, embedding = EXCLUDED.embedding
     RETURNING document_id`,
    [collection.id],
  );
  return rows.length;
}

/** Documents of the collection without a vector made by `pooling`, by id (at most `limit`). */
export async function documentsWithoutVector(
  db: SqlExecutor,
  collectionId: string,
  pooling: DocumentPooling,
  limit: number,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT d.id FROM documents d WHERE d.collection_id = $1
       AND NOT EXISTS (SELECT 1 FROM document_vectors v WHERE v.document_id = d.id AND v.pooling = $2)
     ORDER BY d.id LIMIT $3`,
    [collectionId, pooling, limit],
  );
  return rows.map((r) => String(r.id));
}

export async function countDocumentVectors(db: SqlExecutor, collectionId: string): Promise<{ mean: number; firstWindow: number }> {
  const { rows } = await db.query<{ pooling: string; n: number }>(
    'SELECT pooling, count(*)::int AS n FROM document_vectors WHERE collection_id = $1 GROUP BY pooling',
    [collectionId],
  );
  const of = (p: string) => Number(rows.find((r) => r.pooling === p)?.n ?? 0);
  return { mean: of('mean'), firstWindow: of('first-window') };
}

/** The documents nearest to the query vector, best first (HNSW when the index exists). */
export async function nearestDocuments(
  db: SqlExecutor,
  collection: Collection,
  vector: Float32Array | number[],
  limit: number,
  efSearch: number,
): Promise<DocumentVectorHit[]> {
  const typed = `vector(${collection.dimensions})`;
  const { rows } = await db.transaction(async (tx) => {
    await tx.query(
      `SELECT set_config('jit', 'off', true), set_config('hnsw.ef_search', '${Math.min(1000, Math.max(efSearch, limit))}', true)`,
    );
    return tx.query<{ document_id: string; distance: number }>(
      `WITH nearest AS MATERIALIZED (
         SELECT v.document_id, (v.embedding::${typed} <=> $1::${typed}) AS distance FROM document_vectors v
         WHERE v.collection_id = '${assertUuid(collection.id)}'
         ORDER BY v.embedding::${typed} <=> $1::${typed} LIMIT $2)
       SELECT * FROM nearest ORDER BY distance, document_id`,
      [toVectorLiteral(vector), Math.max(1, Math.floor(limit))],
    );
  });
  return rows.map((r) => ({ documentId: String(r.document_id), similarity: 1 - Number(r.distance) }));
}

/** Exact similarity of the query to the given documents' vectors (documents without one are absent). */
export async function documentSimilarities(
  db: SqlExecutor,
  collection: Collection,
  vector: Float32Array | number[],
  documentIds: string[],
): Promise<Map<string, number>> {
  if (!documentIds.length) return new Map();
  const typed = `vector(${collection.dimensions})`;
  const { rows } = await db.query<{ document_id: string; distance: number }>(
    `SELECT v.document_id, (v.embedding::${typed} <=> $1::${typed}) AS distance FROM document_vectors v
     WHERE v.collection_id = $2 AND v.document_id = ANY($3::uuid[])`,
    [toVectorLiteral(vector), collection.id, documentIds.map(assertUuid)],
  );
  return new Map(rows.map((r) => [String(r.document_id), 1 - Number(r.distance)]));
}

/** Every chunk of the given documents that passes the filter, with its exact similarity to the query. */
export async function chunksOfDocumentsBySimilarity(
  db: SqlExecutor,
  collection: Collection,
  vector: Float32Array | number[],
  documentIds: string[],
  filter: Filter,
): Promise<DocumentChunkCandidate[]> {
  if (!documentIds.length) return [];
  const typed = `vector(${collection.dimensions})`;
  const params: unknown[] = [toVectorLiteral(vector), collection.id, documentIds.map(assertUuid)];
  const where = filterToSql(filter, params);
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT c.id, c.document_id, d.updated_at, (c.embedding::${typed} <=> $1::${typed}) AS distance
     FROM chunks c JOIN documents d ON d.id = c.document_id
     WHERE c.collection_id = $2 AND c.document_id = ANY($3::uuid[]) AND ${where}`,
    params,
  );
  return rows.map((r) => ({
    id: String(r.id),
    documentId: String(r.document_id),
    similarity: 1 - Number(r.distance),
    updatedAt: new Date(r.updated_at as string | Date).toISOString(),
  }));
}
