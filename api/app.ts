import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { RaglineError } from '../core/errors.ts';
import type { Ragline } from '../facade/ragline.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { AnswerService } from '../answer/service.ts';
import type { JobWorker } from '../ingest/jobs/worker.ts';
import { errorResponse, onError, onNotFound } from './http-errors.ts';
import { createMetrics, type ApiMetrics } from './metrics.ts';
import { apiKeyAuth } from './middleware/auth.ts';
import { observe } from './middleware/observability.ts';
import { loadShedding } from './middleware/load-shedding.ts';
import { rateLimit } from './middleware/rate-limit.ts';
import { answerRoutes } from './routes/answer.ts';
import { collectionRoutes } from './routes/collections.ts';
import { documentRoutes } from './routes/documents.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { readinessRoutes } from './routes/readiness.ts';
import { searchRoutes } from './routes/search.ts';

export interface ApiOptions {
  /** Defaults to the queue in the Ragline store's database. */
  queue?: JobQueue;
  /** An in-process worker to wake when jobs are enqueued or retried (embedded mode). */
  worker?: JobWorker;
  /** Defaults to a fresh registry without process metrics. */
  metrics?: ApiMetrics;
  /** Defaults to the service configured by `ragline.config` (LLM when configured, extractive otherwise). */
  answers?: AnswerService;
}

/**
 * The HTTP API. Settings come from `ragline.config.server`: API keys (auth on /v1 when set),
 * requests per minute, and the body size limit. /healthz and /metrics stay open for probes.
 */
export function createApi(ragline: Ragline, options: ApiOptions = {}): Hono {
  const { server } = ragline.config;
  const queue = options.queue ?? JobQueue.forStore(ragline.store);
  const metrics = options.metrics ?? createMetrics(queue);
  const wake = () => options.worker?.notify();

  const app = new Hono();
  app.use(requestId(), observe(metrics), secureHeaders());
  app.onError(onError);
  app.notFound(onNotFound);

  app.route('/', healthRoutes(ragline, queue));
  app.route('/', readinessRoutes(ragline));
  app.get('/metrics', async (c) => c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  if (server.apiKeys.length) app.use('/v1/*', apiKeyAuth(server.apiKeys));
  app.use('/v1/*', rateLimit(server.rateLimitPerMinute));
  const shed = ragline.config.loadShedding;
  app.use(
    '/v1/*',
    loadShedding({
      maxInFlight: { search: shed.search, answer: shed.answer, upload: shed.upload },
      retryAfterSeconds: shed.retryAfterSeconds,
    }),
  );
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: server.maxUploadBytes,
      onError: (c) =>
        errorResponse(
          c,
          new RaglineError('payload_too_large', `request body exceeds the limit of ${server.maxUploadBytes} bytes`, {
            maxBytes: server.maxUploadBytes,
          }),
        ),
    }),
  );

  app.route('/v1/collections', collectionRoutes(ragline));
  app.route('/v1/collections', documentRoutes(ragline, queue, wake));
  app.route('/v1/collections', searchRoutes(ragline));
  app.route('/v1/collections', answerRoutes(options.answers ?? AnswerService.fromConfig(ragline)));
  app.route('/v1/jobs', jobRoutes(ragline, queue, wake));
  return app;
}
