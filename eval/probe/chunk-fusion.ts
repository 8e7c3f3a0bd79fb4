/**
 * Why a chunking strategy's hybrid score moves when its dense and BM25 scores do not: reads each
 * query's dense and BM25 chunk lists once from an eval collection (the one `ragline eval` builds
 * with the same settings), then replays fusion offline over a small set of variants, and prints the
 * cosine scale of the dense lists (a strategy whose pooled vectors sit on another scale meets the
 * same min-max normalisation with a different spread).
 *
 * With --frame-weights (late only), the chunk vectors are pooled again from the cached window token
 * vectors (eval's CachingEmbedder keeps them) at each frame weight, and the dense lists searched
 * exactly in memory; the cuts, hence the BM25 lists, do not depend on the frame weight.
 *
 *   RAGLINE_CHUNK_STRATEGY=late npx tsx eval/probe/chunk-fusion.ts --dataset scifact --split train [--limit N --seed S]
 *     [--frame-weights 0,1,2] [--document-weights 0.25,0.5,1] [--json out.json]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { DATASETS_DIR } from '../../core/shared-data.ts';
import { DEFAULT_K, DEFAULT_WEIGHT_RULE, chooseWeights, fuse, type WeightRule, type Weights } from '../../retrieval/fusion.ts';
import { fuseByDocument } from '../../retrieval/document-fusion.ts';
import type { RankedList } from '../../retrieval/types.ts';
import { evaluateRun, type Run } from '../metrics.ts';
import { naturalQueries, type QuerySet } from '../query-kinds.ts';
import { fmt, table, writeJson } from '../report.ts';
import { EVAL_TOP_K, EvalSession } from '../runner.ts';
import path from 'node:path';
import { dot } from '../../core/vectors.ts';
import { contextualText, createChunker } from '../../ingest/chunkers/index.ts';
import { loadDocument } from '../../ingest/loaders/index.ts';

export interface QueryLists {
  id: string;
  text: string;
  dense: RankedList;
  bm25: RankedList;
  /** chunk id → document id */
  source: Map<string, string>;
  /** chunk id → "source#ordinal" */
  key?: Map<string, string>;
  vector?: Float32Array;
}

export type Variant = (q: QueryLists) => string[];

const toDocuments = (q: QueryLists, chunkIds: string[]) => [...new Set(chunkIds.map((id) => q.source.get(id)!))];

/** Fusion at the chunk level, as the searcher does, with the weights chosen per query. */
/** The first `n` of a list (the searcher's candidate depth; the stored lists hold 100, re-pooled ones more). */
const cut = (list: RankedList, n: number): RankedList => ({ ids: list.ids.slice(0, n), scores: list.scores.slice(0, n) });

export function chunkFusion(method: 'convex' | 'rrf', weightsOf: (q: QueryLists) => Weights, denseDepth = EVAL_TOP_K): Variant {
  return (q) =>
    toDocuments(
      q,
      fuse(method, cut(q.dense, denseDepth), q.bm25, { k: DEFAULT_K, weights: weightsOf(q) }).map((h) => h.id),
    );
}

/** Each list first reduced to its documents' best chunks, then fused: one vote per document per retriever. */
export function documentFusion(method: 'convex' | 'rrf', weightsOf: (q: QueryLists) => Weights, denseDepth = EVAL_TOP_K): Variant {
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
    return fuse(method, cut(best(cut(q.dense, denseDepth)), EVAL_TOP_K), best(q.bm25), { k: DEFAULT_K, weights: weightsOf(q) }).map(
      (h) => h.id,
    );
  };
}

