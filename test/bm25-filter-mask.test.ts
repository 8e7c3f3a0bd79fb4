import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/random.ts';
import { Bm25Index, type Bm25Hit } from '../retrieval/bm25.ts';
import { matchesFilter, parseFilter, type Filter, type FilterInput } from '../store/filters.ts';
import type { ChunkRecord } from '../store/types.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { expectSameHits } from './helpers/bm25-hits.ts';

/**
 * Filtered BM25 skips postings outside an allowed-chunk mask (built per document, cached per
 * filter until the index changes). Its results must be exactly those of the way it worked before:
 * every matching chunk scored, then tested against the filter, best `limit` kept — which is an
 * unfiltered search over all chunks, filtered afterwards.
 */

const WORDS = Array.from({ length: 300 }, (_, i) => `w${i}x`);
const TEAMS = ['red', 'green', 'blue', 'amber'];
const MIMES = ['text/plain', 'text/markdown', 'application/pdf'];

function corpus(seed: number, documents: number): ChunkRecord[] {
  const random = mulberry32(seed);
  // Zipf-like: a few words in most chunks, most words in few.
  const word = () => WORDS[Math.min(WORDS.length - 1, Math.floor(1 / (random() * 0.99 + 0.01)) - 1)]!;
  const chunks: ChunkRecord[] = [];
  for (let d = 0; d < documents; d++) {
    const perDocument = 1 + Math.floor(random() * 12);
    const document = {
      documentId: `doc-${d}`,
      source: `team-${TEAMS[d % TEAMS.length]}/folder-${d % 5}/file-${d}.txt`,
      title: Array.from({ length: 1 + Math.floor(random() * 3) }, word).join(' '),
      mime: MIMES[d % MIMES.length]!,
      createdAt: new Date(Date.UTC(2024, 0, 1 + (d % 60))).toISOString(),
      updatedAt: new Date(Date.UTC(2024, 2, 1 + (d % 30))).toISOString(),
      documentMetadata: { team: TEAMS[d % TEAMS.length]!, shard: d % 10, year: 2000 + (d % 25), draft: d % 3 === 0 },
    };
    for (let i = 0; i < perDocument; i++) {
      const text = Array.from({ length: 10 + Math.floor(random() * 40) }, word).join(' ');
      chunks.push(chunkRecord(`c-${d}-${i}`, text, { ...document, ordinal: i, pageStart: i % 2 ? null : 1 + i }));
    }
  }
  return chunks;
}

/** Filters over every field kind and operator, at random. */
function randomFilter(random: () => number): FilterInput {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const options: (() => [string, unknown])[] = [
    () => ['metadata.team', pick(TEAMS)],
    () => ['metadata.shard', { in: [Math.floor(random() * 10), Math.floor(random() * 10)] }],
    () => ['metadata.year', { gte: 2000 + Math.floor(random() * 25) }],
    () => ['metadata.draft', random() < 0.5],
    () => ['metadata.team', { ne: pick(TEAMS) }],
    () => ['source', { prefix: `team-${pick(TEAMS)}/folder-${Math.floor(random() * 5)}` }],
    () => ['mime', pick(MIMES)],
    () => ['documentId', { in: [`doc-${Math.floor(random() * 80)}`, `doc-${Math.floor(random() * 80)}`] }],
    () => ['page', { lte: 1 + Math.floor(random() * 8) }],
    () => ['createdAt', { lt: new Date(Date.UTC(2024, 0, 1 + Math.floor(random() * 60))).toISOString() }],
    () => ['metadata.missing', 'x'],
  ];
  const filter: Record<string, unknown> = {};
  const clauses = 1 + Math.floor(random() * 3);
  for (let i = 0; i < clauses; i++) {
    const [field, condition] = pick(options)();
    filter[field] = condition;
  }
  return filter as FilterInput;
}

/** Before masks: every matching chunk scored, the filter tested per hit, the best `limit` kept. */
function filteredAfterwards(index: Bm25Index, query: string, filter: Filter, limit: number): Bm25Hit[] {
  return index
    .search(query, { limit: index.size })
    .filter((hit) => matchesFilter(index.filterableOf(hit.id)!, filter))
    .slice(0, limit);
}

