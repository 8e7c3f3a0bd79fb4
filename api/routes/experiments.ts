import { Hono } from 'hono';
import { z } from 'zod';
import { configNameSchema } from '../../answer/collection-config.ts';
import { experimentVariantsSchema, type CollectionConfigs } from '../../facade/configs.ts';
import { experimentReport } from '../../facade/experiments.ts';
import type { RequestLedger } from '../../facade/ledger.ts';
import type { Ragline } from '../../facade/ragline.ts';
import { actorOf, requireRole, scopedCollection } from '../access.ts';
import { readJson } from '../http-errors.ts';
import { requireConfigs } from './configs.ts';

export const startExperimentSchema = z.object({ name: configNameSchema, variants: experimentVariantsSchema }).strict();
export const stopExperimentSchema = z.object({ winner: configNameSchema }).strict();

/**
 * /v1/collections/:id/experiments…: traffic split between configs, sticky per end user or key.
 * Start and stop need the admin role (audited); stopping makes the winner the active config.
 */
export function experimentRoutes(ragline: Ragline, maybeConfigs: CollectionConfigs | undefined, ledger: RequestLedger): Hono {
  const app = new Hono();
  const collectionOf = (c: Parameters<typeof scopedCollection>[0]) => scopedCollection(c, ragline, c.req.param('id')!);
  const configs = () => requireConfigs(maybeConfigs);

  app.get('/:id/experiments', async (c) => {
    const collection = await collectionOf(c);
    return c.json({ experiments: await configs().store.listExperiments(collection.id) });
  });

  app.post('/:id/experiments', requireRole('admin'), async (c) => {
    const collection = await collectionOf(c);
    const body = await readJson(c, startExperimentSchema);
    return c.json(await configs().startExperiment(actorOf(c), collection, body.name, body.variants), 201);
  });

  app.get('/:id/experiments/:name', async (c) => c.json(await configs().experiment(await collectionOf(c), c.req.param('name'))));

  app.post('/:id/experiments/:name/stop', requireRole('admin'), async (c) => {
    const collection = await collectionOf(c);
    const body = await readJson(c, stopExperimentSchema);
    return c.json(await configs().stopExperiment(actorOf(c), collection, c.req.param('name'), body.winner));
  });

  app.get('/:id/experiments/:name/report', async (c) => {
    const experiment = await configs().experiment(await collectionOf(c), c.req.param('name'));
    await ledger.flush(); // the latest requests' traces may still be buffered
    return c.json(await experimentReport(ledger.store, experiment));
  });

  return app;
}