/** Chunk lists fused over their distinct documents (retrieval/document-fusion.ts): every chunk kept. */
export function documentDistinctChunks(method: 'convex' | 'rrf', weightsOf: (q: QueryLists) => Weights) {
  return (q: QueryLists): string[] => {
    const withDocuments = (list: RankedList): RankedList => ({ ...list, documents: list.ids.map((id) => q.source.get(id)!) });
    return fuseByDocument(method, withDocuments(q.dense), withDocuments(q.bm25), { k: DEFAULT_K, weights: weightsOf(q) }).map((h) => h.id);
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
    'document-distinct chunks: convex, adaptive': (q) => toDocuments(q, documentDistinctChunks('convex', adaptive())(q)),
    'document-distinct chunks: rrf 1:1': (q) => toDocuments(q, documentDistinctChunks('rrf', () => ({ dense: 1, bm25: 1 }))(q)),
  };
  for (const f of [0.6, 0.8, 1.25, 1.5]) out[`convex, adaptive × ${f} bm25`] = chunkFusion('convex', adaptive(scaledRule(f)));
  // Deeper dense lists exist only for re-pooled vectors (exact search); on the stored lists these equal depth 100.
  for (const depth of [200, 300]) {
    out[`convex, adaptive, dense depth ${depth}`] = chunkFusion('convex', adaptive(), depth);
    out[`documents: convex, adaptive, dense depth ${depth}`] = documentFusion('convex', adaptive(), depth);
  }
  return out;
}

export async function readLists(session: EvalSession, set: QuerySet, documentWeight?: number): Promise<QueryLists[]> {
  await session.embedQueries(set);
  const out: QueryLists[] = [];
  for (const query of set.queries) {
    const source = new Map<string, string>();
    const key = new Map<string, string>();
    const list = async (mode: 'dense' | 'bm25'): Promise<RankedList> => {
      const response = await session.ragline.search(
        session.collection,
        { query: query.text, mode, topK: EVAL_TOP_K },
        {
          queryVector: mode === 'dense' ? session.queryVector(query.text) : undefined,
          ...(documentWeight === undefined ? {} : { documentEvidence: { weight: documentWeight, candidates: 0 } }),
        },
      );
      for (const hit of response.hits) {
        source.set(hit.chunk.id, hit.chunk.source);
        key.set(hit.chunk.id, `${hit.chunk.source}#${hit.chunk.ordinal}`);
      }
      return { ids: response.hits.map((h) => h.chunk.id), scores: response.hits.map((h) => h.score) };
    };
    const dense = await list('dense');
    const bm25 = await list('bm25');
    out.push({ id: query.id, text: query.text, dense, bm25, source, key, vector: session.queryVector(query.text) });
  }
  return out;
}

/** Mean dense similarity at ranks 1, 10 and 100, and the mean spread top-1 − top-100 that min-max divides by. */
export function cosineScale(lists: QueryLists[]) {
  const at = (r: number) => lists.reduce((s, q) => s + (q.dense.scores[Math.min(r, q.dense.scores.length) - 1] ?? 0), 0) / lists.length;
  const docs = lists.reduce((s, q) => s + new Set(q.dense.ids.slice(0, EVAL_TOP_K).map((id) => q.source.get(id))).size, 0) / lists.length;
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
      'frame-weights': { type: 'string' },
      alone: { type: 'string' },
      'document-weights': { type: 'string' },
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
    const stored = await readLists(session, set);
    const weights = values['frame-weights'] ? values['frame-weights'].split(',').map(Number) : [];
    const pools = [{ name: '', lists: stored }];
    for (const w of weights)
      pools.push({ name: `frame ${w}: `, lists: withDenseFrom(stored, await repooled(session, config.chunking, w)) });
    // Document evidence: the dense lists read again with β × document similarity added (the collection's stored vectors).
    for (const beta of values['document-weights']?.split(',').map(Number) ?? [])
      pools.push({ name: `document β ${beta}: `, lists: await readLists(session, set, beta) });
    for (const { name: prefix, lists } of pools) report(prefix, lists, set, ingest.chunks, config.chunking.strategy, values);
    if (values.alone) console.log(await scaleCheck(session, set, config.chunking, Number(values.alone)));
  } finally {
    await session.close();
  }
}

