import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPubmedqaParagraphs, queryIdOf } from '../eval/pubmedqa-paragraphs.ts';
import { loadDataset } from '../eval/datasets.ts';
import { halves } from '../eval/document-tune.ts';
import { rankWithDocumentEvidence, supportedScore } from '../retrieval/document-evidence.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import type { Bm25Registry } from '../retrieval/bm25-registry.ts';
import type { Embedder } from '../models/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { describeShared } from './helpers/shared.ts';

describe('the document-evidence scoring rule', () => {
  it('adds β × the document similarity; a document without a vector counts its chunk', () => {
    expect(supportedScore(0.5, 0.8, 0.5)).toBeCloseTo(0.9);
    expect(supportedScore(0.5, 0.8, 0)).toBeCloseTo(0.5);
    expect(supportedScore(0.5, undefined, 0.5)).toBeCloseTo(0.75);
  });

  it('lets a chunk of a closer document overtake a slightly closer chunk of a farther one, only when β > 0', () => {
    const chunks = [
      { id: 'b1', documentId: 'B', similarity: 0.62, updatedAt: '' },
      { id: 'a1', documentId: 'A', similarity: 0.6, updatedAt: '' },
      { id: 'a2', documentId: 'A', similarity: 0.55, updatedAt: '' },
    ];
    const docs = new Map([
      ['A', 0.8],
      ['B', 0.5],
    ]);
    expect(rankWithDocumentEvidence(chunks, docs, 0).map((r) => r.chunk.id)).toEqual(['b1', 'a1', 'a2']);
    expect(rankWithDocumentEvidence(chunks, docs, 0.5).map((r) => r.chunk.id)).toEqual(['a1', 'a2', 'b1']);
  });

  it('breaks ties by chunk id', () => {
    const chunks = [
      { id: 'z', documentId: 'D', similarity: 0.5, updatedAt: '' },
      { id: 'y', documentId: 'D', similarity: 0.5, updatedAt: '' },
    ];
    expect(rankWithDocumentEvidence(chunks, new Map(), 1).map((r) => r.chunk.id)).toEqual(['y', 'z']);
  });
});

