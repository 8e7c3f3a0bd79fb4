import { Pinecone } from '@pinecone-database/pinecone';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaglineError } from '../../core/errors.ts';
import { datasetPath } from '../../core/shared-data.ts';
import { loadBeir } from '../../eval/beir.ts';
import { type Run, evaluateRun } from '../../eval/metrics.ts';
import { Bm25Index } from '../../retrieval/bm25.ts';
import { CorpusFrequencies, analyzeChunk, encodeChunk, encodeQuery } from '../../retrieval/sparse-bm25.ts';
import { PineconeSparseIndex } from '../../store/pinecone-sparse.ts';
import { chunkRecord } from '../../testkit/chunk-record.ts';
import { CONNECTION_RESET, FakePinecone } from './fake-pinecone.ts';

/**
 * BM25 through sparse vectors in Pinecone's sparse query format, with the real SDK against the
 * local fake: on a SciFact slice it must rank like the in-process Bm25Index (nDCG@10 within 0.005).
 */

const SLICE = 1000;
const NAMESPACE = 'scifact-slice';

describe('BM25 as Pinecone sparse vectors (real SDK, local fake): SciFact slice equivalence', () => {
  const fake = new FakePinecone({ dimension: 0, vectorType: 'sparse' });
  let sdk: ReturnType<Pinecone['index']>;

  beforeAll(async () => {
    await fake.start();
    sdk = new Pinecone({ apiKey: fake.apiKey, maxRetries: 0 }).index({ name: fake.indexName, host: fake.url });
  });

  afterAll(() => fake.stop());

  /**
   * SDK 8.2's types require dense `vector` values in every query, but at run time it sends a
   * sparse-only query as it is (and refuses an empty `vector`): the shape a sparse index takes.
   */
  const sparseQuery = (options: { topK: number; sparseVector: { indices: number[]; values: number[] }; namespace: string }) =>
    sdk.query(options as unknown as Parameters<typeof sdk.query>[0]);

  it(`scores within 0.005 nDCG@10 of the in-process BM25 on ${SLICE} SciFact documents`, async () => {
    const dataset = loadBeir(datasetPath('scifact'), { splits: ['test'], limit: SLICE });
    const qrels = dataset.qrels.get('test')!;
    const chunks = dataset.corpus.map((d) => chunkRecord(d.id, d.text, { title: d.title, documentId: d.id }));

    const local = new Bm25Index();
    local.add(chunks);

    // What SQL would keep per collection: document frequencies and average field lengths.
    const analyzed = chunks.map((c) => analyzeChunk(c));
    const frequencies = new CorpusFrequencies();
    for (const terms of analyzed) frequencies.add(terms);
    const records = chunks
      .map((c, i) => ({ id: c.id, sparseValues: encodeChunk(analyzed[i]!, frequencies) }))
      .filter((r) => r.sparseValues.indices.length > 0);
    for (let i = 0; i < records.length; i += 100) {
      await sdk.upsert({ records: records.slice(i, i + 100), namespace: NAMESPACE });
    }
    expect(fake.vectors(NAMESPACE)).toHaveLength(records.length);

    const localRun: Run = new Map();
    const sparseRun: Run = new Map();
    let sameTop1 = 0;
    let worstScoreGap = 0;
    for (const queryId of qrels.keys()) {
      const query = dataset.queries.get(queryId)!;
      const localHits = local.search(query, { limit: 10 });
      const localIds = localHits.map((h) => h.id);
      const sparse = encodeQuery(query, frequencies);
      const response = sparse.indices.length
        ? await sparseQuery({ topK: 10, sparseVector: sparse, namespace: NAMESPACE })
        : { matches: [] };
      const sparseIds = response.matches.map((m) => m.id);
      localRun.set(queryId, localIds);
      sparseRun.set(queryId, sparseIds);
      if (localIds[0] === sparseIds[0]) sameTop1 += 1;
      // The dot product is the BM25 score itself, not merely a similar ranking.
      const localScores = new Map(localHits.map((h) => [h.id, h.score]));
      for (const m of response.matches) {
        const expected = localScores.get(m.id);
        if (expected !== undefined) worstScoreGap = Math.max(worstScoreGap, Math.abs((m.score ?? 0) - expected));
      }
    }
    const localScore = evaluateRun(localRun, qrels).mean.ndcg10;
    const sparseScore = evaluateRun(sparseRun, qrels).mean.ndcg10;
    console.log(
      `[sparse bm25] ${chunks.length} docs, ${qrels.size} queries: in-process nDCG@10 ${localScore.toFixed(4)}, ` +
        `Pinecone sparse ${sparseScore.toFixed(4)}, same top hit ${sameTop1}/${qrels.size}`,
    );
    expect(localScore).toBeGreaterThan(0.3); // a real ranking, not two empty runs
    expect(Math.abs(sparseScore - localScore)).toBeLessThanOrEqual(0.005);
    expect(worstScoreGap).toBeLessThan(1e-6);
  });

  it('a sparse query scores by dot product over shared dimensions; vectors without one are not matched', async () => {
    await sdk.upsert({
      records: [
        { id: 'a', sparseValues: { indices: [1, 5], values: [2, 3] } },
        { id: 'b', sparseValues: { indices: [5, 9], values: [1, 10] } },
        { id: 'c', sparseValues: { indices: [7], values: [4] } },
      ],
      namespace: 'dot',
    });
    const { matches } = await sparseQuery({ topK: 5, sparseVector: { indices: [1, 5], values: [1, 2] }, namespace: 'dot' });
    expect(matches.map((m) => [m.id, m.score])).toEqual([
      ['a', 8],
      ['b', 2],
    ]);
  });

  it('injected 429s reach the SDK as errors; upserts become visible only after the consistency delay', async () => {
    fake.failNext('/query', 429);
    await expect(sparseQuery({ topK: 1, sparseVector: { indices: [1], values: [1] }, namespace: 'dot' })).rejects.toThrow();
    const ok = await sparseQuery({ topK: 1, sparseVector: { indices: [1], values: [1] }, namespace: 'dot' });
    expect(ok.matches.map((m) => m.id)).toEqual(['a']);

    fake.consistencyDelayMs = 300;
    try {
      await sdk.upsert({ records: [{ id: 'late', sparseValues: { indices: [42], values: [1] } }], namespace: 'delay' });
      const early = await sparseQuery({ topK: 1, sparseVector: { indices: [42], values: [1] }, namespace: 'delay' });
      expect(early.matches).toEqual([]);
      await new Promise((r) => setTimeout(r, 350));
      const later = await sparseQuery({ topK: 1, sparseVector: { indices: [42], values: [1] }, namespace: 'delay' });
      expect(later.matches.map((m) => m.id)).toEqual(['late']);
    } finally {
      fake.consistencyDelayMs = 0;
    }
  });
  it('PineconeSparseIndex (the SDK underneath): deletes by id and by namespace, and a namespace never written is no error', async () => {
    const index = new PineconeSparseIndex({ apiKey: fake.apiKey, index: fake.indexName, host: fake.url, retryDelayMs: 5 });
    await index.upsert('drop-me', [
      { id: 'x', sparseValues: { indices: [3], values: [1] } },
      { id: 'y', sparseValues: { indices: [3, 4], values: [2, 1] } },
      { id: 'empty', sparseValues: { indices: [], values: [] } },
    ]);
    expect(fake.vectors('drop-me').map((v) => v.id)).toEqual(['x', 'y']);
    expect(await index.query('drop-me', { indices: [3], values: [1] }, 5)).toEqual([
      { id: 'y', score: 2 },
      { id: 'x', score: 1 },
    ]);
    await index.delete('drop-me', ['x']);
    expect(fake.vectors('drop-me').map((v) => v.id)).toEqual(['y']);
    await index.deleteNamespace('drop-me');
    expect(fake.namespaces.has('drop-me')).toBe(false);
    await expect(index.delete('never-written', ['a'])).resolves.toBeUndefined();
    await expect(index.deleteNamespace('never-written')).resolves.toBeUndefined();
    expect(await index.query('never-written', { indices: [3], values: [1] }, 5)).toEqual([]);
  });

  it('PineconeSparseIndex: a dropped connection is sent again, a 429 is retried and counted, past the retries it fails', async () => {
    const index = new PineconeSparseIndex({
      apiKey: fake.apiKey,
      index: fake.indexName,
      host: fake.url,
      retryDelayMs: 5,
      rateLimitRetries: 2,
    });
    await index.upsert('resets', [{ id: 'a', sparseValues: { indices: [7], values: [1] } }]);
    fake.failNext('/query', CONNECTION_RESET, 429);
    expect(await index.query('resets', { indices: [7], values: [1] }, 1)).toEqual([{ id: 'a', score: 1 }]);
    expect(index.rateLimitedRetries).toBe(1);
    fake.failNext('/query', CONNECTION_RESET, CONNECTION_RESET, CONNECTION_RESET);
    const err = await index.query('resets', { indices: [7], values: [1] }, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RaglineError);
    expect((err as RaglineError).code).toBe('upstream_unavailable');
    expect((err as RaglineError).message).toMatch(/Pinecone sparse query failed: no response/);
    fake.reset();
  });

  it('PineconeSparseIndex: a refused connection (nothing listening) fails at once, naming the cause, without the backoff', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    // A retry would wait a minute before its second attempt and time the test out.
    const index = new PineconeSparseIndex({
      apiKey: 'k',
      index: 'down',
      host: `http://127.0.0.1:${port}`,
      retryDelayMs: 60_000,
      maxRetries: 0,
    });
    const err = await index.query('any', { indices: [1], values: [1] }, 1).catch((e: unknown) => e);
    expect((err as RaglineError).code).toBe('upstream_unavailable');
    expect((err as RaglineError).message).toMatch(/ECONNREFUSED/);
  });
});

