import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import type { Job } from '../ingest/jobs/types.ts';
import { JobWorker, type JobProcessor } from '../ingest/jobs/worker.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { type Json, expectErrorBody, postJson } from './helpers/http.ts';

/**
 * The worker's bounds, with the real queue on PGlite. The processor stands in for parsing that
 * cannot be interrupted (the PDF bomb): sources starting with "stuck" never finish on their own.
 */
const stuckOrQuick: JobProcessor = (job) =>
  job.source.startsWith('stuck')
    ? new Promise(() => {})
    : Promise.resolve({ documentId: job.id, status: 'ingested', chunks: 1, pages: null });

describe('job deadline, cancel and bounded stop (PGlite in memory)', () => {
  let store: SqlStore;
  let queue: JobQueue;
  let collectionId: string;
  const workers: JobWorker[] = [];
  const text = (s: string) => new TextEncoder().encode(s);

  const startWorker = (options: { jobDeadlineMs?: number } = {}) => {
    const worker = new JobWorker(queue, stuckOrQuick, { pollMs: 20, heartbeatMs: 100, ...options }).start();
    workers.push(worker);
    return worker;
  };
  const enqueue = async (source: string) => (await queue.enqueue(collectionId, [{ source, bytes: text(`about ${source}`) }]))[0]!;
  const settled = async (job: Job) => (await queue.waitFor([job.id], 10_000, 20))[0]!;
  const runningNow = async (job: Job) => expect.poll(async () => (await queue.get(job.id))?.state, { timeout: 10_000 }).toBe('running');

  beforeAll(async () => {
    store = await openPgliteStore();
    queue = JobQueue.forStore(store, { retryDelayMs: () => 0 });
    collectionId = (await store.createCollection({ name: 'kb', embeddingModel: 'test', dimensions: 3 })).id;
  });

  afterAll(async () => {
    for (const w of workers) await w.stop(0);
    await store?.close();
  });

  it('a job past its deadline fails once (not retried) and the worker takes the next job', async () => {
    const worker = startWorker({ jobDeadlineMs: 300 });
    const stuck = await enqueue('stuck-deadline.pdf');
    const next = await enqueue('next.txt');
    expect(await settled(stuck)).toMatchObject({ state: 'failed', attempts: 1, lastError: { code: 'deadline_exceeded' } });
    expect((await queue.get(stuck.id))!.lastError!.message).toMatch(/RAGLINE_JOB_DEADLINE_MS/);
    expect(await settled(next)).toMatchObject({ state: 'succeeded' });
    await worker.stop(0);
  });

  it('POST /v1/jobs/:id/cancel ends a running job at once and a queued one before it starts', async () => {
    const worker = startWorker();
    const ragline = await Ragline.open(configSchema.parse({}), { store });
    const app: Hono = createApi(ragline, { queue, worker });
    const stuck = await enqueue('stuck-cancel.pdf');
    await runningNow(stuck);
    const res = await app.request(`/v1/jobs/${stuck.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect((await res.json()) as Json).toMatchObject({ id: stuck.id, state: 'failed', lastError: { code: 'cancelled' } });
    const next = await enqueue('after-cancel.txt');
    expect(await settled(next)).toMatchObject({ state: 'succeeded' }); // the slot was freed
    expect((await queue.get(stuck.id))?.lastError?.code).toBe('cancelled');

    await worker.stop(0);
    const queued = await enqueue('queued.txt');
    expect((await (await app.request(`/v1/jobs/${queued.id}/cancel`, { method: 'POST' })).json()) as Json).toMatchObject({
      state: 'failed',
      lastError: { code: 'cancelled' },
    });
    await expectErrorBody(await app.request(`/v1/jobs/${queued.id}/cancel`, { method: 'POST' }), 409, 'conflict');
    await expectErrorBody(await app.request('/v1/jobs/00000000-0000-4000-8000-000000000000/cancel', { method: 'POST' }), 404, 'not_found');
    await expectErrorBody(await app.request('/v1/jobs/not-a-job/cancel', postJson({})), 404, 'not_found');
  });

  it('stop(grace) returns once the grace ran out and queues the abandoned job again', async () => {
    const worker = startWorker();
    const stuck = await enqueue('stuck-shutdown.pdf');
    await runningNow(stuck);
    await worker.stop(200);
    // The attempt is given back: a job interrupted by shutdown on its last attempt must not fail for good.
    expect(await queue.get(stuck.id)).toMatchObject({ state: 'queued', attempts: 0, lastError: { code: 'worker_stopped' } });
    expect((await queue.claim('next-start'))?.id).toBe(stuck.id); // no backoff: the next start takes it at once
    await queue.cancel(stuck.id); // so later workers do not pick it up
  });
});
