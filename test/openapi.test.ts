import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { openApiPath } from '../api/openapi/spec.ts';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { openOperations, type Operations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: the spec is walked as plain JSON
type Json = Record<string, any>;

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describeShared('OpenAPI document (every route, real responses validate)', () => {
  let store: SqlStore;
  let operations: Operations;
  let app: Hono;
  let spec: Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });

  /** Checks a real response against the spec's schema for its route, method and status. */
  async function expectConforms(res: Response, method: string, route: string): Promise<Json> {
    const schema = spec.paths[openApiPath(route)]?.[method]?.responses?.[String(res.status)]?.content?.['application/json']?.schema;
    expect(schema, `${method.toUpperCase()} ${route} ${res.status} is in the spec`).toBeDefined();
    const body = (await res.json()) as Json;
    const validate = ajv.compile(schema);
    expect(validate(body) ? [] : validate.errors, `${method.toUpperCase()} ${route} ${res.status}`).toEqual([]);
    return body;
  }

  beforeAll(async () => {
    store = await openPgliteStore();
    const ragline = await Ragline.open(configSchema.parse({ server: { rateLimitPerMinute: 10_000 } }), {
      store,
      embedder: await testEmbedder(),
    });
    operations = openOperations(ragline, AnswerService.fromConfig(ragline));
    app = createApi(ragline, { operations });
    spec = (await (await app.request('/openapi.json')).json()) as Json;
    await ragline.createCollection('kb');
    const text = 'The ledger stores one trace per request. Feedback is stored against the trace and replaces earlier feedback.';
    await ragline.ingest('kb', [{ source: 'ledger.txt', bytes: new TextEncoder().encode(text), mime: 'text/plain' }]);
  });

  afterAll(async () => {
    await operations?.close();
    await store?.close();
  });

  it('describes every route the app registers, and nothing it does not', () => {
    expect(spec.openapi).toBe('3.1.0');
    const registered = new Set(
      app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path.replace(/\/$/, '') || '/')}`),
    );
    const documented = new Set(Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops as Json).map((m) => `${m} ${path}`)));
    expect(
      [...registered].filter((r) => !documented.has(r)),
      'routes missing from /openapi.json',
    ).toEqual([]);
    expect(
      [...documented].filter((d) => !registered.has(d)),
      'documented routes the app does not serve',
    ).toEqual([]);
    expect(registered.size).toBeGreaterThan(15);
    // Request bodies come from the routes' own zod schemas.
    const answerBody = spec.paths['/v1/collections/{id}/answer'].post.requestBody.content['application/json'].schema;
    expect(answerBody.required).toContain('question');
    expect(answerBody.properties.topK).toMatchObject({ type: 'integer', maximum: 50 });
  });

  it('real responses of the main routes validate against the spec', async () => {
    await expectConforms(await app.request('/healthz'), 'get', '/healthz');
    await expectConforms(await app.request('/v1/collections'), 'get', '/v1/collections');
    const created = await expectConforms(await app.request('/v1/collections', post({ name: 'other' })), 'post', '/v1/collections');
    await expectConforms(await app.request(`/v1/collections/${created.id}`), 'get', '/v1/collections/:id');
    await expectConforms(await app.request('/v1/collections/kb/documents'), 'get', '/v1/collections/:id/documents');
    await expectConforms(await app.request('/v1/jobs'), 'get', '/v1/jobs');
    const search = await expectConforms(
      await app.request('/v1/collections/kb/search', post({ query: 'feedback trace' })),
      'post',
      '/v1/collections/:id/search',
    );
    expect(search.hits.length).toBeGreaterThan(0);
    const answer = await expectConforms(
      await app.request('/v1/collections/kb/answer', post({ question: 'What does feedback replace?' })),
      'post',
      '/v1/collections/:id/answer',
    );
    await expectConforms(await app.request(`/v1/requests/${answer.requestId}`), 'get', '/v1/requests/:id');
    await expectConforms(await app.request('/v1/feedback', post({ requestId: answer.requestId, rating: 'up' })), 'post', '/v1/feedback');
    await expectConforms(
      await app.request('/v1/collections/missing/answer', post({ question: 'x?' })),
      'post',
      '/v1/collections/:id/answer',
    );
    await expectConforms(await app.request('/v1/feedback', post({ rating: 'sideways' })), 'post', '/v1/feedback');
    await expectConforms(await app.request(`/v1/collections/${created.id}`, { method: 'DELETE' }), 'delete', '/v1/collections/:id');
  });

  it('a response that breaks the contract is caught (the check can fail)', () => {
    const schema = spec.paths['/v1/collections/{id}/search'].post.responses['200'].content['application/json'].schema;
    const validate = ajv.compile(schema);
    expect(validate({ hits: [], settings: {}, timings: {} })).toBe(false);
  });

  it('serves the API reference page with no external assets', async () => {
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("fetch('/openapi.json')");
    expect(html).not.toMatch(/(src|href)="https?:/);
  });
});
