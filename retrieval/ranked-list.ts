import type { RankedList } from './types.ts';

/**
 * A RankedList whose `documents` are worked out on their first read only. Document-distinct fusion
 * reads them; chunk fusion, the unit that ships, never does, so its searches build no document list.
 */
export function rankedList(ids: string[], scores: number[], documentOf: (index: number) => string): RankedList {
  let documents: string[] | undefined;
  return {
    ids,
    scores,
    get documents() {
      documents ??= ids.map((_, i) => documentOf(i));
      return documents;
    },
  };
}
