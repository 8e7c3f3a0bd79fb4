import { describe, expect, it } from 'vitest';
import { Bm25Index, DEFAULT_BM25_OPTIONS } from '../retrieval/bm25.ts';
import { matchesFilter, parseFilter } from '../store/filters.ts';
import { tokenize } from '../retrieval/tokenize.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import type { ChunkRecord } from '../store/types.ts';
import { mulberry32 } from '../core/random.ts';

/** Deterministic pseudo-random numbers, so a failure reproduces. */
const random = mulberry32;

const SYLLABLES = ['ka', 'lo', 'mi', 'ru', 'te', 'vos', 'dan', 'pel', 'qui', 'zor', 'nam', 'fi'];

/** Zipf-like vocabulary: a few words in most chunks, most words in few, like real text. */
function corpus(seed: number, size: number): { chunks: ChunkRecord[]; word: () => string } {
  const next = random(seed);
  const vocabulary = Array.from({ length: 4000 }, (_, i) => {
    let w = '';
    for (let n = i + 1; n > 0; n = Math.floor(n / SYLLABLES.length)) w += SYLLABLES[n % SYLLABLES.length];
    return `${w}x`;
  });
  const word = () => vocabulary[Math.min(vocabulary.length - 1, Math.floor(1 / (next() * 0.999 + 0.001)) - 1)]!;
  const chunks = Array.from({ length: size }, (_, i) => {
    const text = Array.from({ length: 20 + Math.floor(next() * 80) }, word).join(' ');
    const title = Array.from({ length: 1 + Math.floor(next() * 4) }, word).join(' ');
    return chunkRecord(`c${String(i).padStart(5, '0')}`, text, { documentId: `d${i % 7}`, source: `s${i % 3}`, title });
  });
  return { chunks, word };
}

/** BM25 as the formula states it, over every term of the query, with no shortcuts. */
const analyzed = new WeakMap<ChunkRecord[], { title: string[]; text: string[] }[]>();

function referenceScores(chunks: ChunkRecord[], query: string): Map<string, number> {
  const { k1, b, delta, titleBoost } = DEFAULT_BM25_OPTIONS;
  let fields = analyzed.get(chunks);
  if (!fields) {
    fields = chunks.map((c) => ({ title: tokenize([c.title, ...c.headingPath].join(' ')), text: tokenize(c.text) }));
    analyzed.set(chunks, fields);
  }
  const n = chunks.length;
  const scores = new Map<string, number>();
  for (const [field, boost] of [
    ['title', titleBoost],
    ['text', 1],
  ] as const) {
    const avg = fields!.reduce((sum, f) => sum + f[field].length, 0) / n;
    for (const term of new Set(tokenize(query))) {
      const df = fields!.filter((f) => f[field].includes(term)).length;
      if (!df) continue;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      fields!.forEach((f, i) => {
        const tf = f[field].filter((t) => t === term).length;
        if (!tf) return;
        const norm = k1 * (1 - b + (b * f[field].length) / avg);
        const id = chunks[i]!.id;
        scores.set(id, (scores.get(id) ?? 0) + boost * idf * (delta + (tf * (k1 + 1)) / (tf + norm)));
      });
    }
  }
  return scores;
}

function expectSameTop(
  actual: { id: string; score: number }[],
  reference: Map<string, number>,
  limit: number,
  accept = (_id: string) => true,
) {
  const expected = [...reference]
    .filter(([id]) => accept(id))
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .slice(0, limit);
  expect(actual.length).toBe(expected.length);
  actual.forEach((hit, i) => {
    expect(hit.score).toBeCloseTo(expected[i]![1], 9);
    // Scores that differ only by rounding may swap; any other difference is a wrong ranking.
    if (Math.abs(hit.score - expected[i]![1]) > 1e-9 || hit.id !== expected[i]![0]) {
      expect(Math.abs(reference.get(hit.id)! - expected[i]![1])).toBeLessThan(1e-9);
    }
  });
}

describe('BM25 scores every query term exactly, long queries included', () => {
  const { chunks, word } = corpus(7, 3000);
  const index = new Bm25Index({ maxQueryTerms: Number.POSITIVE_INFINITY });
  index.add(chunks);

  it.each([3, 12, 60, 200])('%i-word queries return the top 10 that full scoring gives', (words) => {
    const next = random(words);
    for (let q = 0; q < 15; q++) {
      const query = Array.from({ length: words }, () =>
        next() < 0.5 ? word() : chunks[Math.floor(next() * chunks.length)]!.text.split(' ')[0]!,
      ).join(' ');
      expectSameTop(index.search(query, { limit: 10 }), referenceScores(chunks, query), 10);
    }
  });

  it('deep result lists (limit 500) match too', () => {
    const query = chunks[42]!.text;
    expectSameTop(index.search(query, { limit: 500 }), referenceScores(chunks, query), 500);
  });

  it('a filter applies before the top k is cut, also while pruning', () => {
    const filter = parseFilter({ source: 's2' });
    const byId = new Map(chunks.map((c) => [c.id, c]));
    const accept = (id: string) => matchesFilter(byId.get(id)! as never, filter);
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const query = Array.from({ length: 120 }, () => chunks[Math.floor(next() * chunks.length)]!.text.split(' ')[1]!).join(' ');
      const hits = index.search(query, { limit: 10, filter });
      expect(hits.every((h) => byId.get(h.id)!.source === 's2')).toBe(true);
      expectSameTop(hits, referenceScores(chunks, query), 10, accept);
    }
  });

  it('a chunk that only a later (more frequent) term matches still enters the top k when its score earns it', () => {
    // "alphax" is rarer (scored first, higher bound) but sits once in two long chunks, so their
    // scores are low; "betax" is more frequent but fills a short chunk, which outscores them.
    const long = (i: number) => chunkRecord(`long${i}`, `alphax ${Array.from({ length: 40 }, (_, j) => `pad${i}x${j}x`).join(' ')}`);
    const others = Array.from({ length: 8 }, (_, i) =>
      chunkRecord(`beta${i}`, `betax ${Array.from({ length: 150 }, (_, j) => `fill${i}x${j}x`).join(' ')}`),
    );
    const filler = Array.from({ length: 200 }, (_, i) => chunkRecord(`f${i}`, `plain${i}x words${i}x`));
    const heavy = chunkRecord('heavy', 'betax betax betax betax betax betax');
    const all = [long(0), long(1), ...others, ...filler, heavy];
    const small = new Bm25Index({ maxQueryTerms: Number.POSITIVE_INFINITY });
    small.add(all);
    const hits = small.search('alphax betax', { limit: 2 });
    expect(hits[0]!.id).toBe('heavy');
    expectSameTop(hits, referenceScores(all, 'alphax betax'), 2);
  });
});
