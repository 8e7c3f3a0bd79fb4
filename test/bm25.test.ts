import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Bm25Index } from '../retrieval/bm25.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import { matchesFilter, parseFilter } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { ChunkInput, Collection, DocumentRecord } from '../store/types.ts';
import { LUCENE_STOP_WORDS, createTokenizer, tokenize } from '../retrieval/tokenize.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';

describe('tokenize', () => {
  it('lower-cases, splits on Unicode word boundaries, stems with Porter2', () => {
    expect(tokenize('Running CELLS: generalizations')).toEqual(['run', 'cell', 'general']);
    expect(tokenize('Überprüfung der Zellen')).toContain('uberprufung');
  });

  it('drops English stop words and keeps numbers', () => {
    expect(tokenize('The effect of the 2 doses is in 10,000 patients (1.5%)')).toEqual(['effect', '2', 'dose', '10,000', 'patient', '1.5']);
  });

  it('applies the same analysis to queries and documents, so inflected forms meet', () => {
    expect(tokenize('mitochondrial remodelling')).toEqual(tokenize('Mitochondrial remodelled'));
  });

  it('can be configured with another stop list or without stemming', () => {
    const lucene = createTokenizer({ stopWords: LUCENE_STOP_WORDS, stem: false });
    expect(lucene('which cells were running')).toEqual(['which', 'cells', 'were', 'running']);
  });

  it('keeps codes with a dotted hierarchy whole beside their parts', () => {
    expect(tokenize('SSDF PO.1')).toEqual(['ssdf', 'po', '1', 'po.1']);
    expect(tokenize('(PO.1): Ensure')).toEqual(['po', '1', 'ensur', 'po.1']);
    expect(tokenize('CSF RS.CO-2')).toEqual(['csf', 'rs', 'co', '2', 'rs.co-2']);
    expect(tokenize('SP 800-160 DS-1.4')).toEqual(['sp', '800', '160', 'ds', '1.4', 'ds-1.4']);
    expect(tokenize('PO.1.1, PS.3.2.')).toEqual(['po', '1.1', 'ps', '3.2', 'po.1.1', 'ps.3.2']);
    // A typographic dash is the same code as a hyphen.
    expect(tokenize('ID.AM\u20131')).toEqual(tokenize('ID.AM-1'));
  });

  it('keeps numbered clauses with lettered or roman sub-parts whole', () => {
    expect(tokenize('subsection 4e(vii) of')).toEqual(['subsect', '4e', 'vii', '4e(vii)']);
    expect(tokenize('45 CFR 164.308(a)(1)')).toEqual(['45', 'cfr', '164.308', '1', '164.308(a)(1)']);
    // Gene and assay names, formulas and bare numbers in brackets are not clauses.
    expect(tokenize('p75(NTR) 25(OH)D Ca(2+) 2(3)')).toEqual(['p75', 'ntr', '25', 'oh', 'd', 'ca', '2', '2', '3']);
  });

  it('leaves words, abbreviations, versions and dash-only names to the word split', () => {
    expect(tokenize('end-to-end, e.g. v1.1')).toEqual(['end', 'end', 'e', 'g', 'v1.1']);
    expect(tokenize('IL-6 and HIV-1 in phase-2')).toEqual(['il', '6', 'hiv', '1', 'phase', '2']);
    expect(tokenize('Section.3 of 800-53')).toEqual(['section', '3', '800', '53']);
    expect(createTokenizer({ identifiers: false })('SSDF PO.1')).toEqual(['ssdf', 'po', '1']);
  });
});

/** A chunk that is its own document (id, document id and source are all `id`). */
const chunk = (id: string, text: string) => chunkRecord(id, text, { documentId: id, source: id, title: '' });

