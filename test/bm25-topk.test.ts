import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { Bm25Index, DEFAULT_BM25_OPTIONS } from '../retrieval/bm25.ts';
import { TopKWorkspace, exactTopK, impactParts, type TermPostings } from '../retrieval/bm25-topk.ts';
import { parseFilter } from '../store/filters.ts';
import type { ChunkRecord } from '../store/types.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { expectSameHits } from './helpers/bm25-hits.ts';
import { mulberry32 } from '../core/random.ts';

/** Deterministic pseudo-random numbers, so a failure reproduces. */
const random = mulberry32;

/**
 * Lists over `size` chunks with Zipf-like lengths (a few long lists, many short ones). Scores
 * are multiples of 1/8, so every sum is exact in floating point and ties are real ties.
 */
function randomLists(next: () => number, size: number, terms: number): TermPostings[] {
  return Array.from({ length: terms }, (_, t) => {
    const share = Math.min(0.9, 1 / (1 + t * next() * 3));
    const ids = Array.from({ length: size }, (_, i) => i).filter(() => next() < share);
    // Rare lists score higher, as idf makes them.
    const top = 8 + Math.floor(32 * (1 - share));
    const scores = ids.map(() => (1 + Math.floor(next() * top)) / 8);
    return { ids: Int32Array.from(ids), scores: Float64Array.from(scores), max: Math.max(...scores), min: Math.min(...scores) };
  });
}

function bruteForce(lists: TermPostings[], k: number, accept: (id: number) => boolean = () => true) {
  const sums = new Map<number, number>();
  for (const list of lists) list.ids.forEach((id, i) => sums.set(id, (sums.get(id) ?? 0) + list.scores[i]!));
  return [...sums]
    .filter(([id]) => accept(id))
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, k);
}

function ranked(found: { shortIds: number[]; scores: number[] }, k: number) {
  return found.shortIds
    .map((id, i) => [id, found.scores[i]!] as [number, number])
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, k);
}

