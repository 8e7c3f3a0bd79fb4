import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Embedder } from '../models/types.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { matchesFilter, parseFilter, type FilterInput } from '../store/filters.ts';
import { loadCorpus } from '../eval/probe/scifact.ts';
import { Bm25Index } from '../retrieval/bm25.ts';
import { fuseByDocument } from '../retrieval/document-fusion.ts';
import { fuse } from '../retrieval/fusion.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection, DenseCandidate } from '../store/types.ts';
import type { SearchResponse } from '../retrieval/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

/** Counts embed calls, so tests can tell whether a search embedded the query. */
function countingEmbedder(inner: Embedder) {
  const calls: string[][] = [];
  const embedder: Embedder = {
    modelId: inner.modelId,
    dimensions: inner.dimensions,
    maxTokens: inner.maxTokens,
    tokenizer: inner.tokenizer,
    embed: (texts, kind) => {
      calls.push(texts);
      return inner.embed(texts, kind);
    },
  };
  return { embedder, calls };
}

const ids = (r: SearchResponse) => r.hits.map((h) => h.chunk.id);

describeShared('HybridSearcher on a small SciFact collection (real model, PGlite)', () => {
  let store: SqlStore;
  let collection: Collection;
  let registry: Bm25Registry;
  let searcher: HybridSearcher;
  let calls: string[][];

  beforeAll(async () => {
    const model = await testEmbedder();
    const counting = countingEmbedder(model);
    calls = counting.calls;
    store = await openPgliteStore();
    collection = await store.createCollection({ name: 'search-test', embeddingModel: model.modelId, dimensions: model.dimensions });
    // 16 real abstracts, each split into two chunks (pages 1 and 2), alternating tenants.
    const docs = loadCorpus().slice(0, 16);
    for (const [i, doc] of docs.entries()) {
      const sentences = doc.text.split(/(?<=\.) /);
      const half = Math.ceil(sentences.length / 2);
      const parts = [sentences.slice(0, half).join(' '), sentences.slice(half).join(' ') || doc.title];
      const vectors = await model.embed(
        parts.map((p) => `${doc.title} ${p}`),
        'passage',
      );
      await store.replaceDocument({
        collectionId: collection.id,
        source: `scifact/${doc.id}`,
        title: doc.title,
        mime: 'text/plain',
        contentHash: doc.id,
        metadata: { tenant: i % 2 === 0 ? 'a' : 'b' },
        pageCount: 2,
        chunks: parts.map((text, ordinal) => ({
          ordinal,
          text,
          tokenCount: model.tokenizer.count(text),
          pageStart: ordinal + 1,
          pageEnd: ordinal + 1,
          headingPath: [],
          charStart: 0,
          charEnd: text.length,
          kind: 'text',
          embedding: vectors[ordinal]!,
        })),
      });
    }
    // A Postgres server stores microseconds (PGlite's clock rarely does); filters must agree anyway.
    await store.db.query(`UPDATE documents SET updated_at = date_trunc('second', updated_at) + interval '123456 microseconds'`);
    collection = (await store.getCollection(collection.id))!;
    registry = new Bm25Registry(store);
    searcher = new HybridSearcher({ store, embedder: counting.embedder, bm25: registry });
  });

  afterAll(async () => {
    await store.close();
  });

  const query = 'white matter development in newborn brains measured with diffusion MRI';

  it('applies the same filter to both retrievers: no excluded chunk in any mode', async () => {
    const filters: FilterInput[] = [{ 'metadata.tenant': 'a' }, { page: 2 }, { 'metadata.tenant': 'b', page: { lte: 1 } }];
    for (const input of filters) {
      const filter = parseFilter(input);
      for (const mode of ['hybrid', 'dense', 'bm25'] as const) {
        const response = await searcher.search(collection, { query, mode, topK: 20, filter: input });
        expect(response.hits.length, `${mode} ${JSON.stringify(input)}`).toBeGreaterThan(0);
        for (const hit of response.hits) expect(matchesFilter(hit.chunk, filter), `${mode} ${JSON.stringify(input)}`).toBe(true);
        if (mode === 'hybrid') {
          const unfiltered = await searcher.search(collection, { query, mode, topK: 20 });
          expect(unfiltered.hits.some((h) => !matchesFilter(h.chunk, filter))).toBe(true);
          // Each retriever saw the filter itself: its ranks among all fused candidates run 1..n
          // with no gaps, so no excluded chunk held a rank in either list.
          const all = await searcher.search(collection, { query, mode, topK: 100, filter: input });
          for (const key of ['denseRank', 'bm25Rank'] as const) {
            const ranks = all.hits.map((h) => h.explanation[key]).filter((r): r is number => r !== null);
            expect(ranks.length, key).toBeGreaterThan(0);
            expect(
              [...ranks].sort((a, b) => a - b),
              `${key} ${JSON.stringify(input)}`,
            ).toEqual(ranks.map((_, i) => i + 1));
          }
        }
      }
    }
  });

  it('date filters agree between retrievers at a document timestamp (Postgres keeps microseconds)', async () => {
    const hit = (await searcher.search(collection, { query, mode: 'dense', topK: 1 })).hits[0]!;
    const at = hit.chunk.updatedAt;
    const cases: [FilterInput, boolean][] = [
      [{ updatedAt: { gte: at } }, true],
      [{ updatedAt: { gt: at } }, false],
      [{ updatedAt: { lte: at } }, true],
      [{ updatedAt: { in: [at] } }, true],
      [{ updatedAt: at }, true],
    ];
    for (const [input, included] of cases) {
      expect(matchesFilter(hit.chunk, parseFilter(input)), `predicate ${JSON.stringify(input)}`).toBe(included);
      for (const mode of ['dense', 'bm25'] as const) {
        const found = (await searcher.search(collection, { query, mode, topK: 50, filter: input })).hits.some(
          (h) => h.chunk.id === hit.chunk.id,
        );
        expect(found, `${mode} ${JSON.stringify(input)}`).toBe(included);
      }
    }
    expect(() => parseFilter({ createdAt: { prefix: '2024' } })).toThrow(/takes no prefix/);
    expect(() => parseFilter({ createdAt: { in: ['yesterday'] } })).toThrow(/expected an ISO date/);
  });

  it('explains each hit with the ranks and scores it had in each retriever', async () => {
    const run = (mode: 'hybrid' | 'dense' | 'bm25') => searcher.search(collection, { query, mode, topK: 50, fusion: 'rrf', k: 60 });
    const [hybrid, dense, bm25] = await Promise.all([run('hybrid'), run('dense'), run('bm25')]);
    const denseRank = new Map(dense.hits.map((h, i) => [h.chunk.id, i + 1]));
    const bm25Rank = new Map(bm25.hits.map((h, i) => [h.chunk.id, i + 1]));
    expect(hybrid.hits.length).toBe(32);
    for (const hit of hybrid.hits) {
      const e = hit.explanation;
      expect(e.denseRank).toBe(denseRank.get(hit.chunk.id) ?? null);
      expect(e.bm25Rank).toBe(bm25Rank.get(hit.chunk.id) ?? null);
      const { dense: wd, bm25: wb } = hybrid.settings.weights;
      const expected = (e.denseRank ? wd / (60 + e.denseRank) : 0) + (e.bm25Rank ? wb / (60 + e.bm25Rank) : 0);
      expect(e.fusedScore).toBeCloseTo(expected, 12);
      expect(hit.score).toBe(e.fusedScore);
    }
    expect(hybrid.hits.some((h) => h.explanation.bm25Rank === null)).toBe(true); // dense ranks all chunks
    expect(dense.hits.every((h) => h.explanation.bm25Rank === null && h.explanation.denseScore !== null)).toBe(true);
    expect(bm25.hits.every((h) => h.explanation.denseRank === null && h.explanation.bm25Score !== null)).toBe(true);
  });

  it('mode bm25 does not embed; mode dense does not touch BM25; a given vector is not re-embedded', async () => {
    const sync = vi.spyOn(registry, 'ensureSynced');
    try {
      calls.length = 0;
      const bm25 = await searcher.search(collection, { query, mode: 'bm25' });
      expect(calls).toHaveLength(0);
      expect(bm25.timings.embedMs).toBe(0);
      expect(bm25.hits.length).toBeGreaterThan(0);
      expect(sync).toHaveBeenCalledTimes(1);

      sync.mockClear();
      const dense = await searcher.search(collection, { query, mode: 'dense' });
      expect(calls).toEqual([[query]]);
      expect(sync).not.toHaveBeenCalled();
      expect(dense.timings.bm25Ms).toBe(0);

      calls.length = 0;
      const [vector] = await (await testEmbedder()).embed([query], 'query');
      const given = await searcher.search(collection, { query, mode: 'dense' }, { queryVector: vector });
      expect(calls).toHaveLength(0);
      expect(ids(given)).toEqual(ids(dense));
    } finally {
      sync.mockRestore();
    }
  });

  it('fusion over distinct documents keeps every chunk, each document led by its best one, and returns documents in per-document order', async () => {
    const byChunk = await searcher.search(collection, { query, topK: 100 });
    const byDocument = await searcher.search(collection, { query, topK: 100 }, { fusionUnit: 'documents' });
    // The same chunks come back (both documents' pages), only their order may differ.
    expect(new Set(ids(byDocument))).toEqual(new Set(ids(byChunk)));
    const perDocument = new Map<string, number[]>();
    byDocument.hits.forEach((h, i) => perDocument.set(h.chunk.documentId, [...(perDocument.get(h.chunk.documentId) ?? []), i]));
    expect([...perDocument.values()].filter((at) => at.length > 1).length).toBeGreaterThan(0);
    // A document's place is the sum of its best normalised score in each retriever.
    const dense = await searcher.search(collection, { query, mode: 'dense', topK: 100 });
    const bm25 = await searcher.search(collection, { query, mode: 'bm25', topK: 100 });
    const best = (r: SearchResponse) => {
      const out = new Map<string, number>();
      for (const h of r.hits) if (!out.has(h.chunk.documentId)) out.set(h.chunk.documentId, h.score);
      return out;
    };
    const { dense: wd, bm25: wb } = byDocument.settings.weights;
    const normalised = (scores: Map<string, number>) => {
      const values = [...scores.values()];
      const [min, max] = [Math.min(...values), Math.max(...values)];
      return (id: string) => (scores.has(id) ? (scores.get(id)! - min) / (max - min) : 0);
    };
    const [nd, nb] = [normalised(best(dense)), normalised(best(bm25))];
    const expected = [...perDocument.keys()].map((id) => wd * nd(id) + wb * nb(id));
    const leads = [...perDocument.values()].map((at) => byDocument.hits[at[0]!]!);
    leads.forEach((lead, i) => expect(lead.score).toBeCloseTo(expected[i]!, 9));
    for (let i = 1; i < expected.length; i++) expect(expected[i]!).toBeLessThanOrEqual(expected[i - 1]! + 1e-12);
    // The default is chunks: a search without the option is the chunk-level one.
    expect(ids(await searcher.search(collection, { query, topK: 100 }, { fusionUnit: 'chunks' }))).toEqual(ids(byChunk));
  });

  it('changing the weights changes the order', async () => {
    const dense = await searcher.search(collection, { query, mode: 'dense', topK: 10 });
    const bm25 = await searcher.search(collection, { query, mode: 'bm25', topK: 10 });
    expect(ids(dense)).not.toEqual(ids(bm25)); // the retrievers disagree on this query
    for (const fusion of ['rrf', 'convex'] as const) {
      const denseHeavy = await searcher.search(collection, { query, topK: 10, fusion, weights: { dense: 1, bm25: 1e-6 } });
      const bm25Heavy = await searcher.search(collection, { query, topK: 10, fusion, weights: { dense: 1e-6, bm25: 1 } });
      expect(ids(denseHeavy), fusion).not.toEqual(ids(bm25Heavy));
      expect(ids(denseHeavy), fusion).toEqual(ids(dense));
      // BM25 ranks only chunks sharing a term; those come first, in BM25's order.
      expect(ids(bm25Heavy).slice(0, bm25.hits.length), fusion).toEqual(ids(bm25));
      expect(denseHeavy.settings.weights).toEqual({ dense: 1, bm25: 1e-6 });
    }
  });

  it('reports timings and the effective settings, and cuts to topK', async () => {
    const r = await searcher.search(collection, { query, topK: 3 });
    expect(r.hits).toHaveLength(3);
    expect(r.settings.mode).toBe('hybrid');
    expect(r.settings.candidates).toBe(100);
    expect(r.settings.k).toBe(60);
    expect(r.settings.weights.dense + r.settings.weights.bm25).toBeGreaterThan(0);
    for (const key of ['embedMs', 'denseMs', 'bm25Ms', 'fuseMs', 'totalMs'] as const) {
      expect(r.timings[key]).toBeGreaterThan(0);
    }
    expect(r.timings.totalMs).toBeGreaterThanOrEqual(r.timings.fuseMs);
  });

  it('the recency boost demotes an old document', async () => {
    const plain = await searcher.search(collection, { query, topK: 5 });
    const top = plain.hits[0]!.chunk;
    // Backdate the top document by two years (a new version, as any real update makes).
    await store.db.query(`UPDATE documents SET updated_at = now() - interval '730 days', version = version + 1 WHERE id = $1`, [
      top.documentId,
    ]);
    await store.db.query('UPDATE collections SET version = version + 1 WHERE id = $1', [collection.id]);
    const fresh = (await store.getCollection(collection.id))!;
    const boosted = await searcher.search(fresh, { query, topK: 50, recency: { halfLifeDays: 30, weight: 0.9 } });
    expect(boosted.hits[0]!.chunk.documentId).not.toBe(top.documentId);
    const old = boosted.hits.filter((h) => h.chunk.documentId === top.documentId);
    expect(old.length).toBeGreaterThan(0);
    for (const hit of old) expect(hit.score).toBeCloseTo(hit.explanation.fusedScore * (0.1 + 0.9 * 0.5 ** (730 / 30)), 6);
  });

  it("builds the retrievers' document lists only when fusing by document, and fuses the same lists as eager ones", async () => {
    const current = (await store.getCollection(collection.id))!;
    const denseCandidates = store.denseCandidates.bind(store);
    let denseHits: DenseCandidate[] = [];
    let documentReads = 0;
    const dense = vi.spyOn(store, 'denseCandidates').mockImplementation(async (q) => {
      denseHits = await denseCandidates(q);
      return denseHits.map(
        (hit) =>
          new Proxy(hit, {
            get: (target, key, receiver) => {
              if (key === 'documentId') documentReads++;
              return Reflect.get(target, key, receiver);
            },
          }),
      );
    });
    const bm25Search = vi.spyOn(Bm25Index.prototype, 'search');
    const lookups = vi.spyOn(Bm25Index.prototype, 'filterableOf');
    try {
      const request = { query, topK: 40 };
      const byChunk = await searcher.search(current, request);
      expect(documentReads).toBe(0);
      expect(lookups).not.toHaveBeenCalled();

      const byDocument = await searcher.search(current, request, { fusionUnit: 'documents' });
      expect(documentReads).toBeGreaterThan(0);
      expect(lookups).toHaveBeenCalled();

      // The same retriever lists built eagerly, as they were before they became lazy.
      const index = bm25Search.mock.contexts.at(-1) as Bm25Index;
      const bm25Hits = bm25Search.mock.results.at(-1)!.value as { id: string; score: number }[];
      const lists = {
        dense: {
          ids: denseHits.map((h) => h.id),
          scores: denseHits.map((h) => h.similarity),
          documents: denseHits.map((h) => h.documentId),
        },
        bm25: {
          ids: bm25Hits.map((h) => h.id),
          scores: bm25Hits.map((h) => h.score),
          documents: bm25Hits.map((h) => index.filterableOf(h.id)!.documentId),
        },
      };
      const { fusion, k, weights } = byDocument.settings;
      expect(byChunk.settings.weights).toEqual(weights);
      const top = (hits: { id: string }[]) => hits.slice(0, request.topK).map((h) => h.id);
      expect(ids(byChunk)).toEqual(top(fuse(fusion, lists.dense, lists.bm25, { k, weights })));
      expect(ids(byDocument)).toEqual(top(fuseByDocument(fusion, lists.dense, lists.bm25, { k, weights })));
      // Two chunks per document: the units do rank differently here.
      expect(ids(byDocument)).not.toEqual(ids(byChunk));
    } finally {
      dense.mockRestore();
      bm25Search.mockRestore();
      lookups.mockRestore();
    }
  });

  it('rejects invalid requests with a bad_request error', async () => {
    await expect(searcher.search(collection, { query: '  ' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(searcher.search(collection, { query, weights: { dense: 0, bm25: 0 } })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(searcher.search(collection, { query, filter: { nope: 1 } })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
