import { expect } from 'vitest';
import type { Bm25Hit } from '../../retrieval/bm25.ts';

/**
 * Same chunks and ranks; scores equal up to the rounding of sums taken in another order (the
 * pruning scorer and the term-by-term walk add the same contributions in different orders).
 */
export function expectSameHits(actual: Bm25Hit[], expected: Bm25Hit[]) {
  expect(actual.map((h) => h.id)).toEqual(expected.map((h) => h.id));
  actual.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 9));
}
