import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOpenMode } from '../api/open-mode.ts';
import { hashKey } from '../core/api-keys.ts';
import { loadConfig } from '../core/config.ts';
import { RaglineError } from '../core/errors.ts';
import { describeShared } from './helpers/shared.ts';
import {
  BOOTSTRAP_KEY,
  type Json,
  METRICS_TOKEN,
  OPERATOR,
  type TenancyFixture,
  bearer,
  jsonRequest,
  seedCollection,
  tenancyFixture,
} from './helpers/tenants.ts';

describeShared('tenants, keys and roles over HTTP (PGlite + real model)', () => {
  let f: TenancyFixture;
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await f.app.request(path, jsonRequest(method, body, key));
    return { status: res.status, body: (await res.json()) as Json };
  };

  beforeAll(async () => {
    f = await tenancyFixture();
    await f.tenancy.createTenant(OPERATOR, 'team-a');
    await seedCollection(f, 'team-a', 'handbook', 'handbook.txt', 'Expense reports are due on the fifth working day of the month.');
    await seedCollection(f, 'team-a', 'payroll', 'payroll.txt', 'Salaries are paid on the last working day of the month.');
  });

  afterAll(async () => {
    await f?.close();
  });

  it('issues keys once, stores only their SHA-256 and a visible prefix, and refuses revoked keys with 401', async () => {
    const created = await call(BOOTSTRAP_KEY, 'POST', '/v1/keys', { role: 'reader', tenant: 'team-a', label: 'ci' });
    expect(created.status).toBe(201);
    const { key, id } = created.body as { key: string; id: string };
    expect(key).toMatch(/^rk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`${id}_`)).toBe(true);
    const rows = (await f.store.db.query<Json>('SELECT * FROM api_keys WHERE id = $1', [id])).rows;
    expect(rows[0]!.key_hash).toBe(hashKey(key));
    expect(JSON.stringify(rows)).not.toContain(key.slice(12));
    const listed = await call(BOOTSTRAP_KEY, 'GET', '/v1/keys?tenant=team-a');
    expect(listed.body.keys.map((k: Json) => k.id)).toContain(id);
    expect(JSON.stringify(listed.body)).not.toContain(key.slice(12));

    expect((await call(key, 'GET', '/v1/collections')).status).toBe(200);
    const adminKey = await f.key('team-a', 'admin');
    expect((await call(adminKey, 'DELETE', `/v1/keys/${id}`)).status).toBe(200);
    const refused = await call(key, 'GET', '/v1/collections');
    expect(refused).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'API key revoked', details: expect.any(Object) } },
    });
    expect((await call(`${key}x`, 'GET', '/v1/collections')).status).toBe(401);
    expect((await f.app.request('/v1/collections', { headers: { Authorization: 'Bearer bad key' } })).status).toBe(401);
  });

  it('enforces the role matrix: reader reads, writer also ingests and deletes documents, admin also manages', async () => {
    const routes = {
      read: ['GET', '/v1/collections/handbook'],
      search: ['POST', '/v1/collections/handbook/search', { query: 'expense reports' }],
      ingest: ['POST', '/v1/collections/handbook/documents', { source: `note-${Math.random()}.txt`, text: 'A short note.' }],
      manageCollections: ['POST', '/v1/collections', { name: `c${Math.random().toString(36).slice(2, 8)}` }],
      manageKeys: ['POST', '/v1/keys', { role: 'reader' }],
      audit: ['GET', '/v1/audit'],
      tenants: ['GET', '/v1/tenants'],
    } as const;
    const expected = {
      reader: { read: 200, search: 200, ingest: 403, manageCollections: 403, manageKeys: 403, audit: 403, tenants: 403 },
      writer: { read: 200, search: 200, ingest: 202, manageCollections: 403, manageKeys: 403, audit: 403, tenants: 403 },
      admin: { read: 200, search: 200, ingest: 202, manageCollections: 201, manageKeys: 201, audit: 200, tenants: 403 },
    };
    for (const role of ['reader', 'writer', 'admin'] as const) {
      const key = await f.key('team-a', role);
      const seen: Record<string, number> = {};
      for (const [name, [method, path, body]] of Object.entries(routes) as [string, readonly [string, string, unknown?]][]) {
        const res = await call(key, method, path, body);
        seen[name] = res.status;
        if (res.status === 403) expect(res.body.error).toMatchObject({ code: 'forbidden', details: { role } });
      }
      expect({ role, seen }).toEqual({ role, seen: expected[role] });
    }
    // Bootstrap keys are admins of the default tenant and may manage tenants.
    expect((await call(BOOTSTRAP_KEY, 'GET', '/v1/tenants')).status).toBe(200);
  });

  it('limits a key to its collections: the others are not found, listings leave them out', async () => {
    const key = await f.key('team-a', 'reader', ['handbook']);
    expect((await call(key, 'GET', '/v1/collections/handbook')).status).toBe(200);
    const payroll = await f.store.getCollection('payroll', 'team-a');
    for (const ref of ['payroll', payroll!.id]) {
      expect((await call(key, 'GET', `/v1/collections/${ref}`)).status).toBe(404);
      expect((await call(key, 'POST', `/v1/collections/${ref}/search`, { query: 'salaries' })).status).toBe(404);
    }
    expect((await call(key, 'GET', '/v1/collections')).body.collections.map((c: Json) => c.name)).toEqual(['handbook']);
    const [job] = await f.queue.enqueue(payroll!.id, [{ source: 'p.txt', bytes: new TextEncoder().encode('pay') }]);
    expect((await call(key, 'GET', `/v1/jobs/${job!.id}`)).status).toBe(404);
    expect((await call(key, 'GET', '/v1/jobs')).body.jobs.map((j: Json) => j.id)).not.toContain(job!.id);
  });

  it('refuses uuid-shaped collection names in any case, and resolves a uuid only as an id', async () => {
    const admin = await f.key('team-a', 'admin');
    const handbook = await f.store.getCollection('handbook', 'team-a');
    for (const name of [handbook!.id, handbook!.id.toUpperCase(), '00000000-0000-4000-8000-000000000000']) {
      const res = await call(admin, 'POST', '/v1/collections', { name });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain('uuid');
    }
    await expect(f.store.createCollection({ name: handbook!.id.toUpperCase(), embeddingModel: 'm', dimensions: 3 })).rejects.toThrow(
      /uuid/,
    );
    expect((await call(admin, 'GET', `/v1/collections/${handbook!.id.toUpperCase()}`)).body.name).toBe('handbook');
  });

  it('soft-deletes collections with a restore window, restores them, and purges them after it', async () => {
    const admin = await f.key('team-a', 'admin');
    const { collection } = await seedCollection(f, 'team-a', 'scratch', 'scratch.txt', 'Temporary notes about the offsite.');
    const deleted = await call(admin, 'DELETE', '/v1/collections/scratch');
    expect(deleted).toEqual({ status: 200, body: { deleted: true, id: collection.id, restorableForDays: 7 } });
    expect((await call(admin, 'GET', '/v1/collections/scratch')).status).toBe(404);
    expect((await call(admin, 'POST', '/v1/collections/scratch/search', { query: 'offsite' })).status).toBe(404);
    expect((await call(admin, 'GET', '/v1/deleted-collections')).body.collections.map((c: Json) => c.name)).toEqual(['scratch']);

    expect((await call(admin, 'POST', '/v1/collections/scratch/restore')).status).toBe(200);
    const found = await call(admin, 'POST', '/v1/collections/scratch/search', { query: 'offsite' });
    expect(found.body.hits[0].chunk.text).toContain('offsite');

    await call(admin, 'DELETE', `/v1/collections/${collection.id}`);
    expect(await f.tenancy.purgeExpired()).toBe(0);
    await f.store.db.query("UPDATE collections SET deleted_at = now() - interval '8 days' WHERE id = $1", [collection.id]);
    expect((await call(admin, 'POST', '/v1/collections/scratch/restore')).status).toBe(404);
    expect(await f.tenancy.purgeExpired()).toBe(1);
    expect((await f.store.db.query('SELECT id FROM collections WHERE id = $1', [collection.id])).rows).toEqual([]);
    expect((await f.store.db.query('SELECT id FROM documents WHERE collection_id = $1', [collection.id])).rows).toEqual([]);

    const audit = await call(admin, 'GET', '/v1/audit?limit=500');
    const actions = audit.body.entries.filter((e: Json) => e.target === collection.id).map((e: Json) => e.action);
    expect(actions).toEqual(['collection.purge', 'collection.delete', 'collection.restore', 'collection.delete']);
    const entry = audit.body.entries.find((e: Json) => e.action === 'collection.restore');
    expect(entry).toMatchObject({ tenantId: 'team-a', actor: expect.stringMatching(/^rk_/), client: 'local' });
  });

  it("holds a writer's document delete for an admin's approval when the tenant requires it", async () => {
    const admin = await f.key('team-a', 'admin');
    const writer = await f.key('team-a', 'writer');
    const { collection, document } = await seedCollection(f, 'team-a', 'approvals', 'doc.txt', 'Quarterly planning happens in March.');
    expect((await call(admin, 'PATCH', '/v1/tenant', { requireDeleteApproval: true })).body.settings.requireDeleteApproval).toBe(true);

    const held = await call(writer, 'DELETE', `/v1/collections/approvals/documents/${document.id}`);
    expect(held.status).toBe(202);
    expect(held.body.pendingApproval).toMatchObject({ state: 'pending', targetId: document.id });
    expect(await f.store.getDocument(collection.id, document.id)).not.toBeNull();
    expect((await call(writer, 'POST', `/v1/deletions/${held.body.pendingApproval.id}/approve`)).status).toBe(403);

    const approved = await call(admin, 'POST', `/v1/deletions/${held.body.pendingApproval.id}/approve`);
    expect(approved.body).toMatchObject({ state: 'approved', decidedBy: expect.stringMatching(/^rk_/) });
    expect(await f.store.getDocument(collection.id, document.id)).toBeNull();
    expect((await call(admin, 'POST', `/v1/deletions/${held.body.pendingApproval.id}/approve`)).status).toBe(409);

    const actions = (await f.tenancy.audit({ tenantId: 'team-a', limit: 20 })).map((e) => e.action);
    expect(actions.slice(0, 4)).toEqual(['document.delete', 'document.delete.approve', 'document.delete.request', 'tenant.settings']);
    await call(admin, 'PATCH', '/v1/tenant', { requireDeleteApproval: false });
  });

  it('protects /metrics once keys exist: the metrics token or an admin key', async () => {
    expect((await f.app.request('/metrics')).status).toBe(401);
    expect((await f.app.request('/metrics', bearer(await f.key('team-a', 'reader')))).status).toBe(401);
    expect((await f.app.request('/metrics', bearer('wrong-token-0123456789'))).status).toBe(401);
    const ok = await f.app.request('/metrics', bearer(METRICS_TOKEN));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('ragline_http_requests_total');
    expect((await f.app.request('/metrics', bearer(await f.key('team-a', 'admin')))).status).toBe(200);
  });
});

