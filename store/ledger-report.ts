import { TRACE_STAGES, type LedgerStore } from './ledger.ts';
import { routingReport, type RoutingReport } from './routing-report.ts';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface UsageRow {
  tenantId: string | null;
  keyId: string | null;
  model: string | null;
  requests: number;
  tokensIn: number;
  tokensOut: number;
  /** Chat plus query embedding; unknown prices count as 0. */
  costUsd: number;
}

export interface LedgerReport {
  since: string;
  requests: { total: number; search: number; answer: number; cacheHits: number };
  /** Milliseconds per stage (and `totalMs`), over the requests that ran the stage. */
  latency: Record<string, Percentiles>;
  /** Shares of answers (cache hits included): answered, not covered, fallback, error. */
  answerOutcomes: { answered: number; notCovered: number; fallback: number; error: number };
  usage: UsageRow[];
  /** Lowest-rated answers first. */
  worstRated: { requestId: string; question: string; rating: number; comment: string | null; expected: string | null }[];
  /** Questions answered "not covered" most often: the corpus gaps to fill. */
  unanswered: { question: string; count: number }[];
  feedback: { count: number; rate: number; averageRating: number | null };
  /** Model routing: answers per tier and the cost saved against always using the strong model. */
  routing: RoutingReport;
}

const LIST_LIMIT = 10;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const share = (n: number, total: number) => (total ? Math.round((n / total) * 10_000) / 10_000 : 0);

/** The figures `ragline report` prints, computed in SQL over the traces since `since` (of one tenant when `tenantId` is given). */
export async function ledgerReport(ledger: LedgerStore, since: Date, tenantId?: string): Promise<LedgerReport> {
  const from = tenantId === undefined ? [since.toISOString()] : [since.toISOString(), tenantId];
  const inTenant = tenantId === undefined ? '' : ' AND tenant_id = $2';
  const inTenantT = tenantId === undefined ? '' : ' AND t.tenant_id = $2';
  const totals = (
    await ledger.query<Record<string, number>>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE kind = 'search')::int AS search,
              count(*) FILTER (WHERE kind = 'answer')::int AS answer,
              count(*) FILTER (WHERE cache_hit)::int AS cache_hits,
              count(*) FILTER (WHERE kind = 'answer' AND outcome = 'answered')::int AS answered,
              count(*) FILTER (WHERE kind = 'answer' AND outcome = 'not_covered')::int AS not_covered,
              count(*) FILTER (WHERE kind = 'answer' AND outcome LIKE 'fallback:%')::int AS fallback,
              count(*) FILTER (WHERE kind = 'answer' AND outcome LIKE 'error:%')::int AS error
       FROM request_traces WHERE created_at >= $1${inTenant}`,
      from,
    )
  ).rows[0]!;

  const stageColumns = [...TRACE_STAGES.map((s) => [s, `(stages->>'${s}')::float8`] as const), ['totalMs', 'total_ms'] as const];
  const latencyRow = (
    await ledger.query<Record<string, unknown>>(
      `SELECT ${stageColumns
        .map(
          ([name, expr]) =>
            `percentile_cont(0.5) WITHIN GROUP (ORDER BY ${expr}) AS "${name}_p50", percentile_cont(0.95) WITHIN GROUP (ORDER BY ${expr}) AS "${name}_p95"`,
        )
        .join(', ')}
       FROM request_traces WHERE created_at >= $1${inTenant} AND NOT cache_hit`,
      from,
    )
  ).rows[0]!;
  const latency: Record<string, Percentiles> = {};
  for (const [name] of stageColumns) latency[name] = { p50: num(latencyRow[`${name}_p50`]), p95: num(latencyRow[`${name}_p95`]) };

  const usage = (
    await ledger.query<Record<string, unknown>>(
      `SELECT tenant_id, key_id, model, count(*)::int AS requests, sum(tokens_in)::int AS tokens_in, sum(tokens_out)::int AS tokens_out,
              sum(coalesce(cost_usd, 0) + coalesce(embed_cost_usd, 0))::float8 AS cost_usd
       FROM request_traces WHERE created_at >= $1${inTenant}
       GROUP BY tenant_id, key_id, model ORDER BY cost_usd DESC, requests DESC`,
      from,
    )
  ).rows.map((r) => ({
    tenantId: (r.tenant_id as string | null) ?? null,
    keyId: (r.key_id as string | null) ?? null,
    model: (r.model as string | null) ?? null,
    requests: Number(r.requests),
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costUsd: Math.round(Number(r.cost_usd) * 1e8) / 1e8,
  }));

  const worstRated = (
    await ledger.query<Record<string, unknown>>(
      `SELECT t.id, t.question, f.rating, f.comment, f.expected FROM request_feedback f JOIN request_traces t ON t.id = f.request_id
       WHERE t.created_at >= $1${inTenantT} AND f.rating <= 2 ORDER BY f.rating, f.created_at DESC LIMIT ${LIST_LIMIT}`,
      from,
    )
  ).rows.map((r) => ({
    requestId: String(r.id),
    question: String(r.question),
    rating: Number(r.rating),
    comment: (r.comment as string | null) ?? null,
    expected: (r.expected as string | null) ?? null,
  }));

  const unanswered = (
    await ledger.query<Record<string, unknown>>(
      `SELECT min(question) AS question, count(*)::int AS n FROM request_traces
       WHERE created_at >= $1${inTenant} AND kind = 'answer' AND outcome = 'not_covered'
       GROUP BY lower(regexp_replace(btrim(question), '\\s+', ' ', 'g')) ORDER BY n DESC, question LIMIT ${LIST_LIMIT}`,
      from,
    )
  ).rows.map((r) => ({ question: String(r.question), count: Number(r.n) }));

  const fb = (
    await ledger.query<Record<string, unknown>>(
      `SELECT count(*)::int AS n, avg(f.rating)::float8 AS avg FROM request_feedback f JOIN request_traces t ON t.id = f.request_id
       WHERE t.created_at >= $1${inTenantT}`,
      from,
    )
  ).rows[0]!;
  const feedbackCount = Number(fb.n);

  return {
    since: since.toISOString(),
    requests: { total: totals.total!, search: totals.search!, answer: totals.answer!, cacheHits: totals.cache_hits! },
    latency,
    answerOutcomes: {
      answered: share(totals.answered!, totals.answer!),
      notCovered: share(totals.not_covered!, totals.answer!),
      fallback: share(totals.fallback!, totals.answer!),
      error: share(totals.error!, totals.answer!),
    },
    usage,
    worstRated,
    unanswered,
    feedback: {
      count: feedbackCount,
      rate: share(feedbackCount, totals.answer!),
      averageRating: fb.avg === null ? null : Math.round(Number(fb.avg) * 100) / 100,
    },
    routing: await routingReport(ledger, since, tenantId),
  };
}
