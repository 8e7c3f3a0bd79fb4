/**
 * Ranking metrics with trec_eval semantics (`ndcg_cut.10`, `recall.10`/`recall.100`, reciprocal
 * rank cut at 10), averaged over the queries that have at least one relevant judgement.
 *
 * Graded judgements: the gain of a document is its grade (trec_eval's default, linear gain),
 * discounted by log2(rank + 1); the ideal ranking sorts all judged grades of the query. A grade
 * of 0 or less counts as not relevant.
 */

/** query id → (doc id → grade). */
export type Qrels = Map<string, Map<string, number>>;

/** query id → doc ids, best first. */
export type Run = Map<string, string[]>;

export interface Metrics {
  ndcg10: number;
  recall10: number;
  recall100: number;
  mrr10: number;
}

export const METRIC_NAMES = ['ndcg10', 'recall10', 'recall100', 'mrr10'] as const satisfies readonly (keyof Metrics)[];

function relevantCount(judgements: Map<string, number>): number {
  let n = 0;
  for (const grade of judgements.values()) if (grade > 0) n++;
  return n;
}

/** Duplicates and the query itself (BEIR: a query that is also a document must not retrieve itself) are dropped. */
function cleanRanking(ranked: readonly string[], excludeId?: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of ranked) {
    if (id === excludeId || seen.has(id)) continue;
    seen.add(id);
    out.push(id);
  }
  return out;
}

export function ndcgAt(ranked: readonly string[], judgements: Map<string, number>, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    const grade = judgements.get(id) ?? 0;
    if (grade > 0) dcg += grade / Math.log2(i + 2);
  });
  const ideal = [...judgements.values()]
    .filter((g) => g > 0)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((sum, grade, i) => sum + grade / Math.log2(i + 2), 0);
  return ideal > 0 ? dcg / ideal : 0;
}

export function recallAt(ranked: readonly string[], judgements: Map<string, number>, k: number): number {
  const total = relevantCount(judgements);
  if (!total) return 0;
  const found = ranked.slice(0, k).filter((id) => (judgements.get(id) ?? 0) > 0).length;
  return found / total;
}

export function reciprocalRankAt(ranked: readonly string[], judgements: Map<string, number>, k: number): number {
  const i = ranked.slice(0, k).findIndex((id) => (judgements.get(id) ?? 0) > 0);
  return i < 0 ? 0 : 1 / (i + 1);
}

export function queryMetrics(ranked: readonly string[], judgements: Map<string, number>, queryId?: string): Metrics {
  const clean = cleanRanking(ranked, queryId);
  return {
    ndcg10: ndcgAt(clean, judgements, 10),
    recall10: recallAt(clean, judgements, 10),
    recall100: recallAt(clean, judgements, 100),
    mrr10: reciprocalRankAt(clean, judgements, 10),
  };
}

export interface Evaluation {
  mean: Metrics;
  perQuery: Map<string, Metrics>;
  /** Queries scored: those with at least one relevant judgement (a missing run scores 0, like trec_eval -c). */
  queries: number;
}

export function evaluateRun(run: Run, qrels: Qrels, options: { excludeSelf?: boolean } = {}): Evaluation {
  const excludeSelf = options.excludeSelf ?? true;
  const perQuery = new Map<string, Metrics>();
  for (const [queryId, judgements] of qrels) {
    if (!relevantCount(judgements)) continue;
    perQuery.set(queryId, queryMetrics(run.get(queryId) ?? [], judgements, excludeSelf ? queryId : undefined));
  }
  return { mean: meanMetrics([...perQuery.values()]), perQuery, queries: perQuery.size };
}

export function meanMetrics(rows: readonly Metrics[]): Metrics {
  const mean = { ndcg10: 0, recall10: 0, recall100: 0, mrr10: 0 };
  if (!rows.length) return mean;
  for (const row of rows) for (const name of METRIC_NAMES) mean[name] += row[name];
  for (const name of METRIC_NAMES) mean[name] /= rows.length;
  return mean;
}
