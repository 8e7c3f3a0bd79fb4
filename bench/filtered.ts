/**
 * Filtered hybrid search at 100k chunks, PGlite and Postgres side by side in one run.
 *
 *   npm run bench filtered [-- --chunks=100000 --queries=100 --exact-queries=50 --stores=pglite,postgres --keep]
 *
 * Per store and filter (none, ~1 %, ~10 % on document metadata, ~10 % on a source prefix, ~50 %):
 * hybrid search p50/p95/p99 (the store's own choice of plan), and the dense candidate query alone
 * under each plan the store can use (HNSW iterative scan, pre-filtered exact scan, auto), with
 * recall@10 of the dense list against exact filtered search (a brute-force scan over the filtered
 * rows, computed in the same run). On PGlite the pre-filtered searches rank through the int8 copy of the
 * vectors (store/vector-copies.ts), loaded (and timed) before the queries; "auto, int8 off" and the
 * "hybrid, int8 off" row are the same searches ranked in SQL, interleaved query by query with the
 * int8 ones, so both paths are compared under the same load.
 *
 * Vectors: the real MiniLM vectors held in the evaluation embedding cache (.ragline/cache/embeddings,
 * SciFact chunks embedded by `npm run eval`), each reused about chunks / n times with Gaussian
 * noise and renormalised, so no vector occurs twice (repeated vectors crowd the HNSW neighbour
 * lists and distort filtered scans). Texts, for BM25: SciFact abstracts in file order; they are not
 * the texts of those vectors, which only matters for relevance, not for latency. Queries: real SciFact
 * test claims, embedded with the same model (cached). `--keep` leaves the loaded databases in
 * place (PGlite under .ragline/bench-filtered, Postgres database ragline_bench_filtered) and a
 * later run with `--keep` reuses them instead of loading and indexing again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { mulberry32 } from '../core/random.ts';
import { PROJECT_ROOT } from '../core/shared-data.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { BenchFlags, STORE_KINDS, exitOnBadArgs } from './bench-args.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import { bulkLoadDocuments, type BulkDocument } from '../store/bulk-load.ts';
import { parseFilter, type FilterInput } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { FilteredPlan, SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { TEST_SERVER_URL, postgresUnavailable } from '../testkit/scratch-database.ts';
import { cachingEmbedder, chunkInput, embedAll, sciFactPassages, sciFactTestQueries } from '../testkit/scifact-fixture.ts';
import { testEmbedder } from '../testkit/embedder.ts';

const CHUNKS_PER_DOCUMENT = 100;
/** What the hybrid searcher asks each retriever for by default. */
const CANDIDATES = 100;
const K = 10;
/** Per-dimension standard deviation of the noise added to a reused vector (before renormalising). */
const NOISE_SIGMA = 0.03;
const COLLECTION = 'filtered-bench';
const KEPT_PGLITE_DIR = path.join(PROJECT_ROOT, '.ragline', 'bench-filtered', 'pglite');
const KEPT_POSTGRES_DB = 'ragline_bench_filtered';
/** The dense plans measured per filter; on PGlite, pre-filter and auto rank through the int8 copy unless "int8 off". */
type DensePlan = FilteredPlan | 'auto, int8 off';
const PLANS: DensePlan[] = ['iterative-scan', 'pre-filter', 'auto', 'auto, int8 off'];

/** Document d's metadata and source: every filter below matches a known share of the chunks. */
const documentFields = (d: number) => ({
  source: `bench/team-${d % 10}/doc-${d}`,
  metadata: { shard: d % 100, team: `t${d % 10}`, half: d % 2 },
});

const SCENARIOS: { name: string; share: number; filter?: FilterInput }[] = [
  { name: 'no filter', share: 1 },
  { name: '1 % (metadata.shard)', share: 0.01, filter: { 'metadata.shard': 7 } },
  { name: '10 % (metadata.team)', share: 0.1, filter: { 'metadata.team': 't3' } },
  { name: '10 % (source prefix)', share: 0.1, filter: { source: { prefix: 'bench/team-4/' } } },
  { name: '50 % (metadata.half)', share: 0.5, filter: { 'metadata.half': 1 } },
];

