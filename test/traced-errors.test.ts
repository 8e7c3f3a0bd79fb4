import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { openOperations, type Operations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

const send = (body: string, contentType = 'application/json'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': contentType },
  body,
});

describeShared('refused and failed searches and answers are traced, and their errors name the trace (PGlite)', () => {
  let store: SqlStore;
  let operations: Operations;
  let app: Hono;

  beforeAll(async () => {
    store = await openPgliteStore();
    const ragline = await Ragline.open(configSchema.parse({ operations: { ledgerFlushMs: 60_000 } }), {
      store,
      embedder: await testEmbedder(),
    });
    operations = openOperations(ragline, AnswerService.fromConfig(ragline));
    app = createApi(ragline, { operations });
    await ragline.createCollection('guide');
  });

  afterAll(async () => {
    await operations?.close();
    await store?.close();
  });

  /** The error response and the trace its requestId names, read back through the API. */
  const refused = async (path: string, init: RequestInit, status: number) => {
    const res = await app.request(path, init);
    expect(res.status).toBe(status);
    const error = (await res.json()) as Json;
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const traced = await app.request(`/v1/requests/${error.requestId}`);
    expect(traced.status).toBe(200);
    return { error, trace: (await traced.json()) as Json };
  };

  it('an invalid search body is a 400 traced as error:bad_request, with the issue and the query', async () => {
    const { error, trace } = await refused(
      '/v1/collections/guide/search',
      send(JSON.stringify({ query: 'fusion weights', topK: 'lots' })),
      400,
    );
    expect(error.error.code).toBe('bad_request');
    expect(error.error.message).toContain('topK');
    expect(trace).toMatchObject({ id: error.requestId, kind: 'search', outcome: 'error:bad_request', question: 'fusion weights' });
    expect(trace.settings.collection).toBe('guide');
    expect(trace.settings.issues[0].path).toBe('topK');
  });

  it('a malformed answer body is traced too', async () => {
    const { trace } = await refused('/v1/collections/guide/answer', send('{"question": "unterminated'), 400);
    expect(trace).toMatchObject({ kind: 'answer', outcome: 'error:bad_request', question: '' });
    expect(trace.settings.issues[0].message).toContain('malformed JSON');
  });

  it('records at most a bounded part of a huge invalid body', async () => {
    const question = 'why? '.repeat(200_000); // 1 MB, far over the 8,000-character limit
    const extra = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`field${i}`, 'x'.repeat(1000)]));
    const { trace } = await refused('/v1/collections/guide/answer', send(JSON.stringify({ question, ...extra, topK: -1 })), 400);
    expect(trace.outcome).toBe('error:bad_request');
    expect(trace.question.length).toBeLessThanOrEqual(2_000);
    expect(question.startsWith(trace.question)).toBe(true);
    await operations.ledger.flush();
    const { rows } = await operations.ledger.store.query<{ bytes: number }>(
      'SELECT length(question) + length(settings::text) + length(retrieved::text) AS bytes FROM request_traces WHERE id = $1',
      [trace.id],
    );
    expect(Number(rows[0]!.bytes)).toBeLessThan(10_000);
  });

  it('an unknown collection is a 404 traced as error:not_found, for JSON and for streamed answers', async () => {
    const search = await refused('/v1/collections/nope/search', send(JSON.stringify({ query: 'anything' })), 404);
    expect(search.trace).toMatchObject({ kind: 'search', outcome: 'error:not_found', collectionId: null, question: 'anything' });

    const streamed = await refused('/v1/collections/nope/answer', send(JSON.stringify({ question: 'what?', stream: true })), 404);
    expect(streamed.error.error.code).toBe('not_found');
    expect(streamed.trace).toMatchObject({ kind: 'answer', outcome: 'error:not_found', question: 'what?' });
  });

  it('a wrong content type is refused (415) and traced with its code', async () => {
    const { trace } = await refused('/v1/collections/guide/search', send('query=x', 'application/x-www-form-urlencoded'), 415);
    expect(trace.outcome).toBe('error:unsupported_media_type');
  });
});
