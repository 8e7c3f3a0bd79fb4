import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { DELETED_SOURCE, JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import type { Embedder } from '../models/types.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { type Json, postJson } from './helpers/http.ts';
import { type PgliteApi, closePgliteApi, openPgliteApi } from './helpers/pglite-api.ts';
import { describeShared } from './helpers/shared.ts';

const text = (s: string) => new TextEncoder().encode(s);

describeShared('stored uploads: deleted once processed, with their document, and last upload wins (PGlite + real model)', () => {
  let embedder: Embedder;
  let store: SqlStore;
  let ragline: Ragline;
  let queue: JobQueue;
  let app: Hono;
  let background: JobWorker;
  let api: PgliteApi;
  let collectionId: string;

  const uploadsOf = async (source: string) =>
    Number((await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM uploads WHERE source = $1', [source])).rows[0]!.n);

  async function ingestNow(a: Hono, source: string, body: string): Promise<Json> {
    const res = await a.request('/v1/collections/kb/documents?wait=60', postJson({ source, text: body }));
    expect(res.status).toBe(200);
    return ((await res.json()) as Json).jobs[0] as Json;
  }

  beforeAll(async () => {
    api = await openPgliteApi();
    ({ embedder, store, ragline, queue, app, worker: background } = api);
    collectionId = (await ragline.createCollection('kb')).id;
  });

  afterAll(() => closePgliteApi(api));

  it('deletes the upload as soon as its job succeeded (retention 0); the job stays visible', async () => {
    const job = await ingestNow(app, 'tides.txt', 'Ocean tides follow the moon.');
    expect(job.state).toBe('succeeded');
    expect(await uploadsOf('tides.txt')).toBe(0);
    expect((await queue.get(job.id))?.uploadId).toBeNull();
    await expect(queue.retry(job.id)).rejects.toThrow(/only failed jobs/);
  });

  it('keeps the upload for RAGLINE_UPLOAD_RETENTION_DAYS when configured', async () => {
    const keeping = await Ragline.open(configSchema.parse({ limits: { uploadRetentionDays: 2 } }), { store, embedder });
    const keepQueue = JobQueue.forStore(store, { uploadRetentionDays: 2 });
    const worker = new JobWorker(keepQueue, pipelineProcessor(keeping), { pollMs: 50 }).start();
    try {
      await ingestNow(createApi(keeping, { queue: keepQueue, worker }), 'kept.txt', 'Glaciers carve valleys.');
    } finally {
      await worker.stop();
    }
    const { rows } = await store.db.query<{ days: number }>(
      "SELECT extract(epoch FROM expires_at - now()) / 86400 AS days FROM uploads WHERE source = 'kept.txt'",
    );
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]!.days)).toBeGreaterThan(1.9);
  });

  it('deleting a document removes its stored uploads and the source from its finished jobs', async () => {
    await store.db.query("UPDATE uploads SET expires_at = NULL WHERE source = 'kept.txt'"); // as if retained
    const document = await store.getDocumentBySource(collectionId, 'kept.txt');
    const res = await app.request(`/v1/collections/kb/documents/${document!.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await uploadsOf('kept.txt')).toBe(0);
    const { jobs } = (await (await app.request('/v1/jobs?limit=500')).json()) as Json;
    expect(jobs.some((j: Json) => j.source === 'kept.txt')).toBe(false);
    const forgotten = jobs.find((j: Json) => j.source === DELETED_SOURCE);
    expect(forgotten).toMatchObject({ state: 'succeeded', result: null });
    expect(JSON.stringify(await (await app.request(`/v1/jobs/${forgotten.id}`)).json())).not.toContain('kept.txt');
  });

  it('an older upload applied after a newer one (concurrent jobs, then a retry) does not overwrite it', async () => {
    await background.stop();
    const worker = new JobWorker(queue, pipelineProcessor(ragline)); // not started: jobs are run by hand, in the racy order
    const [older] = await queue.enqueue(collectionId, [{ source: 'race.txt', bytes: text('The old version talks about deserts.') }]);
    const [newer] = await queue.enqueue(collectionId, [{ source: 'race.txt', bytes: text('The new version talks about coral reefs.') }]);
    await store.db.query("UPDATE ingest_jobs SET run_after = now() + interval '1 hour' WHERE id = ANY($1::uuid[])", [
      [older!.id, newer!.id],
    ]);
    const claim = async (id: string, worker: string) => {
      await store.db.query('UPDATE ingest_jobs SET run_after = now() WHERE id = $1', [id]);
      return (await queue.claim(worker))!;
    };
    const olderJob = await claim(older!.id, 'slow-worker');
    const newerJob = await claim(newer!.id, 'fast-worker');
    await worker.run(newerJob, 'fast-worker');
    await worker.run(olderJob, 'slow-worker');

    const chunks = async () => {
      const doc = await store.getDocumentBySource(collectionId, 'race.txt');
      return (await store.chunksOfDocuments(collectionId, [doc!.id])).map((c) => c.text).join(' ');
    };
    expect(await chunks()).toMatch(/coral reefs/);
    const failed = await queue.get(older!.id);
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, lastError: { code: 'conflict' } });
    expect(failed!.lastError!.message).toMatch(/newer upload/);

    await queue.retry(older!.id);
    const retried = (await queue.claim('late-worker'))!;
    expect(retried.id).toBe(older!.id);
    await worker.run(retried, 'late-worker');
    expect((await queue.get(older!.id))?.state).toBe('failed');
    expect(await chunks()).toMatch(/coral reefs/);
  });
});
