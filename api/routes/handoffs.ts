import { Hono } from 'hono';
import { z } from 'zod';
import { RaglineError, notFound } from '../../core/errors.ts';
import type { Ragline } from '../../facade/ragline.ts';
import { HANDOFF_STATES, type Handoff, type HandoffStore } from '../../store/handoffs.ts';
import { mayUse, principalOf, requireRole, scopedCollection } from '../access.ts';
import { readJson, readQuery } from '../http-errors.ts';

export const MAX_HANDOFF_PAGE = 200;

export const handoffListQuerySchema = z
  .object({
    state: z.enum(HANDOFF_STATES).optional(),
    collection: z.string().min(1).max(255).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_HANDOFF_PAGE).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();

export const resolveHandoffSchema = z
  .object({
    /** What the person found or did. */
    note: z.string().trim().min(1).max(4_000),
    /** The answer the question should have had, if the person wrote one. */
    answer: z.string().trim().min(1).max(20_000).optional(),
  })
  .strict();

/**
 * GET /v1/handoffs (list, newest first), GET /v1/handoffs/:id, POST /v1/handoffs/:id/resolve.
 * Everything is scoped to the caller's tenant, and to the key's collections when it has a list.
 */
export function handoffRoutes(ragline: Ragline, store: HandoffStore): Hono {
  const app = new Hono();

  const visible = async (c: Parameters<typeof principalOf>[0], id: string): Promise<Handoff> => {
    const principal = principalOf(c);
    const handoff = await store.get(id, principal.tenantId);
    if (!handoff || (principal.collections && !mayUse(principal, { name: handoff.collectionName }))) {
      throw notFound(`handoff "${id}" not found`, { handoff: id });
    }
    return handoff;
  };

  app.get('/', async (c) => {
    const q = readQuery(c, handoffListQuerySchema);
    const principal = principalOf(c);
    const collectionId = q.collection ? (await scopedCollection(c, ragline, q.collection)).id : undefined;
    const collectionIds = principal.collections
      ? (await ragline.store.listCollections(principal.tenantId)).filter((col) => mayUse(principal, col)).map((col) => col.id)
      : null;
    const rows = await store.list({
      tenantId: principal.tenantId,
      state: q.state,
      collectionId,
      collectionIds,
      limit: q.limit + 1,
      offset: q.offset,
    });
    return c.json({
      handoffs: rows.slice(0, q.limit),
      limit: q.limit,
      offset: q.offset,
      nextOffset: rows.length > q.limit ? q.offset + q.limit : null,
    });
  });

  app.get('/:id', async (c) => c.json(await visible(c, c.req.param('id'))));

  app.post('/:id/resolve', requireRole('writer'), async (c) => {
    const body = await readJson(c, resolveHandoffSchema);
    const handoff = await visible(c, c.req.param('id'));
    const principal = principalOf(c);
    const outcome = await store.resolve(handoff.id, principal.tenantId, {
      note: body.note,
      answer: body.answer ?? null,
      by: principal.keyId,
    });
    if (!outcome) throw notFound(`handoff "${handoff.id}" not found`, { handoff: handoff.id });
    if (!outcome.changed) {
      throw new RaglineError('conflict', `handoff "${handoff.id}" is already resolved`, { handoff: handoff.id, state: 'resolved' });
    }
    return c.json(outcome.handoff);
  });

  return app;
}