interface Options {
  chunks: number;
  queries: number;
  exactQueries: number;
  stores: string[];
  keep: boolean;
}

function parseOptions(args: string[]): Options {
  const flags = new BenchFlags(args);
  const queries = flags.integer('queries', 100);
  const options = {
    chunks: flags.integer('chunks', 100_000),
    queries,
    exactQueries: Math.min(queries, flags.integer('exact-queries', 50)),
    stores: flags.oneOfList('stores', STORE_KINDS, ['pglite', 'postgres']),
    keep: flags.switch('keep'),
  };
  flags.finish();
  return options;
}

interface Corpus {
  base: Float32Array[];
  texts: string[];
  queries: Float32Array[];
}

/** A standard normal sample (Box–Muller) from a seeded uniform source. */
function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Chunk i's vector: a base vector picked at random (seeded by i), plus noise, renormalised. */
function chunkVector(corpus: Corpus, i: number): Float32Array {
  const random = mulberry32(i + 1);
  const a = corpus.base[Math.floor(random() * corpus.base.length)]!;
  const v = new Float32Array(a.length);
  let norm = 0;
  for (let d = 0; d < a.length; d++) {
    v[d] = a[d]! + NOISE_SIGMA * gaussian(random);
    norm += v[d]! * v[d]!;
  }
  norm = Math.sqrt(norm);
  for (let d = 0; d < v.length; d++) v[d]! /= norm;
  return v;
}

async function loadCorpus(options: Options): Promise<Corpus> {
  const queryEmbedder = cachingEmbedder(await testEmbedder());
  const queries = await embedAll(
    queryEmbedder,
    sciFactTestQueries(options.queries).map((q) => q.text),
    'query',
  );
  await queryEmbedder.close();
  const cache = new CachingEmbedder(await testEmbedder(), path.join(PROJECT_ROOT, '.ragline', 'cache', 'embeddings'), {
    dtype: 'fp32',
    closeInner: false,
  });
  const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, d) => s + x * b[d]!, 0);
  // The evaluation cache holds query vectors too: a query must not find its own vector's copies.
  const base = cache.storedVectors().filter((v) => queries.every((q) => cosine(q, v) < 0.98));
  if (base.length < 1000)
    throw new Error(`only ${base.length} cached vectors under .ragline/cache/embeddings; run npm run eval once first`);
  return { base, texts: sciFactPassages(5183).map((p) => p.text), queries };
}