function queries(random: () => number, n: number): string[] {
  return Array.from({ length: n }, () =>
    Array.from({ length: 1 + Math.floor(random() * 6) }, () => WORDS[Math.floor(random() * 60)]).join(' '),
  );
}

describe('filtered BM25 through allowed-chunk masks', () => {
  it('returns exactly the filtered-afterwards results on 300 random filters and queries', () => {
    const index = new Bm25Index();
    index.add(corpus(1, 80));
    const random = mulberry32(2);
    let nonEmpty = 0;
    for (let i = 0; i < 300; i++) {
      const filter = parseFilter(randomFilter(random));
      const limit = 1 + Math.floor(random() * 30);
      for (const query of queries(random, 2)) {
        const expected = filteredAfterwards(index, query, filter, limit);
        expectSameHits(index.search(query, { limit, filter }), expected);
        if (expected.length) nonEmpty++;
      }
    }
    expect(nonEmpty).toBeGreaterThan(200); // the filters are not all empty
  });

  it('follows changes to the index: a cached mask never outlives the chunks it was built from', () => {
    const chunks = corpus(3, 40);
    const index = new Bm25Index();
    index.add(chunks);
    const filter = parseFilter({ 'metadata.team': 'red' });
    const query = `${WORDS[0]} ${WORDS[3]} ${WORDS[7]}`;
    const before = index.search(query, { limit: 50, filter });
    expect(before.length).toBeGreaterThan(0);
    // Remove one matching document, then add a new red one: both must show.
    const removed = index.filterableOf(before[0]!.id)!.documentId;
    index.removeDocument(removed);
    const afterRemove = index.search(query, { limit: 50, filter });
    expect(afterRemove.some((h) => index.filterableOf(h.id) === undefined)).toBe(false);
    expect(afterRemove.map((h) => h.id)).toEqual(filteredAfterwards(index, query, filter, 50).map((h) => h.id));
    index.add([chunkRecord('new-red', `${query} ${query}`, { documentId: 'doc-new', documentMetadata: { team: 'red' } })]);
    const afterAdd = index.search(query, { limit: 50, filter });
    expect(afterAdd[0]!.id).toBe('new-red');
    expectSameHits(afterAdd, filteredAfterwards(index, query, filter, 50));
    // A chunk replaced in place (same id) by a non-red one leaves the filter's results.
    index.add([chunkRecord('new-red', `${query} ${query}`, { documentId: 'doc-new', documentMetadata: { team: 'blue' } })]);
    expect(index.search(query, { limit: 50, filter }).map((h) => h.id)).not.toContain('new-red');
  });

  it('tests chunk by chunk a document whose chunks disagree on document fields', () => {
    const index = new Bm25Index();
    index.add([
      chunkRecord('a', 'kinase signal', { documentId: 'd', source: 'one.txt', documentMetadata: { team: 'red' } }),
      chunkRecord('b', 'kinase signal', { documentId: 'd', source: 'two.txt', documentMetadata: { team: 'blue' } }),
    ]);
    expect(index.search('kinase', { limit: 10, filter: parseFilter({ 'metadata.team': 'blue' }) }).map((h) => h.id)).toEqual(['b']);
    expect(index.search('kinase', { limit: 10, filter: parseFilter({ source: 'one.txt' }) }).map((h) => h.id)).toEqual(['a']);
  });

  it('gives the same results from a snapshot, and clause order does not change them', () => {
    const index = new Bm25Index();
    index.add(corpus(4, 50));
    const restored = Bm25Index.fromSnapshot(JSON.parse(JSON.stringify(index.toSnapshot())));
    const random = mulberry32(5);
    for (let i = 0; i < 50; i++) {
      const input = randomFilter(random);
      const reversed = Object.fromEntries(Object.entries(input).reverse()) as FilterInput;
      const [query] = queries(random, 1);
      const expected = filteredAfterwards(index, query!, parseFilter(input), 10);
      expectSameHits(restored.search(query!, { limit: 10, filter: parseFilter(input) }), expected);
      expectSameHits(index.search(query!, { limit: 10, filter: parseFilter(reversed) }), expected);
    }
  });
});
