import type { Filter } from '../store/filters.ts';
import type { Collection, DenseCandidate, Store } from '../store/types.ts';

/**
 * Document-level evidence for the dense leg. A short document cut into two chunks matches a long
 * query worse chunk by chunk than it does whole (issue 17: −5.7 nDCG on an argument corpus), so
 * each chunk's dense score also counts its document's similarity, and the documents nearest the
 * query can enter through their best chunk even when none of their chunks was a chunk candidate.
 */

export interface DocumentEvidenceSettings {
  /** β: chunk score = chunk similarity + β × document similarity. */
  weight: number;
  /** Nearest documents added as candidates (through their best chunk); 0 = none. */
  candidates: number;
}

export interface ScoredChunk {
  id: string;
  documentId: string;
  similarity: number;
  updatedAt: string;
}

/**
 * The scoring rule. A document without a stored vector (ingested before they existed) counts its
 * chunk's own similarity instead, so such chunks keep their relative order.
 */
export function supportedScore(chunkSimilarity: number, documentSimilarity: number | undefined, weight: number): number {
  return chunkSimilarity + weight * (documentSimilarity ?? chunkSimilarity);
}

/** Chunks re-scored by the rule, best first (ties by id, for determinism). */
export function rankWithDocumentEvidence(
  chunks: readonly ScoredChunk[],
  documentSimilarity: ReadonlyMap<string, number>,
  weight: number,
): { chunk: ScoredChunk; score: number }[] {
  return chunks
    .map((chunk) => ({ chunk, score: supportedScore(chunk.similarity, documentSimilarity.get(chunk.documentId), weight) }))
    .sort((x, y) => y.score - x.score || (x.chunk.id < y.chunk.id ? -1 : x.chunk.id > y.chunk.id ? 1 : 0));
}

/**
 * Adds the documents nearest the query to the chunk candidates (all their chunks that pass the
 * filter, scored exactly) and re-scores every candidate with its document's similarity.
 * Returns at most `limit` chunks.
 */
export async function withDocumentEvidence(
  store: Store,
  collection: Collection,
  vector: Float32Array,
  chunkCandidates: readonly DenseCandidate[],
  filter: Filter,
  limit: number,
  settings: DocumentEvidenceSettings,
): Promise<{ chunk: ScoredChunk; score: number }[]> {
  const query = { collectionId: collection.id, vector };
  const chunks: ScoredChunk[] = [...chunkCandidates];
  const documentSimilarity = new Map<string, number>();
  if (settings.candidates > 0) {
    const nearest = await store.nearestDocuments({ ...query, limit: settings.candidates, efSearch: settings.candidates });
    for (const hit of nearest) documentSimilarity.set(hit.documentId, hit.similarity);
    const present = new Set(chunkCandidates.map((c) => c.documentId));
    const added = nearest.map((h) => h.documentId).filter((id) => !present.has(id));
    chunks.push(...(await store.chunksOfDocumentsBySimilarity(query, added, filter)));
  }
  const unknown = [...new Set(chunks.map((c) => c.documentId))].filter((id) => !documentSimilarity.has(id));
  for (const [id, similarity] of await store.documentSimilarities(query, unknown)) documentSimilarity.set(id, similarity);
  return rankWithDocumentEvidence(chunks, documentSimilarity, settings.weight).slice(0, limit);
}
