import { Hono } from 'hono';
import type { Ragline } from '../../facade/ragline.ts';
import { searchRequestSchema } from '../../retrieval/types.ts';
import { scopedCollection } from '../access.ts';
import { readJson } from '../http-errors.ts';

/** POST /v1/collections/:id/search: hybrid, dense or BM25 search (body: searchRequestSchema). */
export function searchRoutes(ragline: Ragline): Hono {
  const app = new Hono();
  app.post('/:id/search', async (c) => {
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const request = await readJson(c, searchRequestSchema);
    return c.json(await ragline.search(collection, request));
  });
  return app;
}
