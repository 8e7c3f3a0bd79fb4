import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR, type TenancyFixture, jsonRequest, seedCollection, tenancyFixture } from './helpers/tenants.ts';
import { describeShared } from './helpers/shared.ts';
import { CollectionConfigs } from '../facade/configs.ts';
import { BatchStore } from '../store/batches.ts';
import { HandoffStore } from '../store/handoffs.ts';

/**
 * Team B (an admin key, the strongest a tenant can hold) aims every /v1 route at team A's
 * resources: by id, by id in upper case, by name, and through filters. Each answer must be a 404
 * (or the row's status) and no body may carry anything of A's that the request did not send.
 *
 * Adding a /v1 route? Add a row: the last test fails for any registered route without one.
 */
export interface CrossTenantRow {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The route as Hono registers it (`app.routes`). */
  route: string;
  /** Request paths; {placeholders} are team A's resources (see `victim` below). */
  paths: string[];
  body?: unknown;
  /** Defaults to 404. */
  status?: number;
  /** The OpenAI-compatible routes answer errors as {error: {message, type, param, code, details}}. */
  openaiErrors?: boolean;
}

const A_COLLECTION = ['{aCollectionId}', '{aCollectionIdUpper}', '{aCollectionName}'];
const onACollection = (suffix: string) => A_COLLECTION.map((c) => `/v1/collections/${c}${suffix}`);

