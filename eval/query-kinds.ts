import { tokenizeWords as tokenize } from '../retrieval/tokenize.ts';
import type { BeirDataset } from './beir.ts';
import type { Qrels } from './metrics.ts';

/**
 * The three kinds of query users send, derived from a BEIR dataset so each can be scored:
 * - keyword:   the 3–4 rarest (highest-IDF) words of each query, in their original order;
 * - natural:   the queries as given (questions, claims);
 * - paragraph: pasted text, "find passages like this": sentences 3–7 of a relevant document's
 *              abstract (the first two are left out so the query is not the document's opening),
 *              with that document as the only gold.
 */

export type QueryKind = 'keyword' | 'natural' | 'paragraph';
export const QUERY_KINDS: readonly QueryKind[] = ['keyword', 'natural', 'paragraph'];

export interface QuerySet {
  name: string;
  queries: { id: string; text: string }[];
  qrels: Qrels;
  /** BEIR: drop a retrieved document whose id equals the query id. */
  excludeSelf: boolean;
}

/** The split's queries as given. */
export function naturalQueries(dataset: BeirDataset, split: string): QuerySet {
  const qrels = dataset.qrels.get(split);
  if (!qrels) throw new Error(`split "${split}" was not loaded`);
  const queries = [...qrels.keys()].flatMap((id) => {
    const text = dataset.queries.get(id);
    return text === undefined ? [] : [{ id, text }];
  });
  return { name: 'natural', queries, qrels: new Map([...qrels].filter(([id]) => dataset.queries.has(id))), excludeSelf: true };
}

/** Inverse document frequency of each analyzed term over the corpus (BM25's idf). */
function corpusIdf(dataset: BeirDataset): (term: string) => number {
  const df = new Map<string, number>();
  for (const doc of dataset.corpus) {
    for (const term of new Set(tokenize(`${doc.title} ${doc.text}`))) df.set(term, (df.get(term) ?? 0) + 1);
  }
  const n = dataset.corpus.length;
  return (term) => {
    const f = df.get(term) ?? 0;
    return Math.log(1 + (n - f + 0.5) / (f + 0.5));
  };
}

// Keeps "1,000", "0.5" and "B12-deficient" whole.
const WORD = /[\p{L}\p{N}](?:[\p{L}\p{N}'’-]|[.,](?=\p{N}))*/gu;

/** The 3–4 highest-IDF words of `text` (4 when it has at least 8 content words), in their original order. */
export function keywordQuery(text: string, idf: (term: string) => number): string {
  const words: { word: string; at: number; idf: number }[] = [];
  const seen = new Set<string>();
  for (const match of text.matchAll(WORD)) {
    const terms = tokenize(match[0]);
    if (!terms.length) continue; // a stop word
    const key = terms.join(' ');
    if (seen.has(key)) continue;
    seen.add(key);
    words.push({ word: match[0], at: match.index, idf: Math.max(...terms.map(idf)) });
  }
  const keep = words.length >= 8 ? 4 : 3;
  return words
    .sort((a, b) => b.idf - a.idf || a.at - b.at)
    .slice(0, keep)
    .sort((a, b) => a.at - b.at)
    .map((w) => w.word)
    .join(' ');
}

export function keywordQueries(dataset: BeirDataset, split: string): QuerySet {
  const natural = naturalQueries(dataset, split);
  const idf = corpusIdf(dataset);
  const queries = natural.queries.map((q) => ({ id: q.id, text: keywordQuery(q.text, idf) })).filter((q) => q.text);
  return { ...natural, name: 'keyword', queries };
}

export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}([])/u)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One paragraph query per relevant document of the split that has at least four sentences. */
export function paragraphQueries(dataset: BeirDataset, split: string): QuerySet {
  const qrels = dataset.qrels.get(split);
  if (!qrels) throw new Error(`split "${split}" was not loaded`);
  const byId = new Map(dataset.corpus.map((d) => [d.id, d]));
  const queries: { id: string; text: string }[] = [];
  const paragraphQrels: Qrels = new Map();
  const used = new Set<string>();
  for (const judgements of qrels.values()) {
    for (const [docId, grade] of judgements) {
      const doc = byId.get(docId);
      if (grade <= 0 || !doc || used.has(docId)) continue;
      used.add(docId);
      const sentences = splitSentences(doc.text);
      if (sentences.length < 4) continue;
      const id = `paragraph:${docId}`;
      queries.push({ id, text: sentences.slice(2, 7).join(' ') });
      paragraphQrels.set(id, new Map([[docId, 1]]));
    }
  }
  return { name: 'paragraph', queries, qrels: paragraphQrels, excludeSelf: false };
}

export function querySetOf(kind: QueryKind, dataset: BeirDataset, split: string): QuerySet {
  switch (kind) {
    case 'keyword':
      return keywordQueries(dataset, split);
    case 'natural':
      return naturalQueries(dataset, split);
    case 'paragraph':
      return paragraphQueries(dataset, split);
  }
}
