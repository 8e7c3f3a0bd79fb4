import { Hono } from 'hono';
import { errorMessage } from '../../core/errors.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { JobQueue } from '../../ingest/jobs/queue.ts';

type Check = { ok: true; [k: string]: unknown } | { ok: false; error: string };

async function check(fn: () => Promise<Record<string, unknown>>): Promise<Check> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

/** GET /readyz (below); GET /healthz: liveness: the database answers and the embedding model is loaded (loading it if needed). 503 otherwise. */
export function healthRoutes(ragline: Ragline, queue: JobQueue): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    const [database, model] = await Promise.all([
      check(async () => {
        await queue.ping();
        return { kind: ragline.store.kind };
      }),
      check(async () => {
        const embedder = await ragline.embedder();
        return { id: embedder.modelId, dimensions: embedder.dimensions };
      }),
    ]);
    const ok = database.ok && model.ok;
    return c.json({ status: ok ? 'ok' : 'unavailable', checks: { database, model } }, ok ? 200 : 503);
  });

  // Readiness, not liveness: 503 until the model is loaded and every collection's BM25 index is built
  // (the warm-up the server starts; started here when nobody has yet), so a balancer sends no traffic before.
  app.get('/readyz', (c) => {
    if (!ragline.warming) void ragline.warmUp().catch(() => {});
    const { modelLoaded, indexesBuilt } = ragline.readiness;
    const ready = modelLoaded && indexesBuilt;
    // bm25: each loaded collection, where its index came from (snapshot or rebuild), and memory against the budget.
    // With RAGLINE_SPARSE=pinecone no in-process index is built or waited for, and the answer says so.
    const keywordSearch = ragline.keywordSearch ? { keywordSearch: 'pinecone' } : {};
    const checks = { modelLoaded, bm25IndexesBuilt: indexesBuilt, ...keywordSearch, bm25: ragline.bm25.readiness() };
    return c.json({ status: ready ? 'ready' : 'starting', checks }, ready ? 200 : 503);
  });
  return app;
}
