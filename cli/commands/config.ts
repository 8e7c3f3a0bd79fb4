import fs from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { badRequest, notFound } from '../../core/errors.ts';
import { CollectionConfigs } from '../../facade/configs.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { ConfigVersion } from '../../store/configs.ts';
import type { Collection } from '../../store/types.ts';
import { printJson, withRagline } from '../context.ts';
import { cliActor, tenantOption } from './tenancy.ts';

export interface CollectionOptions {
  collection: string;
  tenant: string;
  json?: boolean;
}

const positive = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/** Opens Ragline, finds the collection in the tenant and hands both with the config service to `fn`. */
export function withConfigs<T>(
  opts: CollectionOptions,
  fn: (configs: CollectionConfigs, collection: Collection, ragline: Ragline) => Promise<T>,
): Promise<T> {
  return withRagline(async (ragline) => {
    const configs = CollectionConfigs.for(ragline.store);
    if (!configs) throw badRequest('collection configs need a SQL store (PGlite or Postgres)');
    const collection = await ragline.store.getCollection(opts.collection, opts.tenant);
    if (!collection) throw notFound(`collection "${opts.collection}" not found in tenant "${opts.tenant}"`);
    return fn(configs, collection, ragline);
  });
}

export function addCollectionOptions(cmd: Command): Command {
  return cmd.option('-c, --collection <name>', 'collection name', 'default').addOption(tenantOption()).option('--json', 'print JSON');
}

function readSettings(opts: { settings?: string; file?: string }): unknown {
  if ((opts.settings === undefined) === (opts.file === undefined))
    throw badRequest('give the settings as --settings <json> or --file <path>');
  const text = opts.settings ?? fs.readFileSync(opts.file!, 'utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(`${opts.settings !== undefined ? '--settings' : opts.file} is not JSON`);
  }
}

function printVersion(v: ConfigVersion) {
  console.log(`${v.name} v${v.version}  ${v.createdAt}  by ${v.createdBy ?? '-'}${v.note ? `  — ${v.note}` : ''}`);
  console.log(JSON.stringify(v.settings, null, 2));
}

/** `ragline config set|show|history|rollback|activate|list`: named, versioned collection configs (docs/experiments.md). */
export function registerConfigCommands(program: Command) {
  const config = program
    .command('config')
    .description('Named, versioned configurations of a collection (retrieval, generation, answer policy).');

  addCollectionOptions(config.command('set').description('Store the next version of a named config (audited).').argument('<name>'))
    .option('--settings <json>', 'e.g. {"retrieval":{"topK":6,"mode":"hybrid"},"policy":{"minDenseSimilarity":0.35}}')
    .option('--file <path>', 'the settings as a JSON file')
    .option('--note <text>', 'why this version')
    .option('--activate', 'make it the active config (the first config of a collection always is)')
    .action(async (name: string, opts: CollectionOptions & { settings?: string; file?: string; note?: string; activate?: boolean }) => {
      const settings = readSettings(opts);
      await withConfigs(opts, async (configs, collection) => {
        const result = await configs.set(cliActor(opts.tenant), collection, name, settings, {
          note: opts.note,
          activate: opts.activate ? true : undefined,
        });
        if (opts.json) return printJson(result);
        console.log(`${name} v${result.config.version} stored${result.active ? ' (active)' : ''}`);
      });
    });

  addCollectionOptions(
    config.command('show').description('A config (default: the active one), newest version or --version.').argument('[name]'),
  )
    .option('--version <n>', 'a given version', positive)
    .action(async (name: string | undefined, opts: CollectionOptions & { version?: number }) => {
      await withConfigs(opts, async (configs, collection) => {
        const version = await configs.show(collection, name, opts.version);
        if (opts.json) return printJson(version);
        printVersion(version);
      });
    });

  addCollectionOptions(config.command('list').description("The collection's configs, the active one and the running experiment.")).action(
    async (opts: CollectionOptions) => {
      await withConfigs(opts, async (configs, collection) => {
        const list = await configs.list(collection);
        if (opts.json) return printJson(list);
        for (const c of list.configs) console.log(`${c.name === list.active ? '*' : ' '} ${c.name} v${c.version}`);
        if (list.experiment) console.log(`experiment running: ${list.experiment.name}`);
      });
    },
  );

  addCollectionOptions(config.command('history').description("A config's versions, newest first.").argument('<name>')).action(
    async (name: string, opts: CollectionOptions) => {
      await withConfigs(opts, async (configs, collection) => {
        const versions = await configs.history(collection, name);
        if (opts.json) return printJson({ versions });
        for (const v of versions)
          console.log(`v${v.version}  ${v.createdAt}  ${v.createdBy ?? '-'}  ${v.note ?? ''}  ${JSON.stringify(v.settings)}`);
      });
    },
  );

  addCollectionOptions(
    config
      .command('rollback')
      .description('Restore an earlier version (default: the one before the newest) as a new version (audited).')
      .argument('<name>'),
  )
    .option('--to <version>', 'the version to restore', positive)
    .action(async (name: string, opts: CollectionOptions & { to?: number }) => {
      await withConfigs(opts, async (configs, collection) => {
        const restored = await configs.rollback(cliActor(opts.tenant), collection, name, opts.to);
        if (opts.json) return printJson(restored);
        console.log(`${name} v${restored.version}: ${restored.note}`);
      });
    });

  addCollectionOptions(
    config.command('activate').description("Make a config the collection's active one (audited).").argument('<name>'),
  ).action(async (name: string, opts: CollectionOptions) => {
    await withConfigs(opts, async (configs, collection) => {
      const active = await configs.activate(cliActor(opts.tenant), collection, name);
      if (opts.json) return printJson(active);
      console.log(`${name} v${active.version} is now active on ${collection.name}`);
    });
  });
}
