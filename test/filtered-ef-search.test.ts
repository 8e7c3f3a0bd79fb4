import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENSE_SEARCH_DEFAULTS, loadConfig } from '../core/config.ts';
import { mulberry32 } from '../core/random.ts';
import { parseFilter } from '../store/filters.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlExecutor } from '../store/sql.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';

/**
 * A filtered graph walk widens the HNSW beam to `filteredEfSearch` (a filter leaves fewer usable
 * neighbours per node, and the default beam lost recall on a 50 % filter); unfiltered searches keep
 * the beam they ask for. The settings are observed on the statements the store sends.
 */

const DIMENSIONS = 8;

function unitVector(random: () => number): Float32Array {
  const v = Float32Array.from({ length: DIMENSIONS }, () => random() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

describe('filtered graph walks widen hnsw.ef_search', () => {
  let store: SqlStore;
  let collection: Collection;
  const statements: string[] = [];

  beforeAll(async () => {
    store = await openPgliteStore(undefined, { filteredEfSearch: 321 });
    // Record every statement sent inside a transaction (the search's settings and query).
    const db = (store as unknown as { db: SqlExecutor }).db;
    const transaction = db.transaction.bind(db);
    db.transaction = (fn) =>
      transaction((tx) =>
        fn({
          ...tx,
          query: (sql, params) => {
            statements.push(sql);
            return tx.query(sql, params);
          },
        }),
      );
    collection = await store.createCollection({ name: 'ef', embeddingModel: 'test', dimensions: DIMENSIONS });
    for (let d = 0; d < 4; d++) {
      await store.replaceDocument({
        collectionId: collection.id,
        source: `doc-${d}.txt`,
        title: `Doc ${d}`,
        mime: 'text/plain',
        contentHash: `h${d}`,
        metadata: { half: d % 2 },
        pageCount: null,
        chunks: Array.from({ length: 3 }, (_, j) => chunkInput(j, `doc ${d} chunk ${j}`, unitVector(mulberry32(d * 10 + j + 1)))),
      });
    }
  });

  afterAll(() => store.close());

  const efOf = () => {
    const set = statements.map((s) => /set_config\('hnsw\.ef_search', '(\d+)'/.exec(s)).find(Boolean);
    return set ? Number(set[1]) : undefined;
  };

  it('uses filteredEfSearch for a filtered walk and the requested beam without a filter', async () => {
    const vector = unitVector(mulberry32(99));
    statements.length = 0;
    const filtered = await store.denseSearch(
      { collectionId: collection.id, vector, limit: 5, efSearch: 100, filter: parseFilter({ 'metadata.half': 1 }) },
      { filteredPlan: 'iterative-scan', forceIndex: true },
    );
    expect(efOf()).toBe(321);
    expect(filtered.every((h) => h.chunk.documentMetadata.half === 1)).toBe(true);

    statements.length = 0;
    await store.denseSearch({ collectionId: collection.id, vector, limit: 5, efSearch: 100 });
    expect(efOf()).toBe(100);

    // A beam wider than the configured minimum is kept.
    statements.length = 0;
    await store.denseSearch(
      { collectionId: collection.id, vector, limit: 5, efSearch: 500, filter: parseFilter({ 'metadata.half': 0 }) },
      { filteredPlan: 'iterative-scan', forceIndex: true },
    );
    expect(efOf()).toBe(500);
  });

  it('reads the minimum from RAGLINE_DENSE_FILTERED_EF_SEARCH, default in DENSE_SEARCH_DEFAULTS', () => {
    expect(loadConfig({}).denseSearch.filteredEfSearch).toBe(DENSE_SEARCH_DEFAULTS.filteredEfSearch);
    expect(loadConfig({ RAGLINE_DENSE_FILTERED_EF_SEARCH: '250' }).denseSearch.filteredEfSearch).toBe(250);
    expect(() => loadConfig({ RAGLINE_DENSE_FILTERED_EF_SEARCH: '0' })).toThrow();
  });
});
