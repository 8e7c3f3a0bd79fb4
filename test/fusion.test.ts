import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CANDIDATES,
  DEFAULT_FUSION,
  DEFAULT_K,
  DEFAULT_WEIGHT_RULE,
  bm25Gap,
  chooseWeights,
  convex,
  fuse,
  minMax,
  rrf,
  single,
} from '../retrieval/fusion.ts';
import type { RankedList } from '../retrieval/types.ts';

const list = (...entries: [string, number][]): RankedList => ({
  ids: entries.map(([id]) => id),
  scores: entries.map(([, score]) => score),
});
const ids = (hits: { id: string }[]) => hits.map((h) => h.id);

describe('rrf', () => {
  // a: dense 1st, bm25 3rd; b: 2nd in both; c: dense 3rd, bm25 1st.
  const dense = list(['a', 0.9], ['b', 0.8], ['c', 0.7]);
  const bm25 = list(['c', 12], ['b', 8], ['a', 3]);

  it('computes Σ w_i / (k + rank_i) with 1-based ranks', () => {
    const hits = rrf(dense, bm25, { k: 60, weights: { dense: 2, bm25: 1 } });
    const a = hits.find((h) => h.id === 'a')!;
    expect(a.fusedScore).toBeCloseTo(2 / 61 + 1 / 63, 12);
    expect(a).toMatchObject({ denseRank: 1, denseScore: 0.9, bm25Rank: 3, bm25Score: 3 });
  });

  it('changing the weights changes the order', () => {
    expect(ids(rrf(dense, bm25, { k: 60, weights: { dense: 3, bm25: 1 } }))[0]).toBe('a');
    expect(ids(rrf(dense, bm25, { k: 60, weights: { dense: 1, bm25: 3 } }))[0]).toBe('c');
  });

  it('changing k changes the order', () => {
    // x is first in dense only; y is third in both lists.
    const d = list(['x', 0.9], ['p', 0.8], ['y', 0.7]);
    const b = list(['q', 9], ['r', 8], ['y', 7]);
    const weights = { dense: 1, bm25: 1 };
    // k=0: x = 1/1 beats y = 1/3 + 1/3.
    expect(ids(rrf(d, b, { k: 0, weights })).indexOf('x')).toBeLessThan(ids(rrf(d, b, { k: 0, weights })).indexOf('y'));
    // k=60: y = 2/63 > x = 1/61.
    expect(ids(rrf(d, b, { k: 60, weights })).indexOf('y')).toBeLessThan(ids(rrf(d, b, { k: 60, weights })).indexOf('x'));
  });

  it('a document missing from a list gets 0 from it, not a made-up rank', () => {
    const hits = rrf(list(['a', 0.9]), list(['b', 5], ['a', 4]), { k: 10, weights: { dense: 1, bm25: 1 } });
    const b = hits.find((h) => h.id === 'b')!;
    expect(b.fusedScore).toBe(1 / 11);
    expect(b).toMatchObject({ denseRank: null, denseScore: null, bm25Rank: 1, bm25Score: 5 });
    expect(hits.find((h) => h.id === 'a')!.fusedScore).toBeCloseTo(1 / 11 + 1 / 12, 12);
  });

  it('breaks ties by id ascending, whatever the input order', () => {
    const forward = rrf(list(['m', 1], ['d', 0.5]), list(['d', 9], ['m', 8]), { k: 60, weights: { dense: 1, bm25: 1 } });
    const backward = rrf(list(['d', 9], ['m', 8]), list(['m', 1], ['d', 0.5]), { k: 60, weights: { dense: 1, bm25: 1 } });
    expect(forward[0]!.fusedScore).toBe(forward[1]!.fusedScore);
    expect(ids(forward)).toEqual(['d', 'm']);
    expect(ids(backward)).toEqual(['d', 'm']);
  });

  it('a zero weight removes that list’s influence on the order', () => {
    const hits = rrf(dense, bm25, { k: 60, weights: { dense: 0, bm25: 1 } });
    expect(ids(hits)).toEqual(['c', 'b', 'a']);
  });

  it('keeps the best rank of an id repeated within one list', () => {
    const hits = rrf(list(['a', 0.9], ['a', 0.1]), list(), { k: 0, weights: { dense: 1, bm25: 1 } });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ denseRank: 1, fusedScore: 1 });
  });
});

describe('minMax', () => {
  it('maps the range onto [0, 1]', () => {
    expect(minMax([10, 6, 2])).toEqual([1, 0.5, 0]);
  });
  it('gives 1 to every entry of an all-equal or single-element list, and nothing for an empty one', () => {
    expect(minMax([0.4])).toEqual([1]);
    expect(minMax([3, 3, 3])).toEqual([1, 1, 1]);
    expect(minMax([])).toEqual([]);
  });
});

