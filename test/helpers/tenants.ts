import type { Hono } from 'hono';
import { createApi } from '../../api/app.ts';
import { configSchema, type Config } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';
import { Tenancy, type Actor } from '../../facade/tenancy.ts';
import { JobQueue } from '../../ingest/jobs/queue.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import type { SqlStore } from '../../store/sql-store.ts';
import type { KeyRole } from '../../store/tenancy.ts';
import { testEmbedder } from '../../testkit/embedder.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
export type Json = Record<string, any>;

export const BOOTSTRAP_KEY = 'bootstrap-key-0123456789';
export const METRICS_TOKEN = 'metrics-token-0123456789';
export const OPERATOR: Actor = { keyId: 'test:setup', tenantId: 'default', client: 'test' };

export interface TenancyFixture {
  store: SqlStore;
  ragline: Ragline;
  tenancy: Tenancy;
  queue: JobQueue;
  app: Hono;
  /** Issues a key of `role` in `tenant` and returns the secret. */
  key(tenant: string, role: KeyRole, collections?: string[]): Promise<string>;
  close(): Promise<void>;
}

/** An API over PGlite in memory and the real model, with a bootstrap key and a metrics token. */
export async function tenancyFixture(overrides: Partial<Config['tenancy']> = {}): Promise<TenancyFixture> {
  const embedder = await testEmbedder();
  const store = await openPgliteStore();
  const config = configSchema.parse({
    server: { apiKeys: [BOOTSTRAP_KEY], rateLimitPerMinute: 100_000 },
    tenancy: { metricsToken: METRICS_TOKEN, ...overrides },
    answer: { generator: 'extractive' },
  });
  const ragline = await Ragline.open(config, { store, embedder });
  const tenancy = Tenancy.for(ragline);
  const queue = JobQueue.forStore(store);
  const app = createApi(ragline, { queue });
  return {
    store,
    ragline,
    tenancy,
    queue,
    app,
    key: async (tenant, role, collections) =>
      (await tenancy.createKey(OPERATOR, { tenantId: tenant, role, collections: collections ?? null })).key,
    close: () => store.close(),
  };
}

/** A collection of `tenant` holding one document of `text`, ingested directly (no worker). */
export async function seedCollection(f: TenancyFixture, tenant: string, name: string, source: string, text: string) {
  const collection = await f.ragline.createCollection(name, {}, tenant);
  const [outcome] = await f.ragline.ingest(collection, [{ source, bytes: new TextEncoder().encode(text), mime: 'text/plain' }]);
  if (!outcome || outcome.status === 'failed') throw new Error(`seeding ${tenant}/${name} failed`);
  return { collection, document: outcome.document };
}

export const bearer = (key: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string> | undefined), Authorization: `Bearer ${key}` },
});

export function jsonRequest(method: string, body: unknown | undefined, key: string): RequestInit {
  return bearer(key, {
    method,
    ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
  });
}
