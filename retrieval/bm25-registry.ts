import { z } from 'zod';
import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { Bm25SnapshotStore } from '../store/bm25-snapshots.ts';
import { COLLECTION_CHANGES_CHANNEL } from '../store/collection-changes.ts';
import type { SqlExecutor } from '../store/sql.ts';
import type { Collection, Store } from '../store/types.ts';
import { Bm25Index, type Bm25Options } from './bm25.ts';
import { SNAPSHOT_FORMAT, decodeSnapshot, encodeSnapshot } from './bm25-snapshot.ts';

const changeNotice = z.object({ id: z.string(), version: z.number(), deleted: z.boolean() });

export interface Bm25RegistryOptions {
  bm25?: Partial<Bm25Options>;
  documentsPerBatch?: number;
  /** Persisted indexes: a collection loads from its snapshot instead of re-reading every chunk. */
  snapshots?: Bm25SnapshotStore;
  /** Change notices from the database (NOTIFY); without them the per-query version check still catches up. */
  changes?: Pick<SqlExecutor, 'listen'>;
  /** Estimated heap all indexes may hold; least recently used collections are unloaded beyond it. 0 = no limit. */
  memoryBudgetBytes?: number;
  /** Rewrite a collection's snapshot once this many documents changed since the stored one. */
  snapshotEveryDocuments?: number;
  /** Notices arriving within this window are folded into one catch-up (bulk ingests notify per document). */
  catchUpDelayMs?: number;
}

/** Where a loaded index came from: its stored snapshot (then caught up), or built from the chunks. */
export type IndexSource = 'snapshot' | 'rebuild';

export interface CollectionReadiness {
  id: string;
  status: 'loading' | 'syncing' | 'ready';
  source: IndexSource;
  chunks: number;
  syncedVersion: number;
  /** Version of the snapshot this process knows is stored; -1 when none. */
  snapshotVersion: number;
  estimatedBytes: number;
}

export interface Bm25Readiness {
  /** True once warm-up has finished: every collection that fits the budget is loaded. */
  ready: boolean;
  changeFeed: 'listening' | 'unavailable' | 'off';
  memory: { budgetBytes: number; estimatedBytes: number };
  /** Collections unloaded to stay within the memory budget since start. */
  evictions: number;
  collections: CollectionReadiness[];
}

interface CollectionState {
  index: Bm25Index;
  /** The collection version the index reflects; -1 before the first sync. */
  syncedVersion: number;
  /** Restoring from the snapshot (or deciding there is none); settles before any sync. */
  loading?: Promise<void>;
  source: IndexSource;
  /** The sync in progress, shared by concurrent callers, with the version it was started for. */
  running?: { version: number; done: Promise<Bm25Index> };
  snapshotVersion: number;
  /** Documents added, changed or removed since the stored snapshot. */
  changedSinceSnapshot: number;
  snapshotWrite?: Promise<void>;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One Bm25Index per collection, caught up lazily with the store. The collection version moves on
 * every write (by this process or another replica); when it has moved, the registry diffs
 * document versions against what it indexed and re-reads only what changed.
 *
 * Across replicas: a collection's index is loaded from its SQL snapshot when there is one, change
 * notices start the catch-up before the next query needs it (and drop deleted collections at
 * once), and a memory budget unloads the least recently used collections, which reload from
 * their snapshots on demand. The Map's insertion order is the recency order.
 */
export class Bm25Registry {
  private readonly states = new Map<string, CollectionState>();
  private readonly catchUps = new Map<string, { version: number; timer: NodeJS.Timeout }>();
  private readonly useSnapshots: boolean;
  private unsubscribe: (() => Promise<void>) | undefined;
  private changeFeed: Bm25Readiness['changeFeed'] = 'off';
  private warmedUp = false;
  private evictions = 0;

  constructor(
    private readonly store: Store,
    private readonly options: Bm25RegistryOptions = {},
  ) {
    // A snapshot holds analyzed terms: only the default analyzer is known to match it.
    this.useSnapshots = Boolean(options.snapshots) && !options.bm25?.tokenizer;
  }

  private get budgetBytes(): number {
    return this.options.memoryBudgetBytes ?? 0;
  }

  /** Subscribes to change notices, when the database offers them. */
  async start(): Promise<void> {
    const listen = this.options.changes?.listen;
    if (!listen || this.unsubscribe) return;
    try {
      this.unsubscribe = await listen(
        COLLECTION_CHANGES_CHANNEL,
        (payload) => this.onNotice(payload),
        () => void this.recheckLoaded(),
      );
      this.changeFeed = 'listening';
    } catch (err) {
      this.changeFeed = 'unavailable';
      logger.warn({ err: errorMessage(err) }, 'cannot listen for collection changes; BM25 catches up on the next query instead');
    }
  }

  async close(): Promise<void> {
    for (const { timer } of this.catchUps.values()) clearTimeout(timer);
    this.catchUps.clear();
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.all([...this.states.values()].map((s) => s.snapshotWrite));
  }

  /** Called after each sync: `initial` for the first build of a collection's index (metrics). */
  onSync: ((event: { collectionId: string; initial: boolean; ms: number; chunks: number }) => void) | undefined;

