/**
 * The scale curve: search latency per stage (dense, BM25, fuse, total), insert and index build
 * times, BM25 memory per chunk and BM25 snapshot load vs rebuild, at 10k / 100k / 300k chunks of
 * distinct texts and vectors (bench/synthetic-corpus.ts), on PGlite (a temporary data directory) and Postgres (a
 * scratch database, dropped afterwards). Queries pass precomputed real query vectors, so query
 * embedding is not in these rows (bench query-length reports it).
 *
 *   npm run bench scale [-- --sizes 10000,100000,300000 --stores pglite,postgres --queries 100 --seeds 3000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { encodeSnapshot, SNAPSHOT_FORMAT } from '../retrieval/bm25-snapshot.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import type { SearchResponse } from '../retrieval/types.ts';
import { SqlBm25Snapshots } from '../store/bm25-snapshots.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { openScratchStore } from '../testkit/scratch-database.ts';
import { BenchFlags, STORE_KINDS, machineLoad, ms } from './bench-args.ts';
import {
  type NeighbourStructure,
  neighbourStructure,
  realPassageCount,
  type SyntheticChunk,
  syntheticDocuments,
} from './synthetic-corpus.ts';
import { benchQueries, DEFAULT_SEEDS, loadBenchEmbedder, loadSyntheticCollection, syntheticSource } from './synthetic-store.ts';

type StoreKind = (typeof STORE_KINDS)[number];
const MODES = ['hybrid', 'dense', 'bm25'] as const;

export interface ScaleOptions {
  sizes: number[];
  stores: StoreKind[];
  queries: number;
  seeds: number;
  /** Probes of the brute-force neighbour check (0 skips it). */
  probes: number;
  results: string;
}

export function parseScaleArgs(args: string[]): ScaleOptions {
  const flags = new BenchFlags(args);
  const options = {
    sizes: flags.numberList('sizes', [10_000, 100_000, 300_000]),
    stores: flags.oneOfList('stores', STORE_KINDS, ['pglite', 'postgres']),
    queries: flags.positiveNumber('queries', 100),
    seeds: flags.positiveNumber('seeds', DEFAULT_SEEDS),
    probes: flags.integer('probes', 100, 0),
    results: flags.resultsName('scale'),
  };
  flags.finish();
  return options;
}

// A real gc() makes heap deltas mean "what the index keeps", not "what happened to be collected".
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
const heapUsed = () => {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
};

async function openStore(kind: StoreKind): Promise<{ store: SqlStore; close: () => Promise<void> }> {
  if (kind === 'pglite') {
    // On disk, as a PGlite data directory is used in production; in memory, 300k chunks and their
    // HNSW graph approach the 4 GB a WebAssembly heap can address.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-bench-scale-'));
    const store = await openPgliteStore(dir);
    return { store, close: () => store.close().finally(() => fs.rmSync(dir, { recursive: true, force: true })) };
  }
  return openScratchStore('scale');
}

export async function bm25Figures(store: SqlStore, collection: Collection) {
  const rebuildRegistry = new Bm25Registry(store);
  const before = heapUsed();
  const rebuildStart = performance.now();
  const index = await rebuildRegistry.ensureSynced(collection);
  const rebuildMs = performance.now() - rebuildStart;
  const heapBytes = heapUsed() - before;

  const snapshots = new SqlBm25Snapshots(store.db);
  const saveStart = performance.now();
  await snapshots.save(collection.id, {
    format: SNAPSHOT_FORMAT,
    collectionVersion: collection.version,
    chunkCount: index.size,
    payload: await encodeSnapshot(index),
  });
  const snapshotSaveMs = performance.now() - saveStart;
  await rebuildRegistry.close();

  const loadRegistry = new Bm25Registry(store, { snapshots });
  const loadStart = performance.now();
  const loaded = await loadRegistry.ensureSynced(collection);
  const snapshotLoadMs = performance.now() - loadStart;
  const source = loadRegistry.readiness().collections[0]?.source;
  if (source !== 'snapshot' || loaded.size !== index.size) {
    throw new Error(`expected the index from its snapshot (${index.size} chunks), got ${source} with ${loaded.size}`);
  }
  return {
    registry: loadRegistry,
    indexedChunks: index.size,
    rebuildMs,
    snapshotSaveMs,
    snapshotLoadMs,
    heapBytesPerChunk: heapBytes / index.size,
    estimatedBytesPerChunk: index.estimatedBytes / index.size,
  };
}

type Timings = SearchResponse['timings'];
const stageKeys = ['denseMs', 'bm25Ms', 'fuseMs', 'totalMs'] as const;

export async function searchLatencies(searcher: HybridSearcher, collection: Collection, queries: { text: string; vector: Float32Array }[]) {
  const out: Record<string, Record<(typeof stageKeys)[number], ReturnType<typeof summarize>>> = {};
  for (const mode of MODES) {
    const run = (q: { text: string; vector: Float32Array }) =>
      searcher.search(collection, { query: q.text, mode, topK: 10 }, { queryVector: q.vector });
    for (const q of queries.slice(0, 5)) await run(q); // plans, caches, JIT
    const samples: Timings[] = [];
    for (const q of queries) samples.push((await run(q)).timings);
    out[mode] = Object.fromEntries(stageKeys.map((k) => [k, summarize(samples.map((s) => s[k]))])) as (typeof out)[string];
  }
  return out;
}

