/**
 * BM25 snapshot load vs rebuild for one collection of real, distinct texts: SciFact abstracts and
 * SQuAD dev paragraphs split into passages of at most 40 words (~30k chunks), on PGlite in memory.
 * Vectors are a constant placeholder: dense search is not measured here, and BM25 never reads them.
 *
 * Measured, each the median of --repeats runs in a fresh registry:
 * - rebuild: Bm25Registry without snapshots, ensureSynced (read every chunk, analyze, index);
 * - snapshot write: serialise + gzip + upsert (what a replica pays once per snapshotEveryDocuments);
 * - snapshot load: Bm25Registry with snapshots, ensureSynced (read + gunzip + parse + restore + diff);
 * plus the heap the index holds (after GC, with --expose-gc) against the registry's estimate.
 *
 *   npm run bench -- bm25-snapshot [--chunks 30000] [--repeats 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { datasetPath } from '../core/shared-data.ts';
import { loadCorpus } from '../eval/probe/scifact.ts';
import { printTable, writeResults } from '../eval/results.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { SNAPSHOT_FORMAT, encodeSnapshot } from '../retrieval/bm25-snapshot.ts';
import { SqlBm25Snapshots } from '../store/bm25-snapshots.ts';
import { bulkLoadDocuments } from '../store/bulk-load.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { BenchFlags } from './bench-args.ts';
import { passages } from './search.ts';

interface Doc {
  source: string;
  title: string;
  texts: string[];
}

const PASSAGE_WORDS = 40;

/** Real documents until `target` passages: SQuAD paragraphs first, then SciFact abstracts. */
function realDocuments(target: number): { docs: Doc[]; chunks: number } {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { title: string; paragraphs: { context: string }[] }[];
  };
  const docs: Doc[] = [];
  let chunks = 0;
  const push = (doc: Doc) => {
    const texts = doc.texts.slice(0, Math.max(0, target - chunks));
    if (!texts.length) return;
    docs.push({ ...doc, texts });
    chunks += texts.length;
  };
  squad.data.forEach((article, a) =>
    article.paragraphs.forEach((p, i) =>
      push({ source: `squad/${a}/${i}`, title: article.title.replace(/_/g, ' '), texts: passages(p.context, PASSAGE_WORDS) }),
    ),
  );
  for (const doc of loadCorpus()) push({ source: `scifact/${doc.id}`, title: doc.title, texts: passages(doc.text, PASSAGE_WORDS) });
  return { docs, chunks };
}

