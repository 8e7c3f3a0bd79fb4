import fs from 'node:fs';
import { datasetPath } from '../../core/shared-data.ts';
import type { Embedder } from '../../models/types.ts';
import { Bm25Index } from '../../retrieval/bm25.ts';
import { embedWithCache } from './embed-cache.ts';
import { sciFactChunk } from './bm25-scifact.ts';
import { loadCorpus, loadEmbeddingCache, loadQrels, loadQueries, type SciFactDoc } from './scifact.ts';

/**
 * Labelled query sets of different kinds for choosing fusion defaults, each with a corpus, a
 * BM25 index over it, cached embeddings, and a tune/confirm split:
 * - claims:     SciFact claims (natural statements), train = tune, test = confirm
 * - keywords:   the 3 rarest words of each SciFact claim (keyword search), same split
 * - questions:  SQuAD v1.1 dev questions (one per paragraph) over its 2,067 paragraphs, split by article
 * - paragraphs: PubMedQA PQA-L abstract bodies (first 150 words pasted as the query, 500 of
 *               them) → that abstract's conclusion among all 1,000 conclusions, split 250/250
 */

export interface LabelledQuery {
  id: string;
  text: string;
  relevant: Set<string>;
  split: 'tune' | 'confirm';
  vector: Float32Array;
}

export interface QuerySet {
  name: 'claims' | 'keywords' | 'questions' | 'paragraphs';
  corpusIds: string[];
  /** Row-major unit vectors, corpusIds.length × dimensions. */
  corpusMatrix: Float32Array;
  dimensions: number;
  bm25: Bm25Index;
  queries: LabelledQuery[];
}

function matrix(ids: string[], vectors: Map<string, Float32Array>, dimensions: number): Float32Array {
  const m = new Float32Array(ids.length * dimensions);
  ids.forEach((id, i) => m.set(vectors.get(id)!, i * dimensions));
  return m;
}

function sciFactIndex(corpus: SciFactDoc[]): Bm25Index {
  // BM25 sees the same text the embedder saw: title + ' ' + text (the title also as a field).
  const index = new Bm25Index();
  index.add(corpus.map((d) => sciFactChunk(d)));
  return index;
}

