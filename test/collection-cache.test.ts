import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { openOperations, type Operations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import type { Embedder } from '../models/types.ts';
import { CollectionDirectory } from '../store/collection-directory.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { pollUntil } from './helpers/poll.ts';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { describeShared, SHARED_AVAILABLE } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

const GUIDE = 'Chunks are sized by the tokenizer of the embedding model. The hard cap is 256 tokens per chunk.';
const TIDES = 'Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.';
const QUESTION = 'How large can a chunk be?';
const ACTOR = { keyId: 'test', tenantId: 'default', client: 'local' };

/**
 * A long TTL everywhere below: a miss after a write can then only come from the eviction the write
 * caused (in process, or through NOTIFY), never from the entry timing out.
 */
const config = (ttlMs = 60_000) =>
  configSchema.parse({
    server: { rateLimitPerMinute: 100_000 },
    operations: { ledgerFlushMs: 60_000, ledgerBatchSize: 5_000, collectionCacheTtlMs: ttlMs },
  });

const text = (source: string, body: string) => ({ source, bytes: new TextEncoder().encode(body), mime: 'text/plain' });

interface Served {
  ragline: Ragline;
  operations: Operations;
  app: Hono;
}

function serve(ragline: Ragline): Served {
  const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  return { ragline, operations, app: createApi(ragline, { operations }) };
}

async function ask(app: Hono, question = QUESTION): Promise<Json> {
  const res = await app.request('/v1/collections/guide/answer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

/** Records every statement the store is sent, to prove what a cache hit does not do. */
function recordStatements(store: SqlStore): string[] {
  const statements: string[] = [];
  const query = store.db.query.bind(store.db);
  store.db.query = (sql, params) => {
    statements.push(sql);
    return query(sql, params);
  };
  return statements;
}

/** Closes what Ragline.open started, but not the shared test embedder (Ragline.close would dispose it). */
async function shut(ragline: Ragline | undefined): Promise<void> {
  await ragline?.bm25.close();
  await ragline?.collections.close();
  await ragline?.store.close();
}

describeShared('collection versions in memory: cache hits without SQL, never stale after a write (PGlite)', () => {
  let store: SqlStore;
  let served: Served;

  beforeAll(async () => {
    store = await openPgliteStore();
    served = serve(await Ragline.open(config(), { store, embedder: await testEmbedder() }));
    await served.ragline.createCollection('guide');
    await served.ragline.ingest('guide', [text('guide.txt', GUIDE)]);
  });

  afterAll(async () => {
    await served?.operations.close();
    await shut(served?.ragline);
  });

  it('a cache hit sends no statement to the database but the open-mode key check', async () => {
    expect((await ask(served.app)).cache).toBe('miss');
    const statements = recordStatements(store);
    const hit = await ask(served.app);
    expect(hit.cache).toBe('hit');
    // The auth middleware (not the cache) asks whether any API key exists yet, on every request in open mode.
    expect(statements.filter((sql) => !sql.includes('FROM api_keys'))).toEqual([]);
  });

  it("this process's writes evict at once, without waiting for any notice (no change feed, a long TTL)", async () => {
    const directory = new CollectionDirectory(store, { ttlMs: 60_000, local: store.localChanges });
    await directory.start();
    expect(directory.changeFeed).toBe('off');
    const before = (await directory.resolve('guide', 'default'))!;
    await served.ragline.ingest('guide', [text('sun.txt', 'The sun holds the planets in their orbits.')]);
    expect((await directory.resolve('guide', 'default'))!.version).toBe(before.version + 1);
    const sun = (await store.listDocuments(before.id)).find((d) => d.source === 'sun.txt')!;
    await served.ragline.deleteDocument('guide', sun.id);
    expect((await directory.resolve('guide', 'default'))!.version).toBe(before.version + 2);
    await directory.close();
  });

  it('an ingest, a document delete and a collection delete in this process are seen by the very next request', async () => {
    await ask(served.app); // the test before changed the collection
    expect((await ask(served.app)).cache).toBe('hit');
    await served.ragline.ingest('guide', [text('tides.txt', TIDES)]);
    const afterIngest = await ask(served.app);
    expect(afterIngest.cache).toBe('miss');
    expect(afterIngest.chunks.length).toBe(2); // the new document is retrieved too
    expect((await ask(served.app)).cache).toBe('hit');

    const tides = (await store.listDocuments((await served.ragline.collection('guide')).id)).find((d) => d.source === 'tides.txt')!;
    expect(await served.ragline.deleteDocument('guide', tides.id)).toBe(true);
    const afterDelete = await ask(served.app);
    expect(afterDelete.cache).toBe('miss');
    expect(afterDelete.chunks.length).toBe(1);

    await Tenancy.for(served.ragline).deleteCollection(ACTOR, await served.ragline.collection('guide'));
    const gone = await served.app.request('/v1/collections/guide/search', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'chunk' }),
    });
    expect(gone.status).toBe(404);
  });
});

