import { Hono } from 'hono';
import { z } from 'zod';
import type { Ragline } from '../../facade/ragline.ts';
import type { Tenancy } from '../../facade/tenancy.ts';
import { actorOf, mayUse, principalOf, requireRole, scopedCollection } from '../access.ts';
import { readJson } from '../http-errors.ts';

export const createCollectionSchema = z
  .object({
    name: z.string(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * /v1/collections: create, list, show, delete (soft; restorable), restore. `:id` is a collection id
 * or name, always within the caller's tenant. Reading needs any role; changes need admin.
 */
export function collectionRoutes(ragline: Ragline, tenancy: Tenancy): Hono {
  const app = new Hono();

  app.post('/', requireRole('admin'), async (c) => {
    const body = await readJson(c, createCollectionSchema);
    const collection = await tenancy.createCollection(actorOf(c), body.name, body.metadata ?? {});
    return c.json(collection, 201, { Location: `/v1/collections/${collection.id}` });
  });

  app.get('/', async (c) => {
    const principal = principalOf(c);
    const collections = await ragline.store.listCollections(principal.tenantId);
    return c.json({ collections: collections.filter((collection) => mayUse(principal, collection)) });
  });

  app.get('/:id', async (c) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    return c.json({ ...collection, chunkCount: await ragline.store.countChunks(collection.id) });
  });

  app.delete('/:id', requireRole('admin'), async (c) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    await tenancy.deleteCollection(actorOf(c), collection);
    return c.json({ deleted: true, id: collection.id, restorableForDays: tenancy.restoreWindowDays });
  });

  app.post('/:id/restore', requireRole('admin'), async (c) => {
    const principal = principalOf(c);
    const restored = await tenancy.restoreCollection(actorOf(c), principal.tenantId, c.req.param('id'));
    return c.json({ restored: true, id: restored.id, name: restored.name });
  });

  return app;
}
