import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { logger } from '../core/logger.ts';
import { errorMessage } from '../core/errors.ts';
import type { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { JobQueue, queueOptionsFromLimits } from '../ingest/jobs/queue.ts';
import { JobWorker, type WorkerOptions } from '../ingest/jobs/worker.ts';
import { createApi } from './app.ts';
import { RequestLimits } from './limits/request-limits.ts';
import { createMetrics } from './metrics.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { checkOpenMode } from './open-mode.ts';
import { AnswerService } from '../answer/service.ts';
import { openOperations } from '../facade/operations.ts';
import { BATCH_JOB_KIND, Batches } from '../facade/batches.ts';

export interface ServerOptions {
  host: string;
  port: number;
  /** Run a job worker in this process: required for embedded PGlite, optional with Postgres. */
  inProcessWorker: boolean;
  worker?: WorkerOptions;
  /** How long shutdown waits for in-flight requests and jobs before cutting them off (default RAGLINE_SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number;
  /** Log the open-mode warning (default true); the demo prints `openWarning` itself. */
  logOpenWarning?: boolean;
}

export interface RunningServer {
  url: string;
  worker: JobWorker | undefined;
  /** Why anyone who reaches this server is admin (no API keys), or null when keys exist. */
  openWarning: string | null;
  /** Stops accepting connections, lets in-flight requests and jobs finish, then closes the store. */
  close(): Promise<void>;
}

export async function startServer(ragline: Ragline, options: ServerOptions): Promise<RunningServer> {
  const tenancy = Tenancy.for(ragline);
  const keysExist = ragline.config.server.apiKeys.length > 0 || (await tenancy.store.hasActiveKeys());
  const openWarning = checkOpenMode(options.host, keysExist, ragline.config.tenancy.allowOpen);
  if (openWarning && options.logOpenWarning !== false) logger.warn(openWarning);
  const { limits } = ragline.config;
  const queue = JobQueue.forStore(ragline.store, queueOptionsFromLimits(limits));
  const workerOptions = { jobDeadlineMs: limits.jobDeadlineMs, ...options.worker };
  const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  const requestLimits = RequestLimits.fromConfig(ragline.config);
  // Batch questions answered here are charged to the same token counters as /answer.
  const batches = Batches.fromOperations(ragline, operations.queries, requestLimits);
  const worker = options.inProcessWorker
    ? new JobWorker(queue, pipelineProcessor(ragline), { ...workerOptions, tasks: { [BATCH_JOB_KIND]: batches.processor() } }).start()
    : undefined;
  operations.ledger.startPurging();
  const app = createApi(ragline, {
    queue,
    worker,
    operations,
    batches,
    metrics: createMetrics(queue, { processMetrics: true }),
    limits: requestLimits,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, worker: worker?.id ?? null, store: ragline.store.kind, dense: ragline.store.denseBackend }, 'ragline API listening');
  const warmStart = performance.now();
  void ragline
    .warmUp()
    .then((done) => logger.info({ ...done, ms: Math.round(performance.now() - warmStart) }, 'BM25 indexes built and model loaded'))
    .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'warm-up failed; indexes and model load on first use instead'));

  const purge = () =>
    void tenancy.purgeExpired().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'purging deleted collections failed'));
  purge();
  const purgeTimer = setInterval(purge, ragline.config.tenancy.purgeIntervalMinutes * 60_000);
  purgeTimer.unref();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const graceMs = options.shutdownGraceMs ?? limits.shutdownGraceMs;
      const grace = setTimeout(() => server.closeAllConnections(), graceMs);
      // Jobs get the same grace; then they are abandoned and queued again for the next start.
      await Promise.all([stopped, worker?.stop(graceMs)]);
      clearTimeout(grace);
      clearInterval(purgeTimer);
      await requestLimits.close();
      await operations.close();
      await ragline.close();
      logger.info('ragline API stopped');
    })());

  return { url, worker, openWarning, close };
}
