/**
 * `npm run bench <name> [-- options]`: ingest | search | store | cache | bm25-snapshot. Each prints a table and writes
 * bench/results/<name>.json. Figures are ratios against a baseline measured in the same run.
 */
import { Command } from 'commander';

const program = new Command('bench').description('Ragline benchmarks');

program
  .command('ingest')
  .description('pipeline throughput vs raw model throughput on the shared PDFs and Markdown')
  .option('--files <n>', 'how many documents per kind', (v) => Number.parseInt(v, 10), 8)
  .option('--strategies <list>', 'chunking strategies to compare', 'sentence,semantic')
  .option('--formats-only', 'only loading per format and OCR (bench/results/formats.json)')
  .option('--rounds <n>', 'loads per format file', (v) => Number.parseInt(v, 10), 5)
  .option('--ocr-pages <n>', "text-layer pages OCR'd for the error rate (at most 4)", (v) => Number.parseInt(v, 10), 4)
  .action(async (opts) => (await import('./ingest.ts')).runIngestBench(opts));

program
  .command('search')
  .description('search latency per stage at 10k and 100k chunks')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./search.ts')).runSearchBench(cmd.args));

program
  .command('store')
  .description('insert throughput and k-NN latency, PGlite vs Postgres')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./store.ts')).runStoreBench(cmd.args));

program
  .command('cache')
  .description('/answer latency: answer cache hit vs miss (extractive)')
  .option('--collection-cache-ttl-ms <n>', '0 reads the collection version from SQL on every request (the old way)', (v) =>
    Number.parseInt(v, 10),
  )
  .action(async (opts) => (await import('./cache.ts')).runCacheBench(opts));

program
  .command('bm25-snapshot')
  .description('BM25 snapshot load vs rebuild for one collection (~30k real chunks), and BM25 memory per chunk')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./bm25-snapshot.ts')).runBm25SnapshotBench(cmd.args));

program
  .command('pdf-qa')
  .description('pdf-qa questions over the 21 shared PDFs, ingested into a store of their own, plus the noise-chunk share')
  .option('--label <name>', 'names the store and the results file, e.g. before | after', 'current')
  .action(async (opts) => (await import('./pdf-qa.ts')).runPdfQaBench(opts));

await program.parseAsync(process.argv);
