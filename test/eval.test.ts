import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { main } from '../cli/main.ts';
import { loadConfig } from '../core/config.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import type { EmbedKind, Embedder } from '../models/types.ts';
import { keywordQuery, splitSentences } from '../eval/query-kinds.ts';
import { runEvaluation, type EvalReport } from '../eval/runner.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { datasetPath, describeShared } from './helpers/shared.ts';

const MINUTE = 60_000;

/** The real model, with a count of what reaches it. */
class CountingEmbedder implements Embedder {
  calls = 0;
  texts = 0;
  constructor(private readonly inner: Embedder) {}
  get modelId() {
    return this.inner.modelId;
  }
  get dimensions() {
    return this.inner.dimensions;
  }
  get maxTokens() {
    return this.inner.maxTokens;
  }
  get tokenizer() {
    return this.inner.tokenizer;
  }
  embed(texts: string[], kind: EmbedKind) {
    this.calls++;
    this.texts += texts.length;
    return this.inner.embed(texts, kind);
  }
}

const metrics = z.object({
  ndcg10: z.number().min(0).max(1),
  recall10: z.number().min(0).max(1),
  recall100: z.number().min(0).max(1),
  mrr10: z.number().min(0).max(1),
});
const reportJson = z.object({
  results: z.object({ dense: metrics, bm25: metrics, hybrid: metrics }).strict(),
  settings: z
    .object({ dataset: z.literal('scifact'), split: z.literal('test'), documents: z.literal(200), queries: z.number().int().positive() })
    .loose(),
});

describe('derived query kinds', () => {
  it('a keyword query keeps the rarest 3 words (4 for long queries) in their original order, without stop words', () => {
    const df: Record<string, number> = { vitamin: 50, b12: 3, increas: 400, blood: 200, level: 600, homocystein: 2 };
    const idf = (term: string) => 1 / (df[term] ?? 1000);
    expect(keywordQuery('A deficiency of vitamin B12 increases blood levels of homocysteine.', idf)).toBe('vitamin B12 homocysteine');
    const long = 'Vitamin B12 deficiency increases blood homocysteine levels in elderly vegetarian patients';
    expect(keywordQuery(long, idf).split(' ')).toHaveLength(4);
  });

  it('splits abstracts into sentences without breaking decimals', () => {
    expect(splitSentences('Levels rose 1.5 fold. (A) was seen. 20 patients died! Why?')).toEqual([
      'Levels rose 1.5 fold.',
      '(A) was seen.',
      '20 patients died!',
      'Why?',
    ]);
  });
});

describeShared('CachingEmbedder', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-cache-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves repeated texts from disk, ignores a torn or corrupt tail, and keeps appending after it', async () => {
    const inner = new CountingEmbedder(await testEmbedder());
    const texts = ['Vitamin D and bone density.', 'BRCA1 mutations raise breast cancer risk.', 'Aspirin lowers fever.'];
    const first = new CachingEmbedder(inner, dir, { dtype: 'fp32', closeInner: false });
    const vectors = await first.embed(texts, 'passage');
    expect(inner.texts).toBe(3);
    // the same text as a query is a different vector: a separate entry
    await first.embed([texts[0]!], 'query');
    expect(inner.texts).toBe(4);
    await first.close();

    const recordBytes = 32 + 384 * 4 + 4;
    const intact = fs.statSync(first.file).size;
    expect(intact).toBe(16 + 4 * recordBytes);
    // A crash mid-append: a whole record of garbage (bad checksum) then half a record.
    fs.appendFileSync(first.file, Buffer.alloc(recordBytes, 7));
    fs.appendFileSync(first.file, Buffer.alloc(recordBytes / 2, 1));

    const reopened = new CachingEmbedder(inner, dir, { dtype: 'fp32', closeInner: false });
    expect(reopened.size()).toBe(4);
    expect(fs.statSync(first.file).size).toBe(intact);
    expect(await reopened.embed(texts, 'passage')).toEqual(vectors);
    expect(inner.texts).toBe(4);
    await reopened.embed(['Statins and muscle pain.', texts[1]!], 'passage');
    expect(inner.texts).toBe(5);
    await reopened.close();
    expect(new CachingEmbedder(inner, dir, { dtype: 'fp32' }).size()).toBe(5);
    // another dtype is another model as far as vectors go
    expect(new CachingEmbedder(inner, dir, { dtype: 'q8' }).size()).toBe(0);
  });
});

