import type { Metrics } from './metrics.ts';
import { QUERY_KINDS, naturalQueries, querySetOf, type QueryKind } from './query-kinds.ts';
import { EVAL_MODES, EvalSession, type EvalMode, type EvalSessionOptions, type FusionSettings } from './runner.ts';

/**
 * Grid search over fusion settings on the train split, scored on the test split, plus the
 * query-kind check: the default hybrid must not lose to the better single retriever on keyword,
 * natural or paragraph queries.
 */

export interface TuneOptions extends Omit<EvalSessionOptions, 'splits'> {
  trainSplit?: string;
  testSplit?: string;
  grid?: FusionSettings[];
}

export interface GridRow {
  settings: FusionSettings;
  train: Metrics;
}

export interface KindCheck {
  bestSingle: 'dense' | 'bm25';
  /** Default hybrid nDCG@10 minus the better single retriever's. */
  margin: number;
  ok: boolean;
}

export interface TuneReport {
  /** Every grid point on train, best nDCG@10 first. `{}` is the shipped default. */
  grid: GridRow[];
  best: { settings: FusionSettings; train: Metrics; test: Metrics };
  default: { train: Metrics; test: Metrics };
  singles: Record<'dense' | 'bm25', { train: Metrics; test: Metrics }>;
  /** Test split, nDCG@10 and friends per query kind and mode (hybrid = the default settings). */
  queryKinds: Record<QueryKind, Record<EvalMode, Metrics>>;
  checks: Record<QueryKind, KindCheck>;
  settings: { dataset: string; trainSplit: string; testSplit: string; trainQueries: number; testQueries: number; documents: number };
}

/** RRF and convex fusion, with the query-dependent default weights and fixed ones, at three candidate depths. */
export function defaultGrid(): FusionSettings[] {
  const grid: FusionSettings[] = [{}];
  const depths = [100, 200, 500];
  const rrfWeights = [undefined, { dense: 1, bm25: 1 }, { dense: 1, bm25: 1.5 }, { dense: 1.5, bm25: 1 }];
  for (const candidates of depths) {
    for (const k of [20, 60, 100]) for (const weights of rrfWeights) grid.push({ fusion: 'rrf', k, weights, candidates });
    for (const weights of [undefined, { dense: 0.3, bm25: 0.7 }, { dense: 0.5, bm25: 0.5 }, { dense: 0.7, bm25: 0.3 }]) {
      grid.push({ fusion: 'convex', weights, candidates });
    }
  }
  return grid.map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as FusionSettings);
}

export async function runTune(options: TuneOptions, onRow?: (row: GridRow, index: number, total: number) => void): Promise<TuneReport> {
  const trainSplit = options.trainSplit ?? 'train';
  const testSplit = options.testSplit ?? 'test';
  const session = await EvalSession.open({ ...options, splits: [trainSplit, testSplit] });
  try {
    await session.ingestCorpus();
    const train = naturalQueries(session.dataset, trainSplit);
    const test = naturalQueries(session.dataset, testSplit);

    const grid: GridRow[] = [];
    const points = options.grid ?? defaultGrid();
    for (const [i, settings] of points.entries()) {
      const row = { settings, train: (await session.evaluate(train, 'hybrid', settings)).metrics };
      grid.push(row);
      onRow?.(row, i, points.length);
    }
    // Stable sort, and the default comes first in the grid: a tie keeps the default.
    grid.sort((a, b) => b.train.ndcg10 - a.train.ndcg10);
    const best = grid[0]!;
    const defaultTrain = grid.find((r) => !Object.keys(r.settings).length)?.train ?? (await session.evaluate(train, 'hybrid')).metrics;

    const singles = {} as TuneReport['singles'];
    for (const mode of ['dense', 'bm25'] as const) {
      singles[mode] = { train: (await session.evaluate(train, mode)).metrics, test: (await session.evaluate(test, mode)).metrics };
    }

    const queryKinds = {} as TuneReport['queryKinds'];
    const checks = {} as TuneReport['checks'];
    for (const kind of QUERY_KINDS) {
      const set = kind === 'natural' ? test : querySetOf(kind, session.dataset, testSplit);
      const row = {} as Record<EvalMode, Metrics>;
      for (const mode of EVAL_MODES) row[mode] = (await session.evaluate(set, mode)).metrics;
      queryKinds[kind] = row;
      const bestSingle = row.dense.ndcg10 >= row.bm25.ndcg10 ? 'dense' : 'bm25';
      const margin = row.hybrid.ndcg10 - row[bestSingle].ndcg10;
      checks[kind] = { bestSingle, margin, ok: margin >= 0 };
    }

    return {
      grid,
      best: { ...best, test: (await session.evaluate(test, 'hybrid', best.settings)).metrics },
      default: { train: defaultTrain, test: queryKinds.natural.hybrid },
      singles,
      queryKinds,
      checks,
      settings: {
        dataset: session.dataset.name,
        trainSplit,
        testSplit,
        trainQueries: train.qrels.size,
        testQueries: test.qrels.size,
        documents: session.dataset.corpus.length,
      },
    };
  } finally {
    await session.close();
  }
}
