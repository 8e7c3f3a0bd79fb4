import type { DenseIndex, DenseIndexRecord } from '../store/dense-index.ts';
import { vectorMetadata } from '../store/pinecone.ts';
import type { Store } from '../store/types.ts';
import { type ReconcileCounts, withoutChunksWrittenMeanwhile } from './reconcile.ts';

const DOCUMENTS_PER_PAGE = 200;
/** Values further apart than this count as stale (Pinecone keeps float32, as SQL does). */
const TOLERANCE = 1e-6;

/**
 * Makes the collection's Pinecone dense namespace match SQL, which holds every chunk's embedding:
 * missing vectors are written, stale ones (other values or filter metadata) rewritten, and vectors
 * of chunks that no longer exist deleted. Reads SQL a page of documents at a time, so memory is
 * one page plus the namespace's ids. Rebuilds a lost namespace, and fills one for collections
 * ingested before Pinecone was configured.
 */
export async function reconcileDense(store: Store, dense: DenseIndex, collectionId: string): Promise<ReconcileCounts> {
  const present = new Set(await dense.listIds(collectionId));
  const expected = new Set<string>();
  let missing = 0;
  let stale = 0;
  for (let offset = 0; ; offset += DOCUMENTS_PER_PAGE) {
    const documents = await store.listDocuments(collectionId, { limit: DOCUMENTS_PER_PAGE, offset });
    if (!documents.length) break;
    const byId = new Map(documents.map((d) => [d.id, d]));
    const ids = documents.map((d) => d.id);
    const [chunks, embeddings] = await Promise.all([store.chunksOfDocuments(collectionId, ids), store.chunkEmbeddings(collectionId, ids)]);
    const wanted = new Map<string, DenseIndexRecord>();
    for (const chunk of chunks) {
      const embedding = embeddings.get(chunk.id);
      if (!embedding) continue;
      expected.add(chunk.id);
      wanted.set(chunk.id, { values: Array.from(embedding), metadata: vectorMetadata(byId.get(chunk.documentId)!, chunk) });
    }
    const stored = await dense.fetch(
      collectionId,
      [...wanted.keys()].filter((id) => present.has(id)),
    );
    const toWrite: (DenseIndexRecord & { id: string })[] = [];
    for (const [id, record] of wanted) {
      const found = stored.get(id);
      if (!found) missing += 1;
      else if (!sameRecord(found, record)) stale += 1;
      else continue;
      toWrite.push({ id, ...record });
    }
    await dense.write(collectionId, toWrite);
  }
  const orphaned = await withoutChunksWrittenMeanwhile(
    store,
    collectionId,
    [...present].filter((id) => !expected.has(id)),
  );
  await dense.delete(collectionId, orphaned);
  return {
    chunks: expected.size,
    vectors: present.size,
    missing,
    orphaned: orphaned.length,
    stale,
    upserted: missing + stale,
    deleted: orphaned.length,
  };
}

function sameRecord(actual: DenseIndexRecord, wanted: DenseIndexRecord): boolean {
  if (actual.values.length !== wanted.values.length) return false;
  for (let i = 0; i < wanted.values.length; i++) if (Math.abs(actual.values[i]! - wanted.values[i]!) > TOLERANCE) return false;
  const keys = Object.keys(wanted.metadata);
  if (Object.keys(actual.metadata).length !== keys.length) return false;
  return keys.every((k) => JSON.stringify(actual.metadata[k]) === JSON.stringify(wanted.metadata[k]));
}
