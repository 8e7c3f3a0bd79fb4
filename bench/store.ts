/**
 * Store benchmark: PGlite (embedded, on disk) vs the Postgres server, side by side in one run.
 *
 *   npm run bench:store [-- --chunks=100000 --indexed-chunks=20000 --base=3000 --queries=100 --stores=pglite,postgres]
 *   npx tsx bench/store.ts --chunks 10000          # the same, run directly
 *
 * Measures, per store: insert throughput into a table with the collection's HNSW index and into one
 * without it (bulk load), the index build after the bulk load, k-NN latency p50/p95 at `--chunks`
 * (planner's choice, forced HNSW, exact, and with a filter matching 1 % of chunks) and recall@10 of
 * the default search against exact search.
 *
 * Vectors: real MiniLM embeddings of `--base` SciFact abstracts (cached under .ragline/cache), used
 * as they are once, then reused with perturbations to reach `--chunks` (see makeChunk).
 * Queries are real SciFact test claims.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../core/random.ts';
import { parseFilter, type Filter } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { DenseSearchTuning, SqlStore } from '../store/sql-store.ts';
import type { ChunkInput } from '../store/types.ts';
import { openScratchStore, postgresUnavailable } from '../testkit/scratch-database.ts';
import { cachingEmbedder, chunkInput, embedAll, sciFactPassages, sciFactTestQueries } from '../testkit/scifact-fixture.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { BenchFlags, STORE_KINDS, exitOnBadArgs } from './bench-args.ts';

const CHUNKS_PER_DOCUMENT = 100;
const SHARDS = 100;
const K = 10;
const MAINTENANCE_WORK_MEM = '1GB';
/** hnsw.ef_search values compared beyond the default (40). */
const EF_SWEEP = [100, 200];
/** Perturbation of reused passages: weight of the mixed-in passage, and per-dimension noise scale. */
const MIX_MIN = 0.3;
const MIX_MAX = 0.8;
const NOISE = 0.03;

interface Options {
  chunks: number;
  indexedChunks: number;
  base: number;
  queries: number;
  exactQueries: number;
  stores: string[];
}

function parseOptions(args: string[]): Options {
  const flags = new BenchFlags(args);
  const chunks = flags.integer('chunks', 100_000);
  const options = {
    chunks,
    indexedChunks: Math.min(chunks, flags.integer('indexed-chunks', 20_000)),
    base: flags.integer('base', 3000),
    queries: flags.integer('queries', 100),
    exactQueries: flags.integer('exact-queries', 30),
    stores: flags.oneOfList('stores', STORE_KINDS, ['pglite', 'postgres']),
  };
  flags.finish();
  return options;
}

interface Corpus {
  texts: string[];
  base: Float32Array[];
  queries: Float32Array[];
}

/**
 * Chunk `i` of the full-size corpus: real passage i mod n, its vector mixed with a random other
 * passage's (random weight) plus noise, so the ~n/chunks copies of a passage are spread out rather
 * than near-ties (near-duplicate clusters make recall@10 against exact search meaningless).
 */
function makeChunk(corpus: Corpus, i: number, ordinal: number): ChunkInput {
  const n = corpus.base.length;
  // Seeded per chunk, so every run and every store sees the same vectors.
  const random = mulberry32(i + 1);
  const a = corpus.base[i % n]!;
  const b = corpus.base[Math.floor(random() * n)]!;
  const weight = i < n ? 0 : MIX_MIN + (MIX_MAX - MIX_MIN) * random();
  const v = new Float32Array(a.length);
  let norm = 0;
  for (let d = 0; d < a.length; d++) {
    // Irwin–Hall approximation of a normal: sum of 4 uniforms, centred (σ ≈ 0.58 × scale).
    const noise = i < n ? 0 : (random() + random() + random() + random() - 2) * NOISE;
    v[d] = a[d]! + weight * b[d]! + noise;
    norm += v[d]! * v[d]!;
  }
  norm = Math.sqrt(norm);
  for (let d = 0; d < v.length; d++) v[d]! /= norm;
  const text = corpus.texts[i % n]!;
  return chunkInput(ordinal, text, v, { tokenCount: Math.ceil(text.length / 4) });
}

/** Loads chunks [from, to) as documents of CHUNKS_PER_DOCUMENT; returns chunks per second. */
async function load(store: SqlStore, collectionId: string, corpus: Corpus, from: number, to: number): Promise<number> {
  const started = performance.now();
  for (let start = from; start < to; start += CHUNKS_PER_DOCUMENT) {
    const doc = start / CHUNKS_PER_DOCUMENT;
    const chunks = [];
    for (let i = start; i < Math.min(to, start + CHUNKS_PER_DOCUMENT); i++) chunks.push(makeChunk(corpus, i, i - start));
    await store.replaceDocument({
      collectionId,
      source: `bench/doc-${doc}`,
      title: `doc ${doc}`,
      mime: 'text/plain',
      contentHash: String(doc),
      metadata: { shard: doc % SHARDS },
      pageCount: null,
      chunks,
    });
    if (doc % 100 === 99) process.stdout.write(`  ${store.kind}: ${start + CHUNKS_PER_DOCUMENT - from} chunks loaded\r`);
  }
  process.stdout.write('\n');
  return (to - from) / ((performance.now() - started) / 1000);
}

