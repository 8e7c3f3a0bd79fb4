import type { Command } from 'commander';
import { notFound } from '../../core/errors.ts';
import { Tenancy } from '../../facade/tenancy.ts';
import { printJson, withRagline } from '../context.ts';
import { cliActor, registerCollectionLifecycleCommands, resolveTenant, tenantScopeOption } from './tenancy.ts';

export function registerCollectionCommands(program: Command) {
  const collections = program
    .command('collections')
    .description('List collections with their model and document counts.')
    .option('--json', 'print JSON')
    .addOption(tenantScopeOption())
    // `collections restore x --tenant t`: the option after a subcommand is the subcommand's, not this list's.
    .enablePositionalOptions()
    .action(async (opts: { json?: boolean; tenant: string }) => {
      await withRagline(async (ragline) => {
        const tenant = await resolveTenant(ragline, opts.tenant);
        const rows = await Promise.all(
          (await ragline.store.listCollections(tenant)).map(async (c) => ({
            name: c.name,
            id: c.id,
            model: `${c.embeddingModel} (${c.dimensions}-d)`,
            chunks: await ragline.store.countChunks(c.id),
          })),
        );
        if (opts.json) return printJson(rows);
        if (!rows.length) console.log('no collections yet: ragline ingest <files> --collection <name>');
        else console.table(rows);
      });
    });
  registerCollectionLifecycleCommands(collections);

  program
    .command('documents')
    .description('List the documents of a collection.')
    .option('-c, --collection <name>', 'collection name', 'default')
    .option('--limit <n>', 'at most this many', (v) => Number.parseInt(v, 10), 100)
    .option('--offset <n>', 'skip this many', (v) => Number.parseInt(v, 10), 0)
    .option('--json', 'print JSON')
    .addOption(tenantScopeOption())
    .action(async (opts: { collection: string; limit: number; offset: number; json?: boolean; tenant: string }) => {
      await withRagline(async (ragline) => {
        const collection = await ragline.collection(opts.collection, await resolveTenant(ragline, opts.tenant));
        const docs = await ragline.store.listDocuments(collection.id, { limit: opts.limit, offset: opts.offset });
        if (opts.json) return printJson(docs);
        console.table(
          docs.map((d) => ({
            id: d.id,
            source: d.source,
            title: d.title.slice(0, 40),
            chunks: d.chunkCount,
            pages: d.pageCount ?? '',
            version: d.version,
          })),
        );
      });
    });

  program
    .command('delete')
    .description('Delete a document (by id or source) or, with --all, the whole collection.')
    .argument('[document]', 'document id or source')
    .option('-c, --collection <name>', 'collection name', 'default')
    .option('--all', 'delete the collection itself')
    .addOption(tenantScopeOption())
    .action(async (document: string | undefined, opts: { collection: string; all?: boolean; tenant: string }) => {
      await withRagline(async (ragline) => {
        const tenancy = Tenancy.for(ragline);
        const tenant = await resolveTenant(ragline, opts.tenant);
        if (opts.all) {
          await tenancy.deleteCollection(cliActor(tenant), await ragline.collection(opts.collection, tenant));
          console.log(
            `deleted collection ${opts.collection} (restorable for ${tenancy.restoreWindowDays} days: ragline collections restore)`,
          );
          return;
        }
        if (!document) throw notFound('name a document (id or source), or pass --all to delete the collection');
        const collection = await ragline.collection(opts.collection, tenant);
        const doc =
          (await ragline.store.getDocument(collection.id, document)) ?? (await ragline.store.getDocumentBySource(collection.id, document));
        if (!doc) throw notFound(`no document "${document}" in collection ${opts.collection}`);
        await tenancy.deleteDocument(cliActor(tenant), collection, doc.id, false);
        console.log(`deleted ${doc.source} (${doc.chunkCount} chunks)`);
      });
    });
}
