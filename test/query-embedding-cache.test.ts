import { beforeAll, expect, it } from 'vitest';
import { QueryEmbeddingCache } from '../models/embedders/query-cache.ts';
import type { Embedder } from '../models/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

describeShared('query embedding cache (LRU in front of the real model)', () => {
  let model: Embedder;
  const calls: { texts: string[]; kind: string }[] = [];
  /** The real model, recording what reaches it. */
  let counted: Embedder;

  beforeAll(async () => {
    model = await testEmbedder();
    counted = {
      modelId: model.modelId,
      dimensions: model.dimensions,
      maxTokens: model.maxTokens,
      tokenizer: model.tokenizer,
      embed: (texts, kind) => {
        calls.push({ texts, kind });
        return model.embed(texts, kind);
      },
    };
  });

  it('serves a repeated query, spaced differently, from memory with the vector the model gave', async () => {
    const cache = new QueryEmbeddingCache(counted, 10);
    calls.length = 0;
    const [first] = await cache.embed(['What does BM25 rank?'], 'query');
    const [again] = await cache.embed(['  What   does BM25\trank? '], 'query');
    expect(calls).toHaveLength(1);
    expect(again).toBe(first);
    const [fresh] = await model.embed(['What does BM25 rank?'], 'query');
    expect(Array.from(first!)).toEqual(Array.from(fresh!));
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
  });

  it('sends only the unseen texts of a batch to the model, keeps input order, and never caches passages', async () => {
    const cache = new QueryEmbeddingCache(counted, 10);
    const [known] = await cache.embed(['tides and the moon'], 'query');
    calls.length = 0;
    const out = await cache.embed(['ocean currents', 'tides and the moon'], 'query');
    expect(calls).toEqual([{ texts: ['ocean currents'], kind: 'query' }]);
    expect(out[1]).toBe(known);
    calls.length = 0;
    await cache.embed(['tides and the moon'], 'passage');
    await cache.embed(['tides and the moon'], 'passage');
    expect(calls.map((c) => c.kind)).toEqual(['passage', 'passage']);
  });

  it('holds at most its size, dropping the least recently used', async () => {
    const cache = new QueryEmbeddingCache(counted, 2);
    for (const q of ['alpha', 'beta', 'alpha', 'gamma']) await cache.embed([q], 'query'); // beta is the oldest now
    calls.length = 0;
    await cache.embed(['alpha'], 'query');
    await cache.embed(['gamma'], 'query');
    expect(calls).toHaveLength(0);
    await cache.embed(['beta'], 'query');
    expect(calls).toEqual([{ texts: ['beta'], kind: 'query' }]);
  });
});