describe('Bm25Index', () => {
  it('ranks a rare matching term above a common one and breaks score ties by id', () => {
    const index = new Bm25Index();
    index.add([
      chunk('d', 'common words about cells'),
      chunk('c', 'common words about cells'),
      chunk('b', 'common words about cells and zebrafish'),
      chunk('a', 'unrelated text'),
    ]);
    expect(index.search('zebrafish cells', { limit: 10 }).map((h) => h.id)).toEqual(['b', 'c', 'd']);
  });

  it('is plain BM25: no coordination bonus for matching more (common) terms', () => {
    const index = new Bm25Index();
    const filler = Array.from({ length: 20 }, (_, i) => chunk(`f${i}`, `alpha beta filler${i}`));
    index.add([...filler, chunk('rare', 'gamma once'), chunk('common', 'alpha beta twice')]);
    // "gamma" is in 1 of 22 chunks, alpha and beta in 21: one rare term outweighs two common ones.
    expect(index.search('alpha beta gamma', { limit: 1 })[0]!.id).toBe('rare');
  });

  it('ranks the chunk naming a code above chunks of its sub-codes and stray numbers', () => {
    const index = new Bm25Index();
    index.add([
      chunk('sub-codes', 'PO.1.1 PO.1.2 PO.1.3 PO.2.1 PO.3.1 mapped to sections 1 and 2'),
      chunk('list', '1. Prepare the organization (PO) 2. Protect the software (PS)'),
      chunk('practice', 'Define Security Requirements (PO.1): ensure that requirements are known'),
      chunk('other', 'Protect all forms of code (PS.1) from unauthorized access'),
    ]);
    expect(index.search('SSDF PO.1', { limit: 1 })[0]!.id).toBe('practice');
  });

  it('keeps long pasted queries to the rarest terms', () => {
    const index = new Bm25Index({ maxQueryTerms: 3 });
    index.add([chunk('x', 'one two three four five six seven'), chunk('y', 'one two three')]);
    const terms = index.queryTerms('one two three four five six seven one two');
    expect(terms).toEqual(['five', 'four', 'seven']);
  });

  it('replacing a chunk id replaces its text', () => {
    const index = new Bm25Index();
    index.add([chunk('a', 'old words')]);
    index.add([chunk('a', 'new words')]);
    expect(index.search('old', { limit: 5 })).toEqual([]);
    expect(index.search('new', { limit: 5 }).map((h) => h.id)).toEqual(['a']);
    expect(index.size).toBe(1);
  });
});

const DIMS = 3;
const vector = (i: number) => [Math.cos(i), Math.sin(i), 0.5];

function chunks(texts: string[], pages: (number | null)[] = []): ChunkInput[] {
  return texts.map((text, ordinal) => {
    const page = pages[ordinal] ?? null;
    return chunkInput(ordinal, text, vector(ordinal), { pageStart: page, pageEnd: page });
  });
}

