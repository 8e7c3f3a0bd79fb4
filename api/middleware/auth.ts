import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { RaglineError } from '../../core/errors.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** The API key the request authenticated with (absent when auth is off). */
    apiKey: string;
  }
}

const unauthorized = (message: string) => (c: Context) =>
  c.json(new RaglineError('unauthorized', message, { header: 'Authorization' }).toJSON(), 401);

/**
 * `Authorization: Bearer <key>` against the configured keys (constant-time compare by hono).
 * Every failure is a 401 JSON error, including a malformed header, which hono would answer with 400.
 */
export function apiKeyAuth(keys: string[]): MiddlewareHandler {
  const check = bearerAuth({
    token: keys,
    noAuthenticationHeader: { message: unauthorized('missing API key: send "Authorization: Bearer <key>"') },
    invalidAuthenticationHeader: { message: unauthorized('malformed Authorization header: expected "Bearer <key>"') },
    invalidToken: { message: unauthorized('invalid API key') },
  });
  return async (c, next) =>
    check(c, async () => {
      c.set('apiKey', c.req.header('authorization')!.slice('bearer '.length).trim());
      await next();
    });
}
