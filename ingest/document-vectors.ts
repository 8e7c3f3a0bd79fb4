import type { Embedder } from '../models/types.ts';
import type { Store } from '../store/types.ts';

/**
 * The ingest step after a document's chunks are embedded and stored: its document vector
 * (store/document-vectors.ts), which the dense leg uses as evidence for the document's chunks.
 */

export type DocumentPoolingSetting = 'off' | 'mean' | 'first-window';

/**
 * The pooling ingest writes: none while nothing reads document vectors (β = 0 and no document
 * candidates), so the default path does no work for them. Raising either later leaves the
 * documents already stored without a vector, which search treats as chunks alone until
 * backfillDocumentVectors gives them one.
 */
export function ingestPooling(settings: { pooling: DocumentPoolingSetting; weight: number; candidates: number }): DocumentPoolingSetting {
  return settings.weight > 0 || settings.candidates > 0 ? settings.pooling : 'off';
}

/** The normalised mean of unit chunk vectors: the direction they share. */
export function meanVector(vectors: readonly Float32Array[]): Float32Array {
  const dimensions = vectors[0]?.length ?? 0;
  const out = new Float32Array(dimensions);
  for (const v of vectors) for (let i = 0; i < dimensions; i++) out[i]! += v[i]!;
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += out[i]! * out[i]!;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < dimensions; i++) out[i]! /= norm;
  return out;
}

/** What a first window embeds: the title and the text, as BEIR embeds a passage (the embedder cuts it at its window). */
export function firstWindowText(title: string | undefined, text: string): string {
  return title && !text.startsWith(title) ? `${title}\n\n${text}` : text;
}

/**
 * Stores the document's vector. A document of one chunk reuses that chunk's vector under either
 * pooling, so only first-window documents of several chunks cost an embedding. Returns the
 * number of texts embedded (0 or 1).
 */
export async function storeDocumentVector(
  store: Store,
  embedder: Embedder,
  input: {
    collectionId: string;
    documentId: string;
    pooling: DocumentPoolingSetting;
    chunkVectors: readonly Float32Array[];
    /** Called only when a first window must be embedded. */
    wholeText: () => string;
  },
): Promise<number> {
  const { pooling, chunkVectors } = input;
  if (pooling === 'off' || !chunkVectors.length) return 0;
  const ids = { collectionId: input.collectionId, documentId: input.documentId };
  if (pooling === 'mean' || chunkVectors.length === 1) {
    await store.putDocumentVector({ ...ids, pooling, vector: chunkVectors.length === 1 ? chunkVectors[0]! : meanVector(chunkVectors) });
    return 0;
  }
  const [vector] = await embedder.embed([input.wholeText()], 'passage');
  await store.putDocumentVector({ ...ids, pooling, vector: vector! });
  return 1;
}

/**
 * Gives every document of the collection without a vector one (documents ingested before
 * document vectors existed, while pooling was off, or with the other pooling). 'mean' runs in
 * SQL; 'first-window' embeds the title and the document's chunk texts joined in order.
 * Returns how many vectors were written and how many texts were embedded.
 */
export async function backfillDocumentVectors(
  store: Store,
  embedder: Embedder,
  collectionId: string,
  pooling: DocumentPoolingSetting,
): Promise<{ written: number; embedded: number }> {
  if (pooling === 'off') return { written: 0, embedded: 0 };
  if (pooling === 'mean') return { written: await store.poolMissingDocumentVectors(collectionId), embedded: 0 };
  const SLICE = 64;
  let written = 0;
  let embedded = 0;
  for (;;) {
    const ids = await store.documentsWithoutVector(collectionId, pooling, SLICE);
    if (!ids.length) break;
    const chunks = await store.chunksOfDocuments(collectionId, ids);
    const texts = ids.map((id) => {
      const own = chunks.filter((c) => c.documentId === id);
      return firstWindowText(own[0]?.title, own.map((c) => c.text).join('\n\n'));
    });
    const vectors = await embedder.embed(texts, 'passage');
    embedded += texts.length;
    let round = 0;
    for (const [i, documentId] of ids.entries()) {
      if (await store.putDocumentVector({ collectionId, documentId, pooling, vector: vectors[i]! })) round++;
    }
    written += round;
    if (!round) break; // every document of the slice was deleted meanwhile: nothing left to wait for
  }
  return { written, embedded };
}
