import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { COLLECTION_CHANGES_CHANNEL, type CollectionChange, type LocalCollectionChanges } from './collection-changes.ts';
import type { SqlExecutor } from './sql.ts';
import type { Collection, Store } from './types.ts';

/** Enough for every (tenant, name or id) a busy server resolves; the least recently used go first. */
const MAX_ENTRIES = 10_000;

const notice = z.object({ id: z.string(), deleted: z.boolean() });

export interface CollectionDirectoryOptions {
  /** How long a resolved collection is trusted at most; 0 = always ask SQL. */
  ttlMs: number;
  /** This process's own writes, announced right after they commit. */
  local?: LocalCollectionChanges;
  /** NOTIFY from the database: writes of other processes. */
  changes?: Pick<SqlExecutor, 'listen'>;
}

export type ChangeFeedState = 'listening' | 'unavailable' | 'off';

/**
 * Collections (and so their versions) resolved by tenant and name or id, kept in memory for the
 * query hot path: a cached answer is keyed by the collection version, and asking SQL for that
 * version on every hit would cost more than the hit itself.
 *
 * Never stale past a write: this process's writes evict at once (LocalCollectionChanges), other
 * processes' through NOTIFY, and a lost notification subscription clears everything. The TTL is
 * the bound for what no notice reaches (the feed failed to start, a notice in flight).
 */
export class CollectionDirectory {
  private readonly entries: LRUCache<string, Collection> | undefined;
  /** Moves on every eviction, so a lookup that raced a write does not cache what it read before it. */
  private generation = 0;
  private unsubscribeLocal: (() => void) | undefined;
  private unsubscribeFeed: (() => Promise<void>) | undefined;
  private feed: ChangeFeedState = 'off';

  constructor(
    private readonly store: Pick<Store, 'getCollection'>,
    private readonly options: CollectionDirectoryOptions,
  ) {
    if (options.ttlMs > 0) this.entries = new LRUCache({ max: MAX_ENTRIES, ttl: options.ttlMs });
  }

  get changeFeed(): ChangeFeedState {
    return this.feed;
  }

  async start(): Promise<void> {
    if (!this.entries) return;
    this.unsubscribeLocal ??= this.options.local?.subscribe((change) => this.evict(change));
    const listen = this.options.changes?.listen;
    if (!listen || this.unsubscribeFeed) return;
    try {
      this.unsubscribeFeed = await listen(
        COLLECTION_CHANGES_CHANNEL,
        (payload) => this.onNotice(payload),
        () => this.clear(), // notices may have been missed while the connection was down
      );
      this.feed = 'listening';
    } catch (err) {
      this.feed = 'unavailable';
      logger.warn(
        { err: errorMessage(err), ttlMs: this.options.ttlMs },
        "cannot listen for collection changes; other processes' writes are seen within the collection cache TTL",
      );
    }
  }

  async close(): Promise<void> {
    this.unsubscribeLocal?.();
    this.unsubscribeLocal = undefined;
    await this.unsubscribeFeed?.();
    this.unsubscribeFeed = undefined;
    this.entries?.clear();
  }

  /** The live collection named `idOrName` in `tenantId`, or null; cached only when found. */
  async resolve(idOrName: string, tenantId: string): Promise<Collection | null> {
    if (!this.entries) return this.store.getCollection(idOrName, tenantId);
    const key = `${tenantId}\u0000${idOrName}`;
    const cached = this.entries.get(key);
    if (cached) return cached;
    const generation = this.generation;
    const found = await this.store.getCollection(idOrName, tenantId);
    if (found && generation === this.generation) this.entries.set(key, found);
    return found;
  }

  /** Forgets one collection under every name and id it was resolved by. */
  evict(change: CollectionChange): void {
    this.generation += 1;
    if (!this.entries) return;
    for (const [key, collection] of this.entries.entries()) {
      if (collection.id === change.collectionId) this.entries.delete(key);
    }
  }

  clear(): void {
    this.generation += 1;
    this.entries?.clear();
  }

  private onNotice(payload: string): void {
    try {
      const { id, deleted } = notice.parse(JSON.parse(payload));
      this.evict({ collectionId: id, deleted });
    } catch (err) {
      // A notice we cannot read may be about any collection.
      logger.warn(
        { err: errorMessage(err), payload: payload.slice(0, 200) },
        'unreadable collection change notice; clearing the collection cache',
      );
      this.clear();
    }
  }
}
