import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { Int8VectorCopy, type CopiedChunk } from './int8-vectors.ts';
import { decodeVector, vectorAsBase64, type SqlExecutor } from './sql.ts';
import type { Collection } from './types.ts';

/**
 * The int8 copies of collections' chunk vectors (store/int8-vectors.ts) a SQL store scans for
 * filtered dense search instead of computing every distance in SQL (docs/scaleout.md, "Int8 copy").
 *
 * - **Lazy**: a collection's copy is loaded in the background on its first filtered search, which
 *   (like every search until the copy is ready) runs the SQL plan; `load` waits for it (warm-up).
 * - **Current**: a copy records the collection version it reflects. The store compares it with the
 *   version it reads in the search's own transaction and uses the copy only when they are equal;
 *   when the collection moved, the copy catches up first by diffing document versions (as the BM25
 *   registry does) and re-reading only the documents that changed. A catch-up applies what it read
 *   in one synchronous step together with the new version, so a copy never serves a version it
 *   does not hold.
 * - **Bounded**: copies stay within `memoryBudgetBytes` (estimated heap); a collection whose copy
 *   alone would not fit is not copied, and least recently used copies are dropped for a new one.
 */

export interface VectorCopiesOptions {
  /** Use the copies at all (RAGLINE_DENSE_INT8_SCAN); false leaves every search on SQL. */
  enabled: boolean;
  /** Estimated heap all copies may hold (RAGLINE_DENSE_INT8_MEMORY_MB). */
  memoryBudgetBytes: number;
  /** Chunks read per statement while loading or catching up (whole documents; at least one). */
  chunksPerBatch?: number;
}

/** Why a filtered search did not use a copy (counted in `stats.fallbacks`). */
export type CopyFallback = 'disabled' | 'loading' | 'over_budget' | 'stale' | 'inexact' | 'failed';

export interface VectorCopyStats {
  /** Filtered searches ranked through a copy. */
  scans: number;
  /** Rows those scans scored, and candidates they re-ranked in SQL, in all. */
  rowsScanned: number;
  candidatesReranked: number;
  fallbacks: Record<CopyFallback, number>;
  /** Copies loaded in full, and catch-ups of loaded copies. */
  loads: number;
  catchUps: number;
  evictions: number;
  /** Milliseconds the last full load took, and the chunks it read. */
  lastLoad?: { collectionId: string; ms: number; chunks: number; bytes: number };
}

interface CopyState {
  copy: Int8VectorCopy;
  /** The collection version the copy reflects; -1 until the first load is complete. */
  version: number;
  running?: { version: number; done: Promise<void> };
}

/**
 * Estimated bytes of a copy holding `chunks` vectors (Int8VectorCopy.estimatedBytes for a full one):
 * the codes (at least one 64 KiB WebAssembly page), scale, page, id and row index per chunk.
 */
export const estimateCopyBytes = (chunks: number, dimensions: number) =>
  Math.max(65_536, chunks * Math.ceil(dimensions / 16) * 16) + chunks * (4 + 8 + 90 + 4);

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface ChunkRow {
  document_id: string;
  document_version: number;
  id: string;
  page_start: number | null;
  embedding: string;
}

export class VectorCopies {
  /** Insertion order is recency order (most recently used last). */
  private readonly states = new Map<string, CopyState>();
  /** Collections refused for the budget, at the version that was measured. */
  private readonly refused = new Map<string, number>();
  private closed = false;
  readonly stats: VectorCopyStats = {
    scans: 0,
    rowsScanned: 0,
    candidatesReranked: 0,
    fallbacks: { disabled: 0, loading: 0, over_budget: 0, stale: 0, inexact: 0, failed: 0 },
    loads: 0,
    catchUps: 0,
    evictions: 0,
  };

  constructor(
    private readonly db: SqlExecutor,
    private readonly options: VectorCopiesOptions,
  ) {}

  /** Settable for measurements (the filtered bench compares both paths in one process). */
  get enabled(): boolean {
    return this.options.enabled;
  }

  set enabled(on: boolean) {
    this.options.enabled = on;
  }

  get memoryBudgetBytes(): number {
    return this.options.memoryBudgetBytes;
  }

  fallback(reason: CopyFallback): undefined {
    this.stats.fallbacks[reason] += 1;
    return undefined;
  }

