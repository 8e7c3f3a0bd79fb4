import { Hono } from 'hono';
import { z } from 'zod';
import type { RequestLedger } from '../../facade/ledger.ts';
import { listTraces } from '../../store/ledger-list.ts';
import { ledgerReport } from '../../store/ledger-report.ts';
import { principalOf } from '../access.ts';
import { readQuery } from '../http-errors.ts';
import { pageQueryFields, readPage } from '../paging.ts';

export const requestListQuerySchema = (maxLimit: number) =>
  z
    .object({
      kind: z.enum(['search', 'answer']).optional(),
      ...pageQueryFields(maxLimit),
    })
    .strict();

export const reportQuerySchema = z.object({ sinceDays: z.coerce.number().int().min(1).max(366).default(7) }).strict();

/**
 * GET /v1/requests: the caller's tenant's recent traces, newest first, paged (at most `maxLimit` a page).
 * GET /v1/report: `ragline report` for the caller's tenant (volume, latency, outcomes, cost, worst-rated, unanswered).
 */
export function requestListRoutes(ledger: RequestLedger, maxLimit: number): Hono {
  const app = new Hono();
  const listQuery = requestListQuerySchema(maxLimit);

  app.get('/requests', async (c) => {
    const q = readQuery(c, listQuery);
    await ledger.flush(); // requests that just returned may still be buffered
    const tenantId = principalOf(c).tenantId;
    const { items, ...page } = await readPage(q, (limit, offset) => listTraces(ledger.store, { tenantId, kind: q.kind, limit, offset }));
    return c.json({ requests: items, ...page });
  });

  app.get('/report', async (c) => {
    const q = readQuery(c, reportQuerySchema);
    await ledger.flush();
    const since = new Date(Date.now() - q.sinceDays * 86_400_000);
    return c.json(await ledgerReport(ledger.store, since, principalOf(c).tenantId));
  });

  return app;
}
