import type { SqlExecutor } from './sql.ts';

/** A stored BM25 index: an opaque payload (retrieval/ decides its layout) and what it covers. */
export interface Bm25SnapshotRow {
  format: number;
  collectionVersion: number;
  chunkCount: number;
  payload: Uint8Array;
}

/** Where BM25 snapshots live; the SQL implementation keeps them in the bm25_snapshots table. */
export interface Bm25SnapshotStore {
  load(collectionId: string): Promise<Bm25SnapshotRow | null>;
  /** The collection version of the stored snapshot of this format, or null when there is none. */
  storedVersion(collectionId: string, format: number): Promise<number | null>;
  /**
   * Stores the snapshot unless one of the same format covering this version or a later one is
   * already there (replicas race to write; the newest wins). False when nothing was written,
   * including when the collection was deleted meanwhile.
   */
  save(collectionId: string, snapshot: Bm25SnapshotRow): Promise<boolean>;
}

const FOREIGN_KEY_VIOLATION = '23503';
const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export class SqlBm25Snapshots implements Bm25SnapshotStore {
  constructor(private readonly db: SqlExecutor) {}

  async load(collectionId: string): Promise<Bm25SnapshotRow | null> {
    const { rows } = await this.db.query<{ format: number; collection_version: string; chunk_count: number; payload: string }>(
      'SELECT format, collection_version, chunk_count, payload FROM bm25_snapshots WHERE collection_id = $1',
      [collectionId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      format: Number(row.format),
      collectionVersion: Number(row.collection_version),
      chunkCount: Number(row.chunk_count),
      payload: Buffer.from(row.payload, 'base64'),
    };
  }

  async storedVersion(collectionId: string, format: number): Promise<number | null> {
    const { rows } = await this.db.query<{ v: string }>(
      'SELECT collection_version AS v FROM bm25_snapshots WHERE collection_id = $1 AND format = $2',
      [collectionId, format],
    );
    return rows[0] ? Number(rows[0].v) : null;
  }

  async save(collectionId: string, snapshot: Bm25SnapshotRow): Promise<boolean> {
    try {
      const { rows } = await this.db.query(
        `INSERT INTO bm25_snapshots (collection_id, format, collection_version, chunk_count, payload)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (collection_id) DO UPDATE
           SET format = EXCLUDED.format, collection_version = EXCLUDED.collection_version,
               chunk_count = EXCLUDED.chunk_count, payload = EXCLUDED.payload, created_at = now()
           WHERE bm25_snapshots.format <> EXCLUDED.format OR bm25_snapshots.collection_version < EXCLUDED.collection_version
         RETURNING collection_id`,
        [collectionId, snapshot.format, snapshot.collectionVersion, snapshot.chunkCount, base64(snapshot.payload)],
      );
      return rows.length > 0;
    } catch (err) {
      if ((err as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) return false;
      throw err;
    }
  }
}