const triple = (s: ReturnType<typeof summarize>) => `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.p99)}`;

export async function runScaleBench(args: string[] = []): Promise<string> {
  const options = parseScaleArgs(args);
  const embedder = await loadBenchEmbedder();
  const source = await syntheticSource(embedder, options.seeds);
  const queries = await benchQueries(embedder, options.queries);
  const realPassages = realPassageCount(source.seeds);
  console.log(`\n${source.seeds.length} seed documents, ${realPassages} real passages; beyond that, recombined sentences`);

  const results: Record<string, unknown>[] = [];
  const latencyRows: Record<string, string | number>[] = [];
  const buildRows: Record<string, string | number>[] = [];
  const structure = new Map<number, NeighbourStructure>();
  for (const size of options.sizes) {
    for (const kind of options.stores) {
      const load = machineLoad();
      const { store, close } = await openStore(kind);
      try {
        const kept: SyntheticChunk[] = [];
        const wantStructure = options.probes > 0 && !structure.has(size);
        const loaded = await loadSyntheticCollection(store, `scale-${size}`, syntheticDocuments(source.seeds, source.vectors, size), {
          dimensions: embedder.dimensions,
          onChunk: wantStructure ? (c) => kept.push(c) : undefined,
          label: `${kind} ${size}`,
        });
        if (wantStructure) structure.set(size, neighbourStructure(kept, options.probes));
        kept.length = 0;
        const bm25 = await bm25Figures(store, loaded.collection);
        const searcher = new HybridSearcher({ store, embedder, bm25: bm25.registry });
        const stages = await searchLatencies(searcher, loaded.collection, queries);
        await bm25.registry.close();
        const loadAfter = machineLoad();
        const realShare = Math.min(1, realPassages / loaded.chunks);
        results.push({
          store: kind,
          chunks: loaded.chunks,
          documents: loaded.documents,
          realTextShare: Math.round(realShare * 1000) / 1000,
          insertSeconds: loaded.insertSeconds,
          insertChunksPerSecond: loaded.chunks / loaded.insertSeconds,
          hnswBuildSeconds: loaded.indexSeconds,
          bm25: {
            rebuildMs: bm25.rebuildMs,
            snapshotSaveMs: bm25.snapshotSaveMs,
            snapshotLoadMs: bm25.snapshotLoadMs,
            heapBytesPerChunk: Math.round(bm25.heapBytesPerChunk),
            estimatedBytesPerChunk: Math.round(bm25.estimatedBytesPerChunk),
          },
          stages,
          loadAverageBefore: load.loadAverage,
          loadAverageAfter: loadAfter.loadAverage,
        });
        for (const mode of MODES) {
          const s = stages[mode]!;
          latencyRows.push({
            store: kind,
            chunks: loaded.chunks,
            mode,
            queries: s.totalMs.n,
            'dense p50/p95/p99': mode === 'bm25' ? '–' : triple(s.denseMs),
            'bm25 p50/p95/p99': mode === 'dense' ? '–' : triple(s.bm25Ms),
            'fuse p50/p95/p99': mode === 'hybrid' ? triple(s.fuseMs) : '–',
            'total p50/p95/p99': triple(s.totalMs),
            load: loadAfter.loadAverage[0],
          });
        }
        buildRows.push({
          store: kind,
          chunks: loaded.chunks,
          'insert s': ms(loaded.insertSeconds),
          'chunks/s': Math.round(loaded.chunks / loaded.insertSeconds),
          'HNSW build s': ms(loaded.indexSeconds),
          'BM25 rebuild ms': Math.round(bm25.rebuildMs),
          'snapshot load ms': Math.round(bm25.snapshotLoadMs),
          'rebuild / load': ms(bm25.rebuildMs / bm25.snapshotLoadMs),
          'BM25 heap B/chunk': Math.round(bm25.heapBytesPerChunk),
          load: `${load.loadAverage[0]} → ${loadAfter.loadAverage[0]}`,
        });
        report(false); // a long run keeps what it measured so far
        console.log(`[${kind} ${size}] hybrid total p95 ${ms(stages.hybrid!.totalMs.p95)} ms (load ${loadAfter.loadAverage[0]})`);
      } finally {
        await close();
      }
    }
  }
  await embedder.close();
  return report(true);

  function report(complete: boolean): string {
    const machine = machineLoad();
    const structureRows = [...structure].map(([size, s]) => ({ chunks: size, ...s }));
    if (complete) {
      printTable(
        `Search latency per stage, ms (p50 / p95 / p99), top-10, ${queries.length} real queries with precomputed vectors; ${machine.uptime}`,
        latencyRows,
      );
      printTable(
        'Insert (bulk loader: 10k chunks per transaction, no HNSW index while loading), HNSW build, BM25 rebuild vs snapshot load, BM25 heap per chunk',
        buildRows,
      );
      printTable('Neighbour structure of the synthetic vectors (brute force, probes against every chunk)', structureRows);
    }
    return writeResults(options.results, {
      complete,
      note:
        `Distinct texts and vectors: ${realPassages} real passages (SQuAD, SciFact, PubMedQA; ${source.seeds.length} embedded for real, ` +
        'the rest perturbed from their document vector); beyond that, recombined sentences with mixed, perturbed vectors.',
      options,
      machine,
      realPassages,
      neighbourStructure: structureRows,
      results,
      rows: { latency: latencyRows, build: buildRows },
    });
  }
}