function report(
  prefix: string,
  lists: QueryLists[],
  set: QuerySet,
  chunks: number,
  strategy: string,
  values: { split?: string; json?: string },
) {
  const rows: Record<string, ReturnType<typeof evaluateRun>['mean']> = {};
  // Per query nDCG@10, so two strategies' runs over the same queries can be compared pairwise.
  const perQuery: Record<string, Record<string, number>> = {};
  const score = (name: string, run: Run) => {
    const evaluation = evaluateRun(run, set.qrels, { excludeSelf: set.excludeSelf });
    rows[name] = evaluation.mean;
    perQuery[name] = Object.fromEntries([...evaluation.perQuery].map(([id, m]) => [id, m.ndcg10]));
  };
  for (const [name, variant] of Object.entries(variants())) score(name, new Map(lists.map((q) => [q.id, variant(q)])));
  score('dense', new Map(lists.map((q) => [q.id, toDocuments(q, q.dense.ids.slice(0, EVAL_TOP_K))])));
  score('bm25', new Map(lists.map((q) => [q.id, toDocuments(q, q.bm25.ids)])));
  const scale = cosineScale(lists);
  console.log(`\n${prefix}${set.name} ${values.split}: ${set.queries.length} queries, ${chunks} chunks, strategy ${strategy}`);
  console.log(
    table(
      ['run', 'nDCG@10', 'Recall@100'],
      Object.entries(rows).map(([name, m]) => [name, fmt(m.ndcg10), fmt(m.recall100)]),
    ),
  );
  // What a search returns: distinct documents among the first 10 chunks (10 = one document per chunk).
  const top10Documents = (fused: (q: QueryLists) => string[]) =>
    lists.reduce(
      (s, q) =>
        s +
        new Set(
          fused(q)
            .slice(0, 10)
            .map((id) => q.source.get(id)),
        ).size,
      0,
    ) / lists.length;
  const chunkDefault = (q: QueryLists) => fuse('convex', q.dense, q.bm25, { k: DEFAULT_K, weights: adaptive()(q) }).map((h) => h.id);
  console.log(
    `distinct documents in the top 10 chunks: chunk fusion ${top10Documents(chunkDefault).toFixed(2)}, document-distinct ${top10Documents(documentDistinctChunks('convex', adaptive())).toFixed(2)}`,
  );
  console.log(
    `dense similarity: top-1 ${fmt(scale.top1)}, top-10 ${fmt(scale.top10)}, top-100 ${fmt(scale.top100)}, spread ${fmt(scale.spread)}; distinct documents in the dense top 100: ${scale.distinctDocumentsInDense100.toFixed(1)}`,
  );
  if (values.json) {
    const file = prefix ? values.json.replace(/\.json$/, `.${prefix.replace(/[^0-9.]+/g, '')}.json`) : values.json;
    writeJson(file, { strategy, split: values.split, chunks, rows, scale, perQuery });
  }
}

/**
 * Is the pooled vectors' cosine scale shifted? For the pooled chunks of `documents` judged documents,
 * each chunk embedded alone (the two-pass vector of the same text) against its pooled vector: mean
 * cosine to the queries that judge its document relevant, and to all the split's queries.
 */
