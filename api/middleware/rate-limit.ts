import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { rateLimiter } from 'hono-rate-limiter';
import { RaglineError } from '../../core/errors.ts';

/** The caller's address on a real socket; in-process requests (tests, app.request) have none. */
function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}

function retryAfter(c: Context): number {
  const resetTime = (c.get('rateLimit') as { resetTime?: Date } | undefined)?.resetTime;
  return resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 60;
}

/** Requests per minute per API key (when authenticated) or per client address; 429 JSON with Retry-After. */
export function rateLimit(perMinute: number): MiddlewareHandler {
  return rateLimiter({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-6',
    keyGenerator: (c) => {
      const key = c.get('apiKey');
      return key ? `key:${createHash('sha256').update(key).digest('hex').slice(0, 16)}` : `ip:${clientAddress(c)}`;
    },
    handler: (c) =>
      c.json(
        new RaglineError('rate_limited', `rate limit exceeded: at most ${perMinute} requests per minute`, {
          limit: perMinute,
          retryAfterSeconds: retryAfter(c),
        }).toJSON(),
        429,
      ),
  });
}
