/**
 * A Ragline API in its own process, for tests of limits shared through Redis. Configured by the
 * environment (loadConfig; DATABASE_URL names a migrated scratch database); prints {"url"} on stdout once listening, and stops on SIGTERM.
 * Callers are told apart by their real API keys (a bearer key's principal always wins over one set before auth).
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApi } from '../../api/app.ts';
import { RequestLimits } from '../../api/limits/request-limits.ts';
import { loadConfig } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';

const config = loadConfig(process.env);
const ragline = await Ragline.open(config);
const limits = RequestLimits.fromConfig(config);
await limits.ready();
const app = createApi(ragline, { limits });
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
