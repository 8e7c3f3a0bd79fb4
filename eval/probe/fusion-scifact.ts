/**
 * Chooses the fusion defaults by measurement. For four kinds of query (SciFact claims, keyword
 * queries derived from them, SQuAD questions, pasted PubMedQA paragraphs) it computes exact dense
 * and BM25 candidate lists once, then scores nDCG@10 for RRF and convex fusion over a grid of k
 * and weights, on the tune split; the chosen settings are then confirmed on the held-out split.
 * Needs the SciFact embedding cache (eval/probe/embed-scifact.ts); embeds and caches the
 * smaller query sets on first run.
 *
 *   npx tsx eval/probe/fusion-scifact.ts [--grid]
 */
import { printTable, writeResults } from '../results.ts';
import { MODELS_DIR } from '../../core/shared-data.ts';
import { LocalEmbedder } from '../../models/embedders/local.ts';
import {
  DEFAULT_CANDIDATES,
  DEFAULT_FUSION,
  DEFAULT_K,
  DEFAULT_WEIGHT_RULE,
  chooseWeights,
  fuse,
  type FusedHit,
  type FusionMethod,
  type WeightRule,
  type Weights,
} from '../../retrieval/fusion.ts';
import type { RankedList } from '../../retrieval/types.ts';
import { denseTop, loadQuerySets, type LabelledQuery, type QuerySet } from './query-sets.ts';
import { tokenize } from '../../retrieval/tokenize.ts';
import { ndcgAtK } from './scifact.ts';

const DEPTH = 200;

interface Prepared {
  set: QuerySet['name'];
  query: LabelledQuery;
  dense: RankedList;
  bm25: RankedList;
}

type Strategy = (p: Prepared, candidates: number) => string[];

const cut = (list: RankedList, n: number): RankedList => ({ ids: list.ids.slice(0, n), scores: list.scores.slice(0, n) });

export function fixed(method: FusionMethod, k: number, weights: Weights): Strategy {
  return (p, n) => fuse(method, cut(p.dense, n), cut(p.bm25, n), { k, weights }).map((h: FusedHit) => h.id);
}

export function adaptive(method: FusionMethod, k: number, rule: WeightRule = DEFAULT_WEIGHT_RULE): Strategy {
  return (p, n) => {
    const dense = cut(p.dense, n);
    const bm25 = cut(p.bm25, n);
    return fuse(method, dense, bm25, { k, weights: chooseWeights(p.query.text, dense, bm25, rule) }).map((h) => h.id);
  };
}

const GAP_ONLY: WeightRule = { ...DEFAULT_WEIGHT_RULE, longQueryTerms: Infinity };
/** The RRF counterpart of the default rule (its per-bucket optimum was 0.5, 0.67, 1, 4). */
const RRF_RULE: WeightRule = {
  ...DEFAULT_WEIGHT_RULE,
  steps: [
    { maxGap: 0.2, bm25PerDense: 0.5 },
    { maxGap: 0.3, bm25PerDense: 0.67 },
    { maxGap: 0.5, bm25PerDense: 1 },
    { maxGap: Infinity, bm25PerDense: 4 },
  ],
};

const SETS: QuerySet['name'][] = ['claims', 'keywords', 'questions', 'paragraphs'];

/** Mean nDCG@10 per set for one split. */
function score(prepared: Prepared[], strategy: Strategy, split: 'tune' | 'confirm', candidates = DEFAULT_CANDIDATES) {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const p of prepared) {
    if (p.query.split !== split) continue;
    const s = sums.get(p.set) ?? { sum: 0, n: 0 };
    s.sum += ndcgAtK(p.query.id, strategy(p, candidates), p.query.relevant);
    s.n += 1;
    sums.set(p.set, s);
  }
  return Object.fromEntries(SETS.map((name) => [name, sums.get(name)!.sum / sums.get(name)!.n])) as Record<QuerySet['name'], number>;
}

export async function prepare(log: (line: string) => void = () => {}): Promise<Prepared[]> {
  const embedder = await LocalEmbedder.load({
    model: 'Xenova/all-MiniLM-L6-v2',
    dtype: 'fp32',
    modelDir: process.env.RAG_MODEL_DIR ?? MODELS_DIR,
    batchSize: 32,
  });
  const sets = await loadQuerySets(embedder, log);
  await embedder.close();
  const prepared: Prepared[] = [];
  for (const set of sets) {
    for (const query of set.queries) {
      const hits = set.bm25.search(query.text, { limit: DEPTH });
      prepared.push({
        set: set.name,
        query,
        dense: denseTop(set, query.vector, DEPTH),
        bm25: { ids: hits.map((h) => h.id), scores: hits.map((h) => h.score) },
      });
    }
  }
  return prepared;
}

const DENSE_ONLY: Strategy = (p, n) => p.dense.ids.slice(0, n);
const BM25_ONLY: Strategy = (p, n) => p.bm25.ids.slice(0, n);

function row(name: string, result: Record<string, number>, best?: Record<string, number>) {
  const r: Record<string, string | number> = { strategy: name };
  for (const s of SETS) r[s] = result[s]!;
  r.mean = SETS.reduce((a, s) => a + result[s]!, 0) / SETS.length;
  if (best) r.worstVsBestSingle = Math.min(...SETS.map((s) => result[s]! - best[s]!));
  return r;
}

/** Per query features a weighting rule could use. */
export function features(p: Prepared) {
  const terms = new Set(tokenize(p.query.text)).size;
  const top = (l: RankedList) => new Set(l.ids.slice(0, 10));
  const d = top(p.dense);
  const overlap = [...top(p.bm25)].filter((id) => d.has(id)).length / 10;
  const s = p.bm25.scores;
  const bm25Gap = s.length > 1 ? (s[0]! - s[Math.min(9, s.length - 1)]!) / s[0]! : 1;
  return { terms, overlap, bm25Gap };
}

