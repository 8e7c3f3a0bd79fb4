import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPostgresStore } from '../store/postgres.ts';
import { type TempDatabase, createScratchDatabase, describePostgres } from './helpers/postgres.ts';
import { runCli } from './helpers/cli-in-process.ts';

/** `ragline keys|tenants|audit|collections restore` against DATABASE_URL, checked through the HTTP API. */
const describeIt = await describePostgres();

describeIt('tenancy CLI (Postgres server)', () => {
  let db: TempDatabase;
  const saved = process.env.DATABASE_URL;

  beforeAll(async () => {
    db = await createScratchDatabase('tenancy_cli');
    process.env.DATABASE_URL = db.url;
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
    await db?.drop();
  });

  const ragline = (...args: string[]) => runCli(args);

  /** What the API answers the key with, over the same database. */
  async function statusWith(key: string): Promise<number> {
    const store = await openPostgresStore(db.url);
    try {
      const app = createApi(await Ragline.open(configSchema.parse({ databaseUrl: db.url }), { store }));
      return (await app.request('/v1/collections', { headers: { Authorization: `Bearer ${key}` } })).status;
    } finally {
      await store.close();
    }
  }

  it('creates tenants and prints a new key once as {"id","key","tenant","role"}; revoked keys get 401', async () => {
    expect((await ragline('tenants', 'create', 'team-a')).code).toBe(0);
    const tenants = await ragline('tenants', 'list', '--json');
    expect(JSON.parse(tenants.out).map((t: { id: string }) => t.id)).toEqual(['default', 'team-a']);

    const created = await ragline('keys', 'create', '--tenant', 'team-a', '--role', 'writer', '--collections', 'handbook,faq', '--json');
    expect(created.code).toBe(0);
    const printed = JSON.parse(created.out) as Record<string, string>;
    expect(Object.keys(printed).sort()).toEqual(['id', 'key', 'role', 'tenant']);
    expect(printed).toMatchObject({ tenant: 'team-a', role: 'writer', id: expect.stringMatching(/^rk_/) });
    expect(await statusWith(printed.key!)).toBe(200);

    const listed = await ragline('keys', 'list', '--tenant', 'team-a', '--json');
    expect(listed.out).toContain(printed.id);
    expect(listed.out).not.toContain(printed.key);
    expect(JSON.parse(listed.out)[0].collections).toEqual(['handbook', 'faq']);

    expect((await ragline('keys', 'revoke', printed.id!)).code).toBe(0);
    expect(await statusWith(printed.key!)).toBe(401);

    const audit = JSON.parse((await ragline('audit', '--tenant', 'team-a', '--json')).out) as { action: string; client: string }[];
    expect(audit.map((e) => e.action)).toEqual(['key.revoke', 'key.create', 'tenant.create']);
    expect(audit.every((e) => e.client === 'cli')).toBe(true);
  });

  it('refuses bad roles, tenant ids and collection lists with exit code 2', async () => {
    for (const args of [
      ['keys', 'create', '--tenant', 'team-a', '--role', 'root'],
      ['keys', 'create', '--tenant', 'Team A', '--role', 'reader'],
      ['keys', 'create', '--tenant', 'team-a', '--role', 'reader', '--collections', 'ok,not ok'],
      ['tenants', 'create', 'UPPER'],
    ]) {
      const result = await ragline(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.err.length).toBeGreaterThan(10);
    }
  });

  it('restores a deleted collection from the command line', async () => {
    const store = await openPostgresStore(db.url);
    const collection = await store.createCollection({ name: 'notes', embeddingModel: 'm', dimensions: 3 });
    await store.db.query('UPDATE collections SET deleted_at = now() WHERE id = $1', [collection.id]);
    await store.close();
    expect(JSON.parse((await ragline('collections', 'deleted', '--json')).out).map((c: { name: string }) => c.name)).toEqual(['notes']);
    const restored = await ragline('collections', 'restore', 'notes');
    expect(restored).toMatchObject({ code: 0, out: expect.stringContaining(collection.id) });
    expect((await ragline('collections', 'restore', 'notes')).code).toBe(1);
  });
});