function parseArgs(args: string[]): { chunks: number; repeats: number } {
  const flags = new BenchFlags(args);
  const options = { chunks: flags.integer('chunks', 30_000, 100), repeats: flags.integer('repeats', 3, 1) };
  flags.finish();
  return options;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heapUsed = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

async function load(store: SqlStore, collection: Collection, snapshots: boolean) {
  const registry = new Bm25Registry(store, { snapshots: snapshots ? new SqlBm25Snapshots(store.db) : undefined });
  const before = heapUsed();
  const { ms, value: index } = await timed(() => registry.ensureSynced(collection));
  const heapBytes = heapUsed() - before;
  const source = registry.readiness().collections[0]!.source;
  await registry.close();
  return { ms, index, heapBytes, source };
}

export async function runBm25SnapshotBench(args: string[] = []) {
  const options = parseArgs(args);
  const { docs, chunks } = realDocuments(options.chunks);
  console.log(`${chunks} distinct real passages (≤ ${PASSAGE_WORDS} words) in ${docs.length} documents; loading PGlite…`);
  const store = await openPgliteStore();
  const created = await store.createCollection({ name: 'bm25-snapshot-bench', embeddingModel: 'placeholder', dimensions: 3 });
  const insertStart = performance.now();
  await bulkLoadDocuments(
    store,
    created.id,
    docs.map((doc) => ({ source: doc.source, title: doc.title, chunks: doc.texts.map((t, i) => chunkInput(i, t, [1, 0, 0])) })),
    { vectorIndex: false }, // the vectors are a placeholder
  );
  console.log(`inserted in ${Math.round(performance.now() - insertStart)} ms`);
  const collection = (await store.getCollection(created.id))!;

  const rebuilds: number[] = [];
  const loads: number[] = [];
  const heap: number[] = [];
  let estimate = 0;
  let indexedChunks = 0;
  for (let i = 0; i < options.repeats; i++) {
    const rebuilt = await load(store, collection, false);
    rebuilds.push(rebuilt.ms);
    heap.push(rebuilt.heapBytes);
    estimate = rebuilt.index.estimatedBytes;
    indexedChunks = rebuilt.index.size;
  }

  // One write, timed in its parts, through the same calls the registry makes.
  const snapshotStore = new SqlBm25Snapshots(store.db);
  const index = (await load(store, collection, false)).index;
  const encode = await timed(() => encodeSnapshot(index));
  const save = await timed(() =>
    snapshotStore.save(collection.id, {
      format: SNAPSHOT_FORMAT,
      collectionVersion: collection.version,
      chunkCount: index.size,
      payload: encode.value,
    }),
  );
  // The synchronous part of encoding: how long a snapshot write blocks the event loop.
  const serialise = await timed(async () => JSON.stringify(index.toSnapshot()).length);
  const jsonBytes = serialise.value;

  for (let i = 0; i < options.repeats; i++) {
    const loaded = await load(store, collection, true);
    if (loaded.source !== 'snapshot') throw new Error(`expected a load from the snapshot, got ${loaded.source}`);
    if (loaded.index.size !== indexedChunks) throw new Error(`snapshot holds ${loaded.index.size} chunks, expected ${indexedChunks}`);
    loads.push(loaded.ms);
  }
  await store.close();

  const rows = [
    { step: 'rebuild from chunks (ensureSynced, no snapshot)', ms: Math.round(median(rebuilds)) },
    { step: 'snapshot load (ensureSynced from snapshot + diff)', ms: Math.round(median(loads)) },
    { step: 'snapshot encode (JSON + gzip)', ms: Math.round(encode.ms) },
    { step: '  of which JSON.stringify (blocks the event loop)', ms: Math.round(serialise.ms) },
    { step: 'snapshot save (upsert)', ms: Math.round(save.ms) },
  ];
  printTable(`BM25 snapshot vs rebuild, ${indexedChunks} chunks, PGlite in memory (median of ${options.repeats})`, rows);
  const memory = {
    heapBytesPerChunk: Math.round(median(heap) / indexedChunks),
    estimatedBytesPerChunk: Math.round(estimate / indexedChunks),
    snapshotJsonBytesPerChunk: Math.round(jsonBytes / indexedChunks),
    snapshotGzipBytes: encode.value.length,
    gcExposed: Boolean((globalThis as { gc?: unknown }).gc),
  };
  printTable('BM25 memory', [
    { measure: 'heap per chunk (after GC)', bytes: memory.heapBytesPerChunk },
    { measure: 'registry estimate per chunk', bytes: memory.estimatedBytesPerChunk },
    { measure: 'snapshot JSON per chunk', bytes: memory.snapshotJsonBytesPerChunk },
    { measure: 'snapshot gzip total', bytes: memory.snapshotGzipBytes },
  ]);
  writeResults('bm25-snapshot', {
    chunks: indexedChunks,
    documents: docs.length,
    store: 'pglite (in memory)',
    // The machine is shared: timings scale with its load, the ratio much less.
    loadAverage1m: Math.round(os.loadavg()[0]! * 10) / 10,
    cpus: os.cpus().length,
    repeats: options.repeats,
    speedup: Math.round((median(rebuilds) / median(loads)) * 100) / 100,
    timingsMs: { rebuild: rebuilds, load: loads, encode: encode.ms, serialise: serialise.ms, save: save.ms },
    memory,
    rows,
  });
}
