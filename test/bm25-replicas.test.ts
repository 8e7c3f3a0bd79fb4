import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index } from '../retrieval/bm25.ts';
import { Bm25Registry, type Bm25RegistryOptions } from '../retrieval/bm25-registry.ts';
import { SNAPSHOT_FORMAT, decodeSnapshot, encodeSnapshot } from '../retrieval/bm25-snapshot.ts';
import { SqlBm25Snapshots } from '../store/bm25-snapshots.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { chunkInput } from '../testkit/scifact-fixture.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { pollUntil } from './helpers/poll.ts';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';

const DIMS = 3;
const QUERIES = ['zebrafish heart', 'fin regeneration osteoblast', 'mouse injury model', 'toxicology screen', 'moon tide'];

const until = (condition: () => boolean | Promise<boolean>, what: string) => pollUntil(condition, what, 1_000);

async function put(store: SqlStore, collectionId: string, source: string, texts: string[]): Promise<void> {
  await store.replaceDocument({
    collectionId,
    source,
    title: source,
    mime: 'text/plain',
    contentHash: `${source}:${texts.join('|')}`,
    metadata: { source },
    pageCount: null,
    chunks: texts.map((t, i) => chunkInput(i, t, [1, i + 1, 0.5])),
  });
}

const CORPUS: Record<string, string[]> = {
  'alpha.md': ['the zebrafish heart regenerates after injury', 'cardiomyocytes proliferate in the zebrafish heart'],
  'beta.md': ['zebrafish fins regrow', 'fin rays and osteoblasts drive regeneration'],
  'gamma.txt': ['zebrafish in toxicology screens'],
  'delta.txt': ['mouse models of heart injury'],
};

async function fill(store: SqlStore, name: string): Promise<Collection> {
  const collection = await store.createCollection({ name, embeddingModel: 'test', dimensions: DIMS });
  for (const [source, texts] of Object.entries(CORPUS)) await put(store, collection.id, source, texts);
  return (await store.getCollection(collection.id))!;
}

const hits = (index: Bm25Index) => QUERIES.map((q) => index.search(q, { limit: 10 }));
const sourcesOf = (index: Bm25Index, query: string) => index.search(query, { limit: 10 }).map((h) => index.filterableOf(h.id)!.source);

function registry(store: SqlStore, options: Bm25RegistryOptions = {}): Bm25Registry {
  return new Bm25Registry(store, { snapshots: new SqlBm25Snapshots(store.db), changes: store.db, catchUpDelayMs: 20, ...options });
}

describe('BM25 snapshots', () => {
  it('restore an index that scores exactly like the original, discarded chunks included, and keeps it writable', async () => {
    const chunk = (id: string, text: string) => chunkRecord(id, text, { documentId: `doc-${id.slice(0, 1)}` });
    const original = new Bm25Index();
    const texts = Object.values(CORPUS).flat();
    original.add(texts.map((t, i) => chunk(`${'abcd'[i % 4]}${i}`, t)));
    original.removeDocument('doc-b'); // postings stay until minisearch vacuums: the snapshot must skip them too
    const restored = await decodeSnapshot(await encodeSnapshot(original));

    expect(restored.size).toBe(original.size);
    expect(hits(restored)).toEqual(hits(original));
    expect(hits(restored).flat().length).toBeGreaterThan(0);
    expect([...restored.documentVersions]).toEqual([...original.documentVersions]);
    expect(restored.filterableOf('a0')).toEqual(original.filterableOf('a0'));

    for (const index of [original, restored]) {
      index.add([chunk('e9', 'moon tide zebrafish'), chunk('a0', 'replaced text about the moon')]);
      index.removeDocument('doc-c');
    }
    expect(hits(restored)).toEqual(hits(original));
    expect(restored.estimatedBytes).toBe(original.estimatedBytes);
  });
});

