import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENSE_SEARCH_DEFAULTS, loadConfig } from '../core/config.ts';
import { mulberry32 } from '../core/random.ts';
import { cosine } from '../core/vectors.ts';
import { parseFilter, type Filter, type FilterInput } from '../store/filters.ts';
import { Int8VectorCopy } from '../store/int8-vectors.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { ChunkRecord, Collection } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { randomUnitVector } from '../testkit/unit-vectors.ts';

/**
 * Filtered dense search through the int8 copy of a collection's vectors (store/vector-copies.ts),
 * on real PGlite: the copy's candidates, re-ranked exactly in SQL, are exactly the brute-force
 * top-K of the filtered rows; writes are seen by the very next search; the memory budget evicts
 * and refuses; with the setting off every search runs in SQL. Which path ran is read from the
 * copies' counters, not from timings.
 */

const DIMENSIONS = 48;
const DOCUMENTS = 80;
const PER_DOCUMENT = 6;
const K = 10;

const unitVector = (random: () => number, dims = DIMENSIONS) => randomUnitVector(random, dims);

const documentOf = (d: number) => ({
  source: `docs/${d % 4 === 0 ? 'alpha' : 'beta'}/file-${d}.txt`,
  title: `Title ${d % 5}`,
  mime: d % 2 ? 'text/plain' : 'text/markdown',
  metadata: { team: `t${d % 10}`, n: d % 7, flag: d % 3 === 0 } as Record<string, unknown>,
});

const FILTERS: FilterInput[] = [
  { 'metadata.team': 't3' }, // ~10 %
  { 'metadata.n': { gte: 2 } }, // most
  { source: { prefix: 'docs/alpha/' } },
  { 'metadata.flag': true, mime: 'text/plain' }, // conjunction
  { 'metadata.team': { in: ['t1', 't2'] }, page: { gte: 2 } },
  { page: { ne: 3 } }, // chunks without pages match no page clause, as in SQL
  { title: { gte: 'Title 3' }, 'metadata.n': { ne: 4 } },
  { 'metadata.team': 'nobody' }, // nothing matches
];

/** Chunk j of document d: a page unless j is 5, a vector from a seed that re-ingests can change. */
function chunksOf(d: number, seed = 0) {
  return Array.from({ length: PER_DOCUMENT }, (_, j) =>
    chunkInput(j, `document ${d} chunk ${j}`, unitVector(mulberry32(d * 100 + j + 1 + seed * 7919)), {
      pageStart: j === 5 ? null : j,
    }),
  );
}

async function ingest(
  store: SqlStore,
  collection: Collection,
  d: number,
  overrides: { metadata?: Record<string, unknown>; seed?: number } = {},
) {
  const doc = documentOf(d);
  await store.replaceDocument({
    collectionId: collection.id,
    source: doc.source,
    title: doc.title,
    mime: doc.mime,
    contentHash: `${d}-${JSON.stringify(overrides)}`,
    metadata: overrides.metadata ?? doc.metadata,
    pageCount: null,
    chunks: chunksOf(d, overrides.seed),
  });
}

/** SQL semantics of the page clauses used above (a chunk without pages fails them all). */
function matchesLikeSql(c: ChunkRecord, input: FilterInput): boolean {
  const { page, ...documentClauses } = input as Record<string, unknown>;
  const rest = parseFilter(documentClauses);
  const doc = rest.every((clause) => {
    const value = clause.field.startsWith('metadata.')
      ? c.documentMetadata[clause.field.slice('metadata.'.length)]
      : (c as unknown as Record<string, unknown>)[clause.field];
    switch (clause.op) {
      case 'eq':
        return value === clause.value;
      case 'ne':
        return value !== clause.value;
      case 'in':
        return (clause.value as unknown[]).includes(value);
      case 'prefix':
        return typeof value === 'string' && value.startsWith(String(clause.value));
      case 'gte':
        return typeof value === typeof clause.value && (value as number) >= (clause.value as number);
      default:
        throw new Error(`op ${clause.op} not used here`);
    }
  });
  if (!doc) return false;
  if (page === undefined) return true;
  if (c.pageStart === null) return false;
  const p = page as { gte?: number; ne?: number };
  return (p.gte === undefined || c.pageStart >= p.gte) && (p.ne === undefined || c.pageStart !== p.ne);
}

