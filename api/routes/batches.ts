import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { notFound } from '../../core/errors.ts';
import { type Batches, batchRequestSchema } from '../../facade/batches.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { BatchProgress } from '../../store/batches.ts';
import { requireRole, scopedCollection } from '../access.ts';
import { readJson } from '../http-errors.ts';
import { requestContext } from '../request-context.ts';

/** A batch as clients see it (its stored settings included, its key id not). */
export function batchView(p: BatchProgress) {
  return {
    id: p.id,
    collectionId: p.collectionId,
    collection: p.collectionName,
    state: p.state,
    total: p.total,
    queued: p.queued,
    succeeded: p.succeeded,
    failed: p.failed,
    settings: p.settings,
    createdAt: p.createdAt,
    finishedAt: p.finishedAt,
  };
}

/**
 * POST /:id/batches (202, mounted under /v1/collections), GET /:id/batches/:batchId (progress) and
 * GET /:id/batches/:batchId/results (JSONL). A batch is found only through its collection, in the
 * caller's tenant. `onSubmit` wakes an in-process worker.
 */
export function batchRoutes(ragline: Ragline, batches: Batches, onSubmit: () => void = () => {}): Hono {
  const app = new Hono();
  const schema = batchRequestSchema(batches.options.maxQuestions);

  const visible = async (c: Parameters<typeof scopedCollection>[0]) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id')!);
    const batchId = c.req.param('batchId')!;
    const progress = await batches.progress(batchId, collection);
    if (!progress) throw notFound(`batch "${batchId}" not found`, { batch: batchId });
    return progress;
  };

  app.post('/:id/batches', requireRole('writer'), async (c) => {
    const body = await readJson(c, schema);
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const progress = await batches.submit(requestContext(c), collection, body);
    onSubmit();
    return c.json(batchView(progress), 202);
  });

  app.get('/:id/batches/:batchId', async (c) => c.json(batchView(await visible(c))));

  app.get('/:id/batches/:batchId/results', async (c) => {
    const progress = await visible(c);
    c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
    c.header('X-Ragline-Batch-State', progress.state);
    return stream(c, async (out) => {
      for await (const line of batches.results(progress.id)) {
        if (out.aborted) return;
        await out.write(line);
      }
    });
  });

  return app;
}
