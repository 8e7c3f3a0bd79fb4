import type { Command } from 'commander';
import { RaglineError } from '../../core/errors.ts';
import { reconcileDense } from '../../facade/dense-reconcile.ts';
import type { ReconcileCounts } from '../../facade/reconcile.ts';
import { reconcileSparse } from '../../facade/sparse-reconcile.ts';
import { sparseIndexFromConfig } from '../../store/pinecone-sparse.ts';
import { SqlStore } from '../../store/sql-store.ts';
import { printJson, withRagline } from '../context.ts';
import { tenantOption } from './tenancy.ts';

const line = (collection: string, part: string, r: ReconcileCounts & { rateLimitedRetries?: number; frequenciesRebuilt?: boolean }) =>
  `${collection}, ${part}: ${r.chunks} chunks, ${r.vectors} vectors found; ` +
  `missing ${r.missing}, orphaned ${r.orphaned}, stale ${r.stale}; upserted ${r.upserted}, deleted ${r.deleted}` +
  (r.rateLimitedRetries === undefined ? '' : `; 429s retried ${r.rateLimitedRetries}`) +
  (r.frequenciesRebuilt ? '; document frequencies recounted' : '');

export function register(program: Command) {
  program
    .command('reconcile')
    .description(
      "Repair a collection's Pinecone namespaces from SQL (the dense one when PINECONE_INDEX is set, the sparse one with " +
        'RAGLINE_SPARSE=pinecone): write missing and stale vectors, delete orphans.',
    )
    .argument('<collection>', 'collection name or id')
    .option('--json', 'print JSON')
    .addOption(tenantOption())
    .action(async (name: string, opts: { json?: boolean; tenant: string }) => {
      await withRagline(async (ragline, config) => {
        const dense = ragline.store instanceof SqlStore ? ragline.store.denseIndex : undefined;
        const sparse = config.sparse.backend === 'pinecone' ? sparseIndexFromConfig(config) : undefined;
        if (!dense && !sparse) {
          throw new RaglineError(
            'invalid_config',
            'Invalid configuration: PINECONE_INDEX / RAGLINE_SPARSE: nothing to reconcile: neither a Pinecone dense index ' +
              '(PINECONE_API_KEY, PINECONE_INDEX) nor a Pinecone sparse index (RAGLINE_SPARSE=pinecone) is configured',
            { variable: 'RAGLINE_SPARSE' },
          );
        }
        const collection = await ragline.collection(name, opts.tenant);
        const report = {
          collection: collection.name,
          ...(dense ? { dense: await reconcileDense(ragline.store, dense, collection.id) } : {}),
          ...(sparse ? { sparse: await reconcileSparse(ragline.store, sparse, collection.id, ragline.bm25Options) } : {}),
        };
        if (opts.json) return printJson(report);
        if (report.dense) console.log(line(collection.name, 'dense', report.dense));
        if (report.sparse) console.log(line(collection.name, 'sparse', report.sparse));
      });
    });
}
