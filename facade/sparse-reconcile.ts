import { DEFAULT_BM25_OPTIONS } from '../retrieval/bm25.ts';
import {
  CorpusFrequencies,
  analyzeChunk,
  encodeChunk,
  frequencyDelta,
  type SparseBm25Options,
  type SparseValues,
} from '../retrieval/sparse-bm25.ts';
import type { FrequencyTotals } from '../store/sparse-frequencies.ts';
import type { PineconeSparseIndex } from '../store/pinecone-sparse.ts';
import type { ChunkRecord, Store } from '../store/types.ts';
import { type ReconcileCounts, withoutChunksWrittenMeanwhile } from './reconcile.ts';

/** What `ragline reconcile` found and did in one collection's sparse namespace. */
export interface ReconcileReport extends ReconcileCounts {
  rateLimitedRetries: number;
  /**
   * Whether the document frequencies in SQL were recounted because they did not count the chunks
   * (collections ingested before RAGLINE_SPARSE=pinecone was set count only later writes).
   */
  frequenciesRebuilt: boolean;
}

const DOCUMENTS_PER_PAGE = 500;
/** Weights further apart than this count as stale (they are recomputed floats, never bit-equal by chance). */
const TOLERANCE = 1e-6;

/**
 * Makes the collection's Pinecone sparse namespace match SQL: every chunk has its vector with
 * the weights its text gives now (missing and stale ones are upserted), and vectors of chunks
 * that no longer exist are deleted. SQL is the source of truth; the namespace is derived data.
 */
export async function reconcileSparse(
  store: Store,
  sparse: PineconeSparseIndex,
  collectionId: string,
  bm25: Partial<SparseBm25Options> = {},
): Promise<ReconcileReport> {
  const options = { ...DEFAULT_BM25_OPTIONS, ...bm25 };
  const retriesBefore = sparse.rateLimitedRetries;
  const chunks = await allChunks(store, collectionId);
  // A vector under the id of a chunk without indexable terms goes; an unknown id goes only if no chunk was written meanwhile.
  const chunkIds = new Set(chunks.map((c) => c.id));
  const analyzed = chunks.map((c) => analyzeChunk(c, options));
  const frequencies = new CorpusFrequencies();
  for (const terms of analyzed) frequencies.add(terms);
  const frequenciesRebuilt = !sameTotals(await store.keywordFrequencyTotals(collectionId), frequencies.totals());
  if (frequenciesRebuilt) {
    await store.rebuildKeywordFrequencies(collectionId, (rows) => frequencyDelta(rows.map((c) => analyzeChunk(c, options))));
  }
  const expected = new Map<string, SparseValues>();
  chunks.forEach((c, i) => {
    const vector = encodeChunk(analyzed[i]!, frequencies, options);
    // A chunk without indexable terms (all stop words) has no sparse vector, as at ingest.
    if (vector.indices.length) expected.set(c.id, vector);
  });

  const present = await sparse.listIds(collectionId);
  const presentSet = new Set(present);
  const unexpected = present.filter((id) => !expected.has(id));
  const unknown = await withoutChunksWrittenMeanwhile(
    store,
    collectionId,
    unexpected.filter((id) => !chunkIds.has(id)),
  );
  const orphaned = [...unexpected.filter((id) => chunkIds.has(id)), ...unknown];
  const missing = [...expected.keys()].filter((id) => !presentSet.has(id));
  const kept = present.filter((id) => expected.has(id));
  const stored = await sparse.fetch(collectionId, kept);
  const stale = kept.filter((id) => !sameVector(stored.get(id), expected.get(id)!));

  const toWrite = [...missing, ...stale].map((id) => ({ id, sparseValues: expected.get(id)! }));
  await sparse.upsert(collectionId, toWrite);
  await sparse.delete(collectionId, orphaned);
  return {
    chunks: chunks.length,
    vectors: present.length,
    missing: missing.length,
    orphaned: orphaned.length,
    stale: stale.length,
    upserted: toWrite.length,
    deleted: orphaned.length,
    rateLimitedRetries: sparse.rateLimitedRetries - retriesBefore,
    frequenciesRebuilt,
  };
}

async function allChunks(store: Store, collectionId: string): Promise<ChunkRecord[]> {
  const chunks: ChunkRecord[] = [];
  for (let offset = 0; ; offset += DOCUMENTS_PER_PAGE) {
    const documents = await store.listDocuments(collectionId, { limit: DOCUMENTS_PER_PAGE, offset });
    if (!documents.length) return chunks;
    chunks.push(
      ...(await store.chunksOfDocuments(
        collectionId,
        documents.map((d) => d.id),
      )),
    );
  }
}

function sameVector(actual: SparseValues | undefined, wanted: SparseValues): boolean {
  if (!actual || actual.indices.length !== wanted.indices.length) return false;
  const weights = new Map(actual.indices.map((index, i) => [index, actual.values[i]!]));
  return wanted.indices.every((index, i) => {
    const value = weights.get(index);
    return value !== undefined && Math.abs(value - wanted.values[i]!) <= TOLERANCE * Math.max(1, Math.abs(wanted.values[i]!));
  });
}

function sameTotals(a: FrequencyTotals, b: FrequencyTotals): boolean {
  return (
    a.chunks === b.chunks &&
    a.termCount.title === b.termCount.title &&
    a.termCount.text === b.termCount.text &&
    a.terms === b.terms &&
    a.postings === b.postings
  );
}