describe('int8 filtered dense search on PGlite', () => {
  let store: SqlStore;
  let collection: Collection;
  const random = mulberry32(8);
  const queries = Array.from({ length: 6 }, () => unitVector(random));

  async function storedChunks(c = collection): Promise<ChunkRecord[]> {
    return store.chunksOfDocuments(c.id, [...(await store.documentVersions(c.id)).keys()]);
  }

  async function embeddings(c = collection): Promise<Map<string, Float32Array>> {
    const { rows } = await store.db.query<{ id: string; e: string }>(
      'SELECT id::text AS id, embedding::text AS e FROM chunks WHERE collection_id = $1',
      [c.id],
    );
    return new Map(rows.map((r) => [r.id, Float32Array.from(JSON.parse(r.e) as number[])]));
  }

  function bruteForce(chunks: ChunkRecord[], vectors: Map<string, Float32Array>, query: Float32Array, input: FilterInput, k: number) {
    return chunks
      .filter((c) => matchesLikeSql(c, input))
      .map((c) => ({ id: c.id, s: cosine(query, vectors.get(c.id)!) }))
      .sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1))
      .slice(0, k)
      .map((x) => x.id);
  }

  const search = (filter: Filter, vector: Float32Array, limit = K, c = collection, int8Scan?: boolean) =>
    store.denseSearch({ collectionId: c.id, vector, limit, filter }, int8Scan === undefined ? {} : { int8Scan });

  beforeAll(async () => {
    store = await openPgliteStore();
    collection = await store.createCollection({ name: 'int8', embeddingModel: 'test', dimensions: DIMENSIONS });
    for (let d = 0; d < DOCUMENTS; d++) await ingest(store, collection, d);
  }, 120_000);

  afterAll(() => store.close());

  it('is on by default for PGlite, configured by RAGLINE_DENSE_INT8_SCAN and RAGLINE_DENSE_INT8_MEMORY_MB', () => {
    expect(loadConfig({}).denseSearch.int8Scan).toBe(DENSE_SEARCH_DEFAULTS.int8Scan);
    expect(DENSE_SEARCH_DEFAULTS.int8Scan).toBe(true);
    expect(loadConfig({}).denseSearch.int8MemoryMb).toBe(256);
    expect(loadConfig({ RAGLINE_DENSE_INT8_SCAN: 'false' }).denseSearch.int8Scan).toBe(false);
    expect(loadConfig({ RAGLINE_DENSE_INT8_MEMORY_MB: '64' }).denseSearch.int8MemoryMb).toBe(64);
    expect(() => loadConfig({ RAGLINE_DENSE_INT8_MEMORY_MB: '0' })).toThrow();
    expect(store.vectorCopies?.enabled).toBe(true);
  });

  it('the first filtered search runs in SQL while the copy loads; later ones scan the copy', async () => {
    const copies = store.vectorCopies!;
    const filter = parseFilter(FILTERS[0]);
    const before = { ...copies.stats.fallbacks };
    const first = await search(filter, queries[0]!);
    expect(copies.stats.fallbacks.loading).toBe(before.loading + 1);
    expect(await copies.load(collection)).toBe(true);
    expect(copies.stats.loads).toBe(1);
    const scans = copies.stats.scans;
    const second = await search(filter, queries[0]!);
    expect(copies.stats.scans).toBe(scans + 1);
    expect(second.map((h) => h.chunk.id)).toEqual(first.map((h) => h.chunk.id));
    expect(second.map((h) => h.similarity)).toEqual(first.map((h) => h.similarity));
  });

  it('returns exactly the brute-force filtered top-K, the same rows and order as the SQL pre-filter', async () => {
    const copies = store.vectorCopies!;
    await copies.load(collection);
    const chunks = await storedChunks();
    const vectors = await embeddings();
    const scans = copies.stats.scans;
    let searches = 0;
    for (const input of FILTERS) {
      const filter = parseFilter(input);
      for (const query of queries) {
        for (const limit of [K, 100]) {
          const truth = bruteForce(chunks, vectors, query, input, limit);
          const viaCopy = await search(filter, query, limit);
          const viaSql = await search(filter, query, limit, collection, false);
          searches++;
          expect(
            viaCopy.map((h) => h.chunk.id),
            `${JSON.stringify(input)} limit ${limit}`,
          ).toEqual(truth);
          expect(viaCopy.map((h) => h.chunk.id)).toEqual(viaSql.map((h) => h.chunk.id));
          viaCopy.forEach((h, i) => expect(h.similarity).toBeCloseTo(viaSql[i]!.similarity, 6));
          const candidates = await store.denseCandidates({ collectionId: collection.id, vector: query, limit, filter });
          searches++;
          expect(candidates.map((c) => c.id)).toEqual(truth);
        }
      }
    }
    expect(copies.stats.scans - scans).toBe(searches);
  });

  it('a re-ingested document with new metadata or vectors, and a deleted document, are followed by the next search', async () => {
    const copies = store.vectorCopies!;
    await copies.load(collection);
    const d = 13; // team t3
    const source = documentOf(d).source;
    const team3 = parseFilter({ 'metadata.team': 't3' });
    const moved = parseFilter({ 'metadata.team': 'moved' });
    const scans = copies.stats.scans;

    // New metadata and new vectors (new chunk ids): old rows must not be served.
    await ingest(store, collection, d, { metadata: { ...documentOf(d).metadata, team: 'moved' }, seed: 1 });
    const docId = (await store.getDocumentBySource(collection.id, source))!.id;
    const there = await search(moved, queries[1]!, 100);
    expect(there.map((h) => h.chunk.documentId)).toEqual(Array(PER_DOCUMENT).fill(docId));
    const newIds = new Set((await store.chunksOfDocuments(collection.id, [docId])).map((c) => c.id));
    expect(there.every((h) => newIds.has(h.chunk.id))).toBe(true);
    const left = await search(team3, queries[1]!, 100);
    expect(left.some((h) => h.chunk.documentId === docId)).toBe(false);
    expect(left).toHaveLength((DOCUMENTS / 10 - 1) * PER_DOCUMENT);
    // Its new vectors rank: the query equal to one of them finds it first.
    const [newest] = await store.chunksOfDocuments(collection.id, [docId]);
    const exactVector = (await embeddings()).get(newest!.id)!;
    expect((await search(moved, exactVector, 1))[0]!.chunk.id).toBe(newest!.id);
    expect(copies.stats.scans - scans).toBe(3);
    expect(copies.stats.catchUps).toBeGreaterThan(0);

    // Deleted: gone from the very next search.
    expect(await store.deleteDocument(collection.id, docId)).toBe(true);
    expect(await search(moved, queries[1]!, 100)).toEqual([]);
    const all = await search(parseFilter({ source: { prefix: 'docs/' } }), queries[2]!, 1000);
    expect(all.some((h) => h.chunk.documentId === docId)).toBe(false);
    expect(all).toHaveLength((DOCUMENTS - 1) * PER_DOCUMENT);
    expect(copies.stats.scans - scans).toBe(5);

    // And the whole picture still matches brute force after the changes.
    await ingest(store, collection, d);
    const chunks = await storedChunks();
    const vectors = await embeddings();
    for (const input of FILTERS.slice(0, 4)) {
      expect((await search(parseFilter(input), queries[3]!)).map((h) => h.chunk.id)).toEqual(
        bruteForce(chunks, vectors, queries[3]!, input, K),
      );
    }
  });

  it('a change committed between the copy check and the search is never served from the stale copy', async () => {
    const copies = store.vectorCopies!;
    await copies.load(collection);
    const d = 23; // team t3
    const docId = (await store.getDocumentBySource(collection.id, documentOf(d).source))!.id;
    // Another writer commits right after the store picked the copy (at the old version), before the
    // search's own transaction: that transaction reads the new version and ranks in SQL.
    const current = copies.current.bind(copies);
    copies.current = async (c) => {
      const state = await current(c);
      await ingest(store, collection, d, { metadata: { ...documentOf(d).metadata, team: 'elsewhere' } });
      return state;
    };
    const stale = copies.stats.fallbacks.stale;
    let hits: Awaited<ReturnType<typeof search>>;
    try {
      hits = await search(parseFilter({ 'metadata.team': 't3' }), queries[4]!, 100);
    } finally {
      copies.current = current;
    }
    expect(copies.stats.fallbacks.stale).toBe(stale + 1);
    expect(hits.some((h) => h.chunk.documentId === docId)).toBe(false);
    expect(hits).toHaveLength((DOCUMENTS / 10 - 1) * PER_DOCUMENT);
    // The next search catches the copy up and scans it again.
    const scans = copies.stats.scans;
    expect(await search(parseFilter({ 'metadata.team': 'elsewhere' }), queries[4]!, 100)).toHaveLength(PER_DOCUMENT);
    expect(copies.stats.scans).toBe(scans + 1);
    await ingest(store, collection, d);
  });

  it('deleting a collection frees its copy', async () => {
    const copies = store.vectorCopies!;
    const doomed = await store.createCollection({ name: 'doomed', embeddingModel: 'test', dimensions: DIMENSIONS });
    for (let d = 0; d < 4; d++) await ingest(store, doomed, d);
    expect(await copies.load(doomed)).toBe(true);
    const withDoomed = copies.estimatedBytes;
    expect(await store.deleteCollection(doomed.id)).toBe(true);
    expect(copies.estimatedBytes).toBeLessThan(withDoomed);
    await expect(search(parseFilter(FILTERS[0]), queries[0]!, K, doomed)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('the memory budget drops the least recently used copy and refuses one that cannot fit', async () => {
    // ~96 KB per 240-chunk collection at 48 dimensions (64 KB of it the kernel's first memory page):
    // two do not fit in 120 KB, and one of 720 chunks (~140 KB) never does.
    const small = await openPgliteStore(undefined, { int8MemoryMb: 120 / 1024 });
    try {
      const copies = small.vectorCopies!;
      const make = async (name: string, documents: number) => {
        const c = await small.createCollection({ name, embeddingModel: 'test', dimensions: DIMENSIONS });
        for (let d = 0; d < documents; d++) await ingest(small, c, d);
        return (await small.getCollectionById(c.id))!;
      };
      const a = await make('a', 40);
      const b = await make('b', 40);
      const big = await make('big', 120);
      expect(await copies.load(a)).toBe(true);
      expect(await copies.load(b)).toBe(true);
      expect(copies.stats.evictions).toBe(1);
      expect(copies.estimatedBytes).toBeLessThanOrEqual(copies.memoryBudgetBytes);
      expect(await copies.load(big)).toBe(false);
      const overBudget = copies.stats.fallbacks.over_budget;
      const filter = parseFilter(FILTERS[0]);
      const hits = await small.denseSearch({ collectionId: big.id, vector: queries[0]!, limit: K, filter });
      expect(copies.stats.fallbacks.over_budget).toBe(overBudget + 1);
      const viaSql = await small.denseSearch({ collectionId: big.id, vector: queries[0]!, limit: K, filter }, { int8Scan: false });
      expect(hits.map((h) => h.chunk.id)).toEqual(viaSql.map((h) => h.chunk.id));
      // b is still loaded and serves; a was dropped and loads again on demand.
      const scans = copies.stats.scans;
      await small.denseSearch({ collectionId: b.id, vector: queries[0]!, limit: K, filter });
      expect(copies.stats.scans).toBe(scans + 1);
    } finally {
      await small.close();
    }
  });

  it('with a copy, auto pre-filters beyond prefilterMaxChunks (the scan is cheap); 0 still always walks the graph', async () => {
    for (const [maxChunks, scanned] of [
      [25, true],
      [0, false],
    ] as const) {
      const other = await openPgliteStore(undefined, { prefilterMaxChunks: maxChunks });
      try {
        const c = await other.createCollection({ name: 'threshold', embeddingModel: 'test', dimensions: DIMENSIONS });
        for (let d = 0; d < 20; d++) await ingest(other, c, d);
        const copies = other.vectorCopies!;
        expect(await copies.load(c)).toBe(true);
        const broad = parseFilter({ 'metadata.n': { gte: 2 } }); // 84 of 120 chunks
        const request = { collectionId: c.id, vector: queries[5]!, limit: K, filter: broad };
        expect(await other.filteredPlanOf(request)).toBe('iterative-scan'); // SQL alone would walk
        const hits = await other.denseSearch(request);
        expect(copies.stats.scans).toBe(scanned ? 1 : 0);
        const exact = await other.denseSearch({ ...request, exact: true });
        if (scanned) expect(hits.map((h) => h.chunk.id)).toEqual(exact.map((h) => h.chunk.id));
      } finally {
        await other.close();
      }
    }
  });

  it('with RAGLINE_DENSE_INT8_SCAN off every filtered search runs in SQL, with the same results', async () => {
    const off = await openPgliteStore(undefined, { int8Scan: false });
    try {
      const c = await off.createCollection({ name: 'off', embeddingModel: 'test', dimensions: DIMENSIONS });
      for (let d = 0; d < 20; d++) await ingest(off, c, d);
      const copies = off.vectorCopies!;
      expect(await copies.load(c)).toBe(false);
      for (const input of FILTERS.slice(0, 3)) {
        const hits = await off.denseSearch({ collectionId: c.id, vector: queries[0]!, limit: K, filter: parseFilter(input) });
        expect(hits.length).toBeGreaterThan(0);
      }
      expect(copies.stats.scans).toBe(0);
      expect(copies.stats.fallbacks.disabled).toBe(3);
      expect(copies.stats.loads).toBe(0);
    } finally {
      await off.close();
    }
  });
});

describe.each([
  { kernel: 'WebAssembly SIMD', simd: true, dims: 384 },
  { kernel: 'JavaScript', simd: false, dims: 384 },
  { kernel: 'WebAssembly SIMD, padded rows', simd: true, dims: 50 },
])('Int8VectorCopy candidates ($kernel, $dims dimensions)', ({ simd, dims }) => {
  it('always contain the exact top k, also among near-duplicate vectors, or say they may not', () => {
    const random = mulberry32(3);
    const copy = new Int8VectorCopy(dims, 16, { simd });
    expect(copy.simd).toBe(simd);
    const base = unitVector(random, dims);
    const vectors = new Map<string, Float32Array>();
    for (let d = 0; d < 50; d++) {
      const rows = Array.from({ length: 40 }, (_, j) => {
        // Half the rows are tight perturbations of one vector: many within the error bound of each other.
        const v = j % 2 ? unitVector(random, dims) : base.map((x) => x + (random() - 0.5) * 0.01);
        const id = `00000000-0000-4000-8000-${String(d * 100 + j).padStart(12, '0')}`;
        vectors.set(id, v);
        return { id, pageStart: j, vector: v };
      });
      copy.putDocument(`doc-${d}`, 1, rows);
    }
    const docs = Array.from({ length: 50 }, (_, d) => `doc-${d}`);
    for (let q = 0; q < 20; q++) {
      const query = q % 2 ? unitVector(random, dims) : base.map((x) => x + (random() - 0.5) * 0.05);
      for (const limit of [1, 10, 100]) {
        const truth = [...vectors]
          .map(([id, v]) => ({ id, s: cosine(query, v) }))
          .sort((a, b) => b.s - a.s)
          .slice(0, limit)
          .map((x) => x.id);
        const got = copy.candidates(query, docs, { limit, maxCandidates: 2000 });
        expect(got.scanned).toBe(2000);
        expect(got.exact).toBe(true);
        const held = new Set(got.ids);
        expect(truth.every((id) => held.has(id))).toBe(true);
        const tight = copy.candidates(query, docs, { limit, maxCandidates: limit });
        if (tight.exact) expect(truth.every((id) => new Set(tight.ids).has(id))).toBe(true);
      }
    }
    expect(copy.size).toBe(2000);
    copy.removeDocument('doc-0');
    expect(copy.size).toBe(1960);
    expect(copy.candidates(base, ['doc-0'], { limit: 10 }).ids).toEqual([]);
  });
});
