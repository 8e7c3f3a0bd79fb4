import type { LedgerStore } from './ledger.ts';

/** What model routing did since a date: answers per tier and the cost saved against the strong model for all. */
export interface RoutingReport {
  routed: number;
  small: number;
  strong: number;
  /** What the routed answers cost. */
  costUsd: number;
  /** The same tokens priced at the strong model (answers whose strong price is unknown are left out of both). */
  strongOnlyCostUsd: number;
  savedUsd: number;
}

const usd = (n: number) => Math.round(n * 1e8) / 1e8;

/** Over the answers whose trace has a routing choice (migrations/011), of one tenant when given: no routing configured means all zeros. */
export async function routingReport(ledger: LedgerStore, since: Date, tenantId?: string): Promise<RoutingReport> {
  const params = tenantId === undefined ? [since.toISOString()] : [since.toISOString(), tenantId];
  const inTenant = tenantId === undefined ? '' : ' AND tenant_id = $2';
  const row = (
    await ledger.query<Record<string, unknown>>(
      `SELECT count(*)::int AS routed,
              count(*) FILTER (WHERE routing->>'tier' = 'small')::int AS small,
              count(*) FILTER (WHERE routing->>'tier' = 'strong')::int AS strong,
              coalesce(sum(cost_usd) FILTER (WHERE routing->>'strongCostUsd' IS NOT NULL), 0)::float8 AS cost,
              coalesce(sum((routing->>'strongCostUsd')::float8), 0)::float8 AS strong_cost
       FROM request_traces WHERE created_at >= $1 AND kind = 'answer' AND routing IS NOT NULL AND NOT cache_hit${inTenant}`,
      params,
    )
  ).rows[0]!;
  const cost = Number(row.cost);
  const strongCost = Number(row.strong_cost);
  return {
    routed: Number(row.routed),
    small: Number(row.small),
    strong: Number(row.strong),
    costUsd: usd(cost),
    strongOnlyCostUsd: usd(strongCost),
    savedUsd: usd(strongCost - cost),
  };
}
