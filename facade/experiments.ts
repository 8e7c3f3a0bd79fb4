import { type Interval, type ProportionTest, twoProportionTest, wilsonInterval } from '../core/statistics.ts';
import type { Experiment } from '../store/configs.ts';
import { TRACE_STAGES, type LedgerStore } from '../store/ledger.ts';
import type { Percentiles } from '../store/ledger-report.ts';

export interface VariantReport {
  config: string;
  percent: number;
  requests: number;
  answers: number;
  searches: number;
  /** Milliseconds per stage (and totalMs), cache misses only. */
  latency: Record<string, Percentiles>;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
  /** Shares of answers. */
  outcomes: { answered: number; notCovered: number; fallback: number; error: number };
  /** Rated answers; "up" is a rating of 4 or 5 (thumbs up is 5). */
  feedback: { rated: number; up: number; upRate: number | null; interval95: Interval | null };
  /** Two-proportion z-test of this variant's up-rate against the first variant's (null for the first). */
  versusFirst: ProportionTest | null;
}

export interface ExperimentReport {
  experiment: Experiment;
  variants: VariantReport[];
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const share = (n: number, total: number) => (total ? Math.round((n / total) * 10_000) / 10_000 : 0);

/** Per variant of the experiment, from its traces and their feedback (SQL over request_traces). */
export async function experimentReport(ledger: LedgerStore, experiment: Experiment): Promise<ExperimentReport> {
  const stageColumns = [...TRACE_STAGES.map((s) => [s, `(t.stages->>'${s}')::float8`] as const), ['totalMs', 't.total_ms'] as const];
  const percentiles = stageColumns
    .map(
      ([name, expr]) =>
        `percentile_cont(0.5) WITHIN GROUP (ORDER BY ${expr}) FILTER (WHERE NOT t.cache_hit) AS "${name}_p50",
         percentile_cont(0.95) WITHIN GROUP (ORDER BY ${expr}) FILTER (WHERE NOT t.cache_hit) AS "${name}_p95"`,
    )
    .join(', ');
  const { rows } = await ledger.query<Record<string, unknown>>(
    `SELECT t.variant,
            count(*)::int AS requests,
            count(*) FILTER (WHERE t.kind = 'answer')::int AS answers,
            count(*) FILTER (WHERE t.kind = 'search')::int AS searches,
            count(*) FILTER (WHERE t.kind = 'answer' AND t.outcome = 'answered')::int AS answered,
            count(*) FILTER (WHERE t.kind = 'answer' AND t.outcome = 'not_covered')::int AS not_covered,
            count(*) FILTER (WHERE t.kind = 'answer' AND t.outcome LIKE 'fallback:%')::int AS fallback,
            count(*) FILTER (WHERE t.kind = 'answer' AND t.outcome LIKE 'error:%')::int AS error,
            coalesce(sum(t.tokens_in), 0)::int AS tokens_in,
            coalesce(sum(t.tokens_out), 0)::int AS tokens_out,
            coalesce(sum(coalesce(t.cost_usd, 0) + coalesce(t.embed_cost_usd, 0)), 0)::float8 AS cost_usd,
            count(f.request_id)::int AS rated,
            count(*) FILTER (WHERE f.rating >= 4)::int AS up,
            ${percentiles}
     FROM request_traces t LEFT JOIN request_feedback f ON f.request_id = t.id
     WHERE t.collection_id = $1 AND t.experiment = $2
     GROUP BY t.variant`,
    [experiment.collectionId, experiment.name],
  );
  const byVariant = new Map(rows.map((r) => [String(r.variant), r]));
  const variants = experiment.variants.map((v): Omit<VariantReport, 'versusFirst'> => {
    const r = byVariant.get(v.config) ?? {};
    const n = (key: string) => Number(r[key] ?? 0);
    const latency: Record<string, Percentiles> = {};
    for (const [name] of stageColumns) latency[name] = { p50: num(r[`${name}_p50`]), p95: num(r[`${name}_p95`]) };
    const rated = n('rated');
    const up = n('up');
    return {
      config: v.config,
      percent: v.percent,
      requests: n('requests'),
      answers: n('answers'),
      searches: n('searches'),
      latency,
      tokensIn: n('tokens_in'),
      tokensOut: n('tokens_out'),
      costUsd: Math.round(n('cost_usd') * 1e8) / 1e8,
      outcomes: {
        answered: share(n('answered'), n('answers')),
        notCovered: share(n('not_covered'), n('answers')),
        fallback: share(n('fallback'), n('answers')),
        error: share(n('error'), n('answers')),
      },
      feedback: { rated, up, upRate: rated ? share(up, rated) : null, interval95: wilsonInterval(up, rated) },
    };
  });
  const first = variants[0]!;
  return {
    experiment,
    variants: variants.map((v, i) => ({
      ...v,
      versusFirst: i === 0 ? null : twoProportionTest(first.feedback.up, first.feedback.rated, v.feedback.up, v.feedback.rated),
    })),
  };
}