  async ensureSynced(collection: Pick<Collection, 'id' | 'version'>): Promise<Bm25Index> {
    let state = this.states.get(collection.id);
    if (state) {
      this.states.delete(collection.id); // re-inserted last: most recently used
    } else {
      state = this.newState(collection.id);
    }
    this.states.set(collection.id, state);
    await state.loading;
    const index = await this.catchUp(collection, state);
    this.maybeWriteSnapshot(collection.id, state);
    this.enforceBudget(collection.id);
    return index;
  }

  private newState(collectionId: string): CollectionState {
    const state: CollectionState = {
      index: new Bm25Index(this.options.bm25),
      syncedVersion: -1,
      source: 'rebuild',
      snapshotVersion: -1,
      changedSinceSnapshot: 0,
    };
    if (!this.useSnapshots) return state;
    state.loading = this.restore(collectionId, state).then(
      () => {
        state.loading = undefined;
      },
      (err: unknown) => {
        // The database failed: forget the state so the next query tries again.
        if (this.states.get(collectionId) === state) this.states.delete(collectionId);
        throw err;
      },
    );
    return state;
  }

  private async restore(collectionId: string, state: CollectionState): Promise<void> {
    const row = await this.options.snapshots!.load(collectionId);
    if (!row || row.format !== SNAPSHOT_FORMAT) return;
    try {
      state.index = await decodeSnapshot(row.payload, this.options.bm25);
    } catch (err) {
      logger.warn({ err: errorMessage(err), collectionId }, 'BM25 snapshot unreadable; rebuilding from the chunks');
      return;
    }
    state.source = 'snapshot';
    state.syncedVersion = row.collectionVersion;
    state.snapshotVersion = row.collectionVersion;
  }

  private async catchUp(collection: Pick<Collection, 'id' | 'version'>, state: CollectionState): Promise<Bm25Index> {
    if (collection.version <= state.syncedVersion) return state.index;
    // A running sync started for this version or a newer one covers this caller; an older one
    // may have read the database before this caller's write, so run again after it.
    if (state.running && state.running.version >= collection.version) return state.running.done;
    const previous = state.running?.done.catch(() => undefined);
    const done = (async () => {
      await previous;
      if (collection.version <= state.syncedVersion) return state.index;
      const started = performance.now();
      const initial = state.syncedVersion < 0;
      state.changedSinceSnapshot += await this.sync(collection.id, state.index);
      state.syncedVersion = Math.max(state.syncedVersion, collection.version);
      this.onSync?.({ collectionId: collection.id, initial, ms: performance.now() - started, chunks: state.index.size });
      return state.index;
    })();
    const running = { version: collection.version, done };
    state.running = running;
    try {
      return await done;
    } finally {
      if (state.running === running) state.running = undefined;
    }
  }

  /** Forgets a collection's index (after the collection is deleted, or to force a rebuild). */
  drop(collectionId: string): void {
    this.states.delete(collectionId);
    clearTimeout(this.catchUps.get(collectionId)?.timer);
    this.catchUps.delete(collectionId);
  }

  /**
   * Loads collections in the given order until the memory budget is used; the rest load
   * on first use. Searches meanwhile wait only for their own collection.
   */
  async warmUp(collections: Collection[]): Promise<{ collections: number; chunksIndexed: number }> {
    let loaded = 0;
    let chunksIndexed = 0;
    try {
      for (const collection of collections) {
        if (this.budgetBytes && this.estimatedBytes() >= this.budgetBytes) break;
        chunksIndexed += (await this.ensureSynced(collection)).size;
        loaded += 1;
      }
    } finally {
      this.warmedUp = true;
    }
    return { collections: loaded, chunksIndexed };
  }

  readiness(): Bm25Readiness {
    const collections = [...this.states].map(
      ([id, s]): CollectionReadiness => ({
        id,
        status: s.loading ? 'loading' : s.running ? 'syncing' : 'ready',
        source: s.source,
        chunks: s.index.size,
        syncedVersion: s.syncedVersion,
        snapshotVersion: s.snapshotVersion,
        estimatedBytes: s.index.estimatedBytes,
      }),
    );
    return {
      ready: this.warmedUp,
      changeFeed: this.changeFeed,
      memory: { budgetBytes: this.budgetBytes, estimatedBytes: this.estimatedBytes() },
      evictions: this.evictions,
      collections,
    };
  }

  private estimatedBytes(): number {
    let total = 0;
    for (const state of this.states.values()) total += state.index.estimatedBytes;
    return total;
  }

  private onNotice(payload: string): void {
    let notice: z.infer<typeof changeNotice>;
    try {
      notice = changeNotice.parse(JSON.parse(payload));
    } catch (err) {
      logger.warn({ err: errorMessage(err), payload: payload.slice(0, 200) }, 'ignoring a malformed collection change notice');
      return;
    }
    if (notice.deleted) this.drop(notice.id);
    else this.scheduleCatchUp(notice.id, notice.version);
  }

