import { Hono } from 'hono';
import { z } from 'zod';
import { notFound } from '../../core/errors.ts';
import type { RequestLedger } from '../../facade/ledger.ts';
import { readJson } from '../http-errors.ts';
import { principalOf } from '../access.ts';

export const feedbackRequestSchema = z
  .object({
    requestId: z.string().min(1).max(255),
    /** Thumbs up / down, or a 1–5 rating. */
    rating: z.union([z.enum(['up', 'down']), z.number().int().min(1).max(5)]),
    comment: z.string().max(4_000).optional(),
    /** What the answer should have said. */
    expected: z.string().max(8_000).optional(),
  })
  .strict();

const ratingValue = (r: z.infer<typeof feedbackRequestSchema>['rating']) => (r === 'up' ? 5 : r === 'down' ? 1 : r);

/**
 * GET /v1/requests/:id: the trace of one search or answer, with its feedback (404 for another tenant's).
 * POST /v1/feedback: rates an answer; feedback again for the same request replaces the earlier one.
 */
export function requestRoutes(ledger: RequestLedger): Hono {
  const app = new Hono();

  const traceOf = async (id: string, tenantId: string) => {
    await ledger.flush(); // the trace of a request that just returned may still be buffered
    const trace = await ledger.store.getTrace(id, tenantId);
    if (!trace) throw notFound(`request "${id}" not found`, { requestId: id });
    return trace;
  };

  app.get('/requests/:id', async (c) => {
    const trace = await traceOf(c.req.param('id'), principalOf(c).tenantId);
    return c.json({ ...trace, feedback: await ledger.store.getFeedback(trace.id) });
  });

  app.post('/feedback', async (c) => {
    const body = await readJson(c, feedbackRequestSchema);
    const trace = await traceOf(body.requestId, principalOf(c).tenantId);
    const feedback = await ledger.store.putFeedback({
      requestId: trace.id,
      rating: ratingValue(body.rating),
      comment: body.comment ?? null,
      expected: body.expected ?? null,
    });
    return c.json(feedback);
  });

  return app;
}
