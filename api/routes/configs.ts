import { Hono } from 'hono';
import { z } from 'zod';
import { collectionConfigSchema, configNameSchema } from '../../answer/collection-config.ts';
import { RaglineError } from '../../core/errors.ts';
import type { CollectionConfigs } from '../../facade/configs.ts';
import type { Ragline } from '../../facade/ragline.ts';
import { actorOf, requireRole, scopedCollection } from '../access.ts';
import { readJson, readQuery } from '../http-errors.ts';

export const setConfigSchema = z
  .object({
    name: configNameSchema,
    settings: collectionConfigSchema,
    note: z.string().trim().min(1).max(1_000).optional(),
    /** Make it the collection's active config (default: only when the collection has none). */
    activate: z.boolean().optional(),
  })
  .strict();
export const showConfigQuerySchema = z.object({ version: z.coerce.number().int().min(1).max(1_000_000_000).optional() }).strict();
export const configHistoryQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }).strict();
export const rollbackConfigSchema = z
  .object({ toVersion: z.number().int().min(1).max(1_000_000_000).optional() })
  .strict()
  .default({});

/** Configs live in SQL: without a SQL store the routes answer that they are unavailable. */
export function requireConfigs(configs: CollectionConfigs | undefined): CollectionConfigs {
  if (!configs) throw new RaglineError('invalid_config', 'collection configs need a SQL store (PGlite or Postgres)');
  return configs;
}

/**
 * /v1/collections/:id/configs…: named, versioned configurations of a collection (docs/experiments.md).
 * Readers may read; changing (set, rollback, activate) needs the admin role and is audited.
 */
export function configRoutes(ragline: Ragline, maybeConfigs: CollectionConfigs | undefined): Hono {
  const app = new Hono();
  const collectionOf = (c: Parameters<typeof scopedCollection>[0]) => scopedCollection(c, ragline, c.req.param('id')!);
  const configs = () => requireConfigs(maybeConfigs);

  app.get('/:id/configs', async (c) => c.json(await configs().list(await collectionOf(c))));

  app.post('/:id/configs', requireRole('admin'), async (c) => {
    const collection = await collectionOf(c);
    const body = await readJson(c, setConfigSchema);
    const result = await configs().set(actorOf(c), collection, body.name, body.settings, { note: body.note, activate: body.activate });
    return c.json(result, 201);
  });

  app.get('/:id/configs/:name', async (c) => {
    const q = readQuery(c, showConfigQuerySchema);
    return c.json(await configs().show(await collectionOf(c), c.req.param('name'), q.version));
  });

  app.get('/:id/configs/:name/history', async (c) => {
    const q = readQuery(c, configHistoryQuerySchema);
    return c.json({ versions: await configs().history(await collectionOf(c), c.req.param('name'), q.limit) });
  });

  app.post('/:id/configs/:name/rollback', requireRole('admin'), async (c) => {
    const collection = await collectionOf(c);
    const body = c.req.header('content-type') ? await readJson(c, rollbackConfigSchema) : {};
    return c.json(await configs().rollback(actorOf(c), collection, c.req.param('name'), body.toVersion));
  });

  app.post('/:id/configs/:name/activate', requireRole('admin'), async (c) => {
    const collection = await collectionOf(c);
    return c.json(await configs().activate(actorOf(c), collection, c.req.param('name')));
  });

  return app;
}
