import type { CollectionConfig } from '../answer/collection-config.ts';
import type { Config } from '../core/config.ts';
import type { Progress } from './progress.ts';
import { naturalQueries } from './query-kinds.ts';
import { EVAL_TOP_K, EvalSession, type EvalMode, type FusionSettings } from './runner.ts';

export interface VariantScore {
  config: string;
  mode: EvalMode;
  ndcg10: number;
  recall100: number;
  queries: number;
}

/**
 * The offline score of each variant's retrieval settings on a BEIR dataset, through the same
 * evaluation session as `ragline eval` (one ingest, every variant scored on the same queries).
 * topK and recency do not apply: BEIR is scored on the top 100 documents, and has no dates.
 */
export async function scoreVariants(options: {
  config: Config;
  dataset: string;
  split?: string;
  limit?: number;
  variants: { config: string; settings: CollectionConfig }[];
  progress?: Progress;
}): Promise<VariantScore[]> {
  const split = options.split ?? 'test';
  const session = await EvalSession.open({
    config: options.config,
    dataset: options.dataset,
    splits: [split],
    limit: options.limit,
    progress: options.progress,
  });
  try {
    await session.ingestCorpus();
    const queries = naturalQueries(session.dataset, split);
    const scores: VariantScore[] = [];
    for (const v of options.variants) {
      const r = v.settings.retrieval;
      const mode = r.mode ?? 'hybrid';
      // Each retriever must supply at least the scored depth.
      const candidates = Math.max(r.candidates ?? EVAL_TOP_K, EVAL_TOP_K);
      const fusion: FusionSettings =
        mode === 'hybrid'
          ? { fusion: r.fusion, k: r.k, weights: r.weights === 'query-dependent' ? undefined : r.weights, candidates }
          : { candidates };
      const { metrics } = await session.evaluate(queries, mode, fusion);
      scores.push({ config: v.config, mode, ndcg10: metrics.ndcg10, recall100: metrics.recall100, queries: queries.qrels.size });
    }
    return scores;
  } finally {
    await session.close();
  }
}
