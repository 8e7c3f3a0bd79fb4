/**
 * Latency against query length: queries of 5, 20, 50 and 200 words (windows of real SciFact and
 * PubMedQA text) for BM25, dense and hybrid at 100k distinct chunks on Postgres (the bench
 * database's synthetic collection, built once and reused). Query embedding is timed on its own,
 * one query per call; the search rows pass the precomputed vector.
 *
 *   npm run bench query-length [-- --chunks 100000 --lengths 5,20,50,200 --queries 40]
 */
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../core/random.ts';
import { loadCorpus } from '../eval/probe/scifact.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import { SqlBm25Snapshots } from '../store/bm25-snapshots.ts';
import { openPostgresStore } from '../store/postgres.ts';
import { BenchArgsError, BenchFlags, machineLoad, ms } from './bench-args.ts';
import { seedDocuments } from './synthetic-corpus.ts';
import { DEFAULT_SEEDS, ensureSyntheticCollection, loadBenchEmbedder } from './synthetic-store.ts';

export interface QueryLengthOptions {
  chunks: number;
  seeds: number;
  lengths: number[];
  queries: number;
  results: string;
}

export function parseQueryLengthArgs(args: string[]): QueryLengthOptions {
  const flags = new BenchFlags(args);
  const options = {
    chunks: flags.positiveNumber('chunks', 100_000),
    seeds: flags.positiveNumber('seeds', DEFAULT_SEEDS),
    lengths: flags.numberList('lengths', [5, 20, 50, 200]),
    queries: flags.positiveNumber('queries', 40),
    results: flags.resultsName('query-length'),
  };
  flags.finish();
  if (options.lengths.some((l) => l > 500)) throw new BenchArgsError('--lengths: at most 500 words');
  return options;
}

/** `n` word windows of `length` words from real abstracts long enough to hold them (seeded). */
export function queriesOfLength(length: number, n: number, seed = length): string[] {
  const random = mulberry32(seed);
  const texts = [
    ...loadCorpus().map((d) => `${d.title} ${d.text}`),
    ...seedDocuments(1000)
      .filter((d) => d.id.startsWith('pubmedqa-'))
      .map((d) => d.passages.join(' ')),
  ]
    .map((t) => t.split(/\s+/).filter(Boolean))
    .filter((words) => words.length >= length);
  if (!texts.length) throw new Error(`no real text has ${length} words`);
  return Array.from({ length: n }, () => {
    const words = texts[Math.floor(random() * texts.length)]!;
    const start = Math.floor(random() * (words.length - length + 1));
    return words.slice(start, start + length).join(' ');
  });
}

const MODES = ['bm25', 'dense', 'hybrid'] as const;

export async function runQueryLengthBench(args: string[] = []): Promise<string> {
  const options = parseQueryLengthArgs(args);
  const embedder = await loadBenchEmbedder();
  const { databaseUrl, collection, builtNow } = await ensureSyntheticCollection(embedder, options.chunks, options.seeds);
  console.log(`collection ${collection.name} ${builtNow ? 'built now' : 'reused'}`);
  const store = await openPostgresStore(databaseUrl);
  const registry = new Bm25Registry(store, { snapshots: new SqlBm25Snapshots(store.db) });
  const results: Record<string, unknown>[] = [];
  const rows: Record<string, string | number>[] = [];
  try {
    const current = (await store.getCollectionById(collection.id))!;
    const bm25Start = performance.now();
    await registry.ensureSynced(current);
    console.log(`BM25 index ready in ${Math.round(performance.now() - bm25Start)} ms (${registry.readiness().collections[0]?.source})`);
    const searcher = new HybridSearcher({ store, embedder, bm25: registry });
    await embedder.embed(['warm up'], 'query');
    for (const length of options.lengths) {
      const texts = queriesOfLength(length, options.queries);
      const embedMs: number[] = [];
      const vectors: Float32Array[] = [];
      for (const text of texts) {
        const t0 = performance.now();
        const [v] = await embedder.embed([text], 'query');
        embedMs.push(performance.now() - t0);
        vectors.push(v!);
      }
      const embed = summarize(embedMs);
      const load = machineLoad().loadAverage[0];
      rows.push({
        words: length,
        stage: 'query embedding',
        queries: embed.n,
        p50: ms(embed.p50),
        p95: ms(embed.p95),
        p99: ms(embed.p99),
        load,
      });
      const perMode: Record<string, unknown> = {};
      for (const mode of MODES) {
        const run = (i: number) => searcher.search(current, { query: texts[i]!, mode, topK: 10 }, { queryVector: vectors[i] });
        for (let i = 0; i < Math.min(3, texts.length); i++) await run(i);
        const samples: { totalMs: number; bm25Ms: number; denseMs: number }[] = [];
        for (let i = 0; i < texts.length; i++) samples.push((await run(i)).timings);
        const total = summarize(samples.map((s) => s.totalMs));
        perMode[mode] = {
          totalMs: total,
          bm25Ms: summarize(samples.map((s) => s.bm25Ms)),
          denseMs: summarize(samples.map((s) => s.denseMs)),
        };
        rows.push({
          words: length,
          stage: mode,
          queries: total.n,
          p50: ms(total.p50),
          p95: ms(total.p95),
          p99: ms(total.p99),
          load: machineLoad().loadAverage[0],
        });
      }
      results.push({ words: length, queries: texts.length, queryEmbeddingMs: embed, search: perMode });
      console.log(
        `[${length} words] embed p95 ${ms(embed.p95)} ms; hybrid p95 ${ms((perMode.hybrid as { totalMs: { p95: number } }).totalMs.p95)} ms`,
      );
    }
  } finally {
    await registry.close();
    await store.close();
    await embedder.close();
  }
  const machine = machineLoad();
  printTable(
    `Latency (ms) against query length, Postgres, ${options.chunks} distinct chunks, top-10; search rows use a precomputed query vector; ${machine.uptime}`,
    rows,
  );
  return writeResults(options.results, { options, machine, collection: { name: collection.name, chunks: options.chunks }, results, rows });
}
