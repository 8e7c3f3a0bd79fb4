import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, datasetPath } from '../core/shared-data.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import type { Embedder } from '../models/types.ts';
import type { ChunkInput } from '../store/types.ts';

/**
 * Real passages and queries for the store suites and bench/store.ts: BEIR SciFact abstracts
 * (title + text) and test-split claims, embedded with the real model. Vectors are cached under
 * .ragline/cache (gitignored), keyed by model and text hash, so only the first run pays for them.
 * Also the chunk builder those suites and the benchmark store them with.
 */
export interface Passage {
  id: string;
  text: string;
}

export const EMBEDDING_CACHE_DIR = path.join(PROJECT_ROOT, '.ragline', 'cache');
/** Embedded per call, so an interrupted first run keeps most of its work. */
const SLICE = 128;

function readJsonl(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The first `n` abstracts of the corpus, in file order. */
export function sciFactPassages(n: number): Passage[] {
  return readJsonl(datasetPath('scifact', 'corpus.jsonl'))
    .slice(0, n)
    .map((d) => ({ id: String(d._id), text: `${String(d.title)} ${String(d.text)}` }));
}

/** The first `n` claims of the test split: never indexed, so they are held out from the passages. */
export function sciFactTestQueries(n: number): Passage[] {
  const testIds = new Set(
    fs
      .readFileSync(datasetPath('scifact', 'qrels', 'test.tsv'), 'utf8')
      .split(/\r?\n/)
      .slice(1)
      .map((line) => line.split('\t')[0]!)
      .filter(Boolean),
  );
  return readJsonl(datasetPath('scifact', 'queries.jsonl'))
    .filter((q) => testIds.has(String(q._id)))
    .slice(0, n)
    .map((q) => ({ id: String(q._id), text: String(q.text) }));
}

export function cachingEmbedder(inner: Embedder): CachingEmbedder {
  return new CachingEmbedder(inner, EMBEDDING_CACHE_DIR, { dtype: 'fp32' });
}

export async function embedAll(
  embedder: Embedder,
  texts: string[],
  kind: 'query' | 'passage',
  onProgress?: (done: number) => void,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += SLICE) {
    out.push(...(await embedder.embed(texts.slice(i, i + SLICE), kind)));
    onProgress?.(out.length);
  }
  return out;
}

/**
 * A chunk to store: plain text of its own, no pages or headings; `tokenCount` defaults to the
 * number of words. `overrides` sets anything else.
 */
export function chunkInput(
  ordinal: number,
  text: string,
  embedding: Float32Array | number[],
  overrides: Partial<ChunkInput> = {},
): ChunkInput {
  return {
    ordinal,
    text,
    tokenCount: text.split(/\s+/).length,
    pageStart: null,
    pageEnd: null,
    headingPath: [],
    charStart: 0,
    charEnd: text.length,
    kind: 'text',
    embedding,
    ...overrides,
  };
}
