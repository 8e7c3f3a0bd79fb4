import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { RaglineError, badRequest } from '../../core/errors.ts';
import { DATASETS_DIR } from '../../core/shared-data.ts';
import { consoleProgress } from '../../eval/progress.ts';
import { describeFusion, fmt, modesTable, parseFusionOptions, table, writeJson } from '../../eval/report.ts';
import { EVAL_MODES, runEvaluation, type EvalMode, type EvalReport } from '../../eval/runner.ts';
import { QUERY_KINDS } from '../../eval/query-kinds.ts';
import { qaOptionsSchema, runQaCommand } from './eval-qa.ts';

const optionsSchema = z.object({
  dataset: z.string({ error: 'is required (or use --qa with --collection)' }).min(1),
  split: z.string().min(1),
  mode: z.enum(['dense', 'bm25', 'hybrid', 'all']),
  limit: z.coerce.number().int().min(1).optional(),
  seed: z.coerce.number().int().optional(),
  json: z.string().min(1).optional(),
  queryKinds: z.boolean().optional(),
  wholeDocuments: z.boolean().optional(),
});

/** A folder path, or the name of a dataset in ../shared/datasets (e.g. "scifact"). */
export function resolveDataset(arg: string): string {
  if (fs.existsSync(arg) || arg.includes('/') || arg.includes(path.sep)) return path.resolve(arg);
  const shared = path.join(DATASETS_DIR, arg);
  return fs.existsSync(shared) ? shared : path.resolve(arg);
}

/** Commander's parsed options checked against `schema`; the first problem is a usage error naming its option. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: Record<string, unknown>): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(`--${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** A missing dataset is a usage error (exit 2) with the path in the message. */
export async function exitOnMissingDataset(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof RaglineError && err.code === 'dataset_missing') {
      console.error(`ragline: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

export function printReport(report: EvalReport): void {
  const s = report.settings;
  const slice = s.limit ? ` (slice of ${s.limit}, seed ${s.seed})` : '';
  console.log(`\n${s.dataset} ${s.split}: ${s.queries} queries, ${s.documents} documents${slice}, ${s.chunks} chunks, ${s.model}`);
  console.log(`hybrid settings: ${describeFusion(s.requested)}; top ${s.topK} chunks per query, mapped to documents\n`);
  console.log(modesTable(report.results));
  if (report.queryKinds) {
    const modes = EVAL_MODES.filter((m) => report.results[m]);
    console.log('\nnDCG@10 by query kind');
    console.log(
      table(
        ['kind', ...modes],
        QUERY_KINDS.map((kind) => [kind, ...modes.map((m) => fmt(report.queryKinds?.[kind]?.[m]?.ndcg10))]),
      ),
    );
  }
  const used = s.used.hybrid;
  if (used) {
    const weights = Object.entries(used.weights ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([w, n]) => `${w} ×${n}`)
      .join(', ');
    console.log(`\nhybrid used: ${used.fusion} k=${used.k} candidates=${used.candidates}; weights (dense,bm25): ${weights}`);
  }
  const docs = EVAL_MODES.flatMap((m) => (s.used[m] ? [`${m} ${s.used[m].meanDocuments.toFixed(1)}`] : []));
  console.log(`distinct documents in the top ${s.topK} chunks, per query: ${docs.join(', ')}`);
  console.log(
    `embeddings: ${s.embedding.embedded} computed, ${s.embedding.fromCache} from cache; ${s.seconds.toFixed(1)} s; collection ${s.collection}`,
  );
}

export function register(program: Command): void {
  program
    .command('eval')
    .description(
      'Evaluate retrieval on a BEIR dataset (nDCG@10, Recall@10/100, MRR@10 for dense, BM25 and hybrid), ' +
        'or with --qa on your own questions over an ingested collection (page-level hit@k, MRR@10, answer containment, refusals).',
    )
    .option('--dataset <folder>', 'BEIR folder (corpus.jsonl, queries.jsonl, qrels/), or a name under ../shared/datasets')
    .option('--qa <questions.jsonl>', 'questions with expected sources and pages (the pdf-qa format); needs --collection')
    .option('--collection <name>', 'with --qa: the already-ingested collection to question')
    .option('--split <name>', 'qrels split to evaluate', 'test')
    .option('--mode <mode>', 'dense | bm25 | hybrid | all', 'all')
    .option('--fusion <fusion>', 'hybrid fusion: rrf | convex (default: the tuned default)')
    .option('--k <n>', 'RRF constant')
    .option('--weights <dense,bm25>', 'retriever weights, e.g. 1,0.5 (default: query-dependent)')
    .option('--candidates <n>', 'candidates per retriever (at least 100 are needed for Recall@100)')
    .option('--limit <n>', 'keep only n documents: the judged ones of a seeded set of queries plus random fillers')
    .option('--seed <n>', 'seed for --limit', '42')
    .option('--query-kinds', 'also score keyword, natural and paragraph queries separately')
    .option('--whole-documents', "BEIR's protocol instead of the pipeline: one passage per document, cut at the model's limit")
    .option('--json <file>', 'write the results and settings as JSON')
    .action(async (raw: Record<string, unknown>) => {
      if (raw.qa !== undefined || raw.collection !== undefined) {
        await exitOnMissingDataset(() => runQaCommand(parseOptions(qaOptionsSchema, raw)));
        return;
      }
      const opts = parseOptions(optionsSchema, raw);
      const fusion = parseFusionOptions(raw);
      const modes: readonly EvalMode[] = opts.mode === 'all' ? EVAL_MODES : [opts.mode];
      await exitOnMissingDataset(async () => {
        const report = await runEvaluation({
          config: loadConfig(),
          dataset: resolveDataset(opts.dataset),
          split: opts.split,
          modes,
          fusion,
          limit: opts.limit,
          seed: opts.seed,
          queryKinds: opts.queryKinds,
          wholeDocuments: opts.wholeDocuments,
          progress: consoleProgress(),
        });
        printReport(report);
        if (opts.json) {
          writeJson(opts.json, report);
          console.log(`wrote ${opts.json}`);
        }
      });
    });
}