/** The dense leg end to end on PGlite, with hand-made vectors (the query vector is given, so no model runs). */
describe('the dense leg with document evidence (PGlite)', () => {
  const D = 4;
  let store: SqlStore;
  let collection: Collection;
  let searcher: HybridSearcher;
  const vec = (...xs: number[]) => {
    const v = new Float32Array(D);
    xs.forEach((x, i) => (v[i] = x));
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const query = vec(1, 0, 0, 0);

  async function add(source: string, chunkVectors: Float32Array[], documentVector: Float32Array) {
    const doc = await store.replaceDocument({
      collectionId: collection.id,
      source,
      title: source,
      mime: 'text/plain',
      contentHash: source,
      metadata: {},
      pageCount: null,
      chunks: chunkVectors.map((embedding, ordinal) => ({
        ordinal,
        text: `${source} ${ordinal}`,
        tokenCount: 2,
        pageStart: null,
        pageEnd: null,
        headingPath: [],
        charStart: 0,
        charEnd: 1,
        kind: 'text',
        embedding,
      })),
    });
    await store.putDocumentVector({ collectionId: collection.id, documentId: doc.id, pooling: 'first-window', vector: documentVector });
  }

  beforeAll(async () => {
    store = await openPgliteStore();
    collection = await store.createCollection({ name: 'evidence', embeddingModel: 'hand-made', dimensions: D });
    // "near": the best single chunk, in a document that as a whole is far from the query.
    await add('near', [vec(0.9, 0.45, 0, 0)], vec(0.3, 1, 0, 0));
    // "whole": two middling chunks, but the document as a whole matches the query best.
    await add('whole', [vec(0.8, 0, 0.6, 0), vec(0.8, 0, 0, 0.6)], vec(1, 0, 0.1, 0.1));
    // "hidden": chunks too far to be chunk candidates at depth 2; its document is close.
    await add('hidden', [vec(0.5, 0, 0, 1), vec(0.5, 0, 1, 0)], vec(1, 0, 0.2, 0));
    const embedder = { modelId: 'hand-made', dimensions: D } as Embedder;
    searcher = new HybridSearcher({ store, embedder, bm25: {} as Bm25Registry });
  });
  afterAll(async () => {
    await store?.close();
  });

  const sources = async (documentEvidence?: { weight: number; candidates: number }, candidates = 10) =>
    (
      await searcher.search(collection, { query: 'q', mode: 'dense', topK: 3, candidates }, { queryVector: query, documentEvidence })
    ).hits.map((h) => `${h.chunk.source}/${h.chunk.ordinal}`);

  it('without evidence, chunks rank by their own similarity', async () => {
    expect((await sources())[0]).toBe('near/0');
  });

  it('with β = 1, the chunk of the document that matches as a whole comes first', async () => {
    expect((await sources({ weight: 1, candidates: 0 }))[0]).toMatch(/^whole\//);
  });

  it('document candidates bring in a document none of whose chunks was a chunk candidate', async () => {
    expect((await sources(undefined, 2)).some((s) => s.startsWith('hidden/'))).toBe(false);
    expect((await sources({ weight: 1, candidates: 3 }, 2)).some((s) => s.startsWith('hidden/'))).toBe(true);
  });
});

describe('halving a split for the multi-corpus document tune', () => {
  it('gives two disjoint halves that together are the whole set', () => {
    const ids = ['q5', 'q1', 'q4', 'q2', 'q3'];
    const set = {
      name: 'natural',
      queries: ids.map((id) => ({ id, text: id })),
      qrels: new Map(ids.map((id) => [id, new Map([[`d${id}`, 1]])])),
      excludeSelf: true,
    };
    const { train, test } = halves(set);
    expect([...train.qrels.keys()].sort()).toEqual(['q1', 'q3', 'q5']);
    expect(test.queries.map((q) => q.id).sort()).toEqual(['q2', 'q4']);
  });
});

describe('the pubmedqa-paragraphs builder', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pqa-'));
    const entry = (n: number) => ({
      QUESTION: `question ${n}?`,
      CONTEXTS: [`background ${n}.`, ` results ${n}. `],
      LONG_ANSWER: ` conclusion ${n}. `,
      final_decision: 'yes',
    });
    fs.writeFileSync(path.join(dir, 'ori_pqal.json'), JSON.stringify({ 11: entry(1), 22: entry(2), 33: entry(3) }));
    fs.writeFileSync(path.join(dir, 'test_ground_truth.json'), JSON.stringify({ 22: 'yes' }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("joins an abstract's contexts into one document and makes its conclusion the query, split by PubMedQA's test ids", () => {
    const set = buildPubmedqaParagraphs(dir, ['train', 'test']);
    expect(set.corpus.find((d) => d.id === '22')).toEqual({ id: '22', title: '', text: 'background 2. results 2.' });
    expect(set.queries.get(queryIdOf('22'))).toBe('conclusion 2.');
    expect([...set.qrels.get('test')!.keys()]).toEqual(['q22']);
    expect([...set.qrels.get('train')!.keys()].sort()).toEqual(['q11', 'q33']);
    expect(set.qrels.get('train')!.get('q33')).toEqual(new Map([['33', 1]]));
  });

  it('refuses a split it does not have, naming it', () => {
    expect(() => buildPubmedqaParagraphs(dir, ['dev'])).toThrow(/"dev"/);
  });

  it('says which file is missing', () => {
    expect(() => buildPubmedqaParagraphs(path.join(dir, 'nowhere'), ['test'])).toThrow(/ori_pqal\.json/);
  });
});

describeShared('pubmedqa-paragraphs on the shared data (a slice)', () => {
  it('keeps 1,000 abstracts, 500 test and 500 train queries; a slice keeps every judged document', () => {
    const full = loadDataset('pubmedqa-paragraphs', { splits: ['train', 'test'] });
    expect(full.corpus).toHaveLength(1000);
    expect(full.qrels.get('test')!.size).toBe(500);
    expect(full.qrels.get('train')!.size).toBe(500);
    const slice = loadDataset('pubmedqa-paragraphs', { splits: ['train', 'test'], limit: 40, seed: 7 });
    expect(slice.corpus).toHaveLength(40);
    const ids = new Set(slice.corpus.map((d) => d.id));
    const judged = [...slice.qrels.values()].flatMap((q) => [...q.values()].flatMap((j) => [...j.keys()]));
    expect(judged.length).toBeGreaterThan(5);
    expect(judged.every((id) => ids.has(id))).toBe(true);
    // The query (the conclusion) is not inside its document.
    for (const [queryId, judgements] of slice.qrels.get('train')!) {
      const doc = slice.corpus.find((d) => d.id === [...judgements.keys()][0])!;
      expect(doc.text.includes(slice.queries.get(queryId)!)).toBe(false);
    }
  });
});
