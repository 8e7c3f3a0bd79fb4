/**
 * Does keeping identifiers whole ("PO.1", "IL-6") beside their parts move BM25 on BEIR SciFact?
 * Scores nDCG@10 and Recall@100 on train and test with the words-only analyzer and the default
 * one, and counts the queries whose nDCG@10 moved. No embeddings needed.
 *
 *   npx tsx eval/probe/bm25-identifiers.ts
 */
import { printTable } from '../results.ts';
import { Bm25Index } from '../../retrieval/bm25.ts';
import { createTokenizer, type Tokenizer } from '../../retrieval/tokenize.ts';
import { sciFactChunk } from './bm25-scifact.ts';
import { loadCorpus, loadQrels, loadQueries, ndcgAtK, recallAtK, type Qrels } from './scifact.ts';

function perQuery(index: Bm25Index, queries: Map<string, string>, qrels: Qrels) {
  const ndcg = new Map<string, number>();
  let recall = 0;
  for (const [queryId, relevant] of qrels) {
    const ids = index.search(queries.get(queryId)!, { limit: 100 }).map((h) => h.id);
    ndcg.set(queryId, ndcgAtK(queryId, ids, relevant, 10));
    recall += recallAtK(queryId, ids, relevant, 100);
  }
  return { ndcg, recall100: recall / qrels.size };
}

const mean = (values: Iterable<number>) => {
  const all = [...values];
  return all.reduce((a, b) => a + b, 0) / all.length;
};

export function compareAnalyzers(variants: Record<string, Tokenizer>) {
  const corpus = loadCorpus();
  const queries = new Map(loadQueries().map((q) => [q.id, q.text]));
  const splits = { train: loadQrels('train'), test: loadQrels('test') };
  const rows: Record<string, string | number>[] = [];
  const baseline = new Map<string, Map<string, number>>();
  for (const [name, tokenizer] of Object.entries(variants)) {
    const index = new Bm25Index({ tokenizer });
    index.add(corpus.map((d) => sciFactChunk(d)));
    const row: Record<string, string | number> = { analyzer: name, trainUp: '', trainDown: '', testUp: '', testDown: '' };
    for (const [split, qrels] of Object.entries(splits)) {
      const { ndcg, recall100 } = perQuery(index, queries, qrels);
      row[`${split}Ndcg10`] = mean(ndcg.values()).toFixed(4);
      row[`${split}Recall100`] = recall100.toFixed(4);
      const base = baseline.get(split);
      if (!base) baseline.set(split, ndcg);
      else {
        row[`${split}Up`] = [...ndcg].filter(([id, v]) => v > base.get(id)! + 1e-9).length;
        row[`${split}Down`] = [...ndcg].filter(([id, v]) => v < base.get(id)! - 1e-9).length;
      }
    }
    rows.push(row);
  }
  printTable('BM25 on SciFact by analyzer (first row = reference for the per-query up/down counts)', rows);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  compareAnalyzers({ words: createTokenizer({ identifiers: false }), 'words + identifiers (default)': createTokenizer() });
}
