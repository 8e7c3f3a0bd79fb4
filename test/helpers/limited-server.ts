/**
 * A Ragline API in its own process, for tests of limits shared through Redis. Configured by the
 * environment (loadConfig; DATABASE_URL names a migrated scratch database); prints {"url"} on stdout once listening, and stops on SIGTERM.
 * Until the tenants work lands, `X-Test-Tenant` / `X-Test-Key` stand in for the principal auth sets.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createApi } from '../../api/app.ts';
import { RequestLimits } from '../../api/limits/request-limits.ts';
import { loadConfig } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';
import { testPrincipal } from './test-principal.ts';

const config = loadConfig(process.env);
const ragline = await Ragline.open(config);
const limits = RequestLimits.fromConfig(config);
await limits.ready();
const app = new Hono();
app.use('/v1/*', testPrincipal());
app.route('/', createApi(ragline, { limits }));
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${info.port}` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  void limits
    .close()
    .then(() => ragline.close())
    .then(() => process.exit(0));
});
