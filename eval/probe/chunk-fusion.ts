/**
 * Why a chunking strategy's hybrid score moves when its dense and BM25 scores do not: reads each
 * query's dense and BM25 chunk lists once from an eval collection (the one `ragline eval` builds
 * with the same settings), then replays fusion offline over a small set of variants, and prints the
 * cosine scale of the dense lists (a strategy whose pooled vectors sit on another scale meets the
 * same min-max normalisation with a different spread).
 *
 *   RAGLINE_CHUNK_STRATEGY=late npx tsx eval/probe/chunk-fusion.ts --dataset scifact --split train [--limit N --seed S] [--json out.json]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { DATASETS_DIR } from '../../core/shared-data.ts';
import { DEFAULT_K, DEFAULT_WEIGHT_RULE, chooseWeights, fuse, type WeightRule, type Weights } from '../../retrieval/fusion.ts';
import type { RankedList } from '../../retrieval/types.ts';
import { evaluateRun, type Run } from '../metrics.ts';
import { naturalQueries, type QuerySet } from '../query-kinds.ts';
import { fmt, table, writeJson } from '../report.ts';
import { EVAL_TOP_K, EvalSession } from '../runner.ts';
import path from 'node:path';

export interface QueryLists {
  id: string;
  text: string;
  dense: RankedList;
  bm25: RankedList;
  /** chunk id → document id */
  source: Map<string, string>;
}

export type Variant = (q: QueryLists) => string[];

const toDocuments = (q: QueryLists, chunkIds: string[]) => [...new Set(chunkIds.map((id) => q.source.get(id)!))];

/** Fusion at the chunk level, as the searcher does, with the weights chosen per query. */
export function chunkFusion(method: 'convex' | 'rrf', weightsOf: (q: QueryLists) => Weights): Variant {
  return (q) =>
    toDocuments(
      q,
      fuse(method, q.dense, q.bm25, { k: DEFAULT_K, weights: weightsOf(q) }).map((h) => h.id),
    );
}

/** Each list first reduced to its documents' best chunks, then fused: one vote per document per retriever. */
export function documentFusion(method: 'convex' | 'rrf', weightsOf: (q: QueryLists) => Weights): Variant {
  return (q) => {
    const best = (list: RankedList): RankedList => {
      const seen = new Set<string>();
      const out: RankedList = { ids: [], scores: [] };
      list.ids.forEach((id, i) => {
        const doc = q.source.get(id)!;
        if (seen.has(doc)) return;
        seen.add(doc);
        out.ids.push(doc);
        out.scores.push(list.scores[i]!);
      });
      return out;
    };
    return fuse(method, best(q.dense), best(q.bm25), { k: DEFAULT_K, weights: weightsOf(q) }).map((h) => h.id);
  };
}

const adaptive =
  (rule: WeightRule = DEFAULT_WEIGHT_RULE) =>
  (q: QueryLists) =>
    chooseWeights(q.text, q.dense, q.bm25, rule);

/** The default rule with every BM25:dense ratio scaled by `factor`. */
export function scaledRule(factor: number): WeightRule {
  return {
    ...DEFAULT_WEIGHT_RULE,
    steps: DEFAULT_WEIGHT_RULE.steps.map((s) => ({ ...s, bm25PerDense: s.bm25PerDense * factor })),
    longRatio: DEFAULT_WEIGHT_RULE.longRatio * factor,
  };
}

export function variants(): Record<string, Variant> {
  const out: Record<string, Variant> = {
    'default (convex, adaptive)': chunkFusion('convex', adaptive()),
    'convex 0.5/0.5': chunkFusion('convex', () => ({ dense: 0.5, bm25: 0.5 })),
    'convex 0.6/0.4': chunkFusion('convex', () => ({ dense: 0.6, bm25: 0.4 })),
    'convex 0.4/0.6': chunkFusion('convex', () => ({ dense: 0.4, bm25: 0.6 })),
    'rrf 1:1': chunkFusion('rrf', () => ({ dense: 1, bm25: 1 })),
    'documents: convex, adaptive': documentFusion('convex', adaptive()),
    'documents: rrf 1:1': documentFusion('rrf', () => ({ dense: 1, bm25: 1 })),
  };
  for (const f of [0.6, 0.8, 1.25, 1.5]) out[`convex, adaptive × ${f} bm25`] = chunkFusion('convex', adaptive(scaledRule(f)));
  return out;
}

