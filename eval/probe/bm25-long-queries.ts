/**
 * BM25 quality on long queries with the query-term cap against exact scoring of every term, no
 * embeddings needed (one chunk per document, BM25 only):
 * - pubmedqa-paragraphs (eval/pubmedqa-paragraphs.ts): an abstract's conclusion as the query, its
 *   context passages as the one relevant document, 1,000 documents, train and test splits;
 * - SciFact test claims (short: the cap never applies, a check that nothing else moved).
 * Also the title boost on SciFact, where titles exist. Scores nDCG@10.
 *
 *   npx tsx eval/probe/bm25-long-queries.ts
 */
import { loadDataset } from '../datasets.ts';
import { ndcgAt } from '../metrics.ts';
import { printTable } from '../results.ts';
import { Bm25Index, type Bm25Options } from '../../retrieval/bm25.ts';
import { sciFactChunk } from './bm25-scifact.ts';
import { loadCorpus, loadQrels, loadQueries } from './scifact.ts';

const CAPS = [Number.POSITIVE_INFINITY, 64, 32, 16];

function meanNdcg(index: Bm25Index, queries: Map<string, string>, qrels: Map<string, Map<string, number>>): number {
  let sum = 0;
  for (const [queryId, judgements] of qrels) {
    const ranked = index.search(queries.get(queryId)!, { limit: 10 }).map((h) => h.id);
    sum += ndcgAt(ranked, judgements, 10);
  }
  return sum / qrels.size;
}

function withCaps(index: Bm25Index, run: () => number): Record<string, number> {
  const row: Record<string, number> = {};
  for (const cap of CAPS) {
    index.options.maxQueryTerms = cap;
    row[cap === Number.POSITIVE_INFINITY ? 'all terms (exact)' : `cap ${cap}`] = Math.round(run() * 1000) / 1000;
  }
  return row;
}

function index(docs: { id: string; title: string; text: string }[], options: Partial<Bm25Options> = {}): Bm25Index {
  const bm25 = new Bm25Index(options);
  bm25.add(docs.map((d) => sciFactChunk(d)));
  return bm25;
}

export async function main() {
  const rows: Record<string, string | number>[] = [];
  const pubmed = loadDataset('pubmedqa-paragraphs', { splits: ['train', 'test'] });
  const pubmedIndex = index(pubmed.corpus);
  const words = [...pubmed.queries.values()].map((q) => q.split(/\s+/).length).sort((a, b) => a - b);
  for (const split of ['train', 'test']) {
    const qrels = pubmed.qrels.get(split)!;
    rows.push({
      set: `pubmedqa-paragraphs ${split} (${qrels.size} queries, median ${words[words.length >> 1]} words)`,
      ...withCaps(pubmedIndex, () => meanNdcg(pubmedIndex, pubmed.queries, qrels)),
    });
  }
  const corpus = loadCorpus();
  const claims = new Map(loadQueries().map((q) => [q.id, q.text]));
  const test = new Map([...loadQrels('test')].map(([q, docs]) => [q, new Map([...docs].map((d) => [d, 1]))]));
  for (const titleBoost of [0, 0.25, 0.5, 1]) {
    const sciFact = index(corpus, { titleBoost });
    rows.push({ set: `SciFact test claims, title boost ${titleBoost}`, ...withCaps(sciFact, () => meanNdcg(sciFact, claims, test)) });
  }
  printTable('BM25 nDCG@10: query-term cap vs every term', rows);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
