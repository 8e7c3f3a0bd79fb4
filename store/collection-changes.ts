import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';

/** The channel migrations/010_bm25_snapshots.sql notifies on when a collection's version or deletion changes. */
export const COLLECTION_CHANGES_CHANNEL = 'ragline_collection_changes';

export interface CollectionChange {
  collectionId: string;
  /** Soft-deleted or purged: the collection no longer resolves. */
  deleted: boolean;
}

type Listener = (change: CollectionChange) => void;

/**
 * Changes this process committed, announced synchronously right after the commit. NOTIFY reaches
 * other processes too, but on Postgres it arrives on another connection a moment later; an
 * in-process cache cannot wait for it without serving its own writer a stale answer.
 */
export class LocalCollectionChanges {
  private readonly listeners = new Set<Listener>();

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Never throws: the change is committed already, and a failing listener must not fail the write. */
  announce(change: CollectionChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        logger.warn({ err: errorMessage(err), collectionId: change.collectionId }, 'a collection change listener failed');
      }
    }
  }
}
