import { notFound } from '../core/errors.ts';
import { matchesFilter, type Filter } from '../store/filters.ts';
import type { PineconeSparseIndex } from '../store/pinecone-sparse.ts';
import type { SqlSparseFrequencies } from '../store/sparse-frequencies.ts';
import type { ChunkRecord, Collection, Store } from '../store/types.ts';
import { DEFAULT_BM25_OPTIONS } from './bm25.ts';
import type { Bm25Registry } from './bm25-registry.ts';
import { rankedList } from './ranked-list.ts';
import { encodeQuery, type SparseBm25Options } from './sparse-bm25.ts';
import type { RankedList } from './types.ts';

/** The BM25 candidate list of a search: ids best first with their BM25 scores. */
export interface KeywordCandidates {
  list: RankedList;
  /** The document's updatedAt of a candidate, for the recency boost. */
  updatedAt(id: string): string | undefined;
  /** Chunk rows already read while ranking, so the searcher does not read them again. */
  chunks?: Map<string, ChunkRecord>;
}

/** Where the BM25 candidate list of a hybrid search comes from. */
export interface KeywordSearcher {
  /** At most `limit` chunks of the collection passing `filter`, by BM25 score, ties by id. */
  candidates(collection: Collection, query: string, filter: Filter, limit: number): Promise<KeywordCandidates>;
}

/** The in-process BM25 index of each collection (RAGLINE_SPARSE=local, the default). */
export class LocalKeywordSearcher implements KeywordSearcher {
  constructor(
    private readonly store: Store,
    private readonly registry: Bm25Registry,
  ) {}

  async candidates(collection: Collection, query: string, filter: Filter, limit: number): Promise<KeywordCandidates> {
    // Re-read the collection: its version tells the registry whether another writer moved it on.
    const current = await this.store.getCollectionById(collection.id);
    if (!current) throw notFound(`collection ${collection.id} not found`);
    const index = await this.registry.ensureSynced(current);
    const hits = index.search(query, { limit, filter });
    return {
      list: rankedList(
        hits.map((h) => h.id),
        hits.map((h) => h.score),
        (i) => index.filterableOf(hits[i]!.id)?.documentId ?? hits[i]!.id,
      ),
      updatedAt: (id) => index.filterableOf(id)?.updatedAt,
    };
  }
}

/** Pinecone's largest topK. */
const MAX_TOP_K = 10_000;

/**
 * BM25 from the collection's Pinecone sparse namespace (RAGLINE_SPARSE=pinecone): the query is
 * encoded with the idf of its terms from the SQL document frequencies, so the dot product
 * Pinecone ranks by is the BM25 score. The sparse vectors carry no metadata: every match is
 * joined against its chunk row, which drops vectors of replaced or deleted chunks and of other
 * collections, and applies the filter exactly (post-filtering). When that leaves fewer than
 * `limit` and Pinecone had more, it asks again for four times as many.
 */
export class PineconeKeywordSearcher implements KeywordSearcher {
  private readonly options: SparseBm25Options;

  constructor(
    private readonly deps: { store: Store; sparse: PineconeSparseIndex; frequencies: SqlSparseFrequencies },
    options: Partial<SparseBm25Options> = {},
  ) {
    this.options = { ...DEFAULT_BM25_OPTIONS, ...options };
  }

  async candidates(collection: Collection, query: string, filter: Filter, limit: number): Promise<KeywordCandidates> {
    const { store, sparse, frequencies } = this.deps;
    const chunks = new Map<string, ChunkRecord>();
    const empty = { list: { ids: [], scores: [] }, updatedAt: () => undefined, chunks };
    if (limit <= 0) return empty;
    const loaded = await frequencies.load(collection.id, this.options.tokenizer(query));
    const vector = encodeQuery(query, loaded, this.options);
    if (!vector.indices.length) return empty;
    // Without a filter only orphans are dropped; with one, a margin spares most second rounds.
    let topK = Math.min(MAX_TOP_K, filter.length ? limit * 2 + 20 : limit);
    for (;;) {
      const matches = await sparse.query(collection.id, vector, topK);
      const unread = matches.map((m) => m.id).filter((id) => !chunks.has(id));
      for (const chunk of await store.getChunks(unread)) chunks.set(chunk.id, chunk);
      const kept = matches.filter((m) => {
        const chunk = chunks.get(m.id);
        return chunk !== undefined && chunk.collectionId === collection.id && matchesFilter(chunk, filter);
      });
      if (kept.length >= limit || matches.length < topK || topK >= MAX_TOP_K) {
        kept.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
        const best = kept.slice(0, limit);
        return {
          list: rankedList(
            best.map((m) => m.id),
            best.map((m) => m.score),
            (i) => chunks.get(best[i]!.id)!.documentId,
          ),
          updatedAt: (id) => chunks.get(id)?.updatedAt,
          chunks,
        };
      }
      topK = Math.min(MAX_TOP_K, topK * 4);
    }
  }
}