export const CROSS_TENANT_ROUTES: CrossTenantRow[] = [
  { method: 'GET', route: '/v1/collections', paths: ['/v1/collections'], status: 200 },
  { method: 'POST', route: '/v1/collections', paths: ['/v1/collections'], body: { name: 'b-new' }, status: 201 },
  { method: 'GET', route: '/v1/collections/:id', paths: onACollection('') },
  { method: 'DELETE', route: '/v1/collections/:id', paths: onACollection('') },
  {
    method: 'POST',
    route: '/v1/collections/:id/restore',
    paths: ['/v1/collections/{aDeletedId}/restore', '/v1/collections/old-a/restore'],
  },
  {
    method: 'POST',
    route: '/v1/collections/:id/documents',
    paths: onACollection('/documents'),
    body: { source: 'x.txt', text: 'planted' },
  },
  { method: 'GET', route: '/v1/collections/:id/documents', paths: onACollection('/documents') },
  {
    method: 'GET',
    route: '/v1/collections/:id/documents/:docId',
    paths: [...onACollection('/documents/{aDocumentId}'), '/v1/collections/handbook/documents/{aDocumentId}'],
  },
  {
    method: 'DELETE',
    route: '/v1/collections/:id/documents/:docId',
    paths: [...onACollection('/documents/{aDocumentId}'), '/v1/collections/handbook/documents/{aDocumentId}'],
  },
  {
    method: 'GET',
    route: '/v1/collections/:id/documents/:docId/chunks',
    paths: [...onACollection('/documents/{aDocumentId}/chunks'), '/v1/collections/handbook/documents/{aDocumentId}/chunks'],
  },
  { method: 'GET', route: '/v1/collections/:id/chunks', paths: onACollection('/chunks?ids={aChunkId}') },
  // B's own handbook asked for A's chunk: B's collection answers, with no chunk.
  { method: 'GET', route: '/v1/collections/:id/chunks', paths: ['/v1/collections/handbook/chunks?ids={aChunkId}'], status: 200 },
  { method: 'POST', route: '/v1/collections/:id/search', paths: onACollection('/search'), body: { query: 'secret vault code' } },
  // B's own handbook, filtered to A's document: B's collection answers, with nothing of A's.
  {
    method: 'POST',
    route: '/v1/collections/:id/search',
    paths: ['/v1/collections/handbook/search'],
    body: { query: 'secret vault code', filter: { documentId: '{aDocumentId}' } },
    status: 200,
  },
  {
    method: 'POST',
    route: '/v1/collections/:id/search',
    paths: ['/v1/collections/handbook/search'],
    body: { query: 'secret vault code', filter: { source: 'a-handbook.txt' } },
    status: 200,
  },
  { method: 'POST', route: '/v1/collections/:id/answer', paths: onACollection('/answer'), body: { question: 'What is the vault code?' } },
  {
    method: 'POST',
    route: '/v1/collections/:id/answer',
    paths: ['/v1/collections/handbook/answer'],
    body: { question: 'What is the vault code?', filter: { source: 'a-handbook.txt' } },
    status: 200,
  },
  { method: 'GET', route: '/v1/jobs', paths: ['/v1/jobs'], status: 200 },
  { method: 'GET', route: '/v1/jobs', paths: A_COLLECTION.map((c) => `/v1/jobs?collection=${c}`) },
  { method: 'GET', route: '/v1/jobs/:id', paths: ['/v1/jobs/{aJobId}', '/v1/jobs/{aJobIdUpper}'] },
  { method: 'POST', route: '/v1/jobs/:id/retry', paths: ['/v1/jobs/{aJobId}/retry', '/v1/jobs/{aFailedJobId}/retry'] },
  { method: 'POST', route: '/v1/jobs/:id/cancel', paths: ['/v1/jobs/{aJobId}/cancel', '/v1/jobs/{aJobIdUpper}/cancel'] },
  { method: 'GET', route: '/v1/requests/:id', paths: ['/v1/requests/{aTraceId}'] },
  // B's own traces only: A's trace id and question never appear.
  { method: 'GET', route: '/v1/requests', paths: ['/v1/requests', '/v1/requests?kind=search&limit=200'], status: 200 },
  { method: 'GET', route: '/v1/report', paths: ['/v1/report', '/v1/report?sinceDays=30'], status: 200 },
  {
    method: 'POST',
    route: '/v1/feedback',
    paths: ['/v1/feedback'],
    body: { requestId: '{aTraceId}', rating: 'down', comment: 'b was here' },
  },
  { method: 'GET', route: '/v1/handoffs', paths: ['/v1/handoffs', '/v1/handoffs?state=open'], status: 200 },
  { method: 'GET', route: '/v1/handoffs', paths: A_COLLECTION.map((c) => `/v1/handoffs?collection=${c}`) },
  { method: 'GET', route: '/v1/handoffs/:id', paths: ['/v1/handoffs/{aHandoffId}', '/v1/handoffs/{aHandoffIdUpper}'] },
  { method: 'POST', route: '/v1/handoffs/:id/resolve', paths: ['/v1/handoffs/{aHandoffId}/resolve'], body: { note: 'b was here' } },
  {
    method: 'POST',
    route: '/v1/collections/:id/batches',
    paths: onACollection('/batches'),
    body: { questions: ['What is the vault code?'] },
  },
  {
    method: 'GET',
    route: '/v1/collections/:id/batches/:batchId',
    paths: [...onACollection('/batches/{aBatchId}'), '/v1/collections/handbook/batches/{aBatchId}'],
  },
  {
    method: 'GET',
    route: '/v1/collections/:id/batches/:batchId/results',
    paths: [...onACollection('/batches/{aBatchId}/results'), '/v1/collections/handbook/batches/{aBatchId}/results'],
  },
  { method: 'POST', route: '/v1/keys', paths: ['/v1/keys'], body: { role: 'admin', tenant: 'team-a' }, status: 403 },
  { method: 'GET', route: '/v1/keys', paths: ['/v1/keys'], status: 200 },
  { method: 'GET', route: '/v1/keys', paths: ['/v1/keys?tenant=team-a'], status: 403 },
  { method: 'DELETE', route: '/v1/keys/:keyId', paths: ['/v1/keys/{aKeyId}'] },
  { method: 'DELETE', route: '/v1/keys/:keyId', paths: ['/v1/keys/{aKeyId}?tenant=team-a'], status: 403 },
  { method: 'POST', route: '/v1/tenants', paths: ['/v1/tenants'], body: { id: 'team-c' }, status: 403 },
  { method: 'GET', route: '/v1/tenants', paths: ['/v1/tenants'], status: 403 },
  { method: 'GET', route: '/v1/tenant', paths: ['/v1/tenant'], status: 200 },
  { method: 'PATCH', route: '/v1/tenant', paths: ['/v1/tenant'], body: { requireDeleteApproval: false }, status: 200 },
  { method: 'GET', route: '/v1/audit', paths: ['/v1/audit', '/v1/audit?action=key.create'], status: 200 },
  { method: 'GET', route: '/v1/deleted-collections', paths: ['/v1/deleted-collections'], status: 200 },
  { method: 'GET', route: '/v1/deletions', paths: ['/v1/deletions'], status: 200 },
  { method: 'POST', route: '/v1/deletions/:requestId/approve', paths: ['/v1/deletions/{aRequestId}/approve'] },
  { method: 'POST', route: '/v1/deletions/:requestId/reject', paths: ['/v1/deletions/{aRequestId}/reject'] },
  { method: 'GET', route: '/v1/collections/:id/configs', paths: onACollection('/configs') },
  {
    method: 'POST',
    route: '/v1/collections/:id/configs',
    paths: onACollection('/configs'),
    body: { name: 'b-plant', settings: { retrieval: { topK: 3 } } },
  },
  { method: 'GET', route: '/v1/collections/:id/configs/:name', paths: onACollection('/configs/a-config') },
  { method: 'GET', route: '/v1/collections/:id/configs/:name/history', paths: onACollection('/configs/a-config/history') },
  { method: 'POST', route: '/v1/collections/:id/configs/:name/rollback', paths: onACollection('/configs/a-config/rollback'), body: {} },
  { method: 'POST', route: '/v1/collections/:id/configs/:name/activate', paths: onACollection('/configs/a-config/activate') },
  // B's own handbook has no config named like A's: nothing of A's shows through.
  { method: 'GET', route: '/v1/collections/:id/configs/:name', paths: ['/v1/collections/handbook/configs/a-config'] },
  { method: 'GET', route: '/v1/collections/:id/experiments', paths: onACollection('/experiments') },
  {
    method: 'POST',
    route: '/v1/collections/:id/experiments',
    paths: onACollection('/experiments'),
    body: {
      name: 'b-split',
      variants: [
        { config: 'a-config', percent: 50 },
        { config: 'a-other', percent: 50 },
      ],
    },
  },
  { method: 'GET', route: '/v1/collections/:id/experiments/:name', paths: onACollection('/experiments/a-split') },
  {
    method: 'POST',
    route: '/v1/collections/:id/experiments/:name/stop',
    paths: onACollection('/experiments/a-split/stop'),
    body: { winner: 'a-config' },
  },
  { method: 'GET', route: '/v1/collections/:id/experiments/:name/report', paths: onACollection('/experiments/a-split/report') },
  { method: 'GET', route: '/v1/collections/:id/experiments/:name/report', paths: ['/v1/collections/handbook/experiments/a-split/report'] },
  { method: 'GET', route: '/v1/models', paths: ['/v1/models'], status: 200, openaiErrors: true },
  {
    method: 'GET',
    route: '/v1/models/:model',
    paths: ['/v1/models/{aCollectionName}', '/v1/models/{aCollectionId}', '/v1/models/{aCollectionIdUpper}'],
    openaiErrors: true,
  },
  ...['{aCollectionName}', '{aCollectionId}', '{aCollectionName}:some-config'].map(
    (model): CrossTenantRow => ({
      method: 'POST',
      route: '/v1/chat/completions',
      paths: ['/v1/chat/completions'],
      body: { model, messages: [{ role: 'user', content: 'What is the vault code?' }] },
      openaiErrors: true,
    }),
  ),
  // B's own handbook as the model: B's collection answers, with nothing of A's.
  {
    method: 'POST',
    route: '/v1/chat/completions',
    paths: ['/v1/chat/completions'],
    body: { model: 'handbook', messages: [{ role: 'user', content: 'What is the secret vault code?' }] },
    status: 200,
    openaiErrors: true,
  },
];