describe('Bm25Registry over the PGlite store', () => {
  let store: SqlStore;
  let collection: Collection;
  const docs: Record<string, DocumentRecord> = {};
  const fresh = async () => (await store.getCollection(collection.id))!;
  const put = async (
    source: string,
    texts: string[],
    extra: { title?: string; metadata?: Record<string, unknown>; pages?: (number | null)[] } = {},
  ) => {
    docs[source] = await store.replaceDocument({
      collectionId: collection.id,
      source,
      title: extra.title ?? source,
      mime: 'text/plain',
      contentHash: `${source}:${texts.join('|')}`,
      metadata: extra.metadata ?? {},
      pageCount: null,
      chunks: chunks(texts, extra.pages),
    });
    return docs[source]!;
  };

  beforeAll(async () => {
    store = await openPgliteStore();
    collection = await store.createCollection({ name: 'bm25-test', embeddingModel: 'test', dimensions: DIMS });
    await put('docs/alpha.md', ['the zebrafish heart regenerates after injury', 'cardiomyocytes proliferate'], {
      metadata: { tenant: 'a', level: 1 },
      pages: [1, 2],
    });
    await put('docs/beta.md', ['zebrafish fins regrow', 'fin rays and osteoblasts'], {
      metadata: { tenant: 'b', level: 3 },
      pages: [1, 3],
    });
    await put('notes/gamma.txt', ['zebrafish in toxicology screens'], { metadata: { tenant: 'a', level: 5 } });
    await put('notes/delta.txt', ['mouse models of heart injury'], { metadata: { tenant: 'b' } });
  });

  afterAll(async () => {
    await store.close();
  });

  it('builds the index from the chunks table', async () => {
    const registry = new Bm25Registry(store);
    const index = await registry.ensureSynced(await fresh());
    expect(index.size).toBe(await store.countChunks(collection.id));
    const hits = index.search('zebrafish', { limit: 10 });
    const records = await store.getChunks(hits.map((h) => h.id));
    expect(new Set(records.map((r) => r.source))).toEqual(new Set(['docs/alpha.md', 'docs/beta.md', 'notes/gamma.txt']));
  });

  it('after a replace, the old text is no longer found and the new text is; deleted documents vanish', async () => {
    const registry = new Bm25Registry(store);
    await registry.ensureSynced(await fresh());
    await put('notes/gamma.txt', ['axolotl limb regeneration'], { metadata: { tenant: 'a', level: 5 } });
    await store.deleteDocument(collection.id, docs['notes/delta.txt']!.id);

    const index = await registry.ensureSynced(await fresh());
    const sourcesFor = async (q: string) =>
      (await store.getChunks(index.search(q, { limit: 10 }).map((h) => h.id))).map((c) => c.source).sort();
    expect(await sourcesFor('toxicology')).toEqual([]);
    expect(await sourcesFor('axolotl')).toEqual(['notes/gamma.txt']);
    expect(await sourcesFor('mouse')).toEqual([]);
    expect(index.documentVersions.has(docs['notes/delta.txt']!.id)).toBe(false);
    expect(index.size).toBe(await store.countChunks(collection.id));
    // Every indexed id is a live chunk.
    const all = index.search('zebrafish heart fin axolotl cardiomyocytes osteoblasts', { limit: 100 });
    expect((await store.getChunks(all.map((h) => h.id))).length).toBe(all.length);

    await put('notes/delta.txt', ['mouse models of heart injury'], { metadata: { tenant: 'b' } });
  });

  it('catches up by re-reading only the documents that changed', async () => {
    const registry = new Bm25Registry(store);
    await registry.ensureSynced(await fresh());
    const spy = vi.spyOn(store, 'chunksOfDocuments');
    try {
      const changed = await put('docs/beta.md', ['zebrafish fins regrow quickly', 'fin rays and osteoblasts'], {
        metadata: { tenant: 'b', level: 3 },
        pages: [1, 3],
      });
      await registry.ensureSynced(await fresh());
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![1]).toEqual([changed.id]);
      // An unchanged version costs nothing.
      const versions = vi.spyOn(store, 'documentVersions');
      await registry.ensureSynced(await fresh());
      expect(versions).not.toHaveBeenCalled();
      versions.mockRestore();
    } finally {
      spy.mockRestore();
    }
  });

  it('shares one sync between concurrent callers and pages through documents in batches', async () => {
    const registry = new Bm25Registry(store, { documentsPerBatch: 2 });
    const versions = vi.spyOn(store, 'documentVersions');
    const batches = vi.spyOn(store, 'chunksOfDocuments');
    try {
      const c = await fresh();
      const [i1, i2, i3] = await Promise.all([registry.ensureSynced(c), registry.ensureSynced(c), registry.ensureSynced(c)]);
      expect(i1).toBe(i2);
      expect(i2).toBe(i3);
      expect(versions).toHaveBeenCalledTimes(1);
      expect(batches).toHaveBeenCalledTimes(2); // 4 documents, 2 per batch
      expect(i1!.size).toBe(await store.countChunks(collection.id));
    } finally {
      versions.mockRestore();
      batches.mockRestore();
    }
  });

  it('drop() forgets the index so the next call rebuilds it', async () => {
    const registry = new Bm25Registry(store);
    const first = await registry.ensureSynced(await fresh());
    registry.drop(collection.id);
    const second = await registry.ensureSynced(await fresh());
    expect(second).not.toBe(first);
    expect(second.size).toBe(first.size);
  });

  it('filters never leak excluded chunks and match the SQL side exactly', async () => {
    const registry = new Bm25Registry(store);
    const index = await registry.ensureSynced(await fresh());
    const everything = await store.chunksOfDocuments(collection.id, [...(await store.documentVersions(collection.id)).keys()]);
    const alpha = docs['docs/alpha.md']!;
    const filters: unknown[] = [
      { 'metadata.tenant': 'a' },
      { 'metadata.tenant': { ne: 'a' } },
      { 'metadata.level': { gt: 2 } },
      { source: { prefix: 'docs/' } },
      { page: { gte: 2 } },
      { documentId: { in: [alpha.id] } },
      { title: { lt: 'docs/beta.md' } },
      // Not alpha itself: stored timestamps have microseconds, ISO strings only milliseconds.
      { updatedAt: { gt: new Date(Date.parse(alpha.updatedAt) + 1).toISOString() } },
      { 'metadata.tenant': 'b', source: { prefix: 'docs/' } },
    ];
    const query = 'zebrafish heart fin axolotl cardiomyocytes osteoblasts mouse injury rays regrow';
    const unfiltered = new Set(index.search(query, { limit: 100 }).map((h) => h.id));
    expect(unfiltered.size).toBe(everything.length);
    for (const input of filters) {
      const filter = parseFilter(input);
      const got = new Set(index.search(query, { limit: 100, filter }).map((h) => h.id));
      const expected = new Set(everything.filter((c) => matchesFilter(c, filter)).map((c) => c.id));
      // The SQL compilation of the same filter, through an exact dense search over all chunks.
      const sql = new Set(
        (await store.denseSearch({ collectionId: collection.id, vector: vector(0), limit: 100, filter, exact: true })).map(
          (h) => h.chunk.id,
        ),
      );
      expect(got, JSON.stringify(input)).toEqual(expected);
      expect(got, JSON.stringify(input)).toEqual(sql);
      expect(got.size, JSON.stringify(input)).toBeLessThan(everything.length);
    }
  });
});
