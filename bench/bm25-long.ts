/**
 * BM25 query latency by query length, three scorers on the same index and queries in one run:
 * - capped: the earlier default, only the 32 rarest distinct terms, every posting walked;
 * - all terms: every term, every posting walked (what exact scoring cost before);
 * - exact: every term, MaxScore over cached compact postings (retrieval/bm25-topk.ts), the
 *   default. Its first pass fills the posting cache as it goes (the cost after every index change);
 *   "warm" repeats the same queries.
 * Real passages (SciFact abstracts split ≤ 100 words + SQuAD dev paragraphs, ~10k); the larger
 * sizes hold those passages several times over as separate chunks, as bench/search.ts does.
 *
 *   npm run bench bm25-long [-- --sizes=10000,100000 --queries=100]
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { loadCorpus } from '../eval/probe/scifact.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { Bm25Index, type Bm25Options } from '../retrieval/bm25.ts';
import type { ChunkRecord } from '../store/types.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { BenchFlags } from './bench-args.ts';
import { realCorpus, realQueries } from './search.ts';

const CAPPED = 32;

function chunk(id: string, document: string, title: string, text: string): ChunkRecord {
  return chunkRecord(id, text, { collectionId: 'bench', documentId: document, source: document, title });
}

/** `words`-word queries: the start of SciFact abstracts, as a user pasting a passage sends them. */
function pastedQueries(n: number, words: number): string[] {
  return loadCorpus()
    .filter((d) => d.text.split(' ').length >= 200)
    .slice(0, n)
    .map((d) => d.text.split(' ').slice(0, words).join(' '));
}

const SCORERS = {
  capped: { maxQueryTerms: CAPPED, pruning: false },
  all: { maxQueryTerms: Number.POSITIVE_INFINITY, pruning: false },
  exact: { maxQueryTerms: Number.POSITIVE_INFINITY, pruning: true },
} satisfies Record<string, Partial<Bm25Options>>;

function parse(args: string[]) {
  const flags = new BenchFlags(args);
  const options = { sizes: flags.numberList('sizes', [10_000, 100_000]), queries: flags.integer('queries', 100, 6) };
  flags.finish();
  return options;
}

function time(index: Bm25Index, queries: string[], scorer: Partial<Bm25Options>, warmUp = true): { ms: number[]; terms: number } {
  Object.assign(index.options, scorer);
  if (warmUp) for (const q of queries.slice(0, 5)) index.search(q, { limit: 100 });
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
    '5-word': pastedQueries(n, 5),
    '20-word': pastedQueries(n, 20),
    '50-word': pastedQueries(n, 50),
    '200-word': pastedQueries(n, 200),
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
      const capped = time(index, queries, SCORERS.capped);
      const all = time(index, queries, SCORERS.all);
      const exact = time(index, queries, SCORERS.exact);
      const warm = time(index, queries, SCORERS.exact, false);
      const [c, a, e, w] = [capped, all, exact, warm].map((r) => summarize(r.ms));
      rows.push({
        chunks: index.size,
        queries: kind,
        'terms (capped / all)': `${capped.terms.toFixed(0)} / ${all.terms.toFixed(0)}`,
        'capped p50 / p95 ms': pair(c!),
        'all terms p50 / p95 ms': pair(a!),
        'exact p50 / p95 ms': pair(e!),
        'exact warm p50 / p95 ms': pair(w!),
        'exact / capped p95': round(e!.p95 / c!.p95),
      });
    }
  }
  const load = os.loadavg()[0]!.toFixed(2);
  printTable(`BM25 search (top 100): the ${CAPPED} rarest terms vs all terms, walked or pruned (load average ${load})`, rows);
  writeResults('bm25-long', { note: 'BM25 only, one query at a time, same index and queries in one run', loadAverage: load, rows });
}

const round = (v: number) => Math.round(v * 100) / 100;
const pair = (s: { p50: number; p95: number }) => `${round(s.p50)} / ${round(s.p95)}`;