describe('key settings', () => {
  it('keyless servers serve loopback only unless RAGLINE_ALLOW_OPEN is set', () => {
    expect(checkOpenMode('127.0.0.1', false, false)).toContain('localhost only');
    expect(checkOpenMode('::1', false, false)).toContain('localhost only');
    expect(checkOpenMode('0.0.0.0', true, false)).toBeNull();
    expect(() => checkOpenMode('0.0.0.0', false, false)).toThrow(/RAGLINE_ALLOW_OPEN/);
    expect(checkOpenMode('10.1.2.3', false, true)).toContain('RAGLINE_ALLOW_OPEN');
  });

  it('validate RAGLINE_API_KEYS and RAGLINE_METRICS_TOKEN at start against the bearer-token alphabet', () => {
    expect(loadConfig({ RAGLINE_API_KEYS: 'good-key-0123456789,other.key~0123+/==' }).server.apiKeys).toHaveLength(2);
    for (const [variable, value] of [
      ['RAGLINE_API_KEYS', 'good-key-0123456789,bad key with spaces'],
      ['RAGLINE_API_KEYS', 'schlüssel-0123456789'],
      ['RAGLINE_METRICS_TOKEN', 'token"with"quotes-0123'],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ [variable]: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RaglineError);
      expect((error as RaglineError).message).toContain(variable);
      expect((error as RaglineError).message).not.toContain(value.split(',').pop()!);
    }
  });
});
