import { Hono } from 'hono';
import type { Ragline } from '../../facade/ragline.ts';

/**
 * GET /readyz: 200 once this replica can serve keyword search without a cold start (its BM25
 * warm-up finished), 503 before; the body lists each loaded collection, where its index came from
 * (snapshot or rebuild), and the memory estimate against RAGLINE_BM25_MEMORY_MB.
 */
export function readinessRoutes(ragline: Ragline): Hono {
  const app = new Hono();
  app.get('/readyz', (c) => {
    const bm25 = ragline.bm25.readiness();
    return c.json({ status: bm25.ready ? 'ready' : 'starting', checks: { bm25 } }, bm25.ready ? 200 : 503);
  });
  return app;
}
