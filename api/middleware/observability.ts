import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { logger } from '../../core/logger.ts';
import type { ApiMetrics } from '../metrics.ts';

/** The pattern of the route that handled the request (`/v1/collections/:id`), not the raw path. */
function routeLabel(c: Parameters<MiddlewareHandler>[0]): string {
  return matchedRoutes(c).findLast((r) => r.method !== 'ALL')?.path ?? 'unmatched';
}

/** One structured log line and one metrics sample per request, tagged with the request id. */
export function observe(metrics: ApiMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const labels = { method: c.req.method, route: routeLabel(c), status: String(c.res.status) };
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, seconds);
    const level = c.res.status >= 500 ? 'error' : 'info';
    logger[level](
      { requestId: c.get('requestId'), ...labels, path: c.req.path, ms: Math.round(seconds * 1000) },
      `${c.req.method} ${c.req.path} ${c.res.status}`,
    );
  };
}
