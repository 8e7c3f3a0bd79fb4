import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import type { Embedder } from '../models/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { ChunkInput } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

const DOCUMENTS = 12;
const CHUNKS_PER_DOCUMENT = 100;
const WORDS = 'tide moon orbit gravity ocean current basin shelf estuary delta marsh reef lagoon surge swell wave crest trough'.split(' ');

/** Deterministic filler: many distinct chunks so the BM25 build takes a while. */
function chunks(doc: number, dimensions: number): ChunkInput[] {
  let seed = doc * 7919 + 1;
  const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  return Array.from({ length: CHUNKS_PER_DOCUMENT }, (_, ordinal) => {
    const text = `${Array.from({ length: 150 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ')} doc${doc} part${ordinal}`;
    const v = Array.from({ length: dimensions }, () => next() - 0.5);
    const norm = Math.hypot(...v);
    return chunkInput(
      ordinal,
      text,
      v.map((x) => x / norm),
    );
  });
}

describeShared('/readyz (PGlite, a collection of 1,200 long chunks)', () => {
  let store: SqlStore;
  let embedder: Embedder;

  beforeAll(async () => {
    embedder = await testEmbedder();
    store = await openPgliteStore();
    const collection = await store.createCollection({ name: 'large', embeddingModel: embedder.modelId, dimensions: embedder.dimensions });
    // Dense search is not under test: without the HNSW index the bulk insert takes seconds, not minutes.
    await store.dropVectorIndex(collection.id);
    for (let d = 0; d < DOCUMENTS; d++) {
      await store.replaceDocument({
        collectionId: collection.id,
        source: `doc-${d}.txt`,
        title: `Document ${d}`,
        mime: 'text/plain',
        contentHash: `hash-${d}`,
        metadata: {},
        pageCount: null,
        chunks: chunks(d, embedder.dimensions),
      });
    }
  });

  afterAll(async () => {
    await store?.close();
  });

  it('answers 503 while the BM25 index builds, then 200 once every chunk is indexed; /healthz stays liveness', async () => {
    // A fresh process's view: the same database, empty BM25 indexes.
    const ragline = await Ragline.open(configSchema.parse({}), { store, embedder });
    const app = createApi(ragline);
    const first = await app.request('/readyz');
    expect(first.status).toBe(503);
    expect(await first.json()).toMatchObject({ status: 'starting', checks: { modelLoaded: true, bm25IndexesBuilt: false } });
    expect((await app.request('/healthz')).status).toBe(200);

    const collection = (await store.getCollection('large'))!;
    let builtAt = Number.POSITIVE_INFINITY;
    const metricsHook = ragline.bm25.onSync;
    ragline.bm25.onSync = (e) => {
      metricsHook?.(e);
      if (e.collectionId === collection.id && e.initial) builtAt = performance.now();
    };
    const polls: { status: number; at: number }[] = [];
    for (let i = 0; i < 1500; i++) {
      const res = await app.request('/readyz');
      polls.push({ status: res.status, at: performance.now() });
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(polls.at(-1)!.status).toBe(200);
    // Never ready before the large collection's index was built, and it was not ready at once.
    expect(polls.filter((p) => p.status === 200 && p.at < builtAt)).toEqual([]);
    expect(polls.filter((p) => p.status === 503).length).toBeGreaterThan(0);
    const index = await ragline.bm25.ensureSynced(collection);
    expect(index.size).toBe(DOCUMENTS * CHUNKS_PER_DOCUMENT);
    expect(await (await app.request('/readyz')).json()).toMatchObject({
      status: 'ready',
      checks: { modelLoaded: true, bm25IndexesBuilt: true },
    });
  });
});