  /**
   * The copy to scan for `collection` with the version it reflects, or undefined (the caller runs
   * SQL). Starts the first load in the background without waiting for it; waits for a catch-up
   * of a loaded copy. The caller must still compare `version` with the one its transaction reads.
   */
  async current(collection: Pick<Collection, 'id' | 'version' | 'dimensions'>): Promise<CopyState | undefined> {
    if (!this.options.enabled || this.closed) return this.fallback('disabled');
    const state = this.touch(collection);
    if (!state) return this.fallback('over_budget');
    if (state.version < 0) {
      void this.catchUp(collection.id, state, collection.version).catch(() => undefined);
      return this.fallback('loading');
    }
    if (state.version !== collection.version) {
      try {
        await this.catchUp(collection.id, state, collection.version);
      } catch {
        return this.fallback('failed');
      }
    }
    if (this.states.get(collection.id) === state) return state;
    return this.fallback(this.refused.has(collection.id) ? 'over_budget' : 'failed');
  }

  /** Loads (or catches up) the collection's copy and waits for it; false when it is not copied (budget, disabled). */
  async load(collection: Pick<Collection, 'id' | 'version' | 'dimensions'>): Promise<boolean> {
    if (!this.options.enabled || this.closed) return false;
    const state = this.touch(collection);
    if (!state) return false;
    await this.catchUp(collection.id, state, collection.version);
    return this.states.get(collection.id) === state;
  }

  /**
   * Loads copies in the given order while they fit the budget (at start-up, so the first filtered
   * searches find them ready); never throws, a copy that fails loads again on first use.
   */
  async warmUp(collections: Pick<Collection, 'id' | 'version' | 'dimensions'>[]): Promise<number> {
    let loaded = 0;
    for (const collection of collections) {
      if (!this.options.enabled || this.closed || this.estimatedBytes >= this.options.memoryBudgetBytes) break;
      try {
        if (await this.load(collection)) loaded++;
      } catch {
        // logged by catchUp
      }
    }
    return loaded;
  }