async function latencies(
  store: SqlStore,
  collectionId: string,
  queries: Float32Array[],
  options: { exact?: boolean; filter?: Filter; efSearch?: number; tuning?: DenseSearchTuning },
) {
  const samples: number[] = [];
  const results: string[][] = [];
  for (const vector of queries) {
    const started = performance.now();
    const { exact, filter, efSearch } = options;
    const hits = await store.denseSearch({ collectionId, vector, limit: K, exact, filter, efSearch }, options.tuning);
    samples.push(performance.now() - started);
    results.push(hits.map((h) => h.chunk.id));
  }
  return { latency: summarize(samples), results };
}

const p50p95 = (s: { p50: number; p95: number }) => `${s.p50.toFixed(1)} / ${s.p95.toFixed(1)}`;
const usesIndex = (plan: string) => (plan.includes('chunks_hnsw_') ? 'HNSW' : 'exact scan');

async function benchStore(kind: string, corpus: Corpus, options: Options) {
  let store: SqlStore;
  let cleanup: () => Promise<void>;
  if (kind === 'pglite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-bench-pglite-'));
    store = await openPgliteStore(dir);
    cleanup = async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
  } else {
    const problem = await postgresUnavailable();
    if (problem) throw new Error(problem);
    const scratch = await openScratchStore('bench');
    store = scratch.store;
    cleanup = scratch.close;
  }
  try {
    const model = { embeddingModel: 'Xenova/all-MiniLM-L6-v2', dimensions: corpus.base[0]!.length };
    console.log(`\n${kind}: inserting ${options.indexedChunks} chunks into an indexed collection`);
    const indexed = await store.createCollection({ name: 'indexed', ...model });
    const indexedStarted = performance.now();
    const indexedRate = await load(store, indexed.id, corpus, 0, options.indexedChunks);
    const indexedSeconds = (performance.now() - indexedStarted) / 1000;
    // Free the space before the big load: only the bulk collection is searched.
    await store.deleteCollection(indexed.id);

    console.log(`${kind}: bulk-loading ${options.chunks} chunks without the index, then building it`);
    const bulk = await store.createCollection({ name: 'bulk', ...model });
    await store.dropVectorIndex(bulk.id);
    const bulkStarted = performance.now();
    const bulkRate = await load(store, bulk.id, corpus, 0, options.chunks);
    const bulkSeconds = (performance.now() - bulkStarted) / 1000;
    const buildStarted = performance.now();
    await store.buildVectorIndex(bulk.id, { maintenanceWorkMem: MAINTENANCE_WORK_MEM });
    const buildSeconds = (performance.now() - buildStarted) / 1000;
    // Statistics as autovacuum (server) or the store's own upkeep would leave them.
    await store.db.query('ANALYZE chunks (collection_id, document_id, page_start)');
    await store.db.query('ANALYZE documents');

    console.log(`${kind}: ${options.queries} queries at ${options.chunks} chunks`);
    const queries = corpus.queries.slice(0, options.queries);
    const filter = parseFilter({ 'metadata.shard': 7 });
    const first = { collectionId: bulk.id, vector: queries[0]!, limit: K };
    const plans = {
      default: usesIndex(await store.explainDenseSearch(first)),
      filtered: usesIndex(await store.explainDenseSearch({ ...first, filter })),
    };
    await latencies(store, bulk.id, queries.slice(0, 10), {}); // warm the cache
    const byDefault = await latencies(store, bulk.id, queries, {});
    const forced = await latencies(store, bulk.id, queries, { tuning: { forceIndex: true } });
    const sweep = [];
    for (const efSearch of EF_SWEEP)
      sweep.push({ efSearch, ...(await latencies(store, bulk.id, queries, { efSearch, tuning: { forceIndex: true } })) });
    const filtered = await latencies(store, bulk.id, queries, { filter });
    const exactQueries = queries.slice(0, options.exactQueries);
    const exact = await latencies(store, bulk.id, exactQueries, { exact: true });
    const filteredExact = await latencies(store, bulk.id, exactQueries, { exact: true, filter });
    const recall = (approx: string[][], truth: string[][]) =>
      truth.reduce((sum, t, q) => sum + approx[q]!.filter((id) => t.includes(id)).length / K, 0) / truth.length;

    return {
      store: kind,
      chunks: options.chunks,
      insert: {
        indexedChunks: options.indexedChunks,
        indexedChunksPerSecond: indexedRate,
        indexedSeconds,
        bulkChunksPerSecond: bulkRate,
        bulkSeconds,
        indexBuildSeconds: buildSeconds,
        maintenanceWorkMem: MAINTENANCE_WORK_MEM,
        /** Time to `chunks` indexed chunks by inserting into the index (extrapolated when indexedChunks < chunks). */
        indexedPathSecondsFor: options.chunks / indexedRate,
        bulkPathSecondsFor: bulkSeconds + buildSeconds,
      },
      plans,
      knnMs: {
        default: byDefault.latency,
        forcedIndex: forced.latency,
        filtered1pct: filtered.latency,
        exact: exact.latency,
        filtered1pctExact: filteredExact.latency,
      },
      recallAt10: {
        default: recall(byDefault.results.slice(0, exactQueries.length), exact.results),
        forcedIndex: recall(forced.results.slice(0, exactQueries.length), exact.results),
        filtered1pct: recall(filtered.results.slice(0, exactQueries.length), filteredExact.results),
      },
      efSearchSweep: sweep.map((e) => ({
        efSearch: e.efSearch,
        latencyMs: e.latency,
        recallAt10: recall(e.results.slice(0, exactQueries.length), exact.results),
      })),
      filteredResultCounts: { min: Math.min(...filtered.results.map((r) => r.length)) },
    };
  } finally {
    await cleanup();
  }
}

