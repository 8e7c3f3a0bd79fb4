import { Hono } from 'hono';
import { z } from 'zod';
import type { Ragline } from '../../facade/ragline.ts';
import { readJson } from '../http-errors.ts';

export const createCollectionSchema = z
  .object({
    name: z.string(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** /v1/collections: create, list, show, delete. `:id` is a collection id or name. */
export function collectionRoutes(ragline: Ragline): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJson(c, createCollectionSchema);
    const collection = await ragline.createCollection(body.name, body.metadata ?? {});
    return c.json(collection, 201, { Location: `/v1/collections/${collection.id}` });
  });

  app.get('/', async (c) => c.json({ collections: await ragline.store.listCollections() }));

  app.get('/:id', async (c) => {
    const collection = await ragline.collection(c.req.param('id'));
    return c.json({ ...collection, chunkCount: await ragline.store.countChunks(collection.id) });
  });

  app.delete('/:id', async (c) => {
    const collection = await ragline.collection(c.req.param('id'));
    await ragline.deleteCollection(collection.id);
    return c.json({ deleted: true, id: collection.id });
  });

  return app;
}
