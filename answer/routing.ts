import type { SearchHit } from '../retrieval/types.ts';

export type ModelTier = 'small' | 'strong';

/** Where the rule draws the line between an easy and a hard question; defaults in core/config.ts (`routing`). */
export interface RoutingThresholds {
  /** A question longer than this (words) is hard. */
  maxEasyWords: number;
  /** More clauses than this (joined by "and", "or", "but", ",", ";", "?", comparisons…) is hard. */
  maxEasyClauses: number;
  /** The best hit's dense similarity must reach this for an easy question. */
  minEasyTopSimilarity: number;
  /** The best hit must lead the second by this much dense similarity, or by `minEasyFusedMargin` of its fused score. */
  minEasyDenseGap: number;
  minEasyFusedMargin: number;
  /** More distinct documents than this among the relevant top hits means the answer needs several sources: hard. */
  maxEasyDocuments: number;
  /** How many top hits the document count looks at. */
  topHits: number;
  /** A top hit counts as a source when its dense similarity is within this of the best one's. */
  sourceSimilarityMargin: number;
}

/** The measurements the rule looked at, kept in the trace so a choice can be checked by hand. */
export interface DifficultySignals {
  words: number;
  clauses: number;
  topSimilarity: number | null;
  denseGap: number | null;
  fusedMargin: number | null;
  documents: number;
}

export interface RouteDecision {
  tier: ModelTier;
  /** One sentence naming the deciding measurements. */
  reason: string;
  signals: DifficultySignals;
}

// Words that usually start another clause or ask for a comparison of several things.
const CLAUSE_JOINERS =
  /\b(and|or|but|because|while|whereas|although|unless|versus|vs|compare|compared|difference|differences|between|both|then|also)\b/gi;

/** Clauses in the question: 1 plus each joining word, comma, semicolon or extra question mark. */
export function countClauses(question: string): number {
  const joiners = question.match(CLAUSE_JOINERS)?.length ?? 0;
  const punctuation = question.match(/[,;:]/g)?.length ?? 0;
  const questionMarks = Math.max(0, (question.match(/\?/g)?.length ?? 0) - 1);
  return 1 + joiners + punctuation + questionMarks;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

export function difficultySignals(
  question: string,
  hits: SearchHit[],
  t: Pick<RoutingThresholds, 'topHits' | 'sourceSimilarityMargin'>,
): DifficultySignals {
  const dense = hits.map((h) => h.explanation.denseScore).filter((s): s is number => s !== null);
  const sortedDense = [...dense].sort((a, b) => b - a);
  const fused = hits.map((h) => h.explanation.fusedScore);
  return {
    words: question.trim().split(/\s+/).filter(Boolean).length,
    clauses: countClauses(question),
    topSimilarity: sortedDense.length ? round(sortedDense[0]!) : null,
    denseGap: sortedDense.length > 1 ? round(sortedDense[0]! - sortedDense[1]!) : sortedDense.length ? round(sortedDense[0]!) : null,
    fusedMargin: fused.length > 1 && fused[0]! > 0 ? round((fused[0]! - fused[1]!) / fused[0]!) : fused.length ? 1 : null,
    // Sources the answer would draw on: top hits nearly as similar as the best (all top hits without dense scores).
    documents: new Set(
      hits
        .slice(0, t.topHits)
        .filter((h) => h.explanation.denseScore === null || h.explanation.denseScore >= (sortedDense[0] ?? 0) - t.sourceSimilarityMargin)
        .map((h) => h.chunk.documentId),
    ).size,
  };
}

/**
 * The difficulty rule: a question is easy (small model) only when every test passes — short, one
 * clause, a confident top hit that stands out from the next, few distinct sources. Otherwise the
 * first failing test is the reason for the strong model. Cheap: no model call, only the retrieval
 * results already at hand.
 */
export function routeQuestion(question: string, hits: SearchHit[], t: RoutingThresholds): RouteDecision {
  const s = difficultySignals(question, hits, t);
  const hard = (reason: string): RouteDecision => ({ tier: 'strong', reason, signals: s });
  if (s.words > t.maxEasyWords) return hard(`question has ${s.words} words (> ${t.maxEasyWords})`);
  if (s.clauses > t.maxEasyClauses) return hard(`question has ${s.clauses} clauses (> ${t.maxEasyClauses})`);
  if (s.topSimilarity === null) return hard('no dense similarity to judge retrieval confidence');
  if (s.topSimilarity < t.minEasyTopSimilarity) {
    return hard(`best dense similarity ${s.topSimilarity} (< ${t.minEasyTopSimilarity}): retrieval is unsure`);
  }
  const standsOut = (s.denseGap ?? 0) >= t.minEasyDenseGap || (s.fusedMargin ?? 0) >= t.minEasyFusedMargin;
  if (!standsOut) {
    return hard(
      `top hit does not stand out: dense gap ${s.denseGap} (< ${t.minEasyDenseGap}) and fused margin ${s.fusedMargin} (< ${t.minEasyFusedMargin})`,
    );
  }
  if (s.documents > t.maxEasyDocuments) {
    return hard(
      `${s.documents} documents among the top ${t.topHits} hits are about as relevant (> ${t.maxEasyDocuments}): needs several sources`,
    );
  }
  return {
    tier: 'small',
    reason: `easy: ${s.words} words, ${s.clauses} clause(s), best similarity ${s.topSimilarity}, dense gap ${s.denseGap}, fused margin ${s.fusedMargin}, ${s.documents} document(s)`,
    signals: s,
  };
}