const SECRET = 'ALPHA-SECRET-VAULT-4471';

/** A search by tenant A, and its trace id once the ledger (which writes off the hot path) has stored it. */
async function tracedSearchOf(f: TenancyFixture, key: string): Promise<string> {
  const res = await f.app.request('/v1/collections/handbook/search', jsonRequest('POST', { query: 'vault code' }, key));
  const { requestId } = (await res.json()) as { requestId: string };
  for (let tries = 0; tries < 100; tries++) {
    if ((await f.app.request(`/v1/requests/${requestId}`, jsonRequest('GET', undefined, key))).status === 200) return requestId;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`trace ${requestId} was never stored`);
}

describeShared('cross-tenant isolation (PGlite + real model)', () => {
  let f: TenancyFixture;
  let bKey: string;
  const victim: Record<string, string> = {};

  beforeAll(async () => {
    f = await tenancyFixture();
    for (const id of ['team-a', 'team-b']) await f.tenancy.createTenant(OPERATOR, id);
    const a = await seedCollection(f, 'team-a', 'handbook', 'a-handbook.txt', `The vault code is ${SECRET}. Keep it secret.`);
    await seedCollection(f, 'team-a', 'alpha-only', 'a-notes.txt', `Alpha notes mention ${SECRET} too.`);
    await seedCollection(f, 'team-b', 'handbook', 'b-handbook.txt', 'Team B keeps its bicycles in the basement.');
    const [aChunk] = await f.store.chunksOfDocuments(a.collection.id, [a.document.id]);
    const old = await f.ragline.createCollection('old-a', {}, 'team-a');
    await f.tenancy.deleteCollection(OPERATOR, old);
    const [job] = await f.queue.enqueue(a.collection.id, [{ source: 'a-queued.txt', bytes: new TextEncoder().encode(SECRET) }]);
    const [failed] = await f.queue.enqueue(a.collection.id, [{ source: 'a-failed.txt', bytes: new TextEncoder().encode(SECRET) }]);
    await f.store.db.query("UPDATE ingest_jobs SET state = 'failed' WHERE id = $1", [failed!.id]);
    const aKey = await f.tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'writer' });
    const { handoff } = await new HandoffStore(f.store.db).record({
      tenantId: 'team-a',
      collectionId: a.collection.id,
      collectionName: 'handbook',
      requestId: 'a-handoff-request',
      question: `Where is ${SECRET} kept?`,
      reason: 'not_covered',
      confidence: 0.1,
      answer: '',
      webhookState: 'none',
    });
    const { batch } = await new BatchStore(f.store.db).create({
      tenantId: 'team-a',
      keyId: null,
      collectionId: a.collection.id,
      collectionName: 'handbook',
      settings: {},
      questions: [{ question: `Is ${SECRET} the code?` }],
    });
    const aTraceId = await tracedSearchOf(f, aKey.key);
    // A's configs and a running experiment on the alpha-only collection, which B aims at by id and name.
    const configs = CollectionConfigs.for(f.store)!;
    const aOnly = (await f.store.getCollection('alpha-only', 'team-a'))!;
    await configs.set(OPERATOR, aOnly, 'a-config', { retrieval: { topK: 4 } });
    await configs.set(OPERATOR, aOnly, 'a-config', { retrieval: { topK: 5 } });
    await configs.set(OPERATOR, aOnly, 'a-other', { retrieval: { mode: 'bm25' } });
    await configs.startExperiment(OPERATOR, aOnly, 'a-split', [
      { config: 'a-config', percent: 50 },
      { config: 'a-other', percent: 50 },
    ]);
    await f.tenancy.updateSettings(OPERATOR, 'team-a', { requireDeleteApproval: true });
    const request = await f.tenancy.deleteDocument({ ...OPERATOR, tenantId: 'team-a' }, a.collection, a.document.id, true);
    if (request.deleted) throw new Error('expected a pending deletion');
    Object.assign(victim, {
      aCollectionId: a.collection.id,
      aCollectionIdUpper: a.collection.id.toUpperCase(),
      aCollectionName: 'alpha-only',
      aDocumentId: a.document.id,
      aDeletedId: old.id,
      aJobId: job!.id,
      aJobIdUpper: job!.id.toUpperCase(),
      aFailedJobId: failed!.id,
      aKeyId: aKey.record.id,
      aRequestId: request.pending.id,
      aTraceId,
      aHandoffId: handoff.id,
      aHandoffIdUpper: handoff.id.toUpperCase(),
      aBatchId: batch.id,
      aChunkId: aChunk!.id,
    });
    bKey = await f.key('team-b', 'admin');
  });

  afterAll(async () => {
    await f?.close();
  });

  const fill = (text: string) => text.replace(/\{(\w+)\}/g, (_, name: string) => victim[name] ?? `{${name}}`);

  it.each(CROSS_TENANT_ROUTES.map((row) => [`${row.method} ${row.route} → ${row.status ?? 404}`, row] as const))('%s', async (_, row) => {
    for (const template of row.paths) {
      const path = fill(template);
      const body = row.body === undefined ? undefined : JSON.parse(fill(JSON.stringify(row.body)));
      const res = await f.app.request(path, jsonRequest(row.method, body, bKey));
      const text = await res.text();
      expect({ path, status: res.status }).toEqual({ path, status: row.status ?? 404 });
      if (res.status >= 400) {
        const error = JSON.parse(text);
        const shape = row.openaiErrors
          ? {
              message: expect.any(String),
              type: expect.any(String),
              param: expect.anything(),
              code: expect.any(String),
              details: expect.any(Object),
            }
          : { code: expect.any(String), message: expect.any(String), details: expect.any(Object) };
        // Searches and answers also name their trace; it is the caller's own, so it leaks nothing.
        const traced = error.requestId === undefined ? {} : { requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) };
        expect(error).toEqual({ error: shape, ...traced });
      }
      // Nothing of A's beyond what this request itself sent (error messages may echo the input).
      const sent = `${path} ${JSON.stringify(body ?? '')}`.toLowerCase();
      const leaked = [SECRET, ...Object.values(victim)].filter(
        (v) => !sent.includes(v.toLowerCase()) && text.toLowerCase().includes(v.toLowerCase()),
      );
      expect({ path, leaked }).toEqual({ path, leaked: [] });
    }
  });

  it("leaves every one of A's resources as it was", async () => {
    expect((await f.store.listCollections('team-a')).map((c) => c.name)).toEqual(['alpha-only', 'handbook']);
    const configs = CollectionConfigs.for(f.store)!;
    const aOnly = (await f.store.getCollection('alpha-only', 'team-a'))!;
    expect((await configs.history(aOnly, 'a-config')).map((v) => v.version)).toEqual([2, 1]);
    expect(await configs.store.activeName(aOnly.id)).toBe('a-config');
    expect((await configs.experiment(aOnly, 'a-split')).state).toBe('running');
    expect(await f.store.getDocument(victim.aCollectionId!, victim.aDocumentId!)).not.toBeNull();
    expect((await f.queue.get(victim.aJobId!))?.state).toBe('queued');
    const trace = await f.app.request(`/v1/requests/${victim.aTraceId}`, jsonRequest('GET', undefined, await f.key('team-a', 'reader')));
    expect(((await trace.json()) as { feedback: unknown }).feedback ?? null).toBeNull();
    expect((await f.queue.get(victim.aFailedJobId!))?.state).toBe('failed');
    expect((await new HandoffStore(f.store.db).get(victim.aHandoffId!, 'team-a'))?.state).toBe('open');
    expect((await new BatchStore(f.store.db).items(victim.aBatchId!, -1, 10)).map((i) => i.state)).toEqual(['queued']);
    expect((await f.tenancy.store.listKeys('team-a')).every((k) => k.revokedAt === null)).toBe(true);
    expect((await f.tenancy.store.listDeletionRequests('team-a')).map((r) => r.state)).toEqual(['pending']);
    expect((await f.tenancy.deletedCollections('team-a')).map((c) => c.name)).toEqual(['old-a']);
    expect((await f.tenancy.tenant('team-a')).settings.requireDeleteApproval).toBe(true);
    expect((await f.tenancy.store.listTenants()).map((t) => t.id)).toEqual(['default', 'team-a', 'team-b']);
  });

  it('gives each tenant its own "handbook"', async () => {
    const aKey = await f.key('team-a', 'reader');
    const search = async (key: string) => {
      const res = await f.app.request(
        '/v1/collections/handbook/search',
        jsonRequest('POST', { query: 'vault code bicycles basement' }, key),
      );
      expect(res.status).toBe(200);
      return JSON.stringify(await res.json());
    };
    const [asA, asB] = [await search(aKey), await search(bKey)];
    expect(asA).toContain(SECRET);
    expect(asA).not.toContain('bicycles');
    expect(asB).toContain('bicycles');
    expect(asB).not.toContain(SECRET);
  });

  it('covers every registered /v1 route', () => {
    const covered = new Set(CROSS_TENANT_ROUTES.map((row) => `${row.method} ${row.route}`));
    const registered = new Set(
      f.app.routes
        .filter((r) => r.path.startsWith('/v1/') || r.path === '/v1')
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path}`),
    );
    expect([...registered].filter((route) => !covered.has(route))).toEqual([]);
    expect(registered.size).toBeGreaterThan(20);
  });
});
