import fs from 'node:fs';
import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExtractiveGenerator } from '../answer/generators/extractive.ts';
import { AnswerService } from '../answer/service.ts';
import { createApi } from '../api/app.ts';
import { RequestLimits } from '../api/limits/request-limits.ts';
import { configSchema } from '../core/config.ts';
import { BATCH_JOB_KIND, Batches } from '../facade/batches.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { type Operations, openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { FakeOpenAI } from './contract/fake-openai.ts';
import { fakeChatGenerator } from './helpers/fake-llm.ts';
import { pollUntil } from './helpers/poll.ts';
import { type ScratchStore, openScratchStore, describePostgres } from './helpers/postgres.ts';
import { describeShared } from './helpers/shared.ts';
import { BOOTSTRAP_KEY, type Json, OPERATOR, jsonRequest } from './helpers/tenants.ts';

const FAQ = fs.readFileSync(new URL('../fixtures/faq.txt', import.meta.url));
const CHAT = '/v1/chat/completions';
/** The fake LLM reports 321 + 12 tokens per answer: two answers spend a 500-token budget, the third must wait. */
const KEY_TOKENS_PER_MINUTE = 500;
const QUESTIONS = [
  'Can Ragline read password-protected PDFs?',
  'Why was my scanned PDF rejected?',
  'Does ingesting the same file twice create duplicates?',
];

/**
 * Batch questions are held to the submitting key's LLM token budget through the same counters as
 * /answer: the worker charges what each answer spent, a question whose key has no budget left goes
 * back to the queue (attempt given back) until the window resets, and /answer sees the batch's spend.
 */
describeShared('batch questions and the LLM token budget', () => {
  const fake = new FakeOpenAI();
  let store: SqlStore;
  let operations: Operations;
  let limits: RequestLimits;
  let worker: JobWorker;
  let app: Hono;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    await fake.start();
    store = await openPgliteStore();
    const config = configSchema.parse({
      server: { apiKeys: [BOOTSTRAP_KEY], rateLimitPerMinute: 100_000 },
      rateLimits: { keyTokensPerMinute: KEY_TOKENS_PER_MINUTE },
      operations: { answerCacheSize: 0, ledgerFlushMs: 20 },
      handoffs: { enabled: false },
    });
    const ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    const tenancy = Tenancy.for(ragline);
    await tenancy.createTenant(OPERATOR, 'team-a');
    const guide = await ragline.createCollection('guide', {}, 'team-a');
    await ragline.ingest(guide, [{ source: 'faq.txt', bytes: FAQ, mime: 'text/plain' }]);
    keys.submitter = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'writer' })).key;
    keys.colleague = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'reader' })).key;

    const answers = new AnswerService(ragline, {
      generator: fakeChatGenerator(fake.baseURL),
      fallback: new ExtractiveGenerator(() => ragline.embedder()),
    });
    operations = openOperations(ragline, answers);
    limits = RequestLimits.fromConfig(config);
    const batches = Batches.fromOperations(ragline, operations.queries, limits);
    const queue = JobQueue.forStore(store, { retryDelayMs: () => 0 });
    worker = new JobWorker(queue, pipelineProcessor(ragline), {
      pollMs: 25,
      tasks: { [BATCH_JOB_KIND]: batches.processor() },
    });
    app = createApi(ragline, { queue, worker, operations, batches, limits });
  });

  afterAll(async () => {
    await worker?.stop();
    await operations?.close();
    await limits?.close();
    await store?.close();
    await fake.stop();
  });

  const batchJobs = async () =>
    (
      await store.db.query<{ state: string; attempts: number; last_error: Json | null; wait_ms: number }>(
        `SELECT state, attempts, last_error, (extract(epoch FROM run_after - now()) * 1000)::int AS wait_ms
           FROM ingest_jobs WHERE kind = $1 ORDER BY state`,
        [BATCH_JOB_KIND],
      )
    ).rows;

  it("charges each answer to the submitter's key and defers the question that finds the budget spent", async () => {
    const submitted = await app.request('/v1/collections/guide/batches', jsonRequest('POST', { questions: QUESTIONS }, keys.submitter!));
    expect(submitted.status).toBe(202);
    const batch = (await submitted.json()) as Json;
    worker.start();

    const jobs = await pollUntil(
      async () => {
        const rows = await batchJobs();
        return rows.filter((r) => r.state === 'succeeded').length === 2 && rows.some((r) => r.state === 'queued' && r.last_error)
          ? rows
          : undefined;
      },
      'two questions answered and one deferred',
      60_000,
      50,
    );
    const deferred = jobs.find((j) => j.state === 'queued')!;
    // Back in the queue with its attempt given back, not run again before the window resets.
    expect(deferred.attempts).toBe(0);
    expect(deferred.last_error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('LLM token budget of the key') });
    expect(deferred.wait_ms).toBeGreaterThan(1_000);
    expect(deferred.wait_ms).toBeLessThanOrEqual(60_000);
    expect(fake.to(CHAT)).toHaveLength(2);
    const progress = (await (
      await app.request(`/v1/collections/guide/batches/${batch.id}`, jsonRequest('GET', undefined, keys.submitter!))
    ).json()) as Json;
    expect(progress).toMatchObject({ total: 3, succeeded: 2, failed: 0 });

    // The batch's spend is the key's spend: /answer with that key is now refused for tokens ...
    const ask = (key: string) =>
      app.request('/v1/collections/guide/answer', jsonRequest('POST', { question: 'Can Ragline read password-protected PDFs?' }, key));
    const refused = await ask(keys.submitter!);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as Json).error.details).toMatchObject({ scope: 'key', unit: 'tokens', limit: KEY_TOKENS_PER_MINUTE });
    // ... while another key of the same tenant still has its own budget.
    expect((await ask(keys.colleague!)).status).toBe(200);
    expect(fake.to(CHAT)).toHaveLength(3);
  });
});

const describeOnPostgres = await describePostgres();

describeOnPostgres('a deferred job on the Postgres server', () => {
  let own: ScratchStore;
  let store: SqlStore;

  beforeAll(async () => {
    own = await openScratchStore('job_deferral');
    store = own.store;
  });

  afterAll(async () => {
    await own?.close();
  });

  it('goes back to the queue with its attempt given back and is not claimed again before its delay', async () => {
    const collectionId = (await store.createCollection({ name: 'guide', embeddingModel: 'test', dimensions: 3 })).id;
    const queue = JobQueue.forStore(store);
    await queue.enqueueTasks(collectionId, BATCH_JOB_KIND, [{ source: 'batch:x#0', payload: {} }], { priority: -10 });
    const job = (await queue.claim('worker-1'))!;
    expect(job.attempts).toBe(1);
    const reason = { code: 'rate_limited', message: 'budget spent' };
    expect(await queue.requeue({ jobId: job.id, workerId: 'worker-1', attempt: job.attempts }, reason, 30_000)).toBe(true);
    expect(await queue.claim('worker-2')).toBeNull();
    const row = (
      await store.db.query<{ state: string; attempts: number; wait_ms: number }>(
        `SELECT state, attempts, (extract(epoch FROM run_after - now()) * 1000)::int AS wait_ms FROM ingest_jobs WHERE id = $1`,
        [job.id],
      )
    ).rows[0]!;
    expect(row).toMatchObject({ state: 'queued', attempts: 0 });
    expect(row.wait_ms).toBeGreaterThan(25_000);
    expect(row.wait_ms).toBeLessThanOrEqual(30_000);
  });
});
