import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { RequestContext } from '../facade/traced-queries.ts';
import { principalOf } from './access.ts';

/**
 * The trace id is the request id the server generated. A client's own X-Request-Id stays the
 * correlation id in logs, but a trace gets a fresh one, so no client can collide with another's trace.
 */
export function requestContext(c: Context): RequestContext {
  const id = c.get('requestId');
  const fromClient = c.req.header('x-request-id');
  const principal = principalOf(c);
  return { requestId: id && id !== fromClient ? id : randomUUID(), tenantId: principal.tenantId, keyId: principal.keyId };
}
