import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtractiveGenerator } from '../answer/generators/extractive.ts';
import { AnswerService } from '../answer/service.ts';
import { createApi } from '../api/app.ts';
import { RequestLimits } from '../api/limits/request-limits.ts';
import { type Config, configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { type Actor, Tenancy } from '../facade/tenancy.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { openStore } from '../store/index.ts';
import { TenancyStore } from '../store/tenancy.ts';
import { type TempDatabase, createScratchDatabase } from './helpers/postgres.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { FakeOpenAI, respond } from './contract/fake-openai.ts';
import { PROJECT_ROOT, describeShared } from './helpers/shared.ts';
import { fakeChatGenerator } from './helpers/fake-llm.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const SETUP: Actor = { keyId: 'test:setup', tenantId: 'default', client: 'test' };
/** Every Redis key this file writes starts with this, and is deleted at the end. */
const RUN_PREFIX = `ragline-test:${randomUUID()}`;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

/** Real API keys, one per caller name, each in its tenant; returns the secrets by caller name. */
async function issueKeys(ragline: Ragline, callers: Record<string, string>): Promise<Record<string, string>> {
  const tenancy = Tenancy.for(ragline);
  for (const tenantId of new Set(Object.values(callers))) await tenancy.createTenant(SETUP, tenantId);
  const secrets: Record<string, string> = {};
  for (const [name, tenantId] of Object.entries(callers))
    secrets[name] = (await tenancy.createKey(SETUP, { tenantId, role: 'writer', label: name })).key;
  return secrets;
}

function config(limits: Partial<Config['rateLimits']>, server: Partial<Config['server']> = {}) {
  return configSchema.parse({
    server: { rateLimitPerMinute: 1_000, ...server },
    rateLimits: { redisPrefix: `${RUN_PREFIX}:${randomUUID()}`, ...limits },
  });
}

async function expect429(res: Response, scope: string, unit: string): Promise<Json> {
  expect(res.status).toBe(429);
  const body = (await res.json()) as Json;
  expect(body.error).toMatchObject({ code: 'rate_limited', details: { scope, unit, limit: expect.any(Number) } });
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
  return body.error as Json;
}

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

describe('request limits per key, per tenant and global (in process)', () => {
  let ragline: Ragline;
  /** A server with no key at all, so its callers are anonymous. */
  let open: Ragline;
  let secrets: Record<string, string>;
  beforeAll(async () => {
    ragline = await Ragline.open(configSchema.parse({}), { store: await openPgliteStore() });
    open = await Ragline.open(configSchema.parse({}), { store: await openPgliteStore() });
    secrets = await issueKeys(ragline, { a1: 'a', a2: 'a', b1: 'b', b2: 'b', h1: 'h' });
  });
  afterAll(async () => {
    await ragline?.close();
    await open?.close();
  });

  const appWith = (cfg: Config, on = ragline) =>
    createApi(Object.assign(Object.create(on), { config: cfg }) as Ragline, { limits: RequestLimits.fromConfig(cfg) });
  const as = (caller: string) => ({ headers: { Authorization: `Bearer ${secrets[caller]}` } });

  it('refuses a key over its limit, a tenant over its limit and the server over its limit, each naming its scope', async () => {
    const app = appWith(config({ tenantRequestsPerMinute: 5, globalRequestsPerMinute: 8 }, { rateLimitPerMinute: 3 }));
    const get = (caller: string) => app.request('/v1/collections', as(caller));

    for (let i = 0; i < 3; i++) expect((await get('a1')).status).toBe(200);
    const keyRefusal = await expect429(await get('a1'), 'key', 'requests');
    expect(keyRefusal.details.limit).toBe(3);

    // a1's refused request did not count against tenant A: a2 still gets the tenant's last two.
    expect((await get('a2')).status).toBe(200);
    expect((await get('a2')).status).toBe(200);
    expect((await expect429(await get('a2'), 'tenant', 'requests')).details.limit).toBe(5);

    // Another tenant is unaffected, until the server as a whole has served 8.
    for (let i = 0; i < 3; i++) expect((await get('b1')).status).toBe(200);
    expect((await expect429(await get('b2'), 'global', 'requests')).details.limit).toBe(8);
  });

  it('sends RateLimit-Limit, -Remaining and -Reset for the counter closest to its limit', async () => {
    const app = appWith(config({ tenantRequestsPerMinute: 100, globalRequestsPerMinute: 1_000 }, { rateLimitPerMinute: 4 }));
    const res = await app.request('/v1/collections', as('h1'));
    expect(res.status).toBe(200);
    expect([res.headers.get('ratelimit-limit'), res.headers.get('ratelimit-remaining')]).toEqual(['4', '3']);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);
  });

  it('counts anonymous callers (no principal) by API key or else by address', async () => {
    // Keyless callers from other hosts exist only on a server run with RAGLINE_ALLOW_OPEN=1.
    const app = appWith(
      { ...config({}, { rateLimitPerMinute: 2 }), tenancy: { ...configSchema.parse({}).tenancy, allowOpen: true } },
      open,
    );
    const from = (ip: string) => ({ incoming: { socket: { remoteAddress: ip } } });
    expect((await app.request('/v1/collections', {}, from('10.0.0.1'))).status).toBe(200);
    expect((await app.request('/v1/collections', {}, from('10.0.0.1'))).status).toBe(200);
    await expect429(await app.request('/v1/collections', {}, from('10.0.0.1')), 'key', 'requests');
    expect((await app.request('/v1/collections', {}, from('10.0.0.2'))).status).toBe(200);
  });

  it('limits failed authentication per client address, before auth, without counting successes', async () => {
    const KEY = 'right-key-0123456789';
    const cfg = config({ authFailuresPerWindow: 3, authFailureWindowSeconds: 600 }, { apiKeys: [KEY] });
    const app = createApi(Object.assign(Object.create(ragline), { config: cfg }) as Ragline, { limits: RequestLimits.fromConfig(cfg) });
    const from = (ip: string) => ({ incoming: { socket: { remoteAddress: ip } } });
    const bearer = (key: string) => ({ headers: { Authorization: `Bearer ${key}` } });

    for (let i = 0; i < 5; i++) expect((await app.request('/v1/collections', bearer(KEY), from('10.1.0.3'))).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expect((await app.request('/v1/collections', bearer('wrong-key-000000'), from('10.1.0.3'))).status).toBe(401);
    expect((await app.request('/v1/collections', bearer(KEY), from('10.1.0.3'))).status).toBe(200);

    for (let i = 0; i < 3; i++)
      expect((await app.request('/v1/collections', bearer('wrong-key-000000'), from('10.1.0.1'))).status).toBe(401);
    const refused = await expect429(
      await app.request('/v1/collections', bearer(KEY), from('10.1.0.1')),
      'address',
      'failed authentications',
    );
    expect(refused.details.limit).toBe(3);
    expect((await app.request('/v1/collections', {}, from('10.1.0.1'))).status).toBe(429);
    expect((await app.request('/v1/collections', bearer(KEY), from('10.1.0.2'))).status).toBe(200);
  });
});

describeShared('LLM token budget on /answer (real model, real SDK against a fake LLM)', () => {
  const fake = new FakeOpenAI();
  let ragline: Ragline;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    await fake.start();
    ragline = await Ragline.open(configSchema.parse({}), { store: await openPgliteStore(), embedder: await testEmbedder() });
    // Callers of tenant t and u each ask about their own tenant's "ops" (another tenant's would be a 404).
    const text = 'Backups\n\nTo back up the embedded database, stop Ragline and copy the whole data directory to the backup server.';
    secrets = await issueKeys(ragline, { k1: 't', k2: 't', k3: 'u' });
    for (const tenantId of ['t', 'u']) {
      const ops = await ragline.createCollection('ops', {}, tenantId);
      await ragline.ingest(ops, [{ source: 'backups.md', bytes: Buffer.from(text) }]);
    }
  });
  afterAll(async () => {
    await fake.stop();
    await ragline?.close();
  });

  it('charges prompt + completion tokens per key and per tenant, and refuses new answers once a budget is spent', async () => {
    // The fake reports 321 prompt + 12 completion tokens per answer.
    // The same question is asked again and again: with the answer cache on, repeats would cost no tokens.
    const base = config({ keyTokensPerMinute: 500, tenantTokensPerMinute: 700 });
    const cfg = { ...base, redisUrl: REDIS_URL, operations: { ...base.operations, answerCacheSize: 0 } };
    const limits = RequestLimits.fromConfig(cfg);
    await limits.ready();
    const generator = fakeChatGenerator(fake.baseURL);
    const answers = new AnswerService(ragline, { generator, fallback: new ExtractiveGenerator(() => ragline.embedder()) });
    const app = createApi(Object.assign(Object.create(ragline), { config: cfg }) as Ragline, { limits, answers });
    /** `refused`: the budget should stop it before the LLM, so no reply is queued for it. */
    const ask = (caller: string, stream: boolean | 'refused' = false) => {
      if (stream !== 'refused')
        fake.enqueue(
          '/v1/chat/completions',
          stream
            ? respond.chatStreamWith(() => ['Copy the ', 'data directory [1].'])
            : respond.chatWith(() => 'Copy the data directory [1].'),
        );
      return app.request('/v1/collections/ops/answer', {
        method: 'POST',
        headers: { Authorization: `Bearer ${secrets[caller]}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ question: 'How do I back up the embedded database?', stream }),
      });
    };

    try {
      const first = await ask('k1');
      expect(first.status).toBe(200);
      expect(((await first.json()) as Json).usage).toMatchObject({ promptTokens: 321, completionTokens: 12 });
      expect((await ask('k1')).status).toBe(200); // 333 of 500 spent: still under budget
      await expect429(await ask('k1', 'refused'), 'key', 'tokens'); // 666 spent

      // k2 shares tenant t's 700: 666 are spent, so one more answer, streamed, is let through and charged.
      const streamed = await ask('k2', true);
      expect(streamed.status).toBe(200);
      const events = await streamed.text();
      expect(events).toContain('event: done');
      expect(events).toContain('"promptTokens":222');
      expect((await expect429(await ask('k2', 'refused'), 'tenant', 'tokens')).details.limit).toBe(700);

      expect((await ask('k3')).status).toBe(200);
      // Four answers reached the LLM; the two refused ones did not.
      expect(fake.to('/v1/chat/completions')).toHaveLength(4);
    } finally {
      await limits.close();
    }
  });
});

describe('two server processes sharing limits through Redis', () => {
  const children: ChildProcess[] = [];
  let database: TempDatabase;
  /** Real API keys issued in the server database: k1 and k2 of tenant "t", k3 of tenant "v". */
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    // A server database (cheap to open from two processes), migrated here once.
    database = await createScratchDatabase('limits');
    const store = await openStore(configSchema.parse({ databaseUrl: database.url }));
    try {
      // A bearer key decides who the caller is (X-Test-* headers cannot override it), so each caller gets its own key.
      const tenancy = TenancyStore.forStore(store);
      for (const tenantId of ['t', 'v']) await tenancy.createTenant(tenantId, tenantId);
      for (const [name, tenantId] of [
        ['k1', 't'],
        ['k2', 't'],
        ['k3', 'v'],
      ] as const)
        secrets[name] = (await tenancy.createKey({ tenantId, role: 'reader', label: name })).key;
    } finally {
      await store.close();
    }
  });

  function startServer(env: Record<string, string>): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/limited-server.ts'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, RAGLINE_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{"url"'));
        if (line) resolve((JSON.parse(line) as { url: string }).url);
      });
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    });
  }

  afterAll(async () => {
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve).kill('SIGTERM')) : Promise.resolve())),
    );
    await database?.drop();
  });

  it('counts requests and failed authentications across both processes', { timeout: 120_000 }, async () => {
    const KEY = 'shared-key-0123456789';
    const env = {
      REDIS_URL,
      DATABASE_URL: database.url,
      RAGLINE_RATE_LIMIT_PREFIX: `${RUN_PREFIX}:two-processes`,
      RAGLINE_API_KEYS: KEY,
      RAGLINE_RATE_LIMIT_PER_MINUTE: '4',
      RAGLINE_RATE_LIMIT_TENANT_PER_MINUTE: '6',
      RAGLINE_AUTH_FAILURES_PER_WINDOW: '2',
    };
    const [a, b] = await Promise.all([startServer(env), startServer(env)]);
    expect(a).not.toBe(b);
    const call = (url: string, key: string, token = secrets[key]!) =>
      fetch(`${url}/v1/collections`, { headers: { Authorization: `Bearer ${token}` } });

    // k1 alternates between the servers: four in all, not four each.
    const statuses = [];
    for (const url of [a, b, a, b]) statuses.push((await call(url, 'k1')).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    await expect429(await call(a, 'k1'), 'key', 'requests');
    await expect429(await call(b, 'k1'), 'key', 'requests');

    // Tenant t has 6: k1 used 4, so k2 gets two, one on each server.
    expect((await call(b, 'k2')).status).toBe(200);
    expect((await call(a, 'k2')).status).toBe(200);
    await expect429(await call(b, 'k2'), 'tenant', 'requests');

    // One failed authentication on each server exhausts this address's two, even for a valid key.
    expect((await call(a, 'k3', 'wrong-key-000000')).status).toBe(401);
    expect((await call(b, 'k3', 'wrong-key-000000')).status).toBe(401);
    await expect429(await call(a, 'k3'), 'address', 'failed authentications');
    await expect429(await call(b, 'k3'), 'address', 'failed authentications');
  });
});
