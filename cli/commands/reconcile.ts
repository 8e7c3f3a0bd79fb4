import type { Command } from 'commander';
import type { Config } from '../../core/config.ts';
import { RaglineError } from '../../core/errors.ts';
import { reconcileSparse } from '../../facade/sparse-reconcile.ts';
import { PineconeSparseIndex } from '../../store/pinecone-sparse.ts';
import { printJson, withRagline } from '../context.ts';
import { tenantOption } from './tenancy.ts';

/** The sparse index the configuration names; a clear configuration error when something is missing. */
export function sparseIndexFromConfig(config: Config): PineconeSparseIndex {
  const { sparse } = config;
  const missing = (variable: string, what: string) =>
    new RaglineError('invalid_config', `Invalid configuration: ${variable}: ${what}`, { variable });
  if (sparse.backend !== 'pinecone') throw missing('RAGLINE_SPARSE', 'reconcile needs RAGLINE_SPARSE=pinecone');
  const apiKey = sparse.pineconeApiKey ?? config.pinecone?.apiKey;
  if (!apiKey) throw missing('PINECONE_SPARSE_API_KEY', 'no API key for the sparse index (set it or PINECONE_API_KEY)');
  if (!sparse.pineconeIndex) throw missing('PINECONE_SPARSE_INDEX', 'the sparse index name is not set');
  if (!sparse.pineconeHost) throw missing('PINECONE_SPARSE_HOST', "the sparse index's data-plane URL is not set");
  return new PineconeSparseIndex({
    apiKey,
    index: sparse.pineconeIndex,
    host: sparse.pineconeHost,
    rateLimitRetries: sparse.rateLimitRetries,
    retryDelayMs: sparse.retryDelayMs,
  });
}

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
        const report = await reconcileSparse(ragline.store, sparse, collection.id);
        if (opts.json) return printJson({ collection: collection.name, ...report });
        console.log(
          `${collection.name}: ${report.chunks} chunks, ${report.vectors} vectors found; ` +
            `missing ${report.missing}, orphaned ${report.orphaned}, stale ${report.stale}; ` +
            `upserted ${report.upserted}, deleted ${report.deleted}; 429s retried ${report.rateLimitedRetries}`,
        );
      });
    });
}