  /** Forgets a collection's copy (deleted, or to force a reload). */
  drop(collectionId: string): void {
    this.states.delete(collectionId);
    this.refused.delete(collectionId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.states.values()].map((s) => s.running?.done.catch(() => undefined)));
    this.states.clear();
  }

  get estimatedBytes(): number {
    let total = 0;
    for (const state of this.states.values()) total += state.copy.estimatedBytes;
    return total;
  }

  /** The collection's state, most recently used now; a new (empty) one unless the budget refused it. */
  private touch(collection: Pick<Collection, 'id' | 'version' | 'dimensions'>): CopyState | undefined {
    const existing = this.states.get(collection.id);
    if (existing) {
      this.states.delete(collection.id);
      this.states.set(collection.id, existing);
      return existing;
    }
    if (this.refused.get(collection.id) === collection.version) return undefined;
    const state: CopyState = { copy: new Int8VectorCopy(collection.dimensions), version: -1 };
    this.states.set(collection.id, state);
    return state;
  }

  private catchUp(collectionId: string, state: CopyState, version: number): Promise<void> {
    if (version <= state.version) return Promise.resolve();
    // A running sync started for this version or a newer one covers this caller; an older one
    // may have read the database before this caller's write, so run again after it.
    if (state.running && state.running.version >= version) return state.running.done;
    const previous = state.running?.done.catch(() => undefined);
    const done = (async () => {
      await previous;
      if (version <= state.version || this.states.get(collectionId) !== state) return;
      await this.sync(collectionId, state);
    })();
    const running = { version, done };
    state.running = running;
    const settle = () => {
      if (state.running === running) state.running = undefined;
    };
    done.then(settle, (err: unknown) => {
      settle();
      // The database failed (or was closed): forget the copy so a later search starts over.
      if (this.states.get(collectionId) === state) this.states.delete(collectionId);
      if (!this.closed) logger.warn({ err: errorMessage(err), collectionId }, 'loading the int8 vector copy failed; searches use SQL');
    });
    return done;
  }

  /**
   * Brings the copy in line with the collection. The version is read before the document list,
   * so any write after it moves the version past what the copy records and is caught up later.
   */
  private async sync(collectionId: string, state: CopyState): Promise<void> {
    const started = performance.now();
    const listed = await this.db.transaction(async (tx) => {
      const v = await tx.query<{ version: number; dimensions: number }>(
        'SELECT version, dimensions FROM collections WHERE id = $1 AND deleted_at IS NULL',
        [collectionId],
      );
      if (!v.rows[0]) return null;
      const docs = await tx.query<{ id: string; version: number; chunk_count: number }>(
        'SELECT id::text AS id, version, chunk_count FROM documents WHERE collection_id = $1',
        [collectionId],
      );
      return { version: Number(v.rows[0].version), documents: docs.rows };
    });
    if (!listed) {
      this.drop(collectionId);
      return;
    }
    const initial = state.version < 0;
    const copy = state.copy;
    const current = new Map(listed.documents.map((d) => [String(d.id), { version: Number(d.version), chunks: Number(d.chunk_count) }]));
    const removed = [...copy.documentIds()].filter((id) => current.get(id)?.version !== copy.documentVersion(id));
    const missing = [...current.keys()].filter((id) => copy.documentVersion(id) !== current.get(id)!.version);
    const chunks = [...current.values()].reduce((s, d) => s + d.chunks, 0);
    const bytes = estimateCopyBytes(chunks, copy.dimensions);
    if (bytes > this.options.memoryBudgetBytes) {
      this.states.delete(collectionId);
      this.refused.set(collectionId, listed.version);
      logger.info({ collectionId, chunks, bytes }, 'int8 vector copy over RAGLINE_DENSE_INT8_MEMORY_MB; filtered search stays on SQL');
      return;
    }
    this.enforceBudget(collectionId, bytes);
    if (initial) copy.reserve(chunks);

    // A loaded copy keeps serving its version while the changes are read, then takes them in one step.
    const pending: { id: string; version: number; chunks: CopiedChunk[] }[] = [];
    const apply = (id: string, version: number, rows: CopiedChunk[]) =>
      initial ? copy.putDocument(id, version, rows) : pending.push({ id, version, chunks: rows });
    // Batches of about `chunksPerBatch` chunks: one statement holds PGlite's only connection meanwhile.
    const perBatch = this.options.chunksPerBatch ?? 2000;
    for (let i = 0; i < missing.length; ) {
      if (this.closed) throw new Error('store closed');
      const batch: string[] = [];
      for (let held = 0; i < missing.length && (batch.length === 0 || held + current.get(missing[i]!)!.chunks <= perBatch); i++) {
        held += current.get(missing[i]!)!.chunks;
        batch.push(missing[i]!);
      }
      const { rows } = await this.db.query<ChunkRow>(
        `SELECT c.document_id::text AS document_id, d.version AS document_version, c.id::text AS id, c.page_start,
           ${vectorAsBase64('c.embedding')} AS embedding
         FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.document_id = ANY($1::uuid[]) ORDER BY c.document_id, c.ordinal`,
        [batch],
      );
      const byDocument = new Map<string, { version: number; chunks: CopiedChunk[] }>();
      for (const r of rows) {
        const id = String(r.document_id);
        let entry = byDocument.get(id);
        if (!entry) byDocument.set(id, (entry = { version: Number(r.document_version), chunks: [] }));
        entry.chunks.push({
          id: String(r.id),
          pageStart: r.page_start === null ? null : Number(r.page_start),
          vector: decodeVector(r.embedding),
        });
      }
      // A document without rows now (deleted since the list, or empty) is recorded as listed; the next diff corrects it.
      for (const id of batch) {
        const entry = byDocument.get(id);
        apply(id, entry?.version ?? current.get(id)!.version, entry?.chunks ?? []);
      }
      await yieldToEventLoop();
    }
    if (this.states.get(collectionId) !== state) return; // dropped meanwhile
    for (const id of removed) if (!current.has(id)) copy.removeDocument(id);
    for (const p of pending) copy.putDocument(p.id, p.version, p.chunks);
    state.version = Math.max(state.version, listed.version);
    if (initial) {
      this.stats.loads += 1;
      this.stats.lastLoad = { collectionId, ms: performance.now() - started, chunks: copy.size, bytes: copy.estimatedBytes };
      logger.info(this.stats.lastLoad, 'int8 vector copy loaded');
    } else {
      this.stats.catchUps += 1;
    }
  }

  /** Drops least recently used copies until `incoming` more bytes fit; never `keep` or one being synced. */
  private enforceBudget(keep: string, incoming: number): void {
    let total = 0;
    for (const [id, state] of this.states) if (id !== keep) total += state.copy.estimatedBytes;
    for (const [id, state] of this.states) {
      if (total + incoming <= this.options.memoryBudgetBytes) break;
      if (id === keep || state.running) continue;
      total -= state.copy.estimatedBytes;
      this.states.delete(id);
      this.stats.evictions += 1;
      logger.info({ collectionId: id, chunks: state.copy.size }, 'int8 vector copy dropped to stay within RAGLINE_DENSE_INT8_MEMORY_MB');
    }
  }
}