export async function runStoreBench(args: string[]) {
  const options = parseOptions(args);
  console.log(`store bench: ${JSON.stringify(options)}`);
  const embedder = cachingEmbedder(await testEmbedder());
  const passages = sciFactPassages(options.base);
  const corpus: Corpus = {
    texts: passages.map((p) => p.text),
    base: await embedAll(
      embedder,
      passages.map((p) => p.text),
      'passage',
      (n) => process.stdout.write(`  embedded ${n}\r`),
    ),
    queries: await embedAll(
      embedder,
      sciFactTestQueries(options.queries).map((q) => q.text),
      'query',
    ),
  };
  const note =
    `vectors: real MiniLM embeddings of ${passages.length} SciFact abstracts, then the same reused with perturbations ` +
    `(normalize(base[i] + w·base[random] + noise), w in [${MIX_MIN}, ${MIX_MAX}], noise σ≈${(NOISE * 0.58).toFixed(3)}/dim) ` +
    `to reach ${options.chunks} chunks; queries: ${corpus.queries.length} real SciFact claims`;
  console.log(note);

  const results = [];
  for (const kind of options.stores) {
    if (kind !== 'pglite' && kind !== 'postgres') throw new Error(`unknown store "${kind}" (pglite, postgres)`);
    results.push(await benchStore(kind, corpus, options));
  }

  printTable(
    `Inserts and index build (${options.chunks} chunks; indexed inserts measured on the first ${options.indexedChunks})`,
    results.map((r) => ({
      store: r.store,
      'indexed insert chunks/s': Math.round(r.insert.indexedChunksPerSecond),
      'bulk insert chunks/s': Math.round(r.insert.bulkChunksPerSecond),
      'index build s': Number(r.insert.indexBuildSeconds.toFixed(1)),
      [`bulk+build s (${options.chunks})`]: Number(r.insert.bulkPathSecondsFor.toFixed(1)),
      [`indexed path s (${options.chunks}${options.indexedChunks < options.chunks ? ', linear extrapolation: a lower bound' : ''})`]:
        Number(r.insert.indexedPathSecondsFor.toFixed(1)),
    })),
  );
  printTable(
    `k-NN top-${K} latency at ${options.chunks} chunks, ms (p50 / p95); recall@${K} vs exact on ${Math.min(options.exactQueries, options.queries)} queries`,
    results.map((r) => ({
      store: r.store,
      default: p50p95(r.knnMs.default),
      'default plan': r.plans.default,
      'forced HNSW': p50p95(r.knnMs.forcedIndex),
      '1% filter': p50p95(r.knnMs.filtered1pct),
      '1% filter plan': r.plans.filtered,
      exact: p50p95(r.knnMs.exact),
      'recall default': Number(r.recallAt10.default.toFixed(3)),
      'recall HNSW': Number(r.recallAt10.forcedIndex.toFixed(3)),
      'recall 1% filter': Number(r.recallAt10.filtered1pct.toFixed(3)),
    })),
  );
  printTable(
    `Forced HNSW: recall@${K} and latency (ms, p50 / p95) by hnsw.ef_search at ${options.chunks} chunks`,
    results.flatMap((r) => [
      { store: r.store, ef_search: 40, recall: Number(r.recallAt10.forcedIndex.toFixed(3)), latency: p50p95(r.knnMs.forcedIndex) },
      ...r.efSearchSweep.map((e) => ({
        store: r.store,
        ef_search: e.efSearch,
        recall: Number(e.recallAt10.toFixed(3)),
        latency: p50p95(e.latencyMs),
      })),
    ]),
  );
  console.log(`\n${note}`);
  writeResults('store', { options, note, machine: { cpus: os.cpus().length, load: os.loadavg() }, results });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runStoreBench(process.argv.slice(2)).catch((err) => exitOnBadArgs('store', err));
}
