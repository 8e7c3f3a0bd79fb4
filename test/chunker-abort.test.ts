import { beforeAll, describe, expect, it } from 'vitest';
import { createChunker } from '../ingest/chunkers/index.ts';
import { loadDocument } from '../ingest/loaders/index.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import type { LocalEmbedder } from '../models/embedders/local.ts';
import { testEmbedder } from '../testkit/embedder.ts';

/**
 * A cancelled or overdue ingest job must free the model at once: the chunker's own model pass
 * (sentence vectors for `semantic`, window token vectors for `late`) stops at the next batch
 * instead of finishing a large document nobody is waiting for.
 */

const OPTIONS = { maxTokens: 256, minTokens: 48, targetTokens: 200 };
const TOPICS = ['glaciers', 'compilers', 'orchards', 'tariffs', 'enzymes', 'violins', 'harbours'];

/** One flowing paragraph of distinct sentences, long enough to need many model batches. */
async function longDocument(sentences: number): Promise<LoadedDocument> {
  const text = Array.from({ length: sentences }, (_, i) => {
    const topic = TOPICS[Math.floor(i / 9) % TOPICS.length];
    return `Observation ${i} concerns ${topic} and records detail number ${i * 7} about how ${topic} change over time.`;
  }).join(' ');
  return loadDocument(Buffer.from(text), 'long.txt');
}

/** Aborts as soon as the model has finished its first batch after the call started. */
function abortAfterFirstBatch(embedder: LocalEmbedder, controller: AbortController): () => void {
  const start = embedder.usage.batches;
  const timer = setInterval(() => {
    if (embedder.usage.batches > start) controller.abort(new Error('job cancelled'));
  }, 1);
  return () => clearInterval(timer);
}

describe('chunking stops when its job is cancelled', () => {
  let embedder: LocalEmbedder;
  beforeAll(async () => {
    embedder = await testEmbedder();
  });

  it.each([
    ['semantic', 400],
    ['late', 800],
  ] as const)('%s: an abort rejects with its reason and the model skips the queued texts', async (strategy, sentences) => {
    const doc = await longDocument(sentences);
    const controller = new AbortController();
    const texts = embedder.usage.texts;
    const stop = abortAfterFirstBatch(embedder, controller);
    try {
      await expect(createChunker(strategy, embedder, OPTIONS).chunkWithVectors(doc, { signal: controller.signal })).rejects.toThrow(
        'job cancelled',
      );
    } finally {
      stop();
    }
    const embedded = embedder.usage.texts - texts;
    // At most the batch that had started when the signal fired, and the one that it raced with.
    expect(embedded).toBeGreaterThan(0);
    expect(embedded).toBeLessThanOrEqual(64);

    // The same chunker without a signal reads everything: the document really needed more batches.
    const before = embedder.usage.texts;
    const full = await createChunker(strategy, embedder, OPTIONS).chunkWithVectors(doc);
    expect(full.drafts.length).toBeGreaterThan(1);
    expect(embedder.usage.texts - before).toBeGreaterThan(embedded);
  });
});
