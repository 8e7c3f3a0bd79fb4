import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer } from '../api/server.ts';
import { hashKey } from '../core/api-keys.ts';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { TenancyStore } from '../store/tenancy.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { type TempDatabase, createScratchDatabase, describePostgres } from './helpers/postgres.ts';
import { SHARED_AVAILABLE } from './helpers/shared.ts';

/** The tenant scoping of the SQL store and the tenancy tables, on the Postgres server. */
const describeIt = await describePostgres();
const MODEL = { embeddingModel: 'test-model', dimensions: 3 };
const OPERATOR = { keyId: 'test:setup', tenantId: 'default', client: 'test' };

describeIt('tenancy on the Postgres server', () => {
  let db: TempDatabase;
  let store: SqlStore;
  let tenancy: TenancyStore;

  beforeAll(async () => {
    db = await createScratchDatabase('tenancy');
    store = await openPostgresStore(db.url);
    tenancy = TenancyStore.forStore(store);
    for (const id of ['team-a', 'team-b']) await tenancy.createTenant(id, id);
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('keeps two tenants\' "handbook" apart: lookups by id or name never cross tenants', async () => {
    const a = await store.createCollection({ name: 'handbook', tenantId: 'team-a', ...MODEL });
    const b = await store.createCollection({ name: 'handbook', tenantId: 'team-b', ...MODEL });
    expect(a.id).not.toBe(b.id);
    expect((await store.getCollection('handbook', 'team-a'))?.id).toBe(a.id);
    expect((await store.getCollection('handbook', 'team-b'))?.id).toBe(b.id);
    expect(await store.getCollection(a.id, 'team-b')).toBeNull();
    expect(await store.getCollection(a.id.toUpperCase(), 'team-b')).toBeNull();
    expect(await store.getCollection('handbook')).toBeNull(); // the default tenant has none
    expect((await store.listCollections('team-b')).map((c) => c.id)).toEqual([b.id]);
    await expect(store.createCollection({ name: 'handbook', tenantId: 'team-a', ...MODEL })).rejects.toMatchObject({ code: 'conflict' });
    await expect(store.createCollection({ name: a.id, tenantId: 'team-b', ...MODEL })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it("finds, lists and retries jobs only through their collection's tenant", async () => {
    const a = (await store.getCollection('handbook', 'team-a'))!;
    const queue = JobQueue.forStore(store);
    const [job] = await queue.enqueue(a.id, [{ source: 'a.txt', bytes: new TextEncoder().encode('alpha') }]);
    expect((await queue.get(job!.id, 'team-a'))?.id).toBe(job!.id);
    expect(await queue.get(job!.id, 'team-b')).toBeNull();
    expect(await queue.list({ tenantId: 'team-b' })).toEqual([]);
    expect((await queue.list({ tenantId: 'team-a' })).map((j) => j.id)).toEqual([job!.id]);
    await store.db.query("UPDATE ingest_jobs SET state = 'failed' WHERE id = $1", [job!.id]);
    await expect(queue.retry(job!.id, 'team-b')).rejects.toMatchObject({ code: 'not_found' });
    expect((await queue.retry(job!.id, 'team-a')).state).toBe('queued');
  });

  it('stores keys as hashes, finds them by hash and keeps revocations', async () => {
    const { record, key } = await tenancy.createKey({ tenantId: 'team-a', role: 'writer', collections: ['handbook'] });
    expect((await tenancy.findKeyByHash(hashKey(key)))?.collections).toEqual(['handbook']);
    expect(await tenancy.revokeKey('team-b', record.id)).toBeNull();
    const revoked = await tenancy.revokeKey('team-a', record.id);
    expect(revoked?.revokedAt).not.toBeNull();
    expect((await tenancy.findKeyByHash(hashKey(key)))?.revokedAt).toBe(revoked?.revokedAt);
  });

  it('restores a soft-deleted collection unless its name was taken again', async () => {
    const c = await store.createCollection({ name: 'temp', tenantId: 'team-b', ...MODEL });
    expect(await tenancy.softDeleteCollection('team-a', c.id)).toBe(false);
    expect(await tenancy.softDeleteCollection('team-b', c.id)).toBe(true);
    expect(await store.getCollection('temp', 'team-b')).toBeNull();
    await expect(tenancy.restoreCollection('team-a', c.id, 7)).rejects.toMatchObject({ code: 'not_found' });
    const again = await store.createCollection({ name: 'temp', tenantId: 'team-b', ...MODEL });
    await expect(tenancy.restoreCollection('team-b', c.id, 7)).rejects.toMatchObject({ code: 'conflict' });
    await tenancy.softDeleteCollection('team-b', again.id);
    expect((await tenancy.restoreCollection('team-b', c.id, 7)).id).toBe(c.id);
    expect((await store.getCollection('temp', 'team-b'))?.id).toBe(c.id);
  });

  it.runIf(SHARED_AVAILABLE)('refuses a non-loopback bind while no key exists, and allows it once one does', async () => {
    const ragline = await Ragline.open(configSchema.parse({ databaseUrl: db.url }), { store, embedder: await testEmbedder() });
    await store.db.query('UPDATE api_keys SET revoked_at = now()');
    await expect(startServer(ragline, { host: '0.0.0.0', port: 0, inProcessWorker: false })).rejects.toMatchObject({
      code: 'invalid_config',
      message: expect.stringContaining('RAGLINE_ALLOW_OPEN'),
    });
    await Tenancy.for(ragline).createKey(OPERATOR, { tenantId: 'default', role: 'reader' });
    const running = await startServer(ragline, { host: '127.0.0.1', port: 0, inProcessWorker: false, shutdownGraceMs: 100 });
    // Auth is on: a request without a key is refused (running.close closes the store).
    expect((await fetch(`${running.url}/v1/tenant`)).status).toBe(401);
    await running.close();
    store = await openPostgresStore(db.url);
  });
});
