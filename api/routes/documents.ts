import { Hono } from 'hono';
import { z } from 'zod';
import type { Ragline } from '../../facade/ragline.ts';
import { documentNotFound, type Tenancy } from '../../facade/tenancy.ts';
import { actorOf, principalOf, requireRole, scopedCollection } from '../access.ts';
import type { JobQueue } from '../../ingest/jobs/queue.ts';
import { type Job, isTerminal } from '../../ingest/jobs/types.ts';
import { readQuery } from '../http-errors.ts';
import { pageQueryFields, readPage } from '../paging.ts';
import { jobView } from './jobs.ts';
import { readUploads } from './upload-body.ts';

export const MAX_WAIT_SECONDS = 120;

export const uploadQuerySchema = z.object({ wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).default(0) }).strict();

export const documentListQuerySchema = z.object(pageQueryFields(500)).strict();

/**
 * /v1/collections/:id/documents. Uploads are stored, then ingested by a worker: the answer is
 * 202 with one job per file, or, with `?wait=<seconds>`, 200 once every job has finished in time.
 */
export function documentRoutes(ragline: Ragline, queue: JobQueue, tenancy: Tenancy, onEnqueued: () => void = () => {}): Hono {
  const app = new Hono();

  app.post('/:id/documents', requireRole('writer'), async (c) => {
    const { wait } = readQuery(c, uploadQuerySchema);
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const batch = await readUploads(c, ragline.config);
    let jobs: Job[];
    try {
      jobs = await queue.enqueue(collection.id, batch.uploads);
    } finally {
      await batch.discard();
    }
    onEnqueued();
    // Stops polling when the client goes away; the jobs carry on regardless.
    if (wait > 0)
      jobs = await queue.waitFor(
        jobs.map((j) => j.id),
        wait * 1000,
        250,
        c.req.raw.signal,
      );
    const done = jobs.every((j) => isTerminal(j.state));
    return c.json({ jobs: jobs.map(jobView) }, done ? 200 : 202);
  });

  app.get('/:id/documents', async (c) => {
    const q = readQuery(c, documentListQuerySchema);
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const { items, ...page } = await readPage(q, (limit, offset) => ragline.store.listDocuments(collection.id, { limit, offset }));
    return c.json({ documents: items, ...page });
  });

  app.get('/:id/documents/:docId', async (c) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const document = await ragline.store.getDocument(collection.id, c.req.param('docId'));
    if (!document) throw documentNotFound(c.req.param('docId'), collection.name);
    return c.json(document);
  });

  /** A writer's delete waits for an admin's approval (202) when the tenant requires it. */
  app.delete('/:id/documents/:docId', requireRole('writer'), async (c) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const principal = principalOf(c);
    const needsApproval = principal.role !== 'admin' && (await tenancy.tenant(principal.tenantId)).settings.requireDeleteApproval;
    const outcome = await tenancy.deleteDocument(actorOf(c), collection, c.req.param('docId'), needsApproval);
    if (!outcome.deleted) return c.json({ deleted: false, pendingApproval: outcome.pending }, 202);
    return c.json({ deleted: true, id: c.req.param('docId') });
  });

  return app;
}
