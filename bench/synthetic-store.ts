/**
 * Loading the synthetic corpus (bench/synthetic-corpus.ts) into a store through the bulk path
 * (store/bulk-load.ts: many documents per transaction, the HNSW index built once), and a persistent
 * Postgres database holding ready collections so the load and query-length benches do not
 * rebuild 100k chunks on every run.
 */
import pg from 'pg';
import { MODELS_DIR } from '../core/shared-data.ts';
import { realQueries } from './search.ts';
import { embedWithCache } from '../eval/probe/embed-cache.ts';
import { LocalEmbedder } from '../models/embedders/local.ts';
import type { Embedder } from '../models/types.ts';
import { bulkLoadDocuments, type BulkDocument } from '../store/bulk-load.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { TEST_SERVER_URL } from '../testkit/scratch-database.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import {
  CORPUS_VERSION,
  embedSeeds,
  seedDocuments,
  type SyntheticChunk,
  type SyntheticDocument,
  syntheticDocuments,
} from './synthetic-corpus.ts';

export const MODEL = 'Xenova/all-MiniLM-L6-v2';
export const DEFAULT_SEEDS = 3000;

export function loadBenchEmbedder(): Promise<LocalEmbedder> {
  return LocalEmbedder.load({ model: MODEL, dtype: 'fp32', modelDir: process.env.RAG_MODEL_DIR ?? MODELS_DIR, batchSize: 32 });
}

export interface SyntheticSource {
  seeds: ReturnType<typeof seedDocuments>;
  vectors: Float32Array[];
}

export async function syntheticSource(embedder: Embedder, seedCount = DEFAULT_SEEDS): Promise<SyntheticSource> {
  const seeds = seedDocuments(seedCount);
  const vectors = await embedSeeds(embedder, seeds, (line) => process.stdout.write(`\r${line}   `));
  return { seeds, vectors };
}

/** Real queries (SciFact claims, SQuAD questions, pasted paragraphs) with their real query vectors, cached. */
export async function benchQueries(embedder: Embedder, n: number): Promise<{ kind: string; text: string; vector: Float32Array }[]> {
  const queries = realQueries(n);
  const vectors = await embedWithCache(
    embedder,
    `${CORPUS_VERSION}-queries-${n}-minilm-fp32`,
    queries.map((q, i) => ({ id: String(i), text: q.text })),
    'query',
    () => {},
  );
  return queries.map((q, i) => ({ ...q, vector: vectors.get(String(i))! }));
}

export interface LoadedCollection {
  collection: Collection;
  chunks: number;
  documents: number;
  insertSeconds: number;
  indexSeconds: number;
}

/**
 * Creates `name` and fills it with `documents` through the bulk loader (store/bulk-load.ts).
 * `onChunk` sees every chunk (the scale bench keeps vectors for the neighbour check).
 */
export async function loadSyntheticCollection(
  store: SqlStore,
  name: string,
  documents: Iterable<SyntheticDocument>,
  options: { dimensions: number; metadata?: Record<string, unknown>; onChunk?: (chunk: SyntheticChunk) => void; label?: string },
): Promise<LoadedCollection> {
  const created = await store.createCollection({ name, embeddingModel: MODEL, dimensions: options.dimensions, metadata: options.metadata });
  const label = options.label ?? name;
  function* bulkDocuments(): Generator<BulkDocument> {
    let count = 0;
    for (const doc of documents) {
      for (const c of doc.chunks) options.onChunk?.(c);
      yield {
        source: doc.source,
        title: doc.title,
        metadata: { shard: count++ % 10 },
        chunks: doc.chunks.map((c, i) => chunkInput(i, c.text, c.vector)),
      };
    }
  }
  const loaded = await bulkLoadDocuments(store, created.id, bulkDocuments(), {
    onProgress: (p) => process.stdout.write(`\r[${label}] inserted ${p.chunks} chunks (${p.seconds.toFixed(0)} s)   `),
  });
  process.stdout.write(
    `\r[${label}] ${loaded.chunks} chunks: insert ${loaded.insertSeconds.toFixed(1)} s, HNSW build ${loaded.indexSeconds.toFixed(1)} s\n`,
  );
  return {
    collection: (await store.getCollectionById(created.id))!,
    chunks: loaded.chunks,
    documents: loaded.documents,
    insertSeconds: loaded.insertSeconds,
    indexSeconds: loaded.indexSeconds,
  };
}

/** The database on the store test server that keeps ready synthetic collections between bench runs (RAGLINE_BENCH_DATABASE). */
export const benchDatabase = () => process.env.RAGLINE_BENCH_DATABASE ?? 'ragline_bench_synthetic';

export function benchDatabaseUrl(): string {
  const url = new URL(TEST_SERVER_URL);
  url.pathname = `/${benchDatabase()}`;
  return url.toString();
}

async function ensureDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_SERVER_URL });
  await admin.connect();
  try {
    const name = benchDatabase();
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`RAGLINE_BENCH_DATABASE must be a plain lower-case identifier, got "${name}"`);
    const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rows.length) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

export const syntheticCollectionName = (size: number, seeds: number) => `synthetic-${size}-s${seeds}`;

/**
 * A Postgres collection of `size` synthetic chunks in BENCH_DATABASE, built once and reused while
 * its recorded corpus version and chunk count still match. Returns the database URL and name.
 */
export async function ensureSyntheticCollection(
  embedder: Embedder,
  size: number,
  seedCount = DEFAULT_SEEDS,
): Promise<{ databaseUrl: string; collection: Collection; builtNow: boolean; load?: LoadedCollection }> {
  await ensureDatabase();
  const databaseUrl = benchDatabaseUrl();
  const store = await openPostgresStore(databaseUrl);
  try {
    const name = syntheticCollectionName(size, seedCount);
    const existing = await store.getCollection(name);
    if (existing && existing.metadata.corpusVersion === CORPUS_VERSION && (await store.countChunks(existing.id)) === size) {
      return { databaseUrl, collection: existing, builtNow: false };
    }
    if (existing) await store.deleteCollection(existing.id);
    const { seeds, vectors } = await syntheticSource(embedder, seedCount);
    const load = await loadSyntheticCollection(store, name, syntheticDocuments(seeds, vectors, size), {
      dimensions: embedder.dimensions,
      metadata: { corpusVersion: CORPUS_VERSION },
    });
    return { databaseUrl, collection: load.collection, builtNow: true, load };
  } finally {
    await store.close();
  }
}
