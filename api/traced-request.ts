import type { Context } from 'hono';
import type { z } from 'zod';
import type { RequestContext, TracedQueries } from '../facade/traced-queries.ts';
import { parseJsonBody, readJsonValue } from './http-errors.ts';
import { requestContext } from './request-context.ts';

/** The context of a traced request; from here on its error responses carry its `requestId` (see onError). */
export function tracedContext(c: Context): RequestContext {
  const context = requestContext(c);
  c.set('traceId', context.requestId);
  return context;
}

/**
 * readJson for search and answer: a body refused as malformed or invalid is traced like any
 * failed request (`error:<code>`), with what the trace may hold of it, never the body itself.
 * Returns the body as sent beside the parsed one: collection configs fill only the fields a caller
 * left out, and the parsed body can no longer tell those apart from the schema's defaults.
 */
export async function readTracedJson<S extends z.ZodType>(
  c: Context,
  queries: TracedQueries,
  context: RequestContext,
  kind: 'search' | 'answer',
  schema: S,
): Promise<{ parsed: z.output<S>; sent: z.input<S> }> {
  let raw: unknown;
  try {
    raw = await readJsonValue(c);
    return { parsed: parseJsonBody(schema, raw), sent: raw as z.input<S> };
  } catch (err) {
    queries.recordRejected(context, kind, err, { body: raw, collection: c.req.param('id') ?? '' });
    throw err;
  }
}
