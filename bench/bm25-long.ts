/**
 * BM25 query latency for long queries: every query term scored (no cap) against the default path
 * that keeps only the 32 rarest terms, on the same index and queries in one run. Real
 * passages (SciFact abstracts split ≤ 100 words + SQuAD dev paragraphs, ~10k); the larger sizes
 * hold those passages several times over as separate chunks, as bench/search.ts does.
 *
 *   npm run bench bm25-long [-- --sizes=10000,100000 --queries=100]
 */
import { performance } from 'node:perf_hooks';
import { loadCorpus } from '../eval/probe/scifact.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { Bm25Index } from '../retrieval/bm25.ts';
import type { ChunkRecord } from '../store/types.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { realCorpus, realQueries } from './search.ts';

const CAPPED = 32;

function chunk(id: string, document: string, title: string, text: string): ChunkRecord {
  return chunkRecord(id, text, { collectionId: 'bench', documentId: document, source: document, title });
}

/** ~200-word queries: the start of SciFact abstracts, as a user pasting a paragraph sends them. */
function longQueries(n: number): string[] {
  return loadCorpus()
    .filter((d) => d.text.split(' ').length >= 200)
    .slice(0, n)
    .map((d) => d.text.split(' ').slice(0, 200).join(' '));
}

function parse(args: string[]) {
  const tokens = args.flatMap((a) => (a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s).slice(0, 2) : [a]));
  let sizes = [10_000, 100_000];
  let queries = 100;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '--sizes') sizes = tokens[++i]!.split(',').map(Number);
    else if (tokens[i] === '--queries') queries = Number(tokens[++i]);
  }
  if (!sizes.length || sizes.some((s) => !(s > 0)) || !(queries > 5))
    throw new Error('usage: bench bm25-long [--sizes=10000,100000] [--queries=100]');
  return { sizes, queries };
}

function time(index: Bm25Index, queries: string[], cap: number): { ms: number[]; terms: number } {
  index.options.maxQueryTerms = cap;
  for (const q of queries.slice(0, 5)) index.search(q, { limit: 100 }); // warm up
  const ms: number[] = [];
  let terms = 0;
  for (const q of queries) {
    terms += index.queryTerms(q).length;
    const started = performance.now();
    index.search(q, { limit: 100 });
    ms.push(performance.now() - started);
  }
  return { ms, terms: terms / queries.length };
}

export async function runBm25LongBench(args: string[] = []) {
  const { sizes, queries: n } = parse(args);
  const base = realCorpus(10_000);
  const kinds = {
    '200-word': longQueries(n),
    ordinary: realQueries(n)
      .filter((q) => q.kind !== 'paragraph')
      .map((q) => q.text),
  };
  const rows: Record<string, string | number>[] = [];
  for (const size of sizes) {
    const index = new Bm25Index();
    for (let copy = 0; index.size < size; copy++) {
      index.add(base.slice(0, size - index.size).map((p) => chunk(`${p.id}#${copy}`, `${p.document}#${copy}`, p.title, p.text)));
    }
    for (const [kind, queries] of Object.entries(kinds)) {
      const capped = time(index, queries, CAPPED);
      const all = time(index, queries, Number.POSITIVE_INFINITY);
      const c = summarize(capped.ms);
      const e = summarize(all.ms);
      rows.push({
        chunks: index.size,
        queries: kind,
        'terms (capped / all)': `${capped.terms.toFixed(0)} / ${all.terms.toFixed(0)}`,
        'capped p50 ms': round(c.p50),
        'capped p95 ms': round(c.p95),
        'all terms p50 ms': round(e.p50),
        'all terms p95 ms': round(e.p95),
        'all / capped p95': round(e.p95 / c.p95),
      });
    }
  }
  printTable(`BM25 search (top 100), all query terms vs the ${CAPPED} rarest terms`, rows);
  writeResults('bm25-long', { note: 'BM25 only, one query at a time, same index and queries in one run', rows });
}

const round = (v: number) => Math.round(v * 100) / 100;
