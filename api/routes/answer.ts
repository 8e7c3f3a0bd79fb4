import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { RaglineError, errorMessage } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import { CallAbortedError } from '../../core/resilience.ts';
import { answerRequestSchema } from '../../answer/service.ts';
import { StructuredOutputError } from '../../answer/structured.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { TracedQueries } from '../../facade/traced-queries.ts';
import { scopedQueryCollection } from '../access.ts';
import { readTracedJson, tracedContext } from '../traced-request.ts';

/**
 * POST /:id/answer (mounted under /v1/collections). JSON by default; with `"stream": true`, Server-Sent
 * Events: `retrieval` (the chunks), `token`s (answer deltas), then `done` (citations, usage, timings),
 * or `error` if the answer cannot be completed. Every answer carries `requestId` and `cache` (hit | miss | off). Invalid input and unknown collections are ordinary
 * JSON errors, sent before the event stream starts.
 */
export function answerRoutes(ragline: Ragline, queries: TracedQueries): Hono {
  const app = new Hono();

  app.post('/:id/answer', async (c) => {
    const context = tracedContext(c);
    // The body as sent goes on: fields left out take the collection config's values (docs/experiments.md).
    const { parsed: request, sent } = await readTracedJson(c, queries, context, 'answer', answerRequestSchema);
    const collection = () => scopedQueryCollection(c, ragline, c.req.param('id'));
    const upstream = new AbortController();
    // The request signal fires when the client disconnects (also before the stream has started).
    c.req.raw.signal.addEventListener('abort', () => upstream.abort(), { once: true });

    if (!request.stream) {
      try {
        const response = await queries.answer(context, collection, sent, upstream.signal);
        // A cached answer cost no LLM tokens this time, so it spends none of the budget.
        if (response.cache !== 'hit') await c.get('chargeAnswerTokens')?.(response.usage);
        return c.json(response);
      } catch (err) {
        // The client went away and the LLM call was cancelled: there is nobody to answer.
        if (err instanceof CallAbortedError) return new Response(null, { status: 499 });
        // Both structured replies were spent on the LLM even though neither was usable.
        if (err instanceof StructuredOutputError) await c.get('chargeAnswerTokens')?.(err.usage);
        throw err;
      }
    }

    const events = queries.stream(context, collection, sent, upstream.signal);
    // Retrieval runs before the response is committed, so its errors (404, 400) keep their status.
    const first = await events.next();

    return streamSSE(c, async (sse) => {
      sse.onAbort(() => {
        upstream.abort();
        void events.return(undefined);
      });
      try {
        for (let next = first; !next.done; next = await events.next()) {
          if (sse.aborted) return;
          const done = next.value.event === 'done' ? next.value.data : undefined;
          if (done && (done as { cache?: string }).cache !== 'hit') await c.get('chargeAnswerTokens')?.(done.usage);
          await sse.writeSSE({ event: next.value.event, data: JSON.stringify(next.value.data) });
        }
      } catch (err) {
        if (sse.aborted) return;
        const error = err instanceof RaglineError ? err : new RaglineError('internal', 'the answer failed', { cause: errorMessage(err) });
        logger.warn({ err: errorMessage(err), collection: c.req.param('id') }, 'answer stream failed');
        await sse.writeSSE({ event: 'error', data: JSON.stringify({ ...error.toJSON(), requestId: context.requestId }) });
      }
    });
  });

  return app;
}
