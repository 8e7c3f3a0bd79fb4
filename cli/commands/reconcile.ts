import type { Command } from 'commander';
import { reconcileSparse } from '../../facade/sparse-reconcile.ts';
import { sparseIndexFromConfig } from '../../store/pinecone-sparse.ts';
import { printJson, withRagline } from '../context.ts';
import { tenantOption } from './tenancy.ts';

export function register(program: Command) {
  program
    .command('reconcile')
    .description("Repair a collection's Pinecone sparse vectors from SQL: upsert missing and stale ones, delete orphans.")
    .argument('<collection>', 'collection name or id')
    .option('--json', 'print JSON')
    .addOption(tenantOption())
    .action(async (name: string, opts: { json?: boolean; tenant: string }) => {
      await withRagline(async (ragline, config) => {
        const sparse = sparseIndexFromConfig(config);
        const collection = await ragline.collection(name, opts.tenant);
        const report = await reconcileSparse(ragline.store, sparse, collection.id, ragline.bm25Options);
        if (opts.json) return printJson({ collection: collection.name, ...report });
        console.log(
          `${collection.name}: ${report.chunks} chunks, ${report.vectors} vectors found; ` +
            `missing ${report.missing}, orphaned ${report.orphaned}, stale ${report.stale}; ` +
            `upserted ${report.upserted}, deleted ${report.deleted}; 429s retried ${report.rateLimitedRetries}`,
        );
      });
    });
}
