import { z } from 'zod';
import { filterSchema } from '../store/filters.ts';
import type { ChunkRecord } from '../store/types.ts';

/** The search request, shared by the HTTP API, the CLI and the library. */
export const searchRequestSchema = z
  .object({
    query: z.string().trim().min(1, 'query must not be empty').max(20_000),
    topK: z.number().int().min(1).max(100).default(8),
    mode: z.enum(['hybrid', 'dense', 'bm25']).default('hybrid'),
    fusion: z.enum(['rrf', 'convex']).optional(),
    /** RRF constant k. */
    k: z.number().min(0).max(10_000).optional(),
    /** Relative weights of the two retrievers; omitted = the tuned, query-dependent default. */
    weights: z
      .object({ dense: z.number().min(0).max(100), bm25: z.number().min(0).max(100) })
      .strict()
      .optional(),
    /** Candidates taken from each retriever before fusion. */
    candidates: z.number().int().min(1).max(1000).optional(),
    filter: filterSchema.optional(),
    /** Multiplies fused scores by 0.5^(ageDays/halfLifeDays), blended with `weight`. */
    recency: z
      .object({ halfLifeDays: z.number().positive().max(36_500), weight: z.number().min(0).max(1).default(0.2) })
      .strict()
      .optional(),
    /** A named configuration of the collection to use instead of its active one (or its experiment's variant). */
    config: z.string().trim().min(1).max(100).optional(),
    /** The app's end user: experiments assign variants by it (else by API key) so a user sees one variant. */
    user: z.string().min(1).max(200).optional(),
  })
  .strict();

export type SearchRequestInput = z.input<typeof searchRequestSchema>;
export type SearchRequest = z.output<typeof searchRequestSchema>;

/** Why a result is where it is: what an engineer tuning weights needs to see. */
export interface Explanation {
  denseRank: number | null;
  denseScore: number | null;
  bm25Rank: number | null;
  bm25Score: number | null;
  fusedScore: number;
}

export interface SearchHit {
  chunk: ChunkRecord;
  score: number;
  explanation: Explanation;
}

export interface SearchResponse {
  hits: SearchHit[];
  /** The settings actually used, after defaults and query-dependent weighting. */
  settings: {
    mode: SearchRequest['mode'];
    fusion: 'rrf' | 'convex';
    k: number;
    weights: { dense: number; bm25: number };
    candidates: number;
  };
  /** fuseMs includes loadMs (reading the returned chunks). */
  timings: { embedMs: number; denseMs: number; bm25Ms: number; fuseMs: number; loadMs: number; totalMs: number };
}

/** A ranked list from one retriever. Ranks are 1-based. */
export interface RankedList {
  ids: string[];
  scores: number[];
  /**
   * The document of each entry, where known (document-level fusion groups by it); absent = each id its own. The
   * retrievers' lists work it out on first read (retrieval/ranked-list.ts): chunk fusion never reads it.
   */
  documents?: string[];
}
