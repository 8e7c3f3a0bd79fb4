import type { ChunkInput } from './types.ts';
/** The little a SQL store needs from a driver; PGlite and node-postgres both fit behind it. */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Subscribes to NOTIFY on `channel` (PGlite: in process; Postgres: a dedicated connection).
   * `onResubscribed` runs after the subscription was lost and restored: notices sent in between
   * are gone, so the caller re-checks what it caches. Resolves to an unsubscribe function.
   */
  listen?(channel: string, onNotice: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>>;
}

/** pgvector's text form; both drivers send it as a parameter cast to ::vector. */
export function toVectorLiteral(vector: Float32Array | number[]): string {
  let out = '[';
  for (let i = 0; i < vector.length; i++) {
    const v = vector[i]!;
    if (!Number.isFinite(v)) throw new Error(`embedding has a non-finite value at ${i}`);
    out += (i ? ',' : '') + v;
  }
  return `${out}]`;
}

/** The insert that both the store's writes and the bench bulk loader use; VALUES rows follow. */
export const INSERT_CHUNKS_SQL = `INSERT INTO chunks (collection_id, document_id, ordinal, text, token_count, page_start, page_end,
  heading_path, char_start, char_end, kind, metadata, embedding) VALUES`;

/**
 * Pushes a chunk's values (every column of INSERT_CHUNKS_SQL after collection_id and document_id)
 * onto `params` and returns their placeholders, for one VALUES row.
 */
export function chunkRowPlaceholders(params: unknown[], c: ChunkInput): string {
  const start = params.length;
  params.push(
    c.ordinal,
    c.text,
    c.tokenCount,
    c.pageStart,
    c.pageEnd,
    c.headingPath,
    c.charStart,
    c.charEnd,
    c.kind,
    JSON.stringify(c.metadata ?? {}),
    toVectorLiteral(c.embedding),
  );
  const n = (k: number) => `$${start + k}`;
  return `${n(1)}, ${n(2)}, ${n(3)}, ${n(4)}, ${n(5)}, ${n(6)}::text[], ${n(7)}, ${n(8)}, ${n(9)}, ${n(10)}::jsonb, ${n(11)}::vector`;
}

/** A vector column as SQL sends it fastest: pgvector's binary form, base64-encoded (decodeVector reads it). */
export const vectorAsBase64 = (column: string) => `encode(vector_send(${column}), 'base64')`;

/**
 * pgvector's binary form (vector_send: int16 dimensions, int16 unused, then big-endian float4s),
 * sent base64-encoded: PGlite returns bytea as hex text, which made a 100k-chunk load ~9× slower.
 */
export function decodeVector(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64'); // skips the line breaks encode() inserts
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = view.getInt16(0);
  const out = new Float32Array(dims);
  for (let d = 0; d < dims; d++) out[d] = view.getFloat32(4 + d * 4);
  return out;
}
