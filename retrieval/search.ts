import { performance } from 'node:perf_hooks';
import { RaglineError, badRequest } from '../core/errors.ts';
import type { Embedder } from '../models/types.ts';
import type { Bm25Registry } from './bm25-registry.ts';
import { withDocumentEvidence, type DocumentEvidenceSettings } from './document-evidence.ts';
import { fuseByDocument } from './document-fusion.ts';
import { LocalKeywordSearcher, type KeywordCandidates, type KeywordSearcher } from './keyword-search.ts';
import { rankedList } from './ranked-list.ts';
import { matchesFilter, parseFilter, type Filter } from '../store/filters.ts';
import { DEFAULT_CANDIDATES, DEFAULT_FUSION, DEFAULT_K, chooseWeights, fuse, single, type FusedHit, type Weights } from './fusion.ts';
import type { ChunkRecord, Collection, Store } from '../store/types.ts';
import {
  searchRequestSchema,
  type RankedList,
  type SearchHit,
  type SearchRequest,
  type SearchRequestInput,
  type SearchResponse,
} from './types.ts';

const DAY_MS = 86_400_000;
/** pgvector's HNSW default; the candidate list is never shorter than the candidates asked for. */
const MIN_EF_SEARCH = 40;

export type HybridSearcherDeps = {
  store: Store;
  embedder: Embedder;
  /** Document vectors supporting chunk scores in the dense leg; omitted or weight and candidates 0 = chunks alone. */
  documentEvidence?: DocumentEvidenceSettings;
  /** What each retriever's list counts when fused (config fusion.unit); omitted = chunks. */
  fusionUnit?: FusionUnit;
} & (
  | { bm25: Bm25Registry; keywords?: undefined }
  /** Where the BM25 candidate list comes from instead of the in-process indexes (Pinecone sparse vectors). */
  | { keywords: KeywordSearcher; bm25?: undefined }
);

export interface SearchOptions {
  /** A query vector computed by the caller (evaluation embeds all queries at once). */
  queryVector?: Float32Array;
  /** Overrides the searcher's document-evidence settings for this search (tuning sweeps). */
  documentEvidence?: DocumentEvidenceSettings;
  /** Overrides the searcher's fusion unit for this search (evaluation sweeps). */
  fusionUnit?: FusionUnit;
}

/** chunks: each chunk ranked as itself; documents: ranked among each list's distinct documents (retrieval/document-fusion.ts). */
export type FusionUnit = 'chunks' | 'documents';

interface Candidate extends FusedHit {
  /** Score after the recency boost (equal to fusedScore without one). */
  score: number;
}

/**
 * Dense + BM25 retrieval with fusion. Both retrievers get the same parsed filter and the same
 * depth; BM25 runs while the query is being embedded and searched.
 */
export class HybridSearcher {
  private readonly keywords: KeywordSearcher;

  constructor(private readonly deps: HybridSearcherDeps) {
    this.keywords = deps.keywords ?? new LocalKeywordSearcher(deps.store, deps.bm25);
  }

  async search(collection: Collection, input: SearchRequest | SearchRequestInput, options: SearchOptions = {}): Promise<SearchResponse> {
    const started = performance.now();
    const request = parseRequest(input);
    const filter = parseFilter(request.filter);
    const candidates = Math.max(request.candidates ?? DEFAULT_CANDIDATES, request.topK);
    const method = request.fusion ?? DEFAULT_FUSION;
    const k = request.k ?? DEFAULT_K;
    if (request.weights && request.weights.dense === 0 && request.weights.bm25 === 0) {
      throw badRequest('weights: at least one of dense and bm25 must be above 0');
    }
    const timings = { embedMs: 0, denseMs: 0, bm25Ms: 0, fuseMs: 0, loadMs: 0, totalMs: 0 };

    // Dense first: embedding runs in ONNX Runtime's threads, so BM25 (synchronous JavaScript)
    // overlaps with it instead of waiting.
    const denseRun =
      request.mode === 'bm25'
        ? undefined
        : this.dense(collection, request.query, filter, candidates, options.queryVector, timings, options.documentEvidence);
    const bm25Run = request.mode === 'dense' ? undefined : this.bm25(collection, request.query, filter, candidates, timings);
    // Settle both before reporting an error, so no work is left running unobserved.
    const [denseResult, bm25Result] = await Promise.allSettled([denseRun, bm25Run]);
    if (denseResult.status === 'rejected') throw denseResult.reason;
    if (bm25Result.status === 'rejected') throw bm25Result.reason;
    const dense = denseResult.value;
    const bm25 = bm25Result.value;

    const fuseStart = performance.now();
    let weights: Weights;
    let fused: FusedHit[];
    if (dense && bm25) {
      weights = request.weights ?? chooseWeights(request.query, dense.list, bm25.list);
      const unit = options.fusionUnit ?? this.deps.fusionUnit ?? 'chunks';
      fused = (unit === 'documents' ? fuseByDocument : fuse)(method, dense.list, bm25.list, { k, weights });
    } else if (dense) {
      weights = { dense: 1, bm25: 0 };
      fused = single('dense', dense.list);
    } else {
      weights = { dense: 0, bm25: 1 };
      fused = single('bm25', bm25!.list);
    }

    const updatedAt = (id: string) => dense?.updatedAt.get(id) ?? bm25?.updatedAt(id);
    const ranked = applyRecency(fused, request.recency, updatedAt);
    const loadStart = performance.now();
    const hits = await this.hydrate(ranked, filter, request.topK, bm25?.chunks);
    timings.loadMs = performance.now() - loadStart;
    timings.fuseMs = performance.now() - fuseStart;
    timings.totalMs = performance.now() - started;

    return {
      hits,
      settings: { mode: request.mode, fusion: method, k, weights, candidates },
      timings,
    };
  }

