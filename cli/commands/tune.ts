import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { METRIC_NAMES, type Metrics } from '../../eval/metrics.ts';
import { consoleProgress } from '../../eval/progress.ts';
import { QUERY_KINDS } from '../../eval/query-kinds.ts';
import { METRIC_LABELS, describeFusion, fmt, table, writeJson } from '../../eval/report.ts';
import { runTune, type TuneReport } from '../../eval/tune.ts';
import { runDocumentTune, type DocumentTuneReport } from '../../eval/document-tune.ts';
import { exitOnMissingDataset, parseOptions, resolveDataset } from './eval.ts';

const optionsSchema = z.object({
  dataset: z.string().min(1),
  trainSplit: z.string().min(1),
  testSplit: z.string().min(1),
  limit: z.coerce.number().int().min(1).optional(),
  seed: z.coerce.number().int().optional(),
  top: z.coerce.number().int().min(1),
  json: z.string().min(1).optional(),
  documentEvidence: z.boolean().optional(),
});

const metricsRow = (label: string, m: Metrics) => [label, ...METRIC_NAMES.map((n) => fmt(m[n]))];

export function printTune(report: TuneReport, top: number): void {
  const s = report.settings;
  console.log(
    `\n${s.dataset}: tuned on ${s.trainSplit} (${s.trainQueries} queries), scored on ${s.testSplit} (${s.testQueries}), ${s.documents} documents`,
  );
  console.log(`\nBest ${Math.min(top, report.grid.length)} of ${report.grid.length} hybrid settings on ${s.trainSplit} (nDCG@10):`);
  console.log(
    table(
      ['settings', 'nDCG@10', 'Recall@100'],
      report.grid.slice(0, top).map((r) => [describeFusion(r.settings), fmt(r.train.ndcg10), fmt(r.train.recall100)]),
    ),
  );
  console.log(`\n${s.testSplit} split:`);
  console.log(
    table(
      ['run', ...METRIC_NAMES.map((n) => METRIC_LABELS[n])],
      [
        metricsRow(`best: ${describeFusion(report.best.settings)}`, report.best.test),
        metricsRow('default hybrid', report.default.test),
        metricsRow('dense', report.singles.dense.test),
        metricsRow('bm25', report.singles.bm25.test),
      ],
    ),
  );
  console.log(`\nnDCG@10 by query kind (${s.testSplit}; hybrid = default settings):`);
  console.log(
    table(
      ['kind', 'dense', 'bm25', 'hybrid', 'hybrid − best single', 'ok'],
      QUERY_KINDS.map((kind) => {
        const row = report.queryKinds[kind];
        const check = report.checks[kind];
        const margin = `${check.margin >= 0 ? '+' : ''}${check.margin.toFixed(4)} vs ${check.bestSingle}`;
        return [kind, fmt(row.dense.ndcg10), fmt(row.bm25.ndcg10), fmt(row.hybrid.ndcg10), margin, check.ok ? 'yes' : 'NO'];
      }),
    ),
  );
  const failed = QUERY_KINDS.filter((k) => !report.checks[k].ok);
  if (failed.length) console.log(`\nThe default hybrid loses to the better single retriever on: ${failed.join(', ')}.`);
}

const describePoint = (p: DocumentTuneReport['best']['point']) =>
  p.weight === 0 && p.candidates === 0 ? 'chunks alone' : `${p.pooling} β=${p.weight} documents=${p.candidates}`;

export function printDocumentTune(report: DocumentTuneReport): void {
  const names = report.corpora.map((c) => c.name);
  for (const c of report.corpora) {
    console.log(
      `${c.name}: ${c.documents} documents, train split halves ${c.trainQueries} / ${c.testQueries} queries; first windows embedded: ${c.firstWindowsEmbedded}`,
    );
  }
  console.log(
    '\nnDCG@10 (train half → held-out half of each train split), dense and default hybrid, per corpus; chosen on the mean train-half hybrid:',
  );
  console.log(
    table(
      ['document evidence', ...names.flatMap((n) => [`${n} dense`, `${n} hybrid`]), 'mean train hybrid', 'mean test hybrid'],
      report.rows.map((r) => [
        `${r === report.best ? '* ' : ''}${describePoint(r.point)}`,
        ...names.flatMap((n) =>
          (['dense', 'hybrid'] as const).map((m) => `${fmt(r.corpora[n]?.train[m].ndcg10)} → ${fmt(r.corpora[n]?.test[m].ndcg10)}`),
        ),
        fmt(r.meanTrain.hybrid),
        fmt(r.meanTest.hybrid),
      ]),
    ),
  );
  console.log(`\nbm25: ${names.map((n) => `${n} ${fmt(report.bm25[n]?.train.ndcg10)} → ${fmt(report.bm25[n]?.test.ndcg10)}`).join('; ')}`);
  console.log(`best on train: ${describePoint(report.best.point)}`);
}

export function register(program: Command): void {
  program
    .command('tune')
    .description('Grid-search hybrid fusion settings on the train split, report the best and the default on the test split.')
    .requiredOption(
      '--dataset <folder>',
      'BEIR folder, or a name under ../shared/datasets; with --document-evidence, a comma-separated list',
    )
    .option(
      '--document-evidence',
      'tune document vectors (pooling, weight, document candidates) on the train splits of all the datasets together',
    )
    .option('--train-split <name>', 'split to tune on', 'train')
    .option('--test-split <name>', 'split to report', 'test')
    .option('--limit <n>', 'keep only n documents (a consistent, seeded slice)')
    .option('--seed <n>', 'seed for --limit', '42')
    .option('--top <n>', 'grid rows to print', '10')
    .option('--json <file>', 'write the full report as JSON')
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(optionsSchema, raw);
      const progress = consoleProgress();
      if (opts.documentEvidence) {
        await exitOnMissingDataset(async () => {
          const corpora = opts.dataset.split(',').map((d) => ({ dataset: resolveDataset(d.trim()), limit: opts.limit, seed: opts.seed }));
          const report = await runDocumentTune({ config: loadConfig(), corpora, progress }, (name) => console.error(`sweeping ${name}`));
          printDocumentTune(report);
          if (opts.json) {
            writeJson(opts.json, report);
            console.log(`wrote ${opts.json}`);
          }
        });
        return;
      }
      await exitOnMissingDataset(async () => {
        const report = await runTune(
          {
            config: loadConfig(),
            dataset: resolveDataset(opts.dataset),
            trainSplit: opts.trainSplit,
            testSplit: opts.testSplit,
            limit: opts.limit,
            seed: opts.seed,
            progress,
          },
          (row, i, total) => console.error(`[${i + 1}/${total}] ${describeFusion(row.settings)}: nDCG@10 ${fmt(row.train.ndcg10)}`),
        );
        printTune(report, opts.top);
        if (opts.json) {
          writeJson(opts.json, report);
          console.log(`wrote ${opts.json}`);
        }
      });
    });
}
