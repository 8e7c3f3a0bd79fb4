import { Hono } from 'hono';
import { z } from 'zod';
import { notFound } from '../../core/errors.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { JobQueue } from '../../ingest/jobs/queue.ts';
import { JOB_STATES, type Job } from '../../ingest/jobs/types.ts';
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

/** /v1/jobs: list, show, retry. `onRetry` wakes an in-process worker. */
export function jobRoutes(ragline: Ragline, queue: JobQueue, onRetry: () => void = () => {}): Hono {
  const app = new Hono();

  app.get('/', async (c) => {
    const q = readQuery(c, jobListQuerySchema);
    const collectionId = q.collection ? (await ragline.collection(q.collection)).id : undefined;
    const jobs = await queue.list({ state: q.state, collectionId, limit: q.limit + 1, offset: q.offset });
    return c.json({
      jobs: jobs.slice(0, q.limit).map(jobView),
      limit: q.limit,
      offset: q.offset,
      nextOffset: jobs.length > q.limit ? q.offset + q.limit : null,
    });
  });

  app.get('/:id', async (c) => {
    const job = await queue.get(c.req.param('id'));
    if (!job) throw notFound(`job "${c.req.param('id')}" not found`, { job: c.req.param('id') });
    return c.json(jobView(job));
  });

  app.post('/:id/retry', async (c) => {
    const job = await queue.retry(c.req.param('id'));
    onRetry();
    return c.json(jobView(job));
  });

  return app;
}