describeShared('eval harness on a 200-document SciFact slice', () => {
  let dataDir: string;
  let inner: CountingEmbedder;
  let first: EvalReport;
  const scifact = () => datasetPath('scifact');
  /** The 200-document slice, into a fresh in-memory store, sharing the embedding cache under dataDir. */
  const evaluateSlice = async (extra: Partial<Parameters<typeof runEvaluation>[0]> = {}) =>
    runEvaluation({
      config: loadConfig({ RAGLINE_DATA_DIR: dataDir }),
      dataset: scifact(),
      split: 'test',
      limit: 200,
      embedder: inner,
      store: await openPgliteStore(),
      ...extra,
    });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-eval-'));
    inner = new CountingEmbedder(await testEmbedder());
    first = await evaluateSlice();
  }, 30 * MINUTE); // embeds the slice: about two minutes on an idle 2-core machine, far more when it is shared
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('scores all three modes on real retrieval; hybrid beats the worse single retriever', () => {
    const { dense, bm25, hybrid } = first.results;
    expect(first.settings.documents).toBe(200);
    expect(first.settings.queries).toBeGreaterThan(50);
    expect(first.settings.embedding.embedded).toBeGreaterThan(0);
    expect(hybrid!.ndcg10).toBeGreaterThan(Math.min(dense!.ndcg10, bm25!.ndcg10));
    // Half the slice is judged documents: every retriever finds most of them in the top 100.
    for (const m of [dense!, bm25!, hybrid!]) expect(m.recall100).toBeGreaterThan(0.8);
  });

  it(
    'embeds nothing on a second run, even into a fresh store',
    async () => {
      const calls = inner.calls;
      const second = await evaluateSlice();
      expect(inner.calls).toBe(calls);
      expect(second.settings.embedding.embedded).toBe(0);
      expect(second.settings.embedding.fromCache).toBeGreaterThan(0);
      expect(second.results.bm25).toEqual(first.results.bm25);
    },
    10 * MINUTE,
  );

  it(
    '--whole-documents follows the BEIR protocol: one passage per document, in a collection of its own',
    async () => {
      const whole = await evaluateSlice({ modes: ['dense'], wholeDocuments: true });
      expect(whole.settings.chunks).toBe(200);
      expect(whole.settings.chunking).toBe('one passage per document');
      expect(whole.settings.collection).not.toBe(first.settings.collection);
      expect(first.settings.chunks).toBeGreaterThan(200);
      expect(whole.results.dense!.recall100).toBeGreaterThan(0.8);
    },
    10 * MINUTE,
  );

  it(
    '`ragline eval --json` writes the specified shape; a missing dataset exits with code 2',
    async () => {
      const json = path.join(dataDir, 'out', 'scifact.json');
      const previous = process.env.RAGLINE_DATA_DIR;
      process.env.RAGLINE_DATA_DIR = dataDir;
      try {
        const code = await main(['node', 'ragline', 'eval', '--dataset', scifact(), '--limit', '200', '--json', json]);
        expect(code).toBe(0);
        const written = reportJson.parse(JSON.parse(fs.readFileSync(json, 'utf8')));
        expect(written.results.bm25).toEqual(first.results.bm25);
        expect(written.settings.embedding).toEqual({ fromCache: expect.any(Number), embedded: 0 });

        const missing = await main(['node', 'ragline', 'eval', '--dataset', path.join(dataDir, 'no-such-beir')]);
        expect(missing).toBe(2);
      } finally {
        if (previous === undefined) delete process.env.RAGLINE_DATA_DIR;
        else process.env.RAGLINE_DATA_DIR = previous;
        process.exitCode = undefined;
      }
    },
    10 * MINUTE,
  );
});
