import type { LedgerStore, TraceStages } from './ledger.ts';

/** One line of the recent-requests list: what a trace costs and how it ended, without its chunks or settings. */
export interface TraceSummary {
  id: string;
  createdAt: string;
  kind: 'search' | 'answer';
  collectionName: string | null;
  question: string;
  model: string | null;
  tokensIn: number;
  tokensOut: number;
  /** Chat plus query embedding; null when neither price is known. */
  costUsd: number | null;
  stages: TraceStages;
  totalMs: number;
  outcome: string;
  cacheHit: boolean;
  /** The feedback's 1–5 rating, null when nobody rated it. */
  rating: number | null;
  comment: string | null;
}

export interface TraceListQuery {
  tenantId: string;
  kind?: 'search' | 'answer';
  limit: number;
  offset: number;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

/** A tenant's traces, newest first, one page at a time (the tenant + created_at index serves it). */
export async function listTraces(ledger: LedgerStore, q: TraceListQuery): Promise<TraceSummary[]> {
  const params: unknown[] = [q.tenantId, q.limit, q.offset];
  const byKind = q.kind ? ` AND t.kind = $${params.push(q.kind)}` : '';
  const { rows } = await ledger.query<Record<string, unknown>>(
    `SELECT t.id, t.created_at, t.kind, t.collection_name, t.question, t.model, t.tokens_in, t.tokens_out,
            CASE WHEN t.cost_usd IS NULL AND t.embed_cost_usd IS NULL THEN NULL
                 ELSE coalesce(t.cost_usd, 0) + coalesce(t.embed_cost_usd, 0) END AS cost_usd,
            t.stages, t.total_ms, t.outcome, t.cache_hit, f.rating, f.comment
     FROM request_traces t LEFT JOIN request_feedback f ON f.request_id = t.id
     WHERE t.tenant_id = $1${byKind}
     ORDER BY t.created_at DESC, t.id LIMIT $2 OFFSET $3`,
    params,
  );
  return rows.map((r) => ({
    id: String(r.id),
    createdAt: iso(r.created_at),
    kind: r.kind as TraceSummary['kind'],
    collectionName: (r.collection_name as string | null) ?? null,
    question: String(r.question),
    model: (r.model as string | null) ?? null,
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costUsd: r.cost_usd === null || r.cost_usd === undefined ? null : Number(r.cost_usd),
    stages: (r.stages as TraceStages) ?? {},
    totalMs: Number(r.total_ms),
    outcome: String(r.outcome),
    cacheHit: Boolean(r.cache_hit),
    rating: r.rating === null || r.rating === undefined ? null : Number(r.rating),
    comment: (r.comment as string | null) ?? null,
  }));
}
