import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { RaglineError } from '../core/errors.ts';
import type { Ragline } from '../facade/ragline.ts';
import { JobQueue, queueOptionsFromLimits } from '../ingest/jobs/queue.ts';
import { AnswerService } from '../answer/service.ts';
import type { JobWorker } from '../ingest/jobs/worker.ts';
import { trustedProxies } from '../core/client-address.ts';
import { clientAddressResolver } from './access.ts';
import { errorResponse, onError, onNotFound } from './http-errors.ts';
import { keylessLoopbackOnly } from './open-mode.ts';
import { createMetrics, type ApiMetrics } from './metrics.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { KeyResolver, apiKeyAuth, metricsAuth } from './middleware/auth.ts';
import { observe } from './middleware/observability.ts';
import { RequestLimits } from './limits/request-limits.ts';
import { answerTokenBudget, authFailureLimit, requestLimit } from './middleware/limits.ts';
import { loadShedding } from './middleware/load-shedding.ts';
import { answerRoutes } from './routes/answer.ts';
import { collectionRoutes } from './routes/collections.ts';
import { documentRoutes } from './routes/documents.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { searchRoutes } from './routes/search.ts';
import { tenancyRoutes } from './routes/tenancy.ts';
import { openOperations, type Operations } from '../facade/operations.ts';
import { registerOperationsMetrics } from './operations-metrics.ts';
import { requestRoutes } from './routes/requests.ts';
import { docsRoutes } from './routes/docs.ts';
import { configRoutes } from './routes/configs.ts';
import { experimentRoutes } from './routes/experiments.ts';
import { openAIErrors } from './openai-format.ts';
import { openAICompatRoutes } from './routes/openai-compat.ts';
import { Batches } from '../facade/batches.ts';
import { batchRoutes } from './routes/batches.ts';
import { handoffRoutes } from './routes/handoffs.ts';
import { requestListRoutes } from './routes/request-list.ts';
import { documentChunkRoutes } from './routes/document-chunks.ts';
import { consoleRoutes } from './routes/console.ts';

export interface ApiOptions {
  /** Defaults to the queue in the Ragline store's database. */
  queue?: JobQueue;
  /** An in-process worker to wake when jobs are enqueued or retried (embedded mode). */
  worker?: JobWorker;
  /** Defaults to a fresh registry without process metrics. */
  metrics?: ApiMetrics;
  /** Defaults to the service configured by `ragline.config` (LLM when configured, extractive otherwise). */
  answers?: AnswerService;
  /** Rate-limit counters; defaults to `RequestLimits.fromConfig` (whoever passes them closes them). */
  limits?: RequestLimits;
  /** The request ledger and answer cache; defaults to those configured in `operations` (the caller closes them). */
  operations?: Operations;
  /** Question batches; defaults to batches answered through `operations`. */
  batches?: Batches;
}

/**
 * The HTTP API. Settings come from `ragline.config.server`: API keys (auth on /v1 when set),
 * requests per minute, and the body size limit. /healthz stays open for probes; /metrics needs the
 * metrics token or an admin key once any key exists (docs/tenancy.md).
 */