async function openBenchStore(kind: string, keep: boolean): Promise<{ store: SqlStore; close: () => Promise<void> }> {
  if (kind === 'pglite') {
    const dir = keep ? KEPT_PGLITE_DIR : fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-bench-filtered-'));
    const store = await openPgliteStore(dir);
    return { store, close: () => store.close().finally(() => keep || fs.rmSync(dir, { recursive: true, force: true })) };
  }
  if (kind !== 'postgres') throw new Error(`unknown store "${kind}" (pglite, postgres)`);
  const problem = await postgresUnavailable();
  if (problem) throw new Error(problem);
  const url = new URL(TEST_SERVER_URL);
  const name = keep ? KEPT_POSTGRES_DB : `ragline_bench_filtered_${process.pid}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: TEST_SERVER_URL });
    await client.connect();
    await client.query(sql).finally(() => client.end());
  };
  const exists = await (async () => {
    const client = new pg.Client({ connectionString: TEST_SERVER_URL });
    await client.connect();
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]).finally(() => client.end());
    return rows.length > 0;
  })();
  if (!exists) await admin(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  const store = await openPostgresStore(url.toString());
  return {
    store,
    close: () => store.close().finally(() => (keep ? undefined : admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}

/** The bench collection, loaded (bulk, then one HNSW build) unless a kept one of the right size exists. */
async function benchCollection(store: SqlStore, corpus: Corpus, chunks: number): Promise<{ collection: Collection; loadSeconds: number }> {
  const existing = await store.getCollection(COLLECTION);
  if (existing && (await store.countChunks(existing.id)) === chunks) return { collection: existing, loadSeconds: 0 };
  if (existing) await store.deleteCollection(existing.id);
  const created = await store.createCollection({ name: COLLECTION, embeddingModel: 'Xenova/all-MiniLM-L6-v2', dimensions: 384 });
  const started = performance.now();
  function* documents(): Generator<BulkDocument> {
    for (let start = 0, d = 0; start < chunks; start += CHUNKS_PER_DOCUMENT, d++) {
      const inputs = [];
      for (let i = start; i < Math.min(chunks, start + CHUNKS_PER_DOCUMENT); i++) {
        inputs.push(chunkInput(i - start, corpus.texts[i % corpus.texts.length]!, chunkVector(corpus, i)));
      }
      yield { ...documentFields(d), title: `doc ${d}`, chunks: inputs };
    }
  }
  await bulkLoadDocuments(store, created.id, documents(), {
    onProgress: (p) => process.stdout.write(`  ${store.kind}: ${p.chunks} chunks loaded\r`),
  });
  process.stdout.write('\n');
  return { collection: (await store.getCollection(created.id))!, loadSeconds: (performance.now() - started) / 1000 };
}

const ms = (v: number) => Math.round(v * 10) / 10;
const load1 = () => Number(os.loadavg()[0]!.toFixed(2));
const triple = (s: { p50: number; p95: number; p99: number }) => `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.p99)}`;

type Int8Stats = NonNullable<SqlStore['vectorCopies']>['stats'];

/** What the int8 path did between two readings of its counters: scans, fallbacks, rows and candidates per scan. */
function int8Delta(before: Int8Stats, after: Int8Stats) {
  const scans = after.scans - before.scans;
  const fallbacks = Object.fromEntries(
    Object.entries(after.fallbacks)
      .map(([reason, n]) => [reason, n - before.fallbacks[reason as keyof Int8Stats['fallbacks']]] as const)
      .filter(([, n]) => n > 0),
  );
  return {
    scans,
    fallbacks,
    rowsPerScan: scans ? Math.round((after.rowsScanned - before.rowsScanned) / scans) : 0,
    candidatesPerScan: scans ? Math.round((after.candidatesReranked - before.candidatesReranked) / scans) : 0,
  };
}

function recallAt10(approx: string[][], truth: string[][]): number {
  let sum = 0;
  truth.forEach((t, q) => {
    const top = new Set(t.slice(0, K));
    sum += approx[q]!.slice(0, K).filter((id) => top.has(id)).length / Math.max(1, top.size);
  });
  return sum / truth.length;
}

async function benchStore(kind: string, corpus: Corpus, options: Options) {
  const { store, close } = await openBenchStore(kind, options.keep);
  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    console.log(`\n${kind}: ${options.chunks} chunks`);
    const { collection, loadSeconds } = await benchCollection(store, corpus, options.chunks);
    console.log(`${kind}: ${loadSeconds ? `loaded and indexed in ${loadSeconds.toFixed(0)} s` : 'reusing the kept collection'}`);
    const bm25 = new Bm25Registry(store);
    await bm25.ensureSynced(collection);
    const copies = store.vectorCopies;
    let copy: Record<string, number> | undefined;
    if (copies?.enabled) {
      const t0 = performance.now();
      if (!(await copies.load(collection))) throw new Error('the int8 copy did not load (over RAGLINE_DENSE_INT8_MEMORY_MB?)');
      const ms = performance.now() - t0;
      const heap = process.memoryUsage();
      copy = {
        loadMs: Math.round(ms),
        chunks: copies.stats.lastLoad!.chunks,
        estimatedBytes: copies.estimatedBytes,
        heapUsedBytes: heap.heapUsed,
        arrayBuffersBytes: heap.arrayBuffers,
      };
      console.log(
        `${kind}: int8 copy of ${copy.chunks} chunks loaded in ${(ms / 1000).toFixed(1)} s, ~${(copies.estimatedBytes / 2 ** 20).toFixed(1)} MB estimated`,
      );
    }
    const searcher = new HybridSearcher({ store, embedder: await testEmbedder(), bm25 });
    const queries = corpus.queries;
    const queryTexts = sciFactTestQueries(options.queries).map((q) => q.text);
    for (const scenario of SCENARIOS) {
      const filter = parseFilter(scenario.filter);
      const dense = (i: number, plan: DensePlan | 'exact') =>
        store.denseCandidates(
          { collectionId: collection.id, vector: queries[i]!, limit: CANDIDATES, efSearch: CANDIDATES, filter, exact: plan === 'exact' },
          plan === 'exact'
            ? {}
            : plan === 'iterative-scan'
              ? { filteredPlan: plan, forceIndex: true }
              : plan === 'auto, int8 off'
                ? { filteredPlan: 'auto', int8Scan: false }
                : { filteredPlan: plan },
        );
      const truth: string[][] = [];
      for (let i = 0; i < options.exactQueries; i++) truth.push((await dense(i, 'exact')).map((h) => h.id));
      const plans = scenario.filter ? PLANS.filter((p) => copies || p !== 'auto, int8 off') : (['auto'] as DensePlan[]);
      for (const plan of plans) {
        for (let i = 0; i < 3; i++) await dense(i, plan); // warm-up
        const before = copies ? { ...copies.stats, fallbacks: { ...copies.stats.fallbacks } } : undefined;
        const samples: number[] = [];
        const lists: string[][] = [];
        for (let i = 0; i < queries.length; i++) {
          const t0 = performance.now();
          const hits = await dense(i, plan);
          samples.push(performance.now() - t0);
          lists.push(hits.map((h) => h.id));
        }
        const latency = summarize(samples);
        const recall = recallAt10(lists.slice(0, truth.length), truth);
        const int8 = copies && before ? int8Delta(before, copies.stats) : undefined;
        const sqlChoice =
          plan === 'auto' || plan === 'auto, int8 off'
            ? await store.filteredPlanOf({ collectionId: collection.id, vector: queries[0]!, limit: CANDIDATES, filter })
            : plan;
        // filteredPlanOf is SQL's choice; with a copy serving, auto pre-filters through it instead.
        const chosen = int8?.scans ? `pre-filter via int8 ${int8.scans}/${queries.length}` : sqlChoice;
        const loadAverage = load1();
        rows.push({
          store: kind,
          filter: scenario.name,
          query: plan === 'auto' || plan === 'auto, int8 off' ? `dense (${plan}: ${chosen ?? 'HNSW'})` : `dense (${chosen})`,
          'p50 / p95 / p99 ms': triple(latency),
          'recall@10': Number(recall.toFixed(3)),
          'hits/query': ms(lists.reduce((s, l) => s + l.length, 0) / lists.length),
          load: loadAverage,
        });
        results.push({
          store: kind,
          scenario: scenario.name,
          share: scenario.share,
          query: 'dense',
          plan,
          latencyMs: latency,
          recallAt10: recall,
          int8,
          loadAverage,
        });
        console.log(`[${kind}] ${scenario.name} dense ${plan}: p95 ${ms(latency.p95)} ms, recall@10 ${recall.toFixed(3)}`);
      }
      const search = (i: number) =>
        searcher.search(
          collection,
          { query: queryTexts[i]!, mode: 'hybrid', topK: K, filter: scenario.filter },
          { queryVector: queries[i] },
        );
      // With a copy, each query runs with the int8 scan and without it, alternately (the same load for both).
      const variants = copies && scenario.filter ? [true, false] : [copies?.enabled ?? false];
      const setInt8 = (on: boolean) => {
        if (copies) copies.enabled = on;
      };
      for (const on of variants) {
        setInt8(on);
        for (let i = 0; i < 3; i++) await search(i);
      }
      const samples = variants.map(() => ({ totals: [] as number[], dense: [] as number[], bm25: [] as number[], ids: [] as string[][] }));
      const before = copies ? { ...copies.stats, fallbacks: { ...copies.stats.fallbacks } } : undefined;
      for (let i = 0; i < queries.length; i++) {
        for (const [v, on] of variants.entries()) {
          setInt8(on);
          const r = await search(i);
          samples[v]!.totals.push(r.timings.totalMs);
          samples[v]!.dense.push(r.timings.denseMs);
          samples[v]!.bm25.push(r.timings.bm25Ms);
          samples[v]!.ids.push(r.hits.map((h) => h.chunk.id));
        }
      }
      setInt8(true);
      const int8 = copies && before ? int8Delta(before, copies.stats) : undefined;
      const sameResults = variants.length === 2 ? samples[0]!.ids.every((ids, q) => ids.join() === samples[1]!.ids[q]!.join()) : undefined;
      const loadAverage = load1();
      for (const [v, on] of variants.entries()) {
        const total = summarize(samples[v]!.totals);
        const label = variants.length === 2 ? (on ? 'hybrid (auto, int8)' : 'hybrid (auto, int8 off)') : 'hybrid (auto)';
        rows.push({
          store: kind,
          filter: scenario.name,
          query: label,
          'p50 / p95 / p99 ms': triple(total),
          'recall@10': sameResults === undefined ? '' : `same top-${K}: ${sameResults}`,
          'hits/query': '',
          load: loadAverage,
        });
        results.push({
          store: kind,
          scenario: scenario.name,
          share: scenario.share,
          query: 'hybrid',
          plan: variants.length === 2 ? (on ? 'auto' : 'auto, int8 off') : 'auto',
          latencyMs: total,
          denseMs: summarize(samples[v]!.dense),
          bm25Ms: summarize(samples[v]!.bm25),
          ...(on && int8 ? { int8 } : {}),
          ...(sameResults === undefined ? {} : { sameTopKAsOtherPath: sameResults }),
          loadAverage,
        });
        console.log(`[${kind}] ${scenario.name} ${label}: p95 ${ms(total.p95)} ms (dense p95 ${ms(summarize(samples[v]!.dense).p95)})`);
      }
    }
    await bm25.close();
    return { rows, results, loadSeconds, copy };
  } finally {
    await close();
  }
}

export async function runFilteredBench(args: string[]) {
  const options = parseOptions(args);
  console.log(
    `filtered bench: ${JSON.stringify(options)}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const corpus = await loadCorpus(options);
  const note =
    `${options.chunks} chunks in documents of ${CHUNKS_PER_DOCUMENT}; vectors: ${corpus.base.length} real MiniLM vectors from the ` +
    `evaluation cache, each reused ~${Math.round(options.chunks / corpus.base.length)} times with Gaussian noise (σ=${NOISE_SIGMA}/dim) ` +
    `and renormalised; ${corpus.queries.length} SciFact test claims; dense lists of ${CANDIDATES} candidates (as hybrid asks), ` +
    `recall@10 on the first ${options.exactQueries} queries against an exact scan over the filtered rows`;
  console.log(note);
  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown>[] = [];
  const copies: Record<string, unknown> = {};
  for (const kind of options.stores) {
    const out = await benchStore(kind, corpus, options);
    rows.push(...out.rows);
    results.push(...out.results);
    if (out.copy) copies[kind] = out.copy;
  }
  printTable(`Filtered search at ${options.chunks} chunks (top-${K}); load = 1-minute load average on ${os.cpus().length} cores`, rows);
  console.log(`\n${note}`);
  writeResults('filtered', { options, note, machine: { cpus: os.cpus().length }, int8Copies: copies, results, rows });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runFilteredBench(process.argv.slice(2)).catch((err) => exitOnBadArgs('filtered', err));
}
