import type { Hono } from 'hono';
import { createApi } from '../../api/app.ts';
import { configSchema } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';
import { pipelineProcessor } from '../../facade/job-processor.ts';
import { JobQueue } from '../../ingest/jobs/queue.ts';
import { JobWorker } from '../../ingest/jobs/worker.ts';
import type { Embedder } from '../../models/types.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import type { SqlStore } from '../../store/sql-store.ts';
import { testEmbedder } from '../../testkit/embedder.ts';

/** The HTTP API over PGlite in memory with the real model and an in-process worker. */
export interface PgliteApi {
  embedder: Embedder;
  store: SqlStore;
  ragline: Ragline;
  queue: JobQueue;
  worker: JobWorker;
  app: Hono;
}

/** `config` is the raw configuration object (validated here); retries run without delay. */
export async function openPgliteApi(config: Record<string, unknown> = {}): Promise<PgliteApi> {
  const embedder = await testEmbedder();
  const store = await openPgliteStore();
  const ragline = await Ragline.open(configSchema.parse({ server: { rateLimitPerMinute: 100_000 }, ...config }), { store, embedder });
  const queue = JobQueue.forStore(store, { retryDelayMs: () => 0 });
  const worker = new JobWorker(queue, pipelineProcessor(ragline), { pollMs: 50 }).start();
  return { embedder, store, ragline, queue, worker, app: createApi(ragline, { queue, worker }) };
}

export async function closePgliteApi(api: PgliteApi | undefined): Promise<void> {
  await api?.worker.stop();
  await api?.store.close();
}