const describeWithPostgres = await describePostgres();
const describeBoth = SHARED_AVAILABLE ? describeWithPostgres : describeShared;

describeBoth('collection versions in memory across processes (Postgres server, LISTEN/NOTIFY)', () => {
  let db: TempDatabase;
  let embedder: Embedder;
  let reader: Served; // the server answering
  let writer: Ragline; // another process's connection to the same database
  let writerStore: SqlStore;

  beforeAll(async () => {
    db = await createScratchDatabase('collcache');
    embedder = await testEmbedder();
    reader = serve(await Ragline.open(config(), { store: await openPostgresStore(db.url), embedder }));
    writerStore = await openPostgresStore(db.url);
    writer = await Ragline.open(config(), { store: writerStore, embedder });
    await writer.createCollection('guide');
    await writer.ingest('guide', [text('guide.txt', GUIDE)]);
  });

  afterAll(async () => {
    await reader?.operations.close();
    await shut(reader?.ragline);
    await shut(writer);
    await db?.drop();
  });

  /**
   * Until the reader's directory knows the writer's version: NOTIFY arrives asynchronously on its
   * own connection, and with a 60 s TTL only that notice can evict the old entry.
   */
  const heard = async () => {
    const version = (await writer.collection('guide')).version;
    await pollUntil(
      async () => (await reader.ragline.collections.resolve('guide', 'default'))!.version === version,
      'the change notice reached the reader',
      5_000,
    );
  };

  it('listens for changes, and an ingest in the same process is a miss at once (before its NOTIFY arrives)', async () => {
    expect(reader.ragline.collections.changeFeed).toBe('listening');
    expect((await ask(reader.app)).cache).toBe('miss');
    expect((await ask(reader.app)).cache).toBe('hit');
    await reader.ragline.ingest('guide', [text('tides.txt', TIDES)]);
    expect((await ask(reader.app)).cache).toBe('miss');
  });

  it("another connection's ingest and delete turn the next answer into a miss, not a stale hit", async () => {
    expect((await ask(reader.app)).cache).toBe('hit');
    await writer.ingest('guide', [text('moon.txt', 'The moon orbits the earth once every twenty-seven days.')]);
    await heard();
    const afterIngest = await ask(reader.app);
    expect(afterIngest.cache).toBe('miss');
    expect(afterIngest.chunks.length).toBe(3);
    expect((await ask(reader.app)).cache).toBe('hit');

    const moon = (await writer.store.listDocuments((await writer.collection('guide')).id)).find((d) => d.source === 'moon.txt')!;
    await writer.deleteDocument('guide', moon.id);
    await heard();
    const afterDelete = await ask(reader.app);
    expect(afterDelete.cache).toBe('miss');
    expect(afterDelete.chunks.length).toBe(2);
  });

  it("without a change feed, another connection's write is seen once the TTL runs out", async () => {
    const ttlMs = 1_000;
    const directory = new CollectionDirectory(reader.ragline.store, {
      ttlMs,
      changes: {
        listen: async () => {
          throw new Error('LISTEN refused');
        },
      },
    });
    await directory.start();
    expect(directory.changeFeed).toBe('unavailable');
    const first = (await directory.resolve('guide', 'default'))!;
    await writerStore.db.query('UPDATE collections SET version = version + 1 WHERE id = $1', [first.id]);
    // Within the TTL the old version is what this directory knows: the window the TTL bounds.
    expect((await directory.resolve('guide', 'default'))!.version).toBe(first.version);
    const later = await pollUntil(
      async () => {
        const c = (await directory.resolve('guide', 'default'))!;
        return c.version > first.version ? c : undefined;
      },
      'the directory re-read the collection after its TTL',
      ttlMs * 10,
    );
    expect(later.version).toBe(first.version + 1);
    await directory.close();
  });
});
