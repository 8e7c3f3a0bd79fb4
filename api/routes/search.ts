import { Hono } from 'hono';
import type { Ragline } from '../../facade/ragline.ts';
import type { TracedQueries } from '../../facade/traced-queries.ts';
import { searchRequestSchema } from '../../retrieval/types.ts';
import { scopedQueryCollection } from '../access.ts';
import { readTracedJson, tracedContext } from '../traced-request.ts';

/** POST /v1/collections/:id/search: hybrid, dense or BM25 search (body: searchRequestSchema), traced in the ledger. */
export function searchRoutes(ragline: Ragline, queries: TracedQueries): Hono {
  const app = new Hono();
  app.post('/:id/search', async (c) => {
    const context = tracedContext(c);
    // The body as sent goes on: fields left out take the collection config's values (docs/experiments.md).
    const { sent } = await readTracedJson(c, queries, context, 'search', searchRequestSchema);
    const collection = () => scopedQueryCollection(c, ragline, c.req.param('id'));
    return c.json(await queries.search(context, collection, sent));
  });
  return app;
}
