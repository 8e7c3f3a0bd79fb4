import { describe, expect, it } from 'vitest';
import { datasetPath } from '../core/shared-data.ts';
import { loadBeir } from '../eval/beir.ts';
import { tokenize } from '../retrieval/tokenize.ts';
import { CorpusFrequencies, analyzeChunk, frequencyDelta, type SparseField } from '../retrieval/sparse-bm25.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { SqlSparseFrequencies } from '../store/sparse-frequencies.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { describePostgres, openScratchStore } from './helpers/postgres.ts';

/**
 * The query side of sparse BM25 reads document frequencies from SQL. They must equal what the
 * chunks in the collection say, after adds and after removals, on both stores.
 */

const dataset = loadBeir(datasetPath('scifact'), { splits: ['test'], limit: 600 });
const analyzed = dataset.corpus.map((d) => analyzeChunk({ title: d.title, headingPath: [], text: d.text }));
const queries = [...dataset.queries.values()].slice(0, 60);

function frequenciesOf(chunks: Record<SparseField, string[]>[]): CorpusFrequencies {
  const f = new CorpusFrequencies();
  for (const c of chunks) f.add(c);
  return f;
}

async function expectSameAs(sql: SqlSparseFrequencies, collectionId: string, expected: CorpusFrequencies): Promise<void> {
  for (const query of queries) {
    const terms = tokenize(query);
    const loaded = await sql.load(collectionId, terms);
    expect(loaded.chunkCount).toBe(expected.chunkCount);
    expect(loaded.averageLength.title).toBeCloseTo(expected.averageLength.title, 9);
    expect(loaded.averageLength.text).toBeCloseTo(expected.averageLength.text, 9);
    for (const term of terms) {
      for (const field of ['title', 'text'] as const)
        expect([term, field, loaded.frequency(field, term)]).toEqual([term, field, expected.frequency(field, term)]);
    }
  }
}

async function frequencyRoundTrip(store: SqlStore): Promise<void> {
  const collection = await store.createCollection({ name: `freq-${Date.now()}`, embeddingModel: 'test', dimensions: 4 });
  const sql = new SqlSparseFrequencies(store.db);
  // Added in three writes, as three ingests would.
  for (let i = 0; i < analyzed.length; i += 200) await sql.apply(collection.id, frequencyDelta(analyzed.slice(i, i + 200)));
  await expectSameAs(sql, collection.id, frequenciesOf(analyzed));

  // A document rewritten (its old chunks out, new ones in) and 250 removed.
  const rewritten = analyzeChunk({ title: 'Replacement title', headingPath: [], text: 'tumour suppressor genes in mice' });
  await sql.apply(collection.id, frequencyDelta([rewritten], [analyzed[0]!]));
  await sql.apply(collection.id, frequencyDelta([], analyzed.slice(350)));
  const remaining = [rewritten, ...analyzed.slice(1, 350)];
  await expectSameAs(sql, collection.id, frequenciesOf(remaining));
  // Terms no chunk holds any more are gone, not kept at zero.
  const zero = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sparse_term_frequencies WHERE chunks <= 0');
  expect(zero.rows[0]!.n).toBe(0);

  await store.deleteCollection(collection.id);
  const left = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sparse_term_frequencies WHERE collection_id = $1', [
    collection.id,
  ]);
  expect(left.rows[0]!.n).toBe(0);
}

describe('sparse BM25 document frequencies in SQL (PGlite)', () => {
  it('match the chunks after adds, a rewrite and removals; a deleted collection takes them along', async () => {
    const store = await openPgliteStore();
    try {
      await frequencyRoundTrip(store);
    } finally {
      await store.close();
    }
  });
});

const describePg = await describePostgres();

describePg('sparse BM25 document frequencies in SQL (Postgres server)', () => {
  it('match the chunks after adds, a rewrite and removals; a deleted collection takes them along', async () => {
    const { store, close } = await openScratchStore('sparsefreq');
    try {
      await frequencyRoundTrip(store);
    } finally {
      await close();
    }
  });
});
