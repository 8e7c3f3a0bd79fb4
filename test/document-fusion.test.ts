import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/random.ts';
import { fuseByDocument } from '../retrieval/document-fusion.ts';
import { fuse, type FusionMethod } from '../retrieval/fusion.ts';
import type { RankedList } from '../retrieval/types.ts';

/** Entries [chunk id, score]; a chunk's document is the part of its id before the '#'. */
const list = (...entries: [string, number][]): RankedList => ({
  ids: entries.map(([id]) => id),
  scores: entries.map(([, score]) => score),
  documents: entries.map(([id]) => id.split('#')[0]!),
});
const ids = (hits: { id: string }[]) => hits.map((h) => h.id);
const documentsInOrder = (hits: { id: string }[]) => [...new Set(hits.map((h) => h.id.split('#')[0]!))];
const even = { dense: 0.5, bm25: 0.5 };

describe('fuseByDocument', () => {
  // Document a fills the first four dense ranks; b is the second document dense finds.
  const dense = list(['a#1', 0.9], ['a#2', 0.89], ['a#3', 0.88], ['a#4', 0.87], ['b#1', 0.6], ['c#1', 0.5]);
  const bm25 = list(['c#1', 10], ['b#1', 9], ['a#2', 1]);

  it('ranks each entry among distinct documents: the second document is dense rank 2, not 5', () => {
    const hits = fuseByDocument('rrf', dense, bm25, { k: 60, weights: { dense: 1, bm25: 1 } });
    const b = hits.find((h) => h.id === 'b#1')!;
    expect(b.fusedScore).toBeCloseTo(1 / 62 + 1 / 62, 12);
    // The explanation keeps the chunk's own place in each list.
    expect(b).toMatchObject({ denseRank: 5, denseScore: 0.6, bm25Rank: 2, bm25Score: 9 });
    // Chunk fusion lets a's extra chunks push b down to dense rank 5.
    const byChunk = fuse('rrf', dense, bm25, { k: 60, weights: { dense: 1, bm25: 1 } }).find((h) => h.id === 'b#1')!;
    expect(byChunk.fusedScore).toBeCloseTo(1 / 65 + 1 / 62, 12);
  });

  it("normalises against the spread of the documents' best scores, so crowding chunks do not set the floor", () => {
    // Convex: the documents' bests are a 0.9, b 0.6, c 0.5, so b's dense part is (0.6 − 0.5) / 0.4.
    const hits = fuseByDocument('convex', dense, bm25, { k: 60, weights: even });
    const b = hits.find((h) => h.id === 'b#1')!;
    expect(b.fusedScore).toBeCloseTo(0.5 * (0.1 / 0.4) + 0.5 * (8 / 9), 12);
  });

  it('returns every chunk of both lists, several per document, each after its document’s best chunk', () => {
    for (const method of ['rrf', 'convex'] as const) {
      const hits = fuseByDocument(method, dense, bm25, { k: 60, weights: even });
      expect(new Set(ids(hits))).toEqual(new Set([...dense.ids, ...bm25.ids]));
      expect(hits.filter((h) => h.id.startsWith('a#'))).toHaveLength(4);
      const aRanks = ids(hits)
        .map((id, i) => [id, i] as const)
        .filter(([id]) => id.startsWith('a#'));
      // The other chunks of a keep their own order below it.
      expect(aRanks.map(([id]) => id).slice(1)).toEqual(['a#1', 'a#2', 'a#3', 'a#4'].filter((id) => id !== aRanks[0]![0]));
      for (let i = 1; i < hits.length; i++) expect(hits[i]!.fusedScore).toBeLessThanOrEqual(hits[i - 1]!.fusedScore);
    }
  });

  it('scores a document by its best chunk in each retriever, even when they are different chunks, on its lead chunk', () => {
    // d's best dense chunk is d#1, its best BM25 chunk d#2; e is one chunk that is second in both.
    const d = list(['d#1', 0.9], ['e#1', 0.8], ['d#2', 0.7], ['f#1', 0.1]);
    const b = list(['d#2', 10], ['e#1', 9], ['f#1', 1]);
    const hits = fuseByDocument('convex', d, b, { k: 60, weights: even });
    expect(hits[0]!.id.startsWith('d#')).toBe(true);
    expect(hits[0]!.fusedScore).toBeCloseTo(0.5 * 1 + 0.5 * 1, 12);
    const e = hits.find((h) => h.id === 'e#1')!;
    expect(e.fusedScore).toBeCloseTo(0.5 * (0.7 / 0.8) + 0.5 * (8 / 9), 12);
    // Chunk fusion could only give d one chunk's evidence: d#2 = 0.5 × 0.75 + 0.5 × 1.
    expect(ids(fuse('convex', d, b, { k: 60, weights: even }))[0]).toBe('e#1');
  });

  it('orders documents as fusing one best chunk per document per retriever would', () => {
    const random = mulberry32(7);
    const randomList = (scale: number): RankedList => {
      const entries: [string, number][] = [];
      for (let i = 0; i < 40; i++) entries.push([`doc${Math.floor(random() * 12)}#${i}`, random() * scale]);
      entries.sort((x, y) => y[1] - x[1]);
      return list(...entries);
    };
    const bestPerDocument = (l: RankedList): RankedList => {
      const out: RankedList = { ids: [], scores: [] };
      l.documents!.forEach((document, i) => {
        if (out.ids.includes(document)) return;
        out.ids.push(document);
        out.scores.push(l.scores[i]!);
      });
      return out;
    };
    for (let round = 0; round < 20; round++) {
      const d = randomList(1);
      const b = randomList(20);
      for (const method of ['rrf', 'convex'] as FusionMethod[]) {
        const options = { k: 60, weights: { dense: random(), bm25: random() } };
        const expected = fuse(method, bestPerDocument(d), bestPerDocument(b), options);
        const hits = fuseByDocument(method, d, b, options);
        expect(documentsInOrder(hits)).toEqual(ids(expected));
        const leads = hits.filter((h, i) => !hits.slice(0, i).some((x) => x.id.split('#')[0] === h.id.split('#')[0]));
        leads.forEach((lead, i) => expect(lead.fusedScore).toBeCloseTo(expected[i]!.fusedScore, 12));
      }
    }
  });

  it('equals chunk fusion when every chunk is its own document', () => {
    const d: RankedList = { ids: ['x', 'y', 'z'], scores: [0.9, 0.5, 0.2] };
    const b: RankedList = { ids: ['z', 'w'], scores: [7, 3] };
    for (const method of ['rrf', 'convex'] as const) {
      const options = { k: 60, weights: { dense: 0.6, bm25: 0.4 } };
      const expected = fuse(method, d, b, options);
      const hits = fuseByDocument(method, d, b, options);
      expect(ids(hits)).toEqual(ids(expected));
      hits.forEach((h, i) => expect(h.fusedScore).toBeCloseTo(expected[i]!.fusedScore, 12));
    }
  });

  it('breaks exact ties by id, so results are deterministic', () => {
    const d = list(['q#1', 0.5], ['p#1', 0.5]);
    const b = list(['p#1', 2], ['q#1', 2]);
    for (const method of ['rrf', 'convex'] as const) {
      expect(ids(fuseByDocument(method, d, b, { k: 60, weights: even }))).toEqual(['p#1', 'q#1']);
    }
  });

  it('with one retriever empty, keeps that retriever’s order, tail chunks below every document’s best included', () => {
    // a#3 and b#2 score below c#1, the lowest document best: floored to 0, still in their order.
    const d = list(['a#1', 0.9], ['b#1', 0.8], ['a#2', 0.75], ['c#1', 0.7], ['b#2', 0.65], ['a#3', 0.6]);
    for (const method of ['rrf', 'convex'] as const) {
      expect(ids(fuseByDocument(method, d, list(), { k: 60, weights: even }))).toEqual(d.ids);
      expect(ids(fuseByDocument(method, list(), d, { k: 60, weights: even }))).toEqual(d.ids);
    }
    // One document alone: its best is 1, its other chunks follow in order.
    const one = list(['a#1', 0.9], ['a#3', 0.85], ['a#2', 0.8]);
    expect(ids(fuseByDocument('convex', one, list(), { k: 60, weights: even }))).toEqual(['a#1', 'a#3', 'a#2']);
  });

  it('returns nothing for two empty lists', () => {
    expect(fuseByDocument('convex', list(), list(), { k: 60, weights: even })).toEqual([]);
    expect(fuseByDocument('rrf', list(), list(), { k: 60, weights: even })).toEqual([]);
  });
});
