/**
 * `npm run bench <name> [-- options]`: ingest | search | store | filtered | cache | bm25-snapshot | bm25-long | sparse-equivalence |
 * pdf-qa | configs | batch | scale | load | soak | query-length. Each prints a table and writes
 * bench/results/<name>.json. Figures are ratios against a baseline measured in the same run.
 */
import { Command, CommanderError } from 'commander';
import { BenchArgsError, exitOnBadArgs, integerOption } from './bench-args.ts';

// Commander's own parse errors (unknown option, missing value) are turned into a BenchArgsError below, so that every
// sub-command fails the same way: one line, exit code 2. Set before .command() so that each sub-command inherits it.
const program = new Command('bench')
  .description('Ragline benchmarks')
  .exitOverride()
  .showSuggestionAfterError(false)
  .configureOutput({ outputError: () => {} });

program
  .command('ingest')
  .description('pipeline throughput vs raw model throughput on the shared PDFs and Markdown')
  .option('--files <n>', 'how many documents per kind', integerOption('files'), 8)
  .option('--strategies <list>', 'chunking strategies to compare', 'sentence,semantic')
  .option('--formats-only', 'only loading per format and OCR (bench/results/formats.json)')
  .option('--rounds <n>', 'loads per format file', integerOption('rounds'), 5)
  .option('--ocr-pages <n>', "text-layer pages OCR'd for the error rate (at most 4)", integerOption('ocr-pages'), 4)
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
  .command('filtered')
  .description('filtered hybrid search at 100k chunks, PGlite and Postgres: p50/p95/p99 per plan, recall@10 vs exact filtered search')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./filtered.ts')).runFilteredBench(cmd.args));

program
  .command('cache')
  .description('/answer latency: answer cache hit vs miss (extractive)')
  .option(
    '--collection-cache-ttl-ms <n>',
    '0 reads the collection version from SQL on every request (the old way)',
    integerOption('collection-cache-ttl-ms', 0),
  )
  .option('--hit-rounds <n>', 'times each question is asked again once cached', integerOption('hit-rounds'), 4)
  .action(async (opts) => (await import('./cache.ts')).runCacheBench(opts));

program
  .command('bm25-snapshot')
  .description('BM25 snapshot load vs rebuild for one collection (~30k real chunks), and BM25 memory per chunk')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./bm25-snapshot.ts')).runBm25SnapshotBench(cmd.args));

program
  .command('bm25-long')
  .description('BM25 latency for 200-word and ordinary queries: every query term vs the 32 rarest')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./bm25-long.ts')).runBm25LongBench(cmd.args));

program
  .command('sparse-equivalence')
  .description('SciFact nDCG@10 through the full search path: BM25 via Pinecone sparse vectors (local fake) vs in-process BM25')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => (await import('./sparse-equivalence.ts')).runSparseEquivalenceBench(cmd.args));

program
  .command('pdf-qa')
  .description('pdf-qa questions over the 21 shared PDFs, ingested into a store of their own, plus the noise-chunk share')
  .option('--label <name>', 'names the store and the results file, e.g. before | after', 'current')
  .action(async (opts) => (await import('./pdf-qa.ts')).runPdfQaBench(opts));

program
  .command('configs')
  .description('/search latency with no config, an active config and a running experiment (what resolving a config costs)')
  .action(async () => (await import('./configs.ts')).runConfigsBench());

program
  .command('batch')
  .description('interactive /search p95 while a 200-question batch runs, against idle in the same run')
  .option('--questions <n>', 'questions in the batch (at most 200)', integerOption('questions'), 200)
  .option('--interval-ms <n>', 'one interactive search every n ms', integerOption('interval-ms'), 200)
  .option(
    '--yield-max-wait-ms <n>',
    'override RAGLINE_BATCH_YIELD_MAX_WAIT_MS (0: batch questions never wait)',
    integerOption('yield-max-wait-ms', 0),
  )
  .option('--label <name>', 'results file bench/results/batch-<label>.json instead of batch.json')
  .action(async (opts) => (await import('./batch.ts')).runBatchBench(opts));

program
  .command('scale')
  .description('the scale curve: per-stage latency, build times, BM25 memory and snapshot vs rebuild at 10k/100k/300k distinct chunks')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => {
    await (await import('./scale.ts')).runScaleBench(cmd.args);
  });

program
  .command('load')
  .description('autocannon against `ragline serve`: /search over 100k chunks on Postgres, /answer extractive, past saturation')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => {
    await (await import('./load.ts')).runLoadBench(cmd.args);
  });

program
  .command('soak')
  .description('two replicas on one Postgres, mixed ingest + search: RSS slope, errors, visibility within 1 s, no stale results')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => {
    await (await import('./soak.ts')).runSoakBench(cmd.args);
  });

program
  .command('query-length')
  .description('BM25, dense and hybrid latency against query length (5, 20, 50, 200 words) at 100k distinct chunks')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_opts, cmd: Command) => {
    await (await import('./query-length.ts')).runQueryLengthBench(cmd.args);
  });

const given = process.argv[2];
const command = program.commands.find((c) => c.name() === given)?.name() ?? '';

/** Commander's message without its "error: " prefix, with the sub-command's options when one was unknown. */
function asBenchArgsError(err: CommanderError): BenchArgsError {
  const message = err.message.replace(/^error: /, '');
  if (err.code !== 'commander.unknownOption') return new BenchArgsError(message);
  const options = program.commands.find((c) => c.name() === command)?.options.map((o) => o.long) ?? [];
  return new BenchArgsError(`${message.replace(/'(--[^']*)'/, '$1')} (valid: ${options.join(', ') || 'none'})`);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help was printed already: asked for (exit 0), or shown because no sub-command was named.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') process.exit(err.exitCode === 0 ? 0 : 2);
    exitOnBadArgs(command, asBenchArgsError(err));
  }
  exitOnBadArgs(command, err);
}
