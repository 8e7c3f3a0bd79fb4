import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { notFound } from '../../core/errors.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { JobQueue } from '../../ingest/jobs/queue.ts';
import { JOB_STATES, type Job } from '../../ingest/jobs/types.ts';
import { mayUse, principalOf, requireRole, scopedCollection } from '../access.ts';
import { readQuery } from '../http-errors.ts';

/** A job as clients see it. */
export function jobView(job: Job) {
  return {
    id: job.id,
    collectionId: job.collectionId,
    source: job.source,
    state: job.state,
    progress: job.progress,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    lastError: job.lastError,
    result: job.result,
    worker: job.lockedBy,
    heartbeatAt: job.heartbeatAt,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

export const jobListQuerySchema = z
  .object({
    state: z.enum(JOB_STATES).optional(),
    collection: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

/** /v1/jobs: list, show, retry, cancel. `onRetry` wakes an in-process worker, `onCancel` stops its run of the job. */
export function jobRoutes(
  ragline: Ragline,
  queue: JobQueue,
  onRetry: () => void = () => {},
  onCancel: (jobId: string) => void = () => {},
): Hono {
  const app = new Hono();

  app.get('/', async (c) => {
    const q = readQuery(c, jobListQuerySchema);
    const principal = principalOf(c);
    const collectionIds = q.collection
      ? [(await scopedCollection(c, ragline, q.collection)).id]
      : principal.collections
        ? (await ragline.store.listCollections(principal.tenantId)).filter((col) => mayUse(principal, col)).map((col) => col.id)
        : undefined;
    const jobs = await queue.list({ state: q.state, collectionIds, tenantId: principal.tenantId, limit: q.limit + 1, offset: q.offset });
    return c.json({
      jobs: jobs.slice(0, q.limit).map(jobView),
      limit: q.limit,
      offset: q.offset,
      nextOffset: jobs.length > q.limit ? q.offset + q.limit : null,
    });
  });

  /** A job is found only through its collection: in the caller's tenant and, for limited keys, in their list. */
  const visibleJob = async (c: Context, id: string): Promise<Job> => {
    const principal = principalOf(c);
    const job = await queue.get(id, principal.tenantId);
    const collection = job && principal.collections ? await ragline.store.getCollectionById(job.collectionId) : undefined;
    if (!job || (collection !== undefined && (!collection || !mayUse(principal, collection)))) {
      throw notFound(`job "${id}" not found`, { job: id });
    }
    return job;
  };

  app.get('/:id', async (c) => c.json(jobView(await visibleJob(c, c.req.param('id')))));

  app.post('/:id/cancel', requireRole('writer'), async (c) => {
    const visible = await visibleJob(c, c.req.param('id'));
    const job = await queue.cancel(visible.id);
    onCancel(job.id);
    return c.json(jobView(job));
  });

  app.post('/:id/retry', requireRole('writer'), async (c) => {
    const visible = await visibleJob(c, c.req.param('id'));
    const job = await queue.retry(visible.id, principalOf(c).tenantId);
    onRetry();
    return c.json(jobView(job));
  });

  return app;
}