describe('Bm25Registry across registries on one PGlite database', () => {
  let store: SqlStore;
  let collection: Collection;
  const opened: Bm25Registry[] = [];
  const open = async (options: Bm25RegistryOptions = {}) => {
    const r = registry(store, options);
    await r.start();
    opened.push(r);
    return r;
  };
  const entry = (r: Bm25Registry, id: string) => r.readiness().collections.find((c) => c.id === id);
  const snapshots = () => new SqlBm25Snapshots(store.db);

  beforeAll(async () => {
    store = await openPgliteStore();
    collection = await fill(store, 'replicas');
  });

  afterAll(async () => {
    for (const r of opened) await r.close();
    await store.close();
  });

  it('a first registry rebuilds and stores a snapshot; a second loads it and answers the same', async () => {
    const first = await open();
    const built = await first.ensureSynced(collection);
    expect(entry(first, collection.id)).toMatchObject({ source: 'rebuild', chunks: 6, syncedVersion: collection.version });
    await until(async () => (await snapshots().storedVersion(collection.id, SNAPSHOT_FORMAT)) === collection.version, 'snapshot stored');

    const second = await open();
    const loaded = await second.ensureSynced(collection);
    expect(entry(second, collection.id)).toMatchObject({
      source: 'snapshot',
      status: 'ready',
      chunks: 6,
      snapshotVersion: collection.version,
    });
    expect(hits(loaded)).toEqual(hits(built));
  });

  it('change notices bring a loaded index up to date without a query, and drop a deleted collection', async () => {
    const other = await fill(store, 'notified');
    const watcher = await open();
    await watcher.ensureSynced(other);
    expect(watcher.readiness().changeFeed).toBe('listening');

    await put(store, other.id, 'tides.txt', ['the moon tide rises twice a day']);
    const version = (await store.getCollection(other.id))!.version;
    await until(() => entry(watcher, other.id)?.syncedVersion === version, 'catch-up after the notice');
    const index = await watcher.ensureSynced({ id: other.id, version }); // already synced: no re-read
    expect(sourcesOf(index, 'moon tide')).toEqual(['tides.txt']);

    await store.deleteDocument(other.id, (await store.getDocumentBySource(other.id, 'tides.txt'))!.id);
    const afterDelete = (await store.getCollection(other.id))!.version;
    await until(() => entry(watcher, other.id)?.syncedVersion === afterDelete, 'catch-up after a document delete');
    expect(sourcesOf(index, 'moon tide')).toEqual([]);

    await store.deleteCollection(other.id);
    await until(() => entry(watcher, other.id) === undefined, 'the deleted collection to be dropped');
  });

  it('unloads the least recently used collection beyond the memory budget and reloads it from its snapshot', async () => {
    const small = await fill(store, 'lru-second');
    const budget = (await open()).readiness().memory.budgetBytes;
    expect(budget).toBe(0); // unlimited unless configured
    // One byte: only the collection in use may stay loaded.
    const tight = await open({ memoryBudgetBytes: 1 });
    const before = hits(await tight.ensureSynced(collection));
    await tight.ensureSynced(small);
    expect(tight.readiness().collections.map((c) => c.id)).toEqual([small.id]);
    expect(tight.readiness().evictions).toBe(1);

    await until(async () => (await snapshots().storedVersion(small.id, SNAPSHOT_FORMAT)) === small.version, 'snapshot of the second');
    const reloaded = await tight.ensureSynced(collection);
    expect(entry(tight, collection.id)).toMatchObject({ source: 'snapshot', chunks: 6 });
    expect(hits(reloaded)).toEqual(before);
    expect(tight.readiness()).toMatchObject({ evictions: 2, collections: [{ id: collection.id }] });
  });

  it('a replica loads an older snapshot and catches up the documents written since', async () => {
    const grown = await fill(store, 'grown');
    const writer = await open();
    await writer.ensureSynced(grown);
    await until(async () => (await snapshots().storedVersion(grown.id, SNAPSHOT_FORMAT)) === grown.version, 'first snapshot');
    await put(store, grown.id, 'tides.txt', ['the moon tide rises twice a day']);
    await put(store, grown.id, 'alpha.md', ['rewritten: nothing about that organ now']);
    const current = (await store.getCollection(grown.id))!;

    const late = await open({ snapshotEveryDocuments: 1000 });
    const index = await late.ensureSynced(current);
    expect(entry(late, grown.id)).toMatchObject({ source: 'snapshot', snapshotVersion: grown.version, syncedVersion: current.version });
    expect(sourcesOf(index, 'moon tide')).toEqual(['tides.txt']);
    expect(sourcesOf(index, 'zebrafish heart')).not.toContain('alpha.md');
  });
});

const describePg = await describePostgres();

describePg('Bm25Registry on two stores over one Postgres database (LISTEN on dedicated connections)', () => {
  let db: TempDatabase;
  let writerStore: SqlStore;
  let readerStore: SqlStore;
  let reader: Bm25Registry;

  beforeAll(async () => {
    db = await createScratchDatabase('bm25_replicas');
    writerStore = await openPostgresStore(db.url, { max: 2 });
    readerStore = await openPostgresStore(db.url, { max: 2 });
    reader = registry(readerStore);
    await reader.start();
  });

  afterAll(async () => {
    await reader?.close();
    await writerStore?.close();
    await readerStore?.close();
    await db?.drop();
  });

  it('an ingest through one store is in the other replica within a second; a deleted collection leaves it', async () => {
    const collection = await fill(writerStore, 'pg-replicas');
    await reader.ensureSynced(collection);
    expect(reader.readiness().changeFeed).toBe('listening');

    await put(writerStore, collection.id, 'tides.txt', ['the moon tide rises twice a day']);
    const version = (await writerStore.getCollection(collection.id))!.version;
    const entry = () => reader.readiness().collections.find((c) => c.id === collection.id);
    await until(() => entry()?.syncedVersion === version, 'the reader to catch up from the notice');
    expect(sourcesOf(await reader.ensureSynced({ id: collection.id, version }), 'moon tide')).toEqual(['tides.txt']);

    await writerStore.deleteCollection(collection.id);
    await until(() => entry() === undefined, 'the reader to drop the deleted collection');
  });
});