describe('exactTopK equals scoring every list for every chunk', () => {
  const workspace = new TopKWorkspace();
  workspace.ensure(2000);

  it.each([1, 5, 40, 5000])('top %i over random Zipf-like lists, ties included', (k) => {
    for (let seed = 1; seed <= 25; seed++) {
      const next = random(seed * 100 + k);
      const lists = randomLists(next, 300 + Math.floor(next() * 1500), 1 + Math.floor(next() * 90));
      expect(ranked(exactTopK(lists, k, workspace), k)).toEqual(bruteForce(lists, k));
    }
  });

  it('keeps every chunk tied at the k-th score, so the caller can break ties itself', () => {
    const tied: TermPostings = { ids: Int32Array.from([3, 5, 8, 9]), scores: Float64Array.from([1, 1, 1, 1]), max: 1, min: 1 };
    const found = exactTopK([tied], 2, workspace);
    expect(found.shortIds.sort()).toEqual([3, 5, 8, 9]);
  });

  it('filters before the top k is cut, asks once per chunk at most, and copes with fewer accepted chunks than k', () => {
    for (const [seed, share] of [
      [1, 0.5],
      [2, 0.05],
      [3, 0.002],
      [4, 0],
    ] as const) {
      const next = random(seed);
      const lists = randomLists(next, 1500, 70);
      const allowed = new Set(Array.from({ length: 1500 }, (_, i) => i).filter(() => next() < share));
      const asked = new Map<number, number>();
      const accept = (id: number) => {
        asked.set(id, (asked.get(id) ?? 0) + 1);
        return allowed.has(id);
      };
      const found = exactTopK(lists, 10, workspace, accept);
      expect(ranked(found, 10)).toEqual(bruteForce(lists, 10, (id) => allowed.has(id)));
      expect(found.shortIds.every((id) => allowed.has(id))).toBe(true);
      expect(Math.max(0, ...asked.values())).toBeLessThanOrEqual(1);
    }
  });

  it('skips most of the long lists of a long query once the top k is settled', () => {
    // Like a pasted paragraph: a few rare terms shared by a handful of chunks, and many frequent
    // terms in half of all chunks that each add little.
    const next = random(99);
    const list = (ids: number[], top: number): TermPostings => {
      const scores = ids.map(() => (1 + Math.floor(next() * top)) / 8);
      return { ids: Int32Array.from(ids), scores: Float64Array.from(scores), max: Math.max(...scores), min: Math.min(...scores) };
    };
    const all = Array.from({ length: 2000 }, (_, i) => i);
    const rare = Array.from({ length: 6 }, () =>
      list(
        all.filter((i) => i % 50 === 0 || next() < 0.01),
        160,
      ),
    );
    const frequent = Array.from({ length: 40 }, () =>
      list(
        all.filter(() => next() < 0.5),
        4,
      ),
    );
    const lists = [...frequent, ...rare];
    const total = lists.reduce((sum, l) => sum + l.ids.length, 0);
    const found = exactTopK(lists, 10, workspace);
    expect(ranked(found, 10)).toEqual(bruteForce(lists, 10));
    expect(found.walked).toBeLessThan(total / 2);
  });

  it('bounds a list of negative scores (negative idf) by 0 for the chunks it does not hold', () => {
    const next = random(21);
    for (let seed = 0; seed < 20; seed++) {
      const lists = randomLists(next, 400, 12).map((l, i) =>
        i % 3 === 0 ? { ...l, scores: l.scores.map((s) => -s), max: -l.min, min: -l.max } : l,
      );
      for (const k of [1, 10]) expect(ranked(exactTopK(lists, k, workspace), k)).toEqual(bruteForce(lists, k));
    }
  });

  it('cuts a long list into a high and a low part that hold each posting once, sorted, with their own bounds', () => {
    const [list] = randomLists(random(8), 3000, 1);
    const parts = impactParts(list!);
    expect(parts).toHaveLength(2);
    const [high, low] = parts as [TermPostings, TermPostings];
    expect(low.max).toBeLessThan(high.min);
    expect(high.max).toBe(list!.max);
    const pairs = (l: TermPostings) => [...l.ids].map((id, i) => `${id}:${l.scores[i]}`);
    expect([...pairs(high), ...pairs(low)].sort()).toEqual(pairs(list!).sort());
    for (const part of parts) expect([...part.ids]).toEqual([...part.ids].sort((x, y) => x - y));
  });

  it('leaves its workspace zeroed for the next query', () => {
    const lists = randomLists(random(5), 1800, 60);
    exactTopK(lists, 10, workspace);
    exactTopK(lists, 10, workspace, (id) => id % 2 === 0);
    expect(workspace.scores.every((s) => s === 0)).toBe(true);
    expect(workspace.state.every((s) => s === 0)).toBe(true);
  });
});

const WORDS = Array.from({ length: 600 }, (_, i) => `w${i.toString(36)}x`);

function corpus(seed: number, size: number, prefix = 'c'): ChunkRecord[] {
  const next = random(seed);
  const word = () => WORDS[Math.min(WORDS.length - 1, Math.floor(1 / (next() * 0.995 + 0.005)) - 1)]!;
  return Array.from({ length: size }, (_, i) => {
    const text = Array.from({ length: 10 + Math.floor(next() * 60) }, word).join(' ');
    return chunkRecord(`${prefix}${i}`, text, { documentId: `${prefix}d${i % 40}`, source: `s${i % 4}`, title: word() });
  });
}

function longQuery(seed: number, words = 150): string {
  const next = random(seed);
  return Array.from({ length: words }, () => WORDS[Math.floor(next() ** 2 * WORDS.length)]!).join(' ');
}

