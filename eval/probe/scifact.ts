import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, datasetPath } from '../../core/shared-data.ts';

/**
 * SciFact (BEIR) loading and scoring for the quality probes that choose BM25 and fusion
 * defaults. The official evaluation harness lives in eval/; this is a small,
 * self-contained copy of the same conventions so the probes can run without it.
 */

export interface SciFactDoc {
  id: string;
  title: string;
  text: string;
}

export interface SciFactQuery {
  id: string;
  text: string;
}

/** query id → relevant doc ids (all SciFact judgements are binary). */
export type Qrels = Map<string, Set<string>>;

function readJsonl<T>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);
}

export function loadCorpus(): SciFactDoc[] {
  return readJsonl<{ _id: string; title: string; text: string }>(datasetPath('scifact', 'corpus.jsonl')).map((d) => ({
    id: String(d._id),
    title: d.title,
    text: d.text,
  }));
}

export function loadQueries(): SciFactQuery[] {
  return readJsonl<{ _id: string; text: string }>(datasetPath('scifact', 'queries.jsonl')).map((q) => ({
    id: String(q._id),
    text: q.text,
  }));
}

/** qrels/{split}.tsv: CRLF line endings and a header row. */
export function loadQrels(split: 'train' | 'test'): Qrels {
  const qrels: Qrels = new Map();
  const lines = fs.readFileSync(datasetPath('scifact', 'qrels', `${split}.tsv`), 'utf8').split(/\r?\n/);
  for (const line of lines.slice(1)) {
    const [queryId, docId, score] = line.trim().split('\t');
    if (!queryId || !docId || Number(score) <= 0) continue;
    let set = qrels.get(queryId);
    if (!set) qrels.set(queryId, (set = new Set()));
    set.add(docId);
  }
  return qrels;
}

/**
 * nDCG@k with trec_eval semantics for binary judgements: gain 1 per relevant hit, log2(rank+1)
 * discount, ideal DCG from all relevant docs of the query. A hit equal to the query id is dropped
 * (BEIR convention).
 */
export function ndcgAtK(queryId: string, ranked: string[], relevant: Set<string>, k = 10): number {
  const hits = ranked.filter((id) => id !== queryId).slice(0, k);
  let dcg = 0;
  hits.forEach((id, i) => {
    if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal > 0 ? dcg / ideal : 0;
}

export function recallAtK(queryId: string, ranked: string[], relevant: Set<string>, k = 100): number {
  const hits = ranked.filter((id) => id !== queryId).slice(0, k);
  return hits.filter((id) => relevant.has(id)).length / relevant.size;
}

/** Mean nDCG@10 over the queries that have judgements. */
export function meanNdcg(runs: Map<string, string[]>, qrels: Qrels, k = 10): number {
  let sum = 0;
  for (const [queryId, relevant] of qrels) sum += ndcgAtK(queryId, runs.get(queryId) ?? [], relevant, k);
  return sum / qrels.size;
}

// ---- embedding cache (written by embed-scifact.ts) ----

/** Where probes keep embeddings; RAGLINE_PROBE_CACHE moves it (e.g. out of a shared checkout). */
export const CACHE_DIR = path.resolve(process.env.RAGLINE_PROBE_CACHE ?? path.join(PROJECT_ROOT, '.ragline', 'cache'));
export const EMBEDDING_CACHE = {
  vectors: path.join(CACHE_DIR, 'scifact-minilm-fp32.bin'),
  ids: path.join(CACHE_DIR, 'scifact-minilm-fp32.ids.json'),
};

export interface EmbeddingCache {
  dimensions: number;
  corpus: Map<string, Float32Array>;
  queries: Map<string, Float32Array>;
}

/** The vectors file holds the corpus vectors then the query vectors, in the order of the ids file. */
export function loadEmbeddingCache(): EmbeddingCache {
  if (!fs.existsSync(EMBEDDING_CACHE.ids)) {
    throw new Error(`No SciFact embedding cache at ${EMBEDDING_CACHE.ids}; run: npx tsx eval/probe/embed-scifact.ts`);
  }
  const ids = JSON.parse(fs.readFileSync(EMBEDDING_CACHE.ids, 'utf8')) as {
    dimensions: number;
    corpus: string[];
    queries: string[];
  };
  const buf = fs.readFileSync(EMBEDDING_CACHE.vectors);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const d = ids.dimensions;
  const expected = (ids.corpus.length + ids.queries.length) * d;
  if (all.length !== expected) throw new Error(`embedding cache is truncated: ${all.length} floats, expected ${expected}`);
  const corpus = new Map(ids.corpus.map((id, i) => [id, all.subarray(i * d, (i + 1) * d)]));
  const offset = ids.corpus.length;
  const queries = new Map(ids.queries.map((id, i) => [id, all.subarray((offset + i) * d, (offset + i + 1) * d)]));
  return { dimensions: d, corpus, queries };
}
