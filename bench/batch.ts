import os from 'node:os';
import { createApi } from '../api/app.ts';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { BENCH_QUESTIONS, benchFixtureInputs } from './fixture-questions.ts';
import { BATCH_JOB_KIND, Batches } from '../facade/batches.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { testEmbedder } from '../testkit/embedder.ts';

const ANGLES = ['', ' in practice', ' for a small team', ' by default'];
const IDLE_SAMPLES = 60;

export async function runBatchBench(opts: { questions?: number; intervalMs?: number; yieldMaxWaitMs?: number; label?: string } = {}) {
  const total = opts.questions ?? 200;
  const intervalMs = opts.intervalMs ?? 200;
  const store = await openPgliteStore();
  // No caches: every search embeds its query and every batch question is answered for real.
  const config = configSchema.parse({
    server: { rateLimitPerMinute: 1_000_000 },
    answer: { generator: 'extractive' },
    operations: { answerCacheSize: 0, queryEmbeddingCacheSize: 0 },
    handoffs: { enabled: false },
    // 0 turns the yield off: batch questions then start whether or not a search is running.
    batches: opts.yieldMaxWaitMs === undefined ? {} : { yieldMaxWaitMs: opts.yieldMaxWaitMs },
  });
  const ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
  const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  const queue = JobQueue.forStore(store);
  const batches = Batches.fromOperations(ragline, operations.queries);
  const worker = new JobWorker(queue, pipelineProcessor(ragline), { pollMs: 50, tasks: { [BATCH_JOB_KIND]: batches.processor() } });
  const app = createApi(ragline, { queue, worker, operations, batches });
  await ragline.createCollection('guide');
  const ingested = await ragline.ingest('guide', benchFixtureInputs());
  const chunks = ingested.reduce((n, o) => n + (o.status === 'ingested' ? o.chunks : 0), 0);

  const searches = BENCH_QUESTIONS;
  const questions = ANGLES.flatMap((a) => searches.map((q) => q.replace(/\?$/, `${a}?`))).slice(0, total);
  let next = 0;
  let slot = performance.now();
  /** Waits for the next arrival slot, then searches; returns the search's latency only. */
  const paced = async () => {
    slot += intervalMs;
    const wait = slot - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else slot = performance.now();
    return search();
  };
  const search = async () => {
    const query = searches[next++ % searches.length]!;
    const started = performance.now();
    const res = await app.request('/v1/collections/guide/search', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, topK: 10 }),
    });
    if (res.status !== 200) throw new Error(`search answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - started;
  };
  const idleRun = async () => {
    const samples: number[] = [];
    slot = performance.now();
    for (let i = 0; i < IDLE_SAMPLES; i++) samples.push(await paced());
    return samples;
  };

  for (let i = 0; i < 10; i++) await search(); // model loaded, BM25 built
  const idleBefore = await idleRun();

  worker.start();
  const submitted = await app.request('/v1/collections/guide/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ questions }),
  });
  if (submitted.status !== 202) throw new Error(`batch refused: ${submitted.status} ${await submitted.text()}`);
  const { id } = (await submitted.json()) as { id: string };
  const batchStarted = performance.now();
  const loaded: number[] = [];
  const collection = (await ragline.store.getCollection('guide'))!;
  let progress = await batches.progress(id, collection);
  slot = performance.now();
  while (progress?.state !== 'completed') {
    loaded.push(await paced());
    progress = await batches.progress(id, collection);
  }
  const batchSeconds = (performance.now() - batchStarted) / 1000;
  await worker.stop();
  const idleAfter = await idleRun();

  const idle = summarize([...idleBefore, ...idleAfter]);
  const busy = summarize(loaded);
  const ratio = busy.p95 / idle.p95;
  printTable(`/search (hybrid, top-10, one every ${intervalMs} ms) on ${chunks} chunks, in-process HTTP, PGlite in memory`, [
    { case: 'idle (before + after)', n: idle.n, p50_ms: idle.p50, p95_ms: idle.p95, mean_ms: idle.mean },
    { case: `during a ${questions.length}-question batch`, n: busy.n, p50_ms: busy.p50, p95_ms: busy.p95, mean_ms: busy.mean },
  ]);
  const perSecond = questions.length / batchSeconds;
  console.log(
    `\nbatch: ${progress.succeeded}/${questions.length} answered (${progress.failed} failed) in ${batchSeconds.toFixed(1)} s (${perSecond.toFixed(1)} questions/s)`,
  );
  console.log(`loaded p95 / idle p95 = ${ratio.toFixed(2)}× (target ≤ 2×: ${ratio <= 2 ? 'met' : 'NOT met'})`);
  writeResults(opts.label ? `batch-${opts.label}` : 'batch', {
    machine: { cpus: os.cpus().length, load: os.loadavg() },
    chunks,
    questions: questions.length,
    searchIntervalMs: intervalMs,
    yield: { quietMs: config.batches.yieldQuietMs, maxWaitMs: config.batches.yieldMaxWaitMs },
    batch: { seconds: batchSeconds, questionsPerSecond: perSecond, succeeded: progress.succeeded, failed: progress.failed },
    idleBefore: summarize(idleBefore),
    idleAfter: summarize(idleAfter),
    idle,
    loaded: busy,
    ratioP95: ratio,
    targetRatioP95: 2,
  });
  await operations.close();
  await store.close();
}