  private async dense(
    collection: Collection,
    query: string,
    filter: Filter,
    candidates: number,
    queryVector: Float32Array | undefined,
    timings: SearchResponse['timings'],
    documentEvidence = this.deps.documentEvidence,
  ): Promise<{ list: RankedList; updatedAt: Map<string, string> }> {
    let vector = queryVector;
    if (!vector) {
      const { embedder } = this.deps;
      if (collection.embeddingModel !== embedder.modelId) {
        throw new RaglineError(
          'model_mismatch',
          `collection "${collection.name}" was embedded with ${collection.embeddingModel}; the configured embedder is ${embedder.modelId}`,
          { collection: collection.name, collectionModel: collection.embeddingModel, embedderModel: embedder.modelId },
        );
      }
      const t0 = performance.now();
      [vector] = await embedder.embed([query], 'query');
      timings.embedMs = performance.now() - t0;
    }
    const t1 = performance.now();
    const hits = await this.deps.store.denseCandidates({
      collectionId: collection.id,
      vector: vector!,
      limit: candidates,
      efSearch: Math.max(candidates, MIN_EF_SEARCH),
      filter,
    });
    if (documentEvidence && (documentEvidence.weight > 0 || documentEvidence.candidates > 0)) {
      const ranked = await withDocumentEvidence(this.deps.store, collection, vector!, hits, filter, candidates, documentEvidence);
      timings.denseMs = performance.now() - t1;
      return {
        list: rankedList(
          ranked.map((r) => r.chunk.id),
          ranked.map((r) => r.score),
          (i) => ranked[i]!.chunk.documentId,
        ),
        updatedAt: new Map(ranked.map((r) => [r.chunk.id, r.chunk.updatedAt])),
      };
    }
    timings.denseMs = performance.now() - t1;
    return {
      list: rankedList(
        hits.map((h) => h.id),
        hits.map((h) => h.similarity),
        (i) => hits[i]!.documentId,
      ),
      updatedAt: new Map(hits.map((h) => [h.id, h.updatedAt])),
    };
  }

  private async bm25(
    collection: Collection,
    query: string,
    filter: Filter,
    candidates: number,
    timings: SearchResponse['timings'],
  ): Promise<KeywordCandidates> {
    const t0 = performance.now();
    const result = await this.keywords.candidates(collection, query, filter, candidates);
    timings.bm25Ms = performance.now() - t0;
    return result;
  }

  /**
   * Loads the chunk records of the best candidates only, skipping any chunk deleted since it was
   * ranked (or since the BM25 index last synced), until `topK` hits are found.
   */
  private async hydrate(ranked: Candidate[], filter: Filter, topK: number, read?: Map<string, ChunkRecord>): Promise<SearchHit[]> {
    const known = new Map<string, ChunkRecord>(read);
    const hits: SearchHit[] = [];
    for (let start = 0; start < ranked.length && hits.length < topK; ) {
      const window = ranked.slice(start, start + (topK - hits.length));
      start += window.length;
      const missing = window.filter((c) => !known.has(c.id)).map((c) => c.id);
      if (missing.length) for (const chunk of await this.deps.store.getChunks(missing)) known.set(chunk.id, chunk);
      for (const candidate of window) {
        const chunk = known.get(candidate.id);
        // The filter is re-checked on the stored record: a stale BM25 entry can never leak through.
        if (!chunk || !matchesFilter(chunk, filter)) continue;
        const { score, id: _id, ...explanation } = candidate;
        hits.push({ chunk, score, explanation });
      }
    }
    return hits;
  }
}

function parseRequest(input: SearchRequest | SearchRequestInput): SearchRequest {
  const parsed = searchRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(`Invalid search request at "${issue.path.join('.') || 'request'}": ${issue.message}`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return parsed.data;
}

/**
 * score = fused × ((1 − weight) + weight × 0.5^(ageDays / halfLifeDays)): a document one half-life
 * old keeps (1 − weight/2) of its score. Without recency, score = fused.
 */
function applyRecency(fused: FusedHit[], recency: SearchRequest['recency'], updatedAt: (id: string) => string | undefined): Candidate[] {
  if (!recency || recency.weight === 0) return fused.map((h) => ({ ...h, score: h.fusedScore }));
  const now = Date.now();
  const boosted = fused.map((h) => {
    const at = updatedAt(h.id);
    const ageDays = at ? Math.max(0, (now - Date.parse(at)) / DAY_MS) : 0;
    const decay = 0.5 ** (ageDays / recency.halfLifeDays);
    return { ...h, score: h.fusedScore * (1 - recency.weight + recency.weight * decay) };
  });
  return boosted.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}