const RATIOS = [0.25, 0.33, 0.5, 0.67, 1, 1.5, 2, 3, 4];

/**
 * For each bucket of a feature, the BM25:dense weight ratio with the best tune nDCG@10 (each
 * query set weighted equally within the bucket), for RRF at `k`.
 */
function bestRatioPerBucket(
  prepared: Prepared[],
  feature: (p: Prepared) => number,
  bounds: number[],
  method: FusionMethod,
  k: number,
): { bucket: string; queries: number; best: number; ndcg: number; atOne: number }[] {
  const bucketOf = (v: number) => bounds.findIndex((b) => v <= b);
  const out = [];
  for (let b = 0; b < bounds.length; b++) {
    const members = prepared.filter((p) => p.query.split === 'tune' && bucketOf(feature(p)) === b);
    if (!members.length) continue;
    const scoreAt = (ratio: number) => {
      const perSet = new Map<string, { sum: number; n: number }>();
      const strategy = fixed(method, k, { dense: 1, bm25: ratio });
      for (const p of members) {
        const e = perSet.get(p.set) ?? { sum: 0, n: 0 };
        e.sum += ndcgAtK(p.query.id, strategy(p, DEFAULT_CANDIDATES), p.query.relevant);
        e.n += 1;
        perSet.set(p.set, e);
      }
      return [...perSet.values()].reduce((a, e) => a + e.sum / e.n, 0) / perSet.size;
    };
    let best = 1;
    let bestScore = -1;
    for (const r of RATIOS) {
      const v = scoreAt(r);
      if (v > bestScore + 1e-9) {
        best = r;
        bestScore = v;
      }
    }
    const lo = b === 0 ? '-inf' : String(bounds[b - 1]);
    out.push({ bucket: `(${lo}, ${bounds[b]}]`, queries: members.length, best, ndcg: bestScore, atOne: scoreAt(1) });
  }
  return out;
}

async function main() {
  const grid = process.argv.includes('--grid');
  const prepared = await prepare(console.log);
  const output: Record<string, unknown> = {};

  for (const split of ['tune', 'confirm'] as const) {
    const dense = score(prepared, DENSE_ONLY, split);
    const bm25 = score(prepared, BM25_ONLY, split);
    const best = Object.fromEntries(SETS.map((s) => [s, Math.max(dense[s], bm25[s])]));
    const rows = [row('dense only', dense, best), row('bm25 only', bm25, best)];
    const strategies: [string, Strategy][] = [];
    if (grid) {
      for (const k of [5, 10, 20, 40, 60, 100]) {
        for (const ratio of [0.33, 0.5, 0.67, 1, 1.5, 2, 3]) {
          strategies.push([`rrf k=${k} w_bm25/w_dense=${ratio}`, fixed('rrf', k, { dense: 1, bm25: ratio })]);
        }
      }
      for (const ratio of [0.33, 0.5, 0.67, 1, 1.5, 2, 3]) {
        strategies.push([`convex w_bm25/w_dense=${ratio}`, fixed('convex', 0, { dense: 1, bm25: ratio })]);
      }
    }
    strategies.push(['rrf k=60 1:1 (the common default)', fixed('rrf', 60, { dense: 1, bm25: 1 })]);
    strategies.push(['rrf k=60 gap rule (0.5/0.67/1/4)', adaptive('rrf', 60, RRF_RULE)]);
    strategies.push(['convex 1:1', fixed('convex', 0, { dense: 1, bm25: 1 })]);
    strategies.push(['convex 1.5:1 (best fixed on tune)', fixed('convex', 0, { dense: 1, bm25: 1.5 })]);
    strategies.push(['convex gap rule, no length rule', adaptive('convex', 0, GAP_ONLY)]);
    strategies.push([`DEFAULT: ${DEFAULT_FUSION}, chooseWeights (gap + length rule)`, adaptive(DEFAULT_FUSION, DEFAULT_K)]);
    if (!grid) {
      for (const candidates of [50, 200]) {
        const strategy = adaptive(DEFAULT_FUSION, DEFAULT_K);
        strategies.push([`DEFAULT with ${candidates} candidates`, (p) => strategy(p, candidates)]);
      }
    }
    for (const [name, strategy] of strategies) rows.push(row(name, score(prepared, strategy, split), best));
    const sorted = grid ? [...rows.slice(0, 2), ...rows.slice(2).sort((a, b) => Number(b.mean) - Number(a.mean))] : rows;
    printTable(
      `nDCG@10 on the ${split} split (candidates ${DEFAULT_CANDIDATES} per retriever unless stated)`,
      grid ? sorted.slice(0, 40) : sorted,
    );
    output[split] = sorted;
  }
  if (grid) {
    for (const method of ['rrf', 'convex'] as const) {
      const k = method === 'rrf' ? DEFAULT_K : 0;
      for (const [name, feature, bounds] of [
        ['query terms', (p: Prepared) => features(p).terms, [2, 3, 4, 6, 10, 20, Infinity]],
        ['top-10 overlap', (p: Prepared) => features(p).overlap, [0, 0.1, 0.2, 0.4, 1]],
        ['bm25 top1-top10 gap', (p: Prepared) => features(p).bm25Gap, [0.1, 0.2, 0.3, 0.5, 1]],
      ] as const) {
        const rows = bestRatioPerBucket(prepared, feature, [...bounds], method, k);
        printTable(`${method}${method === 'rrf' ? ` k=${k}` : ''}: best w_bm25/w_dense per bucket of ${name} (tune)`, rows);
        output[`${method}-${name}`] = rows;
      }
    }
  }
  writeResults('fusion-probe', output);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