async function scaleCheck(session: EvalSession, set: QuerySet, chunking: EvalSession['config']['chunking'], documents: number) {
  const relevantTo = new Map<string, string[]>();
  for (const [query, judgements] of set.qrels)
    for (const [doc, grade] of judgements) if (grade > 0) relevantTo.set(doc, [...(relevantTo.get(doc) ?? []), query]);
  const byId = new Map(session.dataset.corpus.map((d) => [d.id, d]));
  const queryVectors = new Map(set.queries.map((q) => [q.id, session.queryVector(q.text)!]));
  const chunker = createChunker('late', session.embedder, chunking);
  const encoder = new TextEncoder();
  const sums = {
    relevantPooled: 0,
    relevantAlone: 0,
    relevantPairs: 0,
    allPooled: 0,
    allAlone: 0,
    allPairs: 0,
    pooledVsAlone: 0,
    chunks: 0,
  };
  for (const docId of [...relevantTo.keys()].slice(0, documents)) {
    const doc = byId.get(docId);
    if (!doc) continue;
    const loaded = await loadDocument(encoder.encode(doc.title ? `${doc.title}\n\n${doc.text}` : doc.text), doc.id, { mime: 'text/plain' });
    const { drafts, vectors } = await chunker.chunkWithVectors(loaded);
    const pooled = drafts.flatMap((d, i) => (vectors[i] ? [{ d, v: vectors[i]! }] : []));
    if (!pooled.length) continue;
    const alone = await session.embedder.embed(
      pooled.map(({ d }) => contextualText(d, loaded)),
      'passage',
    );
    pooled.forEach(({ v }, i) => {
      sums.pooledVsAlone += dot(v, alone[i]!);
      sums.chunks++;
      for (const q of relevantTo.get(docId)!) {
        const qv = queryVectors.get(q);
        if (!qv) continue;
        sums.relevantPooled += dot(v, qv);
        sums.relevantAlone += dot(alone[i]!, qv);
        sums.relevantPairs++;
      }
      for (const qv of queryVectors.values()) {
        sums.allPooled += dot(v, qv);
        sums.allAlone += dot(alone[i]!, qv);
        sums.allPairs++;
      }
    });
  }
  return {
    chunks: sums.chunks,
    meanCosinePooledVsAlone: sums.pooledVsAlone / sums.chunks,
    relevantQueries: { pooled: sums.relevantPooled / sums.relevantPairs, alone: sums.relevantAlone / sums.relevantPairs },
    allQueries: { pooled: sums.allPooled / sums.allPairs, alone: sums.allAlone / sums.allPairs },
  };
}

/** Every chunk's vector pooled again at `frameWeight`, keyed "source#ordinal" (the stored chunk's identity). */
async function repooled(session: EvalSession, chunking: EvalSession['config']['chunking'], frameWeight: number) {
  const chunker = createChunker('late', session.embedder, { ...chunking, lateFrameWeight: frameWeight });
  const keys: string[] = [];
  const vectors: Float32Array[] = [];
  const encoder = new TextEncoder();
  for (const doc of session.dataset.corpus) {
    const bytes = encoder.encode(doc.title ? `${doc.title}\n\n${doc.text}` : doc.text);
    const loaded = await loadDocument(bytes, doc.id, { mime: 'text/plain' });
    const { drafts, vectors: pooled } = await chunker.chunkWithVectors(loaded);
    const missing = drafts.flatMap((_, i) => (pooled[i] ? [] : [i]));
    const embedded = missing.length
      ? await session.embedder.embed(
          missing.map((i) => contextualText(drafts[i]!, loaded)),
          'passage',
        )
      : [];
    drafts.forEach((d, i) => {
      keys.push(`${doc.id}#${d.ordinal}`);
      vectors.push(pooled[i] ?? embedded[missing.indexOf(i)]!);
    });
  }
  return { keys, vectors };
}

const REPOOLED_DEPTH = 300;

/** The stored lists with the dense one replaced by an exact search over `pool`; ids become "source#ordinal". */
function withDenseFrom(lists: QueryLists[], pool: { keys: string[]; vectors: Float32Array[] }): QueryLists[] {
  return lists.map((q) => {
    const vector = q.vector!;
    const scored = pool.vectors
      .map((v, i) => ({ i, s: dot(v, vector) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, REPOOLED_DEPTH);
    const source = new Map<string, string>();
    const dense: RankedList = { ids: [], scores: [] };
    for (const { i, s } of scored) {
      const key = pool.keys[i]!;
      dense.ids.push(key);
      dense.scores.push(s);
      source.set(key, key.slice(0, key.lastIndexOf('#')));
    }
    const bm25: RankedList = { ids: q.bm25.ids.map((id) => q.key!.get(id)!), scores: q.bm25.scores };
    for (const id of bm25.ids) source.set(id, id.slice(0, id.lastIndexOf('#')));
    return { ...q, dense, bm25, source };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
