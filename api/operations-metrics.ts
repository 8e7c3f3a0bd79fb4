import client from 'prom-client';
import type { AnswerService } from '../answer/service.ts';
import type { Ragline } from '../facade/ragline.ts';
import type { TracedQueries } from '../facade/traced-queries.ts';
import type { JobQueue } from '../ingest/jobs/queue.ts';
import { TRACE_STAGES, type Trace } from '../store/ledger.ts';

const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_STATES = ['closed', 'half_open', 'open'] as const;

/** Label value for the tenant: traces from the CLI have none. */
const tenantLabel = (t: Trace) => t.tenantId ?? 'none';

/**
 * What the ledger knows, as Prometheus series: stage latencies, tokens and cost by model and tenant,
 * cache hits and misses, outcomes (answered / not covered / fallback / error by code), the LLM breaker,
 * BM25 index builds and syncs, and the job queue's depth and age. Fed by every recorded trace.
 */
export function registerOperationsMetrics(
  registry: client.Registry,
  parts: { queries: TracedQueries; ragline: Ragline; answers: AnswerService; queue: JobQueue },
): void {
  const registers = [registry];
  const stage = new client.Histogram({
    name: 'ragline_stage_duration_seconds',
    help: 'Latency of each query stage (embed, dense, bm25, fuse, load, generate, first_token) by request kind',
    labelNames: ['kind', 'stage'] as const,
    buckets: STAGE_BUCKETS,
    registers,
  });
  const tokens = new client.Counter({
    name: 'ragline_llm_tokens_total',
    help: 'Tokens sent to (input) and received from (output) the answer model, by model and tenant',
    labelNames: ['model', 'tenant', 'direction'] as const,
    registers,
  });
  const cost = new client.Counter({
    name: 'ragline_cost_usd_total',
    help: 'USD spent on chat and query embeddings, by model and tenant',
    labelNames: ['model', 'tenant'] as const,
    registers,
  });
  const answerCache = new client.Counter({
    name: 'ragline_answer_cache_requests_total',
    help: 'Answer cache lookups by result (hit, miss)',
    labelNames: ['result'] as const,
    registers,
  });
  const outcomes = new client.Counter({
    name: 'ragline_requests_by_outcome_total',
    help: 'Traced searches and answers by kind and outcome (answered, not_covered, fallback, error)',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const fallbacks = new client.Counter({
    name: 'ragline_answer_fallbacks_total',
    help: 'Answers that fell back to the extractive generator, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const errors = new client.Counter({
    name: 'ragline_request_errors_total',
    help: 'Traced searches and answers that failed, by error code',
    labelNames: ['code'] as const,
    registers,
  });
  const answered = { all: 0, notCovered: 0 };
  new client.Gauge({
    name: 'ragline_not_covered_ratio',
    help: 'Share of answers (since this process started) that said the documents do not cover the question',
    registers,
    collect() {
      this.set(answered.all ? answered.notCovered / answered.all : 0);
    },
  });
  new client.Gauge({
    name: 'ragline_query_embedding_cache_lookups',
    help: 'Query embedding cache lookups since start, by result (hit, miss)',
    labelNames: ['result'] as const,
    registers,
    collect() {
      const stats = parts.ragline.queryCache?.stats ?? { hits: 0, misses: 0 };
      this.set({ result: 'hit' }, stats.hits);
      this.set({ result: 'miss' }, stats.misses);
    },
  });
  new client.Gauge({
    name: 'ragline_llm_breaker_state',
    help: 'The answer LLM circuit breaker: 1 for the current state (closed, half_open, open); none without an LLM',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const current = parts.answers.breakerState();
      if (!current) return;
      for (const s of BREAKER_STATES) this.set({ state: s }, s === current ? 1 : 0);
    },
  });
  const bm25 = new client.Histogram({
    name: 'ragline_bm25_sync_duration_seconds',
    help: 'BM25 index work per collection: the first build (initial=true) and catch-up syncs after writes',
    labelNames: ['initial'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  new client.Gauge({
    name: 'ragline_ingest_queue_oldest_age_seconds',
    help: 'How long the oldest queued ingestion job has waited',
    registers,
    async collect() {
      this.set(await parts.queue.oldestQueuedAgeSeconds());
    },
  });

  parts.ragline.bm25.onSync = (e) => bm25.observe({ initial: String(e.initial) }, e.ms / 1000);

  parts.queries.onTrace((t) => {
    const outcome = t.outcome.split(':')[0]!;
    outcomes.inc({ kind: t.kind, outcome });
    if (outcome === 'fallback') fallbacks.inc({ reason: t.outcome.slice('fallback:'.length) });
    if (outcome === 'error') errors.inc({ code: t.outcome.slice('error:'.length) });
    if (t.kind === 'answer' && outcome !== 'error') {
      answered.all++;
      if (outcome === 'not_covered') answered.notCovered++;
    }
    if (t.kind === 'answer' && outcome !== 'error') answerCache.inc({ result: t.cacheHit ? 'hit' : 'miss' });
    for (const name of TRACE_STAGES) {
      const ms = t.stages[name];
      if (ms !== undefined) stage.observe({ kind: t.kind, stage: name.replace(/Ms$/, '').replace('firstToken', 'first_token') }, ms / 1000);
    }
    const tenant = tenantLabel(t);
    if (t.model && (t.tokensIn || t.tokensOut)) {
      tokens.inc({ model: t.model, tenant, direction: 'input' }, t.tokensIn);
      tokens.inc({ model: t.model, tenant, direction: 'output' }, t.tokensOut);
    }
    if (t.model && t.costUsd) cost.inc({ model: t.model, tenant }, t.costUsd);
    if (t.embedCostUsd) cost.inc({ model: parts.ragline.config.embedding.model ?? 'embedding', tenant }, t.embedCostUsd);
  });
}