/** The `n` words of a query whose analyzed terms are rarest in the index, in their original order. */
export function rarestWords(index: Bm25Index, query: string, n: number): string {
  const words = query.match(/[\p{L}\p{N}][\p{L}\p{N}'’.,-]*[\p{L}\p{N}]|[\p{L}\p{N}]/gu) ?? [];
  const scored = new Map<string, { word: string; df: number; at: number }>();
  words.forEach((word, at) => {
    const terms = index.options.tokenizer(word);
    if (!terms.length) return;
    const df = Math.min(...terms.map((t) => index.documentFrequency(t) || Infinity));
    if (!Number.isFinite(df)) return;
    const key = terms.join(' ');
    if (!scored.has(key)) scored.set(key, { word, df, at });
  });
  return [...scored.values()]
    .sort((a, b) => a.df - b.df || a.at - b.at)
    .slice(0, n)
    .sort((a, b) => a.at - b.at)
    .map((s) => s.word)
    .join(' ');
}

/** A query set over a corpus of its own: dense matrix, BM25 index and query vectors. */
function ownCorpusSet(
  name: QuerySet['name'],
  corpus: SciFactDoc[],
  corpusVectors: Map<string, Float32Array>,
  queries: Omit<LabelledQuery, 'vector'>[],
  queryVectors: Map<string, Float32Array>,
  dimensions: number,
): QuerySet {
  const corpusIds = corpus.map((d) => d.id);
  return {
    name,
    corpusIds,
    corpusMatrix: matrix(corpusIds, corpusVectors, dimensions),
    dimensions,
    bm25: sciFactIndex(corpus),
    queries: queries.map((q) => ({ ...q, vector: queryVectors.get(q.id)! })),
  };
}

export async function loadQuerySets(embedder: Embedder, log: (line: string) => void = console.log): Promise<QuerySet[]> {
  const sets: QuerySet[] = [];

  // SciFact claims and keywords share the corpus.
  const cache = loadEmbeddingCache();
  const corpus = loadCorpus();
  const bm25 = sciFactIndex(corpus);
  const corpusIds = corpus.map((d) => d.id);
  const corpusMatrix = matrix(corpusIds, cache.corpus, cache.dimensions);
  const texts = new Map(loadQueries().map((q) => [q.id, q.text]));
  const labelled: Omit<LabelledQuery, 'vector'>[] = [];
  for (const [split, qrels] of [
    ['tune', loadQrels('train')],
    ['confirm', loadQrels('test')],
  ] as const) {
    for (const [id, relevant] of qrels) labelled.push({ id, text: texts.get(id)!, relevant, split });
  }
  sets.push({
    name: 'claims',
    corpusIds,
    corpusMatrix,
    dimensions: cache.dimensions,
    bm25,
    queries: labelled.map((q) => ({ ...q, vector: cache.queries.get(q.id)! })),
  });
  const keywordQueries = labelled.map((q) => ({ ...q, text: rarestWords(bm25, q.text, 3) }));
  const keywordVectors = await embedWithCache(embedder, 'scifact-keywords3-minilm-fp32', keywordQueries, 'query', log);
  sets.push({
    name: 'keywords',
    corpusIds,
    corpusMatrix,
    dimensions: cache.dimensions,
    bm25,
    queries: keywordQueries.map((q) => ({ ...q, vector: keywordVectors.get(q.id)! })),
  });

  // SQuAD: every paragraph is a document; questions split by article (first half tunes).
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { title: string; paragraphs: { context: string; qas: { id: string; question: string }[] }[] }[];
  };
  const paragraphs: SciFactDoc[] = [];
  const questions: Omit<LabelledQuery, 'vector'>[] = [];
  squad.data.forEach((article, a) => {
    article.paragraphs.forEach((p, i) => {
      const id = `${a}-${i}`;
      paragraphs.push({ id, title: article.title.replace(/_/g, ' '), text: p.context });
      // One question per paragraph keeps the set (and its embedding) small.
      for (const qa of p.qas.slice(0, 1)) {
        questions.push({ id: qa.id, text: qa.question, relevant: new Set([id]), split: a < squad.data.length / 2 ? 'tune' : 'confirm' });
      }
    });
  });
  const paragraphVectors = await embedWithCache(
    embedder,
    'squad-paragraphs-minilm-fp32',
    paragraphs.map((p) => ({ id: p.id, text: `${p.title} ${p.text}` })),
    'passage',
    log,
  );
  const questionVectors = await embedWithCache(embedder, 'squad-questions1-minilm-fp32', questions, 'query', log);
  sets.push(ownCorpusSet('questions', paragraphs, paragraphVectors, questions, questionVectors, cache.dimensions));

  // PubMedQA: a pasted abstract body should find that abstract's conclusion.
  const pqal = JSON.parse(fs.readFileSync(datasetPath('pubmedqa-pqal', 'ori_pqal.json'), 'utf8')) as Record<
    string,
    { CONTEXTS: string[]; LONG_ANSWER: string }
  >;
  const entries = Object.entries(pqal);
  const conclusions: SciFactDoc[] = entries.map(([id, e]) => ({ id, title: '', text: e.LONG_ANSWER }));
  // 500 of the 1,000 abstracts are pasted as queries (long texts are the expensive ones to embed).
  const pasted: Omit<LabelledQuery, 'vector'>[] = entries.slice(0, 500).map(([id, e], i) => ({
    id: `q${id}`,
    text: e.CONTEXTS.join(' ').split(/\s+/).slice(0, 150).join(' '),
    relevant: new Set([id]),
    split: i < 250 ? 'tune' : 'confirm',
  }));
  const conclusionVectors = await embedWithCache(embedder, 'pubmedqa-conclusions-minilm-fp32', conclusions, 'passage', log);
  const pastedVectors = await embedWithCache(embedder, 'pubmedqa-pasted150x500-minilm-fp32', pasted, 'query', log);
  sets.push(ownCorpusSet('paragraphs', conclusions, conclusionVectors, pasted, pastedVectors, cache.dimensions));
  return sets;
}

/** Exact dense search by dot product (vectors are unit length): the top `limit` ids and cosines. */
export function denseTop(set: QuerySet, vector: Float32Array, limit: number): { ids: string[]; scores: number[] } {
  const d = set.dimensions;
  const n = set.corpusIds.length;
  const sims = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    const off = i * d;
    for (let j = 0; j < d; j++) dot += set.corpusMatrix[off + j]! * vector[j]!;
    sims[i] = dot;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => sims[b]! - sims[a]! || (set.corpusIds[a]! < set.corpusIds[b]! ? -1 : 1),
  );
  const top = order.slice(0, limit);
  return { ids: top.map((i) => set.corpusIds[i]!), scores: top.map((i) => sims[i]!) };
}