export async function readLists(session: EvalSession, set: QuerySet): Promise<QueryLists[]> {
  await session.embedQueries(set);
  const out: QueryLists[] = [];
  for (const query of set.queries) {
    const source = new Map<string, string>();
    const list = async (mode: 'dense' | 'bm25'): Promise<RankedList> => {
      const response = await session.ragline.search(
        session.collection,
        { query: query.text, mode, topK: EVAL_TOP_K },
        { queryVector: mode === 'dense' ? session.queryVector(query.text) : undefined },
      );
      for (const hit of response.hits) source.set(hit.chunk.id, hit.chunk.source);
      return { ids: response.hits.map((h) => h.chunk.id), scores: response.hits.map((h) => h.score) };
    };
    out.push({ id: query.id, text: query.text, dense: await list('dense'), bm25: await list('bm25'), source });
  }
  return out;
}

/** Mean dense similarity at ranks 1, 10 and 100, and the mean spread top-1 − top-100 that min-max divides by. */
export function cosineScale(lists: QueryLists[]) {
  const at = (r: number) => lists.reduce((s, q) => s + (q.dense.scores[Math.min(r, q.dense.scores.length) - 1] ?? 0), 0) / lists.length;
  const docs = lists.reduce((s, q) => s + new Set(q.dense.ids.map((id) => q.source.get(id))).size, 0) / lists.length;
  return { top1: at(1), top10: at(10), top100: at(100), spread: at(1) - at(100), distinctDocumentsInDense100: docs };
}

async function main() {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string', default: 'scifact' },
      split: { type: 'string', default: 'train' },
      limit: { type: 'string' },
      seed: { type: 'string', default: '42' },
      json: { type: 'string' },
    },
  });
  const config = loadConfig();
  const dataset = values.dataset!.includes('/') ? path.resolve(values.dataset!) : path.join(DATASETS_DIR, values.dataset!);
  const session = await EvalSession.open({
    config,
    dataset,
    splits: [values.split!],
    limit: values.limit ? Number(values.limit) : undefined,
    seed: Number(values.seed),
  });
  try {
    const ingest = await session.ingestCorpus();
    const set = naturalQueries(session.dataset, values.split!);
    const lists = await readLists(session, set);
    const rows: Record<string, ReturnType<typeof evaluateRun>['mean']> = {};
    for (const [name, variant] of Object.entries(variants())) {
      const run: Run = new Map(lists.map((q) => [q.id, variant(q)]));
      rows[name] = evaluateRun(run, set.qrels, { excludeSelf: set.excludeSelf }).mean;
    }
    const single = (pick: (q: QueryLists) => RankedList) =>
      evaluateRun(new Map(lists.map((q) => [q.id, toDocuments(q, pick(q).ids)])), set.qrels, { excludeSelf: set.excludeSelf }).mean;
    rows.dense = single((q) => q.dense);
    rows.bm25 = single((q) => q.bm25);
    const scale = cosineScale(lists);
    console.log(
      `\n${session.dataset.name} ${values.split}: ${set.queries.length} queries, ${ingest.chunks} chunks, strategy ${config.chunking.strategy}`,
    );
    console.log(
      table(
        ['run', 'nDCG@10', 'Recall@100'],
        Object.entries(rows).map(([name, m]) => [name, fmt(m.ndcg10), fmt(m.recall100)]),
      ),
    );
    console.log(
      `dense similarity: top-1 ${fmt(scale.top1)}, top-10 ${fmt(scale.top10)}, top-100 ${fmt(scale.top100)}, spread ${fmt(scale.spread)}; distinct documents in the dense top 100: ${scale.distinctDocumentsInDense100.toFixed(1)}`,
    );
    if (values.json)
      writeJson(values.json, { strategy: config.chunking.strategy, split: values.split, chunks: ingest.chunks, rows, scale });
  } finally {
    await session.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
