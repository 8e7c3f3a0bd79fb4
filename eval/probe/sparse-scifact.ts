/**
 * How much the write-time encoding of BM25 sparse vectors moves SciFact scores, no embeddings
 * needed: the corpus is "ingested" one document at a time, each chunk encoded against the average
 * lengths of the collection as it stood then (what RAGLINE_SPARSE=pinecone does at ingest), and the
 * test queries are ranked by the dot product (what Pinecone computes) against the in-process BM25
 * over the whole corpus. Also shows the vectors re-encoded at the final averages (`ragline reconcile`).
 * The full search path (pipeline chunking, the Pinecone fake, fusion) is `npm run bench -- sparse-equivalence`.
 *
 *   npx tsx eval/probe/sparse-scifact.ts [--limit 1000]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Bm25Index } from '../../retrieval/bm25.ts';
import { CorpusFrequencies, analyzeChunk, encodeChunk, encodeQuery, type SparseValues } from '../../retrieval/sparse-bm25.ts';
import { printTable } from '../results.ts';
import { sciFactChunk } from './bm25-scifact.ts';
import { loadCorpus, loadQrels, loadQueries, meanNdcg } from './scifact.ts';

function dot(query: SparseValues, chunk: Map<number, number>): number {
  let sum = 0;
  query.indices.forEach((index, i) => {
    sum += query.values[i]! * (chunk.get(index) ?? 0);
  });
  return sum;
}

async function main() {
  const { values } = parseArgs({ options: { limit: { type: 'string' } } });
  const corpus = loadCorpus().slice(0, values.limit ? Number.parseInt(values.limit, 10) : undefined);
  const chunks = corpus.map((d) => sciFactChunk(d));
  const ids = new Set(chunks.map((c) => c.id));
  const test = new Map([...loadQrels('test')].map(([q, rel]) => [q, new Set([...rel].filter((id) => ids.has(id)))] as const));
  const queries = loadQueries().filter((q) => test.get(q.id)?.size);

  const local = new Bm25Index();
  local.add(chunks);
  const analyzed = chunks.map((c) => analyzeChunk(c));
  const growing = new CorpusFrequencies();
  const asIngested = analyzed.map((terms) => {
    growing.add(terms);
    return encodeChunk(terms, growing);
  });
  const reencoded = analyzed.map((terms) => encodeChunk(terms, growing));
  const asMaps = (vectors: SparseValues[]) => vectors.map((v) => new Map(v.indices.map((index, i) => [index, v.values[i]!])));

  const rank = (vectors: Map<number, number>[]) => {
    const runs = new Map<string, string[]>();
    for (const q of queries) {
      const vector = encodeQuery(q.text, growing);
      const scored = vectors.map((v, i) => ({ id: chunks[i]!.id, score: dot(vector, v) })).filter((h) => h.score > 0);
      scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      runs.set(
        q.id,
        scored.slice(0, 10).map((h) => h.id),
      );
    }
    return runs;
  };
  const inProcess = new Map(queries.map((q) => [q.id, local.search(q.text, { limit: 10 }).map((h) => h.id)]));
  const baseline = meanNdcg(inProcess, test);
  const rows = [
    { encoding: 'in-process BM25 (Bm25Index)', ndcg10: baseline.toFixed(4), difference: '0' },
    ...[
      ['sparse, each chunk at the averages when it was ingested', asIngested],
      ['sparse, re-encoded at the final averages (reconcile)', reencoded],
    ].map(([encoding, vectors]) => {
      const ndcg10 = meanNdcg(rank(asMaps(vectors as SparseValues[])), test);
      return { encoding: encoding as string, ndcg10: ndcg10.toFixed(4), difference: (ndcg10 - baseline).toFixed(4) };
    }),
  ];
  printTable(`SciFact test, ${chunks.length} documents, ${queries.length} queries, load ${os.loadavg()[0]!.toFixed(1)}`, rows);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
