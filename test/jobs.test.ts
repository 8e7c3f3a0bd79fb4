import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import type { Job, UploadInput } from '../ingest/jobs/types.ts';
import { JobWorker, type JobProcessor } from '../ingest/jobs/worker.ts';
import type { Embedder } from '../models/types.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';
import { createTempDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';

const config = configSchema.parse({});
const text = (s: string) => new TextEncoder().encode(s);
const TOPICS = ['volcanoes', 'glaciers', 'coral reefs', 'deserts', 'rainforests', 'tundra', 'rivers', 'caves', 'islands', 'canyons'];

function doc(i: number): UploadInput {
  const topic = TOPICS[i % TOPICS.length]!;
  return {
    source: `notes/${i}.txt`,
    bytes: text(`Note ${i} is about ${topic}. ${topic} shape landscapes over long periods, report ${i}.`),
  };
}

/** Needs both the Postgres server and ../shared (the model); each skips with its reason. */
const describeJobs = SHARED_AVAILABLE ? await describePostgres() : describeShared;

/** A worker on its own connection pool, as a separate process would have. */
interface Node {
  name: string;
  store: SqlStore;
  queue: JobQueue;
  ragline: Ragline;
}

describeJobs('durable ingestion jobs (Postgres server, real model)', () => {
  let db: TempDatabase;
  let embedder: Embedder;
  const nodes: Node[] = [];
  const workers: JobWorker[] = [];

  async function node(name: string): Promise<Node> {
    const store = await openPostgresStore(db.url, { max: 4 });
    const n = {
      name,
      store,
      queue: JobQueue.forStore(store, { retryDelayMs: () => 0 }),
      ragline: await Ragline.open(config, { store, embedder }),
    };
    nodes.push(n);
    return n;
  }

  function startWorker(n: Node, processor: JobProcessor, options: { concurrency?: number; staleMs?: number } = {}) {
    const worker = new JobWorker(n.queue, processor, {
      pollMs: 20,
      heartbeatMs: 500,
      workerId: `${n.name}-${workers.length}`,
      ...options,
    }).start();
    workers.push(worker);
    return worker;
  }

  async function stopWorkers() {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  }

  async function finished(queue: JobQueue, jobs: Job[]): Promise<Job[]> {
    const done = await queue.waitFor(
      jobs.map((j) => j.id),
      120_000,
      50,
    );
    expect(done.map((j) => j.state).filter((s) => s === 'queued' || s === 'running')).toEqual([]);
    return done;
  }

  let collectionId: string;

  beforeAll(async () => {
    db = await createTempDatabase('ragline_jobs');
    embedder = await testEmbedder();
    const a = await node('a');
    collectionId = (await a.ragline.createCollection('jobs')).id;
  });

  afterAll(async () => {
    await stopWorkers();
    for (const n of nodes) await n.store.close();
    await db?.drop();
  });

  it('concurrent claims from two connection pools never hand out the same job', async () => {
    const [a] = nodes;
    const b = await node('b');
    const jobs = await a!.queue.enqueue(
      collectionId,
      Array.from({ length: 12 }, (_, i) => doc(100 + i)),
    );
    const claims = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a! : b).queue.claim(`claimer-${i}`)));
    const claimed = claims.filter((j): j is Job => j !== null).map((j) => j.id);
    expect(claimed.sort()).toEqual(jobs.map((j) => j.id).sort());
    // Clean up: these jobs were only claimed, never run.
    await a!.store.db.query('DELETE FROM ingest_jobs WHERE id = ANY($1::uuid[])', [claimed]);
  });

  it('two workers on one queue process each of 20 jobs exactly once', async () => {
    const [a, b] = nodes;
    const log: { job: string; worker: string }[] = [];
    const logged = (n: Node): JobProcessor => {
      const real = pipelineProcessor(n.ragline);
      return (job, upload, report) => {
        log.push({ job: job.id, worker: n.name });
        return real(job, upload, report);
      };
    };
    const jobs = await a!.queue.enqueue(
      collectionId,
      Array.from({ length: 20 }, (_, i) => doc(i)),
    );
    startWorker(a!, logged(a!), { concurrency: 2 });
    startWorker(b!, logged(b!), { concurrency: 2 });
    const done = await finished(a!.queue, jobs);
    await stopWorkers();

    expect(done.map((j) => j.state)).toEqual(Array(20).fill('succeeded'));
    expect(done.map((j) => j.attempts)).toEqual(Array(20).fill(1));
    expect(log).toHaveLength(20);
    expect(new Set(log.map((l) => l.job))).toEqual(new Set(jobs.map((j) => j.id)));
    expect(new Set(log.map((l) => l.worker))).toEqual(new Set(['a', 'b']));
    const { rows } = await a!.store.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM documents WHERE collection_id = $1 AND source LIKE 'notes/%'`,
      [collectionId],
    );
    expect(rows[0]!.n).toBe(20);
    expect(new Set(done.map((j) => j.result!.documentId)).size).toBe(20);
  });

  it('a failing document ends failed after max attempts with the reason; the others succeed; retry resets it', async () => {
    const [a] = nodes;
    let outage = true;
    const attempts: string[] = [];
    const real = pipelineProcessor(a!.ragline);
    const flaky: JobProcessor = (job, upload, report) => {
      attempts.push(job.source);
      if (job.source === 'flaky.txt' && outage) throw new Error('embedding service unreachable (simulated)');
      return real(job, upload, report);
    };
    const jobs = await a!.queue.enqueue(
      collectionId,
      [
        { source: 'good-1.txt', bytes: text('Lighthouses guide ships along rocky coasts at night.') },
        { source: 'flaky.txt', bytes: text('Bridges span rivers and valleys.') },
        { source: 'broken.pdf', bytes: text('%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage'), mimeHint: 'application/pdf' },
        { source: 'good-2.txt', bytes: text('Windmills grind grain using the power of the wind.') },
      ],
      { maxAttempts: 3 },
    );
    startWorker(a!, flaky);
    const done = await finished(a!.queue, jobs);
    await stopWorkers();

    const bySource = Object.fromEntries(done.map((j) => [j.source, j]));
    expect(bySource['good-1.txt']).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(bySource['good-2.txt']).toMatchObject({ state: 'succeeded', attempts: 1 });
    // A transient error is retried until the attempts run out.
    expect(bySource['flaky.txt']).toMatchObject({
      state: 'failed',
      attempts: 3,
      lastError: { code: 'internal', message: 'embedding service unreachable (simulated)' },
      result: null,
    });
    expect(attempts.filter((s) => s === 'flaky.txt')).toHaveLength(3);
    // A document that can never be read fails at once, naming the file.
    expect(bySource['broken.pdf']).toMatchObject({ state: 'failed', attempts: 1, lastError: { code: 'unprocessable_document' } });
    expect(bySource['broken.pdf']!.lastError!.message).toContain('broken.pdf');

    const retried = await a!.queue.retry(bySource['flaky.txt']!.id);
    expect(retried).toMatchObject({ state: 'queued', attempts: 0, result: null });
    await expect(a!.queue.retry(bySource['good-1.txt']!.id)).rejects.toMatchObject({ code: 'conflict' });
    await expect(a!.queue.retry('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'not_found' });

    outage = false;
    startWorker(a!, flaky);
    const [again] = await finished(a!.queue, [retried]);
    await stopWorkers();
    expect(again).toMatchObject({ state: 'succeeded', attempts: 1, result: { status: 'ingested' } });
    expect(await a!.ragline.store.getDocument(collectionId, again!.result!.documentId)).toMatchObject({ source: 'flaky.txt' });
  });

  it('a job whose worker stopped heartbeating is reclaimed by another worker, and the dead lease is void', async () => {
    const [a, b] = nodes;
    const [job] = await a!.queue.enqueue(collectionId, [{ source: 'orphan.txt', bytes: text('Glaciers carve valleys as they move.') }]);
    const ghost = await a!.queue.claim('ghost');
    expect(ghost).toMatchObject({ id: job!.id, state: 'running', attempts: 1, lockedBy: 'ghost' });
    const ghostLease = { jobId: job!.id, workerId: 'ghost', attempt: 1 };

    // A fresh heartbeat protects the job.
    expect(await b!.queue.claim('rescuer', 30_000)).toBeNull();
    // The ghost goes silent: its last heartbeat is a minute old.
    await a!.store.db.query(`UPDATE ingest_jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1`, [job!.id]);
    const rescued = await b!.queue.claim('rescuer', 30_000);
    expect(rescued).toMatchObject({ id: job!.id, state: 'running', attempts: 2, lockedBy: 'rescuer', lastError: { code: 'worker_lost' } });
    expect(rescued!.lastError!.message).toContain('ghost');

    // The ghost cannot write to the job any more.
    expect(await a!.queue.heartbeat(ghostLease, { stage: 'embed' })).toBe(false);
    expect(await a!.queue.complete(ghostLease, { documentId: job!.id, status: 'ingested', chunks: 1, pages: null }, {})).toBe(false);
    expect(await a!.queue.fail(ghostLease, { code: 'internal', message: 'late' })).toBeNull();

    // Stale again with no attempts left: the claim marks it failed instead of running it a fourth time.
    await a!.store.db.query(`UPDATE ingest_jobs SET attempts = max_attempts, heartbeat_at = now() - interval '1 minute' WHERE id = $1`, [
      job!.id,
    ]);
    expect(await b!.queue.claim('third', 30_000)).toBeNull();
    expect(await a!.queue.get(job!.id)).toMatchObject({ state: 'failed', lastError: { code: 'worker_lost' } });

    // And a real worker picks up a stale job end to end.
    const [stale] = await a!.queue.enqueue(collectionId, [
      { source: 'stale.txt', bytes: text('Caves form where water dissolves limestone.') },
    ]);
    await a!.queue.claim('dead-worker');
    await a!.store.db.query(`UPDATE ingest_jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1`, [stale!.id]);
    startWorker(b!, pipelineProcessor(b!.ragline), { staleMs: 30_000 });
    const [done] = await finished(a!.queue, [stale!]);
    await stopWorkers();
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2, lastError: null, result: { status: 'ingested' } });
    expect(done!.lockedBy).toMatch(/^b-/);
  });
});