describe('sparse BM25 query encoding within Pinecone limits', () => {
  it('keeps a 1,500-term query to its 500 rarest terms, so it never exceeds 1,000 non-zero values', () => {
    const letters = (i: number) => {
      let s = '';
      for (let n = i; s.length < 3; n = Math.floor(n / 26)) s += String.fromCharCode(97 + (n % 26));
      return `zq${s}`;
    };
    const words = Array.from({ length: 1500 }, (_, i) => letters(i));
    const frequencies = new CorpusFrequencies();
    // Term i appears in i + 1 chunks (title and text), so the rarest are the first words.
    for (let c = 0; c < 1500; c++) {
      const present = words.filter((_, i) => i >= 1499 - c);
      frequencies.add({ title: present, text: present });
    }
    const analyzed = new Set(analyzeChunk(chunkRecord('probe', words.join(' '), { title: 'x' })).text);
    expect(analyzed.size).toBe(1500);

    const sparse = encodeQuery(words.join(' '), frequencies);
    expect(sparse.indices.length).toBe(1000);
    const kept = encodeQuery(words.slice(0, 500).join(' '), frequencies);
    expect(new Set(sparse.indices)).toEqual(new Set(kept.indices));
  });
});

describe('hybrid index queries (real SDK, local fake): dense and sparse dot products in one record', () => {
  const hybrid = new FakePinecone({ dimension: 2, metric: 'dotproduct' });
  const cosineIndex = new FakePinecone({ dimension: 2 });
  beforeAll(async () => {
    await hybrid.start();
    await cosineIndex.start();
  });
  afterAll(async () => {
    await hybrid.stop();
    await cosineIndex.stop();
  });
  const sdkOf = (fake: FakePinecone) =>
    new Pinecone({ apiKey: fake.apiKey, maxRetries: 0 }).index({ name: fake.indexName, host: fake.url });

  it('scores dense + sparse; the query-side weights move the ranking between the legs; a record without sparse values scores by its dense part', async () => {
    const sdk = sdkOf(hybrid);
    await sdk.upsert({
      namespace: 'h',
      records: [
        { id: 'dense-near', values: [1, 0], sparseValues: { indices: [9], values: [0.1] } },
        { id: 'keyword', values: [0.6, 0.8], sparseValues: { indices: [5], values: [2] } },
        { id: 'no-sparse', values: [0.8, 0.6] },
      ],
    });
    const query = (alpha: number) =>
      sdk.query({ namespace: 'h', topK: 3, vector: [alpha, 0], sparseVector: { indices: [5, 9], values: [1 - alpha, 1 - alpha] } });
    const denseHeavy = await query(0.9);
    expect(denseHeavy.matches.map((m) => m.id)).toEqual(['dense-near', 'keyword', 'no-sparse']);
    expect(denseHeavy.matches[0]!.score).toBeCloseTo(0.9 + 0.1 * 0.1, 6);
    const keywordHeavy = await query(0.3);
    expect(keywordHeavy.matches.map((m) => m.id)).toEqual(['keyword', 'dense-near', 'no-sparse']);
    expect(keywordHeavy.matches[0]!.score).toBeCloseTo(0.3 * 0.6 + 0.7 * 2, 6);
    expect(keywordHeavy.matches.find((m) => m.id === 'no-sparse')!.score).toBeCloseTo(0.3 * 0.8, 6);
  });

  it('a cosine index refuses sparse values and sparse queries, as Pinecone does', async () => {
    const sdk = sdkOf(cosineIndex);
    await expect(
      sdk.upsert({ namespace: 'c', records: [{ id: 'a', values: [1, 0], sparseValues: { indices: [1], values: [1] } }] }),
    ).rejects.toThrow(/dotproduct/);
    await sdk.upsert({ namespace: 'c', records: [{ id: 'a', values: [1, 0] }] });
    await expect(sdk.query({ namespace: 'c', topK: 1, vector: [1, 0], sparseVector: { indices: [1], values: [1] } })).rejects.toThrow(
      /dotproduct/,
    );
  });
});
