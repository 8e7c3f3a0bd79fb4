import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { logger } from '../core/logger.ts';
import { errorMessage } from '../core/errors.ts';
import type { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker, type WorkerOptions } from '../ingest/jobs/worker.ts';
import { createApi } from './app.ts';
import { createMetrics } from './metrics.ts';
import { AnswerService } from '../answer/service.ts';
import { openOperations } from '../facade/operations.ts';

export interface ServerOptions {
  host: string;
  port: number;
  /** Run a job worker in this process: required for embedded PGlite, optional with Postgres. */
  inProcessWorker: boolean;
  worker?: WorkerOptions;
  /** How long shutdown waits for in-flight requests before cutting connections (default 30 s). */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  url: string;
  worker: JobWorker | undefined;
  /** Stops accepting connections, lets in-flight requests and jobs finish, then closes the store. */
  close(): Promise<void>;
}

export async function startServer(ragline: Ragline, options: ServerOptions): Promise<RunningServer> {
  const queue = JobQueue.forStore(ragline.store);
  const worker = options.inProcessWorker ? new JobWorker(queue, pipelineProcessor(ragline), options.worker).start() : undefined;
  const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  operations.ledger.startPurging();
  const app = createApi(ragline, { queue, worker, operations, metrics: createMetrics(queue, { processMetrics: true }) });

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

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 30_000);
      await stopped;
      clearTimeout(grace);
      await worker?.stop();
      await operations.close();
      await ragline.close();
      logger.info('ragline API stopped');
    })());

  return { url, worker, close };
}
