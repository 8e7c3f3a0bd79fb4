import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { resolveClientAddress, trustedProxies } from '../core/client-address.ts';
import { configSchema, loadConfig } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { Json } from './helpers/http.ts';
import { type PgliteApi, closePgliteApi, openPgliteApi } from './helpers/pglite-api.ts';
import { describeShared } from './helpers/shared.ts';

const KEY = 'proxy-test-bootstrap-key-0123456789';

/** What @hono/node-server hands the app as env: the socket, whose peer address is the direct client. */
const fromPeer = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

function request(app: Hono, path: string, peer: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  return app.request(path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } }, fromPeer(peer));
}

describe('resolveClientAddress', () => {
  const proxies = trustedProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(resolveClientAddress('203.0.113.5', '1.1.1.1', proxies)).toBe('203.0.113.5');
    expect(resolveClientAddress('203.0.113.5', '1.1.1.1', trustedProxies([]))).toBe('203.0.113.5');
    expect(resolveClientAddress('10.1.2.3', '1.1.1.1', trustedProxies([]))).toBe('10.1.2.3');
  });

  it('takes the right-most address that is not a trusted proxy, ignoring what the client wrote to its left', () => {
    expect(resolveClientAddress('10.1.2.3', '198.51.100.9', proxies)).toBe('198.51.100.9');
    // The client sent "6.6.6.6" itself; the edge proxy (192.0.2.7) appended the real one; the inner proxy is the peer.
    expect(resolveClientAddress('10.1.2.3', '6.6.6.6, 198.51.100.9, 192.0.2.7', proxies)).toBe('198.51.100.9');
    expect(resolveClientAddress('::ffff:10.1.2.3', '2001:db8::1', proxies)).toBe('2001:db8::1');
    expect(resolveClientAddress('fd00::1', '[2001:db8::2]:443, 198.51.100.1:5000', proxies)).toBe('198.51.100.1');
    expect(resolveClientAddress('::ffff:203.0.113.5', undefined, proxies)).toBe('203.0.113.5');
  });

  it('stops at a malformed hop and when every hop is trusted', () => {
    expect(resolveClientAddress('10.1.2.3', '198.51.100.9, not-an-ip', proxies)).toBe('10.1.2.3');
    expect(resolveClientAddress('10.1.2.3', '10.9.9.9, 10.8.8.8', proxies)).toBe('10.9.9.9');
    expect(resolveClientAddress('10.1.2.3', `${'1.2.3.4, '.repeat(50_000)}198.51.100.3`, proxies)).toBe('198.51.100.3');
  });

  it('reads RAGLINE_TRUSTED_PROXIES as a comma list and names the variable for a bad entry', () => {
    expect(loadConfig({ RAGLINE_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1' }).server.trustedProxies).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    expect(loadConfig({}).server.trustedProxies).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/2', '::1/129']) {
      expect(() => loadConfig({ RAGLINE_TRUSTED_PROXIES: bad }), bad).toThrow(/RAGLINE_TRUSTED_PROXIES/);
    }
  });
});

describeShared('trusted proxies in the API: rate limits, audit, keyless loopback guard (PGlite + real model)', () => {
  let api: PgliteApi;
  const withProxies = (trusted: string[], extra: Record<string, unknown> = {}) =>
    Ragline.open(
      configSchema.parse({
        server: { rateLimitPerMinute: 100_000, apiKeys: [KEY], trustedProxies: trusted },
        rateLimits: { authFailuresPerWindow: 2 },
        ...extra,
      }),
      { store: api.store, embedder: api.embedder },
    );

  beforeAll(async () => {
    api = await openPgliteApi();
  });
  afterAll(() => closePgliteApi(api));

  it('counts failed authentications per real client behind a trusted proxy, and per peer when the header is spoofed', async () => {
    const direct = createApi(await withProxies([]), { queue: api.queue });
    const bad = { authorization: 'Bearer wrong-key-000000' };
    // No trusted proxy: a new X-Forwarded-For on every try does not buy a fresh budget.
    const spoofed = [];
    for (const fake of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      spoofed.push((await request(direct, '/v1/collections', '203.0.113.50', { ...bad, 'x-forwarded-for': fake })).status);
    }
    expect(spoofed).toEqual([401, 401, 429]);

    const proxied = createApi(await withProxies(['10.0.0.0/8']), { queue: api.queue });
    const via = (client: string) => request(proxied, '/v1/collections', '10.0.0.5', { ...bad, 'x-forwarded-for': client });
    expect([(await via('198.51.100.20')).status, (await via('198.51.100.20')).status, (await via('198.51.100.20')).status]).toEqual([
      401, 401, 429,
    ]);
    // Another client behind the same proxy has its own budget.
    expect((await via('198.51.100.21')).status).toBe(401);
  });

  it('writes the client resolved through the proxy into the audit log, and the peer when the header is not trusted', async () => {
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const proxied = createApi(await withProxies(['10.0.0.0/8']), { queue: api.queue });
    const direct = createApi(await withProxies([]), { queue: api.queue });
    const create = (app: Hono, name: string, peer: string) =>
      request(
        app,
        '/v1/collections',
        peer,
        { ...auth, 'x-forwarded-for': '198.51.100.77' },
        { method: 'POST', body: JSON.stringify({ name }) },
      );
    expect((await create(proxied, 'via-proxy', '10.0.0.5')).status).toBe(201);
    expect((await create(direct, 'spoofed', '203.0.113.60')).status).toBe(201);

    const audit = (await (await request(proxied, '/v1/audit?action=collection.create', '10.0.0.5', auth)).json()) as Json;
    const clientOf = (name: string) => audit.entries.find((e: Json) => e.details?.name === name)?.client;
    expect(clientOf('via-proxy')).toBe('198.51.100.77');
    expect(clientOf('spoofed')).toBe('203.0.113.60');
  });

  it('keeps a keyless server to loopback clients, also when a trusted local proxy forwards an outside client', async () => {
    const stores: SqlStore[] = [];
    const keyless = async (trusted: string[]) => {
      const store = await openPgliteStore(); // a database of its own: no key anywhere, so the server is keyless
      stores.push(store);
      const config = configSchema.parse({ server: { rateLimitPerMinute: 100_000, trustedProxies: trusted } });
      return createApi(await Ragline.open(config, { store, embedder: api.embedder }));
    };
    const behindProxy = await keyless(['127.0.0.1']);
    const outside = await request(behindProxy, '/v1/collections', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' });
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as Json).error).toMatchObject({ code: 'forbidden', details: { client: '203.0.113.9' } });
    expect((await request(behindProxy, '/metrics', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    expect((await request(behindProxy, '/v1/collections', '127.0.0.1', { 'x-forwarded-for': '127.0.0.1' })).status).toBe(200);
    expect((await request(behindProxy, '/v1/collections', '127.0.0.1')).status).toBe(200);

    // Without trusted proxies the header is ignored: the loopback peer is the client.
    const plain = await keyless([]);
    expect((await request(plain, '/v1/collections', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
    expect((await request(plain, '/v1/collections', '::ffff:127.0.0.1')).status).toBe(200);
    expect((await request(plain, '/v1/collections', '203.0.113.9')).status).toBe(403);
    for (const store of stores) await store.close();
  });
});