export function createApi(ragline: Ragline, options: ApiOptions = {}): Hono {
  const { server } = ragline.config;
  const queue = options.queue ?? JobQueue.forStore(ragline.store, queueOptionsFromLimits(ragline.config.limits));
  const metrics = options.metrics ?? createMetrics(queue);
  const wake = () => options.worker?.notify();
  const answers = options.operations?.queries.answers ?? options.answers ?? AnswerService.fromConfig(ragline);
  const operations = options.operations ?? openOperations(ragline, answers);
  registerOperationsMetrics(metrics.registry, { queries: operations.queries, ragline, answers, queue });

  const app = new Hono();
  app.use(requestId(), observe(metrics), secureHeaders(), clientAddressResolver(trustedProxies(server.trustedProxies)));
  app.onError(onError);
  app.notFound(onNotFound);

  app.route('/', healthRoutes(ragline, queue));
  const tenancy = Tenancy.for(ragline);
  const keys = new KeyResolver({ bootstrapKeys: server.apiKeys, tenancy: tenancy.store });
  const loopbackOnly = keylessLoopbackOnly(() => keys.authRequired(), ragline.config.tenancy.allowOpen);
  app.use('/metrics', loopbackOnly);
  app.use('/v1/*', loopbackOnly);
  app.get('/metrics', metricsAuth(keys, ragline.config.tenancy.metricsToken), async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );

  const limits = options.limits ?? RequestLimits.fromConfig(ragline.config);
  // The OpenAI-compatible routes answer every error (auth and limits included) in OpenAI's shape.
  for (const path of ['/v1/chat/*', '/v1/models', '/v1/models/*']) app.use(path, openAIErrors());
  const shed = ragline.config.loadShedding;
  const shedding = loadShedding({
    maxInFlight: { search: shed.search, answer: shed.answer, upload: shed.upload },
    retryAfterSeconds: shed.retryAfterSeconds,
    maxEventLoopDelayMs: shed.maxEventLoopDelayMs,
  });
  // Before anything that awaits the database or Redis: a full class must not queue its 503s.
  app.use('/v1/*', shedding.early);
  app.use('/v1/*', authFailureLimit(limits)); // before auth: counts the 401s auth answers
  app.use('/v1/*', apiKeyAuth(keys));
  app.use('/v1/*', requestLimit(limits));
  app.use('/v1/collections/:id/answer', answerTokenBudget(limits));
  app.use('/v1/chat/completions', answerTokenBudget(limits));
  app.use('/v1/*', shedding.reserve);
  const limitBody = bodyLimit({
    maxSize: server.maxUploadBytes,
    onError: (c) =>
      errorResponse(
        c,
        new RaglineError('payload_too_large', `request body exceeds the limit of ${server.maxUploadBytes} bytes`, {
          maxBytes: server.maxUploadBytes,
        }),
      ),
  });
  // Hono's body limit buffers a body sent without Content-Length whole; multipart uploads stream
  // to disk instead and count the same limit themselves (api/routes/multipart-stream.ts).
  app.use('/v1/*', (c, next) => (isMultipart(c.req.header('content-type')) ? next() : limitBody(c, next)));

  const batches = options.batches ?? Batches.fromOperations(ragline, operations.queries, limits);
  // Interactive work marks itself so batch questions in this process wait for a quiet moment.
  const interactive: MiddlewareHandler = async (_c, next) => {
    batches.interactive.enter();
    try {
      await next();
    } finally {
      batches.interactive.leave();
    }
  };
  app.use('/v1/collections/:id/search', interactive);
  app.use('/v1/collections/:id/answer', interactive);

  app.route('/v1/collections', collectionRoutes(ragline, tenancy));
  app.route('/v1/collections', documentRoutes(ragline, queue, tenancy, wake));
  app.route('/v1/collections', documentChunkRoutes(ragline, ragline.config.console.maxChunksPage));
  app.route('/v1/collections', searchRoutes(ragline, operations.queries));
  app.route('/v1/collections', answerRoutes(ragline, operations.queries));
  app.route('/v1/collections', configRoutes(ragline, operations.queries.configs));
  app.route('/v1/collections', experimentRoutes(ragline, operations.queries.configs, operations.ledger));
  app.route('/v1', tenancyRoutes(tenancy));
  app.route(
    '/v1/jobs',
    jobRoutes(ragline, queue, wake, (id) => options.worker?.cancel(id)),
  );
  app.route('/v1', requestListRoutes(operations.ledger, ragline.config.console.maxRequestsPage));
  app.route('/v1', requestRoutes(operations.ledger));
  app.route('/v1', openAICompatRoutes(ragline, operations.queries));
  app.route('/v1/handoffs', handoffRoutes(ragline, operations.handoffs.store));
  app.route('/v1/collections', batchRoutes(ragline, batches, wake));
  app.route('/', docsRoutes());
  if (ragline.config.console.enabled) app.route('/', consoleRoutes());
  return app;
}

const isMultipart = (contentType: string | undefined) => /^multipart\/form-data/i.test(contentType ?? '');