describe('Bm25Index with pruning ranks as the full walk does', () => {
  const options = { maxQueryTerms: Number.POSITIVE_INFINITY };
  const pair = () => [new Bm25Index({ ...options, pruning: true }), new Bm25Index({ ...options, pruning: false })] as const;

  it('through adds, replacements, removals and minisearch vacuuming the removed postings', async () => {
    const [pruned, walked] = pair();
    const check = () => {
      for (const seed of [1, 2, 3]) {
        for (const limit of [1, 10, 100]) {
          expectSameHits(pruned.search(longQuery(seed), { limit }), walked.search(longQuery(seed), { limit }));
        }
        const filter = parseFilter({ source: 's1' });
        expectSameHits(pruned.search(longQuery(seed), { limit: 10, filter }), walked.search(longQuery(seed), { limit: 10, filter }));
      }
    };
    const both = (apply: (index: Bm25Index) => void) => [pruned, walked].forEach(apply);
    both((i) => i.add(corpus(1, 1500)));
    check();
    both((i) => i.add(corpus(2, 300, 'n')));
    check();
    both((i) => i.add(corpus(3, 200))); // replaces c0…c199
    check();
    both((i) => {
      for (let d = 0; d < 20; d++) i.removeDocument(`cd${d}`);
    });
    check();
    const vacuum = (i: Bm25Index) => (i as unknown as { postings: { vacuum(): Promise<void> } }).postings.vacuum();
    await Promise.all([vacuum(pruned), vacuum(walked)]);
    check();
  });

  it('after a change, scores use the new statistics, not cached postings', () => {
    const chunks = corpus(4, 800);
    const later = corpus(5, 400, 'm');
    const changed = new Bm25Index(options);
    changed.add(chunks);
    changed.search(longQuery(7), { limit: 10 });
    changed.add(later);
    const fresh = new Bm25Index(options);
    fresh.add([...chunks, ...later]);
    expect(changed.search(longQuery(7), { limit: 20 })).toEqual(fresh.search(longQuery(7), { limit: 20 }));
  });

  it('breaks ties by id when the k-th place falls inside a group of equal chunks', () => {
    const next = random(11);
    const texts = corpus(6, 30).map((c) => c.text);
    const copies = texts.flatMap((text, t) =>
      Array.from({ length: 5 }, (_, c) => chunkRecord(`t${Math.floor(next() * 1e6)}-${t}-${c}`, text)),
    );
    const [pruned, walked] = pair();
    pruned.add(copies);
    walked.add(copies);
    for (const limit of [3, 12, 37]) {
      const hits = pruned.search(longQuery(3, 80), { limit });
      expectSameHits(hits, walked.search(longQuery(3, 80), { limit }));
      for (let i = 1; i < hits.length; i++) {
        if (hits[i]!.score === hits[i - 1]!.score) expect(hits[i - 1]!.id < hits[i]!.id).toBe(true);
      }
    }
  });

  it('counts its cached postings in the memory estimate', () => {
    const index = new Bm25Index(options);
    index.add(corpus(8, 500));
    const before = index.estimatedBytes;
    index.search(longQuery(1), { limit: 10 });
    expect(index.estimatedBytes).toBeGreaterThan(before);
  });
});

describe('the query-term cap is an option, off by default', () => {
  it('scores every term unless RAGLINE_BM25_MAX_QUERY_TERMS sets a cap', () => {
    expect(DEFAULT_BM25_OPTIONS.maxQueryTerms).toBe(Number.POSITIVE_INFINITY);
    expect(loadConfig({}).bm25.maxQueryTerms).toBeUndefined();
    expect(loadConfig({ RAGLINE_BM25_MAX_QUERY_TERMS: '32' }).bm25.maxQueryTerms).toBe(32);
    expect(() => loadConfig({ RAGLINE_BM25_MAX_QUERY_TERMS: '0' })).toThrow(/RAGLINE_BM25_MAX_QUERY_TERMS/);
    const index = new Bm25Index();
    index.add(corpus(9, 200));
    expect(index.queryTerms(longQuery(2)).length).toBeGreaterThan(32);
  });
});
