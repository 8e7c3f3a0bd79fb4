import { tokenize } from './tokenize.ts';
import type { RankedList } from './types.ts';

/**
 * Fusion of a dense and a BM25 ranked list: pure functions, no I/O.
 * Ranks are 1-based; a document missing from a list contributes 0 from that list.
 */

export type FusionMethod = 'rrf' | 'convex';

export interface Weights {
  dense: number;
  bm25: number;
}

export interface FusedHit {
  id: string;
  fusedScore: number;
  denseRank: number | null;
  denseScore: number | null;
  bm25Rank: number | null;
  bm25Score: number | null;
}

/** The RRF constant (Cormack et al.); the default most systems use. */
export const DEFAULT_K = 60;
/** Candidates taken from each retriever before fusion. */
export const DEFAULT_CANDIDATES = 100;
/**
 * Chosen with eval/probe/fusion-scifact.ts: with min-max normalisation, convex fusion beat
 * RRF at every k and weight tried, and unlike equal-weight RRF it never fell below the better
 * single retriever on any query kind (claims, keywords, questions, pasted paragraphs).
 */
export const DEFAULT_FUSION: FusionMethod = 'convex';

interface Entry {
  rank: number;
  score: number;
}

/** id → (1-based rank, score); a repeated id keeps its first (best) position. */
function positions(list: RankedList): Map<string, Entry> {
  const map = new Map<string, Entry>();
  list.ids.forEach((id, i) => {
    if (!map.has(id)) map.set(id, { rank: i + 1, score: list.scores[i]! });
  });
  return map;
}

function combine(dense: RankedList, bm25: RankedList, contribution: (entry: Entry, retriever: 'dense' | 'bm25') => number): FusedHit[] {
  const d = positions(dense);
  const b = positions(bm25);
  const hits: FusedHit[] = [];
  for (const id of new Set([...d.keys(), ...b.keys()])) {
    const de = d.get(id);
    const be = b.get(id);
    hits.push({
      id,
      fusedScore: (de ? contribution(de, 'dense') : 0) + (be ? contribution(be, 'bm25') : 0),
      denseRank: de?.rank ?? null,
      denseScore: de?.score ?? null,
      bm25Rank: be?.rank ?? null,
      bm25Score: be?.score ?? null,
    });
  }
  return hits.sort(byFusedScore);
}

/** Highest fused score first; equal scores by id ascending, so results are deterministic. */
export function byFusedScore(x: { id: string; fusedScore: number }, y: { id: string; fusedScore: number }): number {
  return y.fusedScore - x.fusedScore || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

/** Weighted reciprocal rank fusion: Σ w_i / (k + rank_i). */
export function rrf(dense: RankedList, bm25: RankedList, options: { k: number; weights: Weights }): FusedHit[] {
  const { k, weights } = options;
  return combine(dense, bm25, (entry, retriever) => weights[retriever] / (k + entry.rank));
}

/**
 * Min-max normalisation to [0, 1]. A list whose scores are all equal (including a single score)
 * has no spread to normalise: every entry is that list's best, so each gets 1.
 */
export function minMax(scores: number[]): number[] {
  if (!scores.length) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const s of scores) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const range = max - min;
  if (!(range > 0) || !Number.isFinite(range)) return scores.map(() => 1);
  return scores.map((s) => (s - min) / range);
}

/**
 * Convex combination of min-max normalised scores: w_dense·s_dense + w_bm25·s_bm25, missing = 0.
 * Raw BM25 scores and cosine similarities live on different scales, hence the normalisation.
 */
export function convex(dense: RankedList, bm25: RankedList, options: { weights: Weights }): FusedHit[] {
  const normalised = {
    dense: new Map<number, number>(minMax(dense.scores).map((s, i) => [i, s])),
    bm25: new Map<number, number>(minMax(bm25.scores).map((s, i) => [i, s])),
  };
  const { weights } = options;
  return combine(dense, bm25, (entry, retriever) => weights[retriever] * normalised[retriever].get(entry.rank - 1)!);
}

export function fuse(method: FusionMethod, dense: RankedList, bm25: RankedList, options: { k: number; weights: Weights }): FusedHit[] {
  return method === 'rrf' ? rrf(dense, bm25, options) : convex(dense, bm25, options);
}

/** Single-retriever results in the same shape (mode 'dense' or 'bm25'). */
export function single(retriever: 'dense' | 'bm25', list: RankedList): FusedHit[] {
  const empty = { dense: { ids: [], scores: [] }, bm25: { ids: [], scores: [] } };
  return combine(retriever === 'dense' ? list : empty.dense, retriever === 'bm25' ? list : empty.bm25, (entry) => entry.score);
}

/**
 * How far BM25's best score stands above its 10th: (s1 − s10) / s1, in [0, 1]. A large gap
 * means a few chunks match the query's rare terms far better than the rest (a confident lexical
 * match); a small one means BM25 found only common words and its order is close to arbitrary.
 */
export function bm25Gap(bm25: RankedList): number {
  const s = bm25.scores;
  if (s.length < 2 || !(s[0]! > 0)) return 1;
  return (s[0]! - s[Math.min(9, s.length - 1)]!) / s[0]!;
}

export interface WeightRule {
  /** BM25 weight relative to dense (= 1) for each upper bound of the BM25 gap, ascending. */
  steps: { maxGap: number; bm25PerDense: number }[];
  /** Queries with more distinct analyzed terms than this (pasted paragraphs) get `longRatio`. */
  longQueryTerms: number;
  longRatio: number;
}

/**
 * Chosen on tune splits of four query kinds with eval/probe/fusion-scifact.ts --grid: the
 * best BM25:dense ratio per bucket of the BM25 gap was 0.5, 0.67, 1 and 2 (convex); queries of
 * more than 20 terms did best at 1.
 */
export const DEFAULT_WEIGHT_RULE: WeightRule = {
  steps: [
    { maxGap: 0.2, bm25PerDense: 0.5 },
    { maxGap: 0.3, bm25PerDense: 0.67 },
    { maxGap: 0.5, bm25PerDense: 1 },
    { maxGap: Infinity, bm25PerDense: 2 },
  ],
  longQueryTerms: 20,
  longRatio: 1,
};

/**
 * Query-dependent weights, used when the request gives none: trust BM25 more when its top
 * results stand out, dense more when BM25 only matched common words. Weights sum to 1.
 */
export function chooseWeights(query: string, _dense: RankedList, bm25: RankedList, rule: WeightRule = DEFAULT_WEIGHT_RULE): Weights {
  let ratio: number;
  if (new Set(tokenize(query)).size > rule.longQueryTerms) {
    ratio = rule.longRatio;
  } else {
    const gap = bm25Gap(bm25);
    ratio = rule.steps.find((step) => gap <= step.maxGap)?.bm25PerDense ?? 1;
  }
  return { dense: 1 / (1 + ratio), bm25: ratio / (1 + ratio) };
}
