import { Hono } from 'hono';
import { z } from 'zod';
import type { Ragline } from '../../facade/ragline.ts';
import type { ChunkRecord } from '../../store/types.ts';
import { documentNotFound } from '../../facade/tenancy.ts';
import { scopedCollection } from '../access.ts';
import { readQuery } from '../http-errors.ts';
import { pageOf, pageQueryFields } from '../paging.ts';

export const chunkListQuerySchema = (maxLimit: number) => z.object(pageQueryFields(maxLimit, 100)).strict();

export const MAX_CHUNK_IDS = 100;

export const chunkLookupQuerySchema = z
  .object({
    ids: z
      .string()
      .min(1)
      .max(MAX_CHUNK_IDS * 40)
      .transform((v) =>
        v
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().min(1).max(64)).min(1).max(MAX_CHUNK_IDS)),
  })
  .strict();

const chunkView = (chunk: ChunkRecord) => ({
  id: chunk.id,
  ordinal: chunk.ordinal,
  headingPath: chunk.headingPath,
  pageStart: chunk.pageStart,
  pageEnd: chunk.pageEnd,
  tokenCount: chunk.tokenCount,
  kind: chunk.kind,
  text: chunk.text,
});

/**
 * GET /v1/collections/:id/documents/:docId/chunks: a document's chunks as the chunker cut them, in order
 * (heading path, pages, token count, text), a page at a time. A document holds at most
 * RAGLINE_MAX_CHUNKS_PER_DOCUMENT chunks, which bounds the read behind one page.
 */
export function documentChunkRoutes(ragline: Ragline, maxLimit: number): Hono {
  const app = new Hono();
  const query = chunkListQuerySchema(maxLimit);

  app.get('/:id/documents/:docId/chunks', async (c) => {
    const q = readQuery(c, query);
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const document = await ragline.store.getDocument(collection.id, c.req.param('docId'));
    if (!document) throw documentNotFound(c.req.param('docId'), collection.name);
    const { items, ...page } = pageOf(await ragline.store.chunksOfDocuments(collection.id, [document.id]), q);
    return c.json({
      document: { id: document.id, source: document.source, title: document.title, chunkCount: document.chunkCount },
      chunks: items.map(chunkView),
      ...page,
    });
  });

  /** GET /v1/collections/:id/chunks?ids=a,b: chunks by id (a trace's), only those of this collection; unknown ids are left out. */
  app.get('/:id/chunks', async (c) => {
    const { ids } = readQuery(c, chunkLookupQuerySchema);
    const collection = await scopedCollection(c, ragline, c.req.param('id'));
    const found = (await ragline.store.getChunks(ids)).filter((chunk) => chunk.collectionId === collection.id);
    const byId = new Map(found.map((chunk) => [chunk.id, chunk]));
    return c.json({
      chunks: ids.flatMap((id) => {
        const chunk = byId.get(id);
        return chunk ? [{ ...chunkView(chunk), documentId: chunk.documentId, source: chunk.source, title: chunk.title }] : [];
      }),
    });
  });

  return app;
}