describe('convex', () => {
  it('combines min-max normalised scores, missing = 0', () => {
    const hits = convex(list(['a', 0.9], ['b', 0.5]), list(['b', 10], ['c', 0]), { weights: { dense: 0.7, bm25: 0.3 } });
    const byId = new Map(hits.map((h) => [h.id, h.fusedScore]));
    expect(byId.get('a')).toBeCloseTo(0.7 * 1 + 0, 12);
    expect(byId.get('b')).toBeCloseTo(0.7 * 0 + 0.3 * 1, 12);
    expect(byId.get('c')).toBeCloseTo(0, 12);
    expect(ids(hits)).toEqual(['a', 'b', 'c']);
  });

  it('is not raw-score addition: BM25’s larger scale does not dominate', () => {
    const dense = list(['a', 0.9], ['b', 0.5]);
    const bm25 = list(['b', 10], ['a', 9.5], ['c', 0]);
    const raw = ['a', 'b'].sort(
      (x, y) =>
        dense.scores[dense.ids.indexOf(y)]! +
        bm25.scores[bm25.ids.indexOf(y)]! -
        (dense.scores[dense.ids.indexOf(x)]! + bm25.scores[bm25.ids.indexOf(x)]!),
    );
    expect(raw[0]).toBe('b');
    expect(ids(convex(dense, bm25, { weights: { dense: 1, bm25: 1 } }))[0]).toBe('a');
  });

  it('handles single-element and all-equal lists without dividing by zero', () => {
    const hits = convex(list(['a', 0.3]), list(['b', 2], ['c', 2]), { weights: { dense: 1, bm25: 2 } });
    for (const h of hits) expect(Number.isFinite(h.fusedScore)).toBe(true);
    expect(hits.find((h) => h.id === 'a')!.fusedScore).toBe(1);
    expect(hits.find((h) => h.id === 'b')!.fusedScore).toBe(2);
    expect(ids(hits)).toEqual(['b', 'c', 'a']);
  });

  it('changing the weights changes the order', () => {
    const dense = list(['a', 0.9], ['b', 0.2]);
    const bm25 = list(['b', 7], ['a', 1]);
    expect(ids(convex(dense, bm25, { weights: { dense: 2, bm25: 1 } }))[0]).toBe('a');
    expect(ids(convex(dense, bm25, { weights: { dense: 1, bm25: 2 } }))[0]).toBe('b');
  });
});

describe('fuse and single', () => {
  it('dispatches on the method', () => {
    const dense = list(['a', 0.9], ['b', 0.2]);
    const bm25 = list(['b', 7], ['a', 1]);
    const options = { k: 5, weights: { dense: 1, bm25: 1 } };
    expect(fuse('rrf', dense, bm25, options)).toEqual(rrf(dense, bm25, options));
    expect(fuse('convex', dense, bm25, options)).toEqual(convex(dense, bm25, options));
  });

  it('keeps a single list’s order and scores, with the other retriever empty', () => {
    const hits = single('bm25', list(['x', 5], ['y', 3]));
    expect(hits).toEqual([
      { id: 'x', fusedScore: 5, denseRank: null, denseScore: null, bm25Rank: 1, bm25Score: 5 },
      { id: 'y', fusedScore: 3, denseRank: null, denseScore: null, bm25Rank: 2, bm25Score: 3 },
    ]);
  });

  it('exports the documented defaults', () => {
    expect(DEFAULT_K).toBe(60);
    expect(DEFAULT_CANDIDATES).toBe(100);
    expect(['rrf', 'convex']).toContain(DEFAULT_FUSION);
  });
});

describe('chooseWeights', () => {
  const dense = list(['a', 0.8], ['b', 0.7]);
  const scores = (...values: number[]) => list(...values.map((v, i): [string, number] => [`d${i}`, v]));
  // Ten BM25 scores: one clear winner (gap 0.9) versus a flat list (gap 0.1).
  const confident = scores(20, 5, 4, 4, 3, 3, 3, 2, 2, 2);
  const flat = scores(10, 9.9, 9.8, 9.7, 9.6, 9.5, 9.4, 9.3, 9.2, 9);

  it('measures the BM25 gap between the 1st and the 10th score', () => {
    expect(bm25Gap(confident)).toBeCloseTo(0.9, 12);
    expect(bm25Gap(flat)).toBeCloseTo(0.1, 12);
    expect(bm25Gap(list(['x', 3]))).toBe(1);
    expect(bm25Gap(list())).toBe(1);
  });

  it('trusts BM25 more when its top stands out and dense more when BM25 is flat', () => {
    const sharp = chooseWeights('zebrafish regeneration', dense, confident);
    const vague = chooseWeights('zebrafish regeneration', dense, flat);
    expect(sharp.bm25).toBeGreaterThan(sharp.dense);
    expect(vague.dense).toBeGreaterThan(vague.bm25);
    for (const w of [sharp, vague]) expect(w.dense + w.bm25).toBeCloseTo(1, 12);
  });

  it('weights long pasted queries by the length rule, whatever the gap', () => {
    const paragraph = Array.from({ length: DEFAULT_WEIGHT_RULE.longQueryTerms + 5 }, (_, i) => `term${i}x`).join(' ');
    const w = chooseWeights(paragraph, dense, confident);
    expect(w.bm25 / w.dense).toBeCloseTo(DEFAULT_WEIGHT_RULE.longRatio, 12);
  });

  it('follows a custom rule', () => {
    const rule = { steps: [{ maxGap: Infinity, bm25PerDense: 3 }], longQueryTerms: 100, longRatio: 1 };
    expect(chooseWeights('q', dense, flat, rule)).toEqual({ dense: 0.25, bm25: 0.75 });
  });
});