  /** Catches up a loaded collection soon, folding the notices of a burst into one sync. */
  private scheduleCatchUp(collectionId: string, version: number): void {
    const state = this.states.get(collectionId);
    if (!state || version <= state.syncedVersion) return;
    const pending = this.catchUps.get(collectionId);
    if (pending) {
      pending.version = Math.max(pending.version, version);
      return;
    }
    const timer = setTimeout(() => {
      const due = this.catchUps.get(collectionId);
      this.catchUps.delete(collectionId);
      if (!due || !this.states.has(collectionId)) return;
      this.ensureSynced({ id: collectionId, version: due.version }).catch((err: unknown) =>
        logger.warn({ err: errorMessage(err), collectionId }, 'BM25 catch-up after a change notice failed; the next query retries'),
      );
    }, this.options.catchUpDelayMs ?? 100);
    timer.unref();
    this.catchUps.set(collectionId, { version, timer });
  }

  /** After missed notices: drop what was deleted, catch up what moved. */
  private async recheckLoaded(): Promise<void> {
    for (const id of [...this.states.keys()]) {
      try {
        const collection = await this.store.getCollection(id);
        if (!collection) this.drop(id);
        else this.scheduleCatchUp(id, collection.version);
      } catch (err) {
        logger.warn({ err: errorMessage(err), collectionId: id }, 'cannot re-check a collection after reconnecting');
      }
    }
  }

  /** Unloads least recently used collections while the estimate exceeds the budget; never `keep`. */
  private enforceBudget(keep: string): void {
    const budget = this.budgetBytes;
    if (!budget) return;
    let total = this.estimatedBytes();
    for (const [id, state] of this.states) {
      if (total <= budget) break;
      if (id === keep || state.loading || state.running) continue;
      total -= state.index.estimatedBytes;
      this.states.delete(id);
      this.evictions += 1;
      // Changes since the stored snapshot would otherwise be re-read from the chunks on reload.
      if (state.changedSinceSnapshot > 0 || state.snapshotVersion < state.syncedVersion) this.writeSnapshot(id, state);
      logger.info({ collectionId: id, chunks: state.index.size }, 'BM25 index unloaded to stay within RAGLINE_BM25_MEMORY_MB');
    }
  }

  private maybeWriteSnapshot(collectionId: string, state: CollectionState): void {
    if (!this.useSnapshots || state.snapshotWrite || state.running || state.loading) return;
    const due = state.snapshotVersion < 0 || state.changedSinceSnapshot >= (this.options.snapshotEveryDocuments ?? 500);
    if (due && state.syncedVersion > state.snapshotVersion) this.writeSnapshot(collectionId, state);
  }

  /**
   * Stores the index unless another replica already stored one as new. The index is serialised
   * in one synchronous step while no sync is changing it, so it matches `syncedVersion` exactly.
   */
  private writeSnapshot(collectionId: string, state: CollectionState): void {
    if (!this.useSnapshots || state.snapshotWrite) return;
    const snapshots = this.options.snapshots!;
    state.snapshotWrite = (async () => {
      const stored = await snapshots.storedVersion(collectionId, SNAPSHOT_FORMAT);
      if (stored !== null && stored >= state.syncedVersion) {
        state.snapshotVersion = stored;
        state.changedSinceSnapshot = 0;
        return;
      }
      if (state.running || state.loading) return; // the index is changing; a later sync writes it
      const version = state.syncedVersion;
      const changed = state.changedSinceSnapshot;
      const chunkCount = state.index.size;
      const payload = await encodeSnapshot(state.index);
      await snapshots.save(collectionId, { format: SNAPSHOT_FORMAT, collectionVersion: version, chunkCount, payload });
      state.snapshotVersion = Math.max(state.snapshotVersion, version);
      state.changedSinceSnapshot = Math.max(0, state.changedSinceSnapshot - changed);
    })()
      .catch((err: unknown) => logger.warn({ err: errorMessage(err), collectionId }, 'writing the BM25 snapshot failed'))
      .finally(() => {
        state.snapshotWrite = undefined;
      });
  }

  /** Brings `index` in line with the store; returns how many documents were added, changed or removed. */
  private async sync(collectionId: string, index: Bm25Index): Promise<number> {
    const current = await this.store.documentVersions(collectionId);
    const changed = new Set<string>();
    for (const documentId of [...index.documentVersions.keys()]) {
      if (current.get(documentId) !== index.documentVersions.get(documentId)) {
        index.removeDocument(documentId);
        changed.add(documentId);
      }
    }
    const missing = [...current.keys()].filter((id) => !index.documentVersions.has(id));
    for (const id of missing) changed.add(id);
    const batchSize = this.options.documentsPerBatch ?? 200;
    for (let i = 0; i < missing.length; i += batchSize) {
      const batch = missing.slice(i, i + batchSize);
      const chunks = await this.store.chunksOfDocuments(collectionId, batch);
      index.add(chunks);
      // Documents without chunks (or deleted since the version list was read) are still recorded,
      // so they are not fetched again on every sync; the next diff corrects them if they changed.
      for (const id of batch) if (!index.documentVersions.has(id)) index.markDocument(id, current.get(id)!);
      await yieldToEventLoop();
    }
    return changed.size;
  }
}
