import type { Store } from '../store/types.ts';

/** What `ragline reconcile` found and did in one Pinecone namespace of a collection. */
export interface ReconcileCounts {
  chunks: number;
  vectors: number;
  missing: number;
  orphaned: number;
  stale: number;
  upserted: number;
  deleted: number;
}

const ORPHAN_CHECK_BATCH = 1000;

/**
 * The ids that still have no chunk row. A chunk ingested while reconcile ran has its vector in the
 * namespace but was not among the chunks read before: deleting it would lose it from search.
 */
export async function withoutChunksWrittenMeanwhile(store: Store, collectionId: string, ids: string[]): Promise<string[]> {
  const existing = new Set<string>();
  for (let i = 0; i < ids.length; i += ORPHAN_CHECK_BATCH) {
    for (const c of await store.getChunks(ids.slice(i, i + ORPHAN_CHECK_BATCH))) if (c.collectionId === collectionId) existing.add(c.id);
  }
  return ids.filter((id) => !existing.has(id));
}
