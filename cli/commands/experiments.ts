import type { Command } from 'commander';
import { collectionConfigSchema } from '../../answer/collection-config.ts';
import { badRequest } from '../../core/errors.ts';
import { experimentReport, type ExperimentReport } from '../../facade/experiments.ts';
import { ledgerStoreFor } from '../../facade/operations.ts';
import { scoreVariants, type VariantScore } from '../../eval/variants.ts';
import { printJson } from '../context.ts';
import { addCollectionOptions, type CollectionOptions, withConfigs } from './config.ts';
import { cliActor } from './tenancy.ts';

/** `control=50,wider=50` → variants. */
export function parseVariants(value: string): { config: string; percent: number }[] {
  return value.split(',').map((part) => {
    const match = /^\s*([^=\s]+)\s*=\s*(\d{1,3})\s*$/.exec(part);
    if (!match) throw badRequest(`--variants takes config=percent pairs separated by commas, e.g. control=50,wider=50; got "${part}"`);
    return { config: match[1]!, percent: Number(match[2]) };
  });
}

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
const ms = (v: number | null) => (v === null ? '-' : v.toFixed(v < 10 ? 2 : 0));

function print(report: ExperimentReport, offline: VariantScore[] | undefined) {
  const e = report.experiment;
  console.log(`Experiment ${e.name} (${e.state}${e.winner ? `, winner ${e.winner}` : ''}), started ${e.startedAt}\n`);
  console.table(
    Object.fromEntries(
      report.variants.map((v) => [
        v.config,
        {
          share: `${v.percent} %`,
          requests: v.requests,
          'total p50/p95 ms': `${ms(v.latency.totalMs!.p50)} / ${ms(v.latency.totalMs!.p95)}`,
          'generate p50/p95 ms': `${ms(v.latency.generateMs!.p50)} / ${ms(v.latency.generateMs!.p95)}`,
          tokens: v.tokensIn + v.tokensOut,
          costUsd: v.costUsd.toFixed(6),
          answered: pct(v.outcomes.answered),
          notCovered: pct(v.outcomes.notCovered),
          fallback: pct(v.outcomes.fallback),
          'up-rate (95 % CI)': v.feedback.rated
            ? `${pct(v.feedback.upRate)} (${pct(v.feedback.interval95!.low)}–${pct(v.feedback.interval95!.high)}) of ${v.feedback.rated}`
            : '-',
          'vs first: p': v.versusFirst ? v.versusFirst.pValue.toFixed(4) : '-',
          ...(offline ? { 'nDCG@10': offline.find((o) => o.config === v.config)?.ndcg10.toFixed(4) ?? '-' } : {}),
        },
      ]),
    ),
  );
  console.log('Latency per stage is in --json (p50/p95 of every stage, cache misses only).');
}

/** `ragline experiments start|stop|list|report`: traffic split between configs (docs/experiments.md). */
export function registerExperimentCommands(program: Command) {
  const experiments = program.command('experiments').description('Split traffic between configs and compare them on real outcomes.');

  addCollectionOptions(experiments.command('start').description('Start an experiment (audited).').argument('<name>'))
    .requiredOption('--variants <config=percent,…>', 'e.g. control=50,wider=50 (percents add up to 100; the first is the baseline)')
    .action(async (name: string, opts: CollectionOptions & { variants: string }) => {
      const variants = parseVariants(opts.variants);
      await withConfigs(opts, async (configs, collection) => {
        const started = await configs.startExperiment(cliActor(opts.tenant), collection, name, variants);
        if (opts.json) return printJson(started);
        console.log(`experiment ${name} running on ${collection.name}: ${variants.map((v) => `${v.config} ${v.percent} %`).join(', ')}`);
      });
    });

  addCollectionOptions(
    experiments.command('stop').description('Stop it; the winner becomes the active config (audited).').argument('<name>'),
  )
    .requiredOption('--winner <config>', 'the variant that gets all traffic from now on')
    .action(async (name: string, opts: CollectionOptions & { winner: string }) => {
      await withConfigs(opts, async (configs, collection) => {
        const stopped = await configs.stopExperiment(cliActor(opts.tenant), collection, name, opts.winner);
        if (opts.json) return printJson(stopped);
        console.log(`experiment ${name} stopped; ${opts.winner} is now active on ${collection.name}`);
      });
    });

  addCollectionOptions(experiments.command('list').description("The collection's experiments.")).action(async (opts: CollectionOptions) => {
    await withConfigs(opts, async (configs, collection) => {
      const list = await configs.store.listExperiments(collection.id);
      if (opts.json) return printJson({ experiments: list });
      for (const e of list)
        console.log(`${e.name}  ${e.state}  ${e.variants.map((v) => `${v.config}=${v.percent}`).join(',')}  ${e.winner ?? ''}`);
    });
  });

  addCollectionOptions(
    experiments.command('report').description('Per variant: requests, latency, cost, outcomes, feedback and its test.').argument('<name>'),
  )
    .option('--dataset <beir dir>', "also score each variant's retrieval settings offline (nDCG@10) on a BEIR dataset")
    .option('--split <split>', 'the BEIR split to score', 'test')
    .option('--limit <documents>', 'score on a slice of this many documents', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw badRequest('--limit takes a positive integer');
      return n;
    })
    .action(async (name: string, opts: CollectionOptions & { dataset?: string; split: string; limit?: number }) => {
      await withConfigs(opts, async (configs, collection, ragline) => {
        const experiment = await configs.experiment(collection, name);
        const report = await experimentReport(ledgerStoreFor(ragline.store), experiment);
        let offline: VariantScore[] | undefined;
        if (opts.dataset) {
          const variants = [];
          for (const v of experiment.variants) {
            const version = await configs.show(collection, v.config);
            variants.push({ config: v.config, settings: collectionConfigSchema.parse(version.settings) });
          }
          offline = await scoreVariants({ config: ragline.config, dataset: opts.dataset, split: opts.split, limit: opts.limit, variants });
        }
        if (opts.json) return printJson({ ...report, ...(offline ? { offline } : {}) });
        print(report, offline);
      });
    });
}
