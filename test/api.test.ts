import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { startServer } from '../api/server.ts';
import { configSchema, type Config } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import type { Embedder } from '../models/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { PROJECT_ROOT, describeShared } from './helpers/shared.ts';

const API_KEY = 'test-key-0123456789';
const OTHER_KEY = 'other-key-0123456789';

const ZERO_TRUST =
  '# Zero trust\n\nZero trust architecture assumes no implicit trust is granted to assets or user accounts based solely on ' +
  'their physical or network location. Every access request is authenticated and authorized before a session starts.\n';
const PHOTOSYNTHESIS =
  'Photosynthesis converts light energy into chemical energy. Chlorophyll in the chloroplasts absorbs mostly blue and red light, ' +
  'and the plant stores the energy as glucose.';
const TIDES = 'Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.';

/** A fixture from fixtures/ when present, otherwise the same kind of file written to a temp dir. */
function fixtureFile(): { name: string; bytes: Uint8Array } {
  const dir = path.join(PROJECT_ROOT, 'fixtures');
  const existing = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => /\.(md|markdown)$/i.test(f)) : undefined;
  if (existing) return { name: existing, bytes: new Uint8Array(fs.readFileSync(path.join(dir, existing))) };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-api-'));
  const file = path.join(tmp, 'zero-trust.md');
  fs.writeFileSync(file, ZERO_TRUST);
  return { name: 'zero-trust.md', bytes: new Uint8Array(fs.readFileSync(file)) };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

async function expectError(res: Response, status: number, code: string): Promise<Json> {
  const body = (await res.json()) as Json;
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  // Searches and answers also name their trace (requestId); every other route sends the error alone.
  const traced = body.requestId === undefined ? {} : { requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) };
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) }, ...traced });
  expect(body.error.message.length).toBeGreaterThan(5);
  return body.error as Json;
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

function form(files: { name: string; bytes: Uint8Array | string; type?: string }[], fields: Record<string, string> = {}): RequestInit {
  const data = new FormData();
  for (const f of files) data.append('file', new File([f.bytes], f.name, { type: f.type ?? 'application/octet-stream' }));
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  return { method: 'POST', body: data };
}

describeShared('HTTP API (PGlite in memory + real model)', () => {
  let embedder: Embedder;
  let store: SqlStore;
  let ragline: Ragline;
  let queue: JobQueue;
  let worker: JobWorker;
  let app: Hono;

  const baseConfig = (server: Partial<Config['server']> = {}) =>
    configSchema.parse({ server: { rateLimitPerMinute: 10_000, maxUploadBytes: 64 * 1024, ...server } });

  /** Another API over the same database, with other server settings. */
  async function appWith(server: Partial<Config['server']>): Promise<Hono> {
    const other = await Ragline.open(baseConfig(server), { store, embedder });
    return createApi(other, { queue });
  }

  async function waitForJob(id: string): Promise<Json> {
    const [job] = await queue.waitFor([id], 90_000, 50);
    const res = await app.request(`/v1/jobs/${id}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.state).toBe(job!.state);
    return body;
  }

  async function search(collection: string, query: string, extra: Json = {}) {
    const res = await app.request(`/v1/collections/${collection}/search`, json({ query, ...extra }));
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  }

  beforeAll(async () => {
    embedder = await testEmbedder();
    store = await openPgliteStore();
    ragline = await Ragline.open(baseConfig(), { store, embedder });
    queue = JobQueue.forStore(store, { retryDelayMs: () => 0 });
    worker = new JobWorker(queue, pipelineProcessor(ragline), { pollMs: 50, heartbeatMs: 1000 }).start();
    app = createApi(ragline, { queue, worker });
  });

  afterAll(async () => {
    await worker?.stop();
    await store?.close();
  });

  // ---- collections -------------------------------------------------------------------------

  it('creates, lists and shows collections by id and by name', async () => {
    const res = await app.request('/v1/collections', json({ name: 'kb', metadata: { team: 'docs' } }));
    expect(res.status).toBe(201);
    const created = (await res.json()) as Json;
    expect(created).toMatchObject({
      name: 'kb',
      embeddingModel: embedder.modelId,
      dimensions: embedder.dimensions,
      metadata: { team: 'docs' },
    });
    expect(res.headers.get('x-request-id')).toBeTruthy();

    const list = (await (await app.request('/v1/collections')).json()) as Json;
    expect(list.collections.map((c: Json) => c.name)).toContain('kb');

    for (const key of [created.id, 'kb']) {
      const shown = await app.request(`/v1/collections/${key}`);
      expect(shown.status).toBe(200);
      expect(await shown.json()).toMatchObject({ id: created.id, name: 'kb', chunkCount: 0 });
    }
  });

  it('refuses bad collection requests with 4xx JSON errors', async () => {
    await expectError(await app.request('/v1/collections/nope'), 404, 'not_found');
    await expectError(await app.request('/v1/collections/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    await expectError(await app.request('/v1/collections', json({ name: 'kb' })), 409, 'conflict');
    await expectError(await app.request('/v1/collections', json({ name: 'bad name!' })), 400, 'bad_request');
    const wrongType = await expectError(await app.request('/v1/collections', json({ name: 42 })), 400, 'bad_request');
    expect(wrongType.details.issues[0].path).toBe('name');
    const unknown = await expectError(await app.request('/v1/collections', json({ name: 'x1', colour: 'red' })), 400, 'bad_request');
    expect(unknown.message).toContain('colour');
    await expectError(await app.request('/v1/collections', json({ name: 'x1', metadata: [1, 2] })), 400, 'bad_request');
    const malformed = await expectError(await app.request('/v1/collections', json('{"name": "x1"')), 400, 'bad_request');
    expect(malformed.message).toMatch(/malformed JSON/);
    await expectError(await app.request('/v1/collections', json('')), 400, 'bad_request');
    const wrongType415 = await app.request('/v1/collections', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'name=x1',
    });
    expect((await expectError(wrongType415, 415, 'unsupported_media_type')).details.contentType).toBe('text/plain');
    await expectError(await app.request('/v1/collections', { method: 'POST', body: '{"name":"x1"}' }), 415, 'unsupported_media_type');
    await expectError(await app.request('/v1/collections/nope', { method: 'DELETE' }), 404, 'not_found');
    await expectError(await app.request('/v1/nothing-here'), 404, 'not_found');
    const list = (await (await app.request('/v1/collections')).json()) as Json;
    expect(list.collections.map((c: Json) => c.name)).not.toContain('x1');
  });

  // ---- uploads, jobs, search ---------------------------------------------------------------

  it('JSON text upload answers 202 with a job that succeeds; search then finds the text', async () => {
    const res = await app.request(
      '/v1/collections/kb/documents',
      json({ source: 'notes/photosynthesis.txt', text: PHOTOSYNTHESIS, metadata: { topic: 'biology' } }),
    );
    expect(res.status).toBe(202);
    const { jobs } = (await res.json()) as Json;
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ source: 'notes/photosynthesis.txt', state: 'queued', id: expect.any(String) });

    const job = await waitForJob(jobs[0].id);
    expect(job).toMatchObject({
      state: 'succeeded',
      attempts: 1,
      lastError: null,
      result: { status: 'ingested', chunks: expect.any(Number) },
    });
    expect(job.result.chunks).toBeGreaterThan(0);
    expect(job.progress.stage).toBe('done');

    const found = await search('kb', 'how do plants turn light into chemical energy');
    expect(found.hits[0].chunk.source).toBe('notes/photosynthesis.txt');
    expect(found.hits[0].chunk.documentId).toBe(job.result.documentId);
  });

  it('multipart upload of files with metadata; ?wait returns 200 with finished jobs; :id works by id and by name', async () => {
    const fixture = fixtureFile();
    const res = await app.request(
      '/v1/collections/kb/documents?wait=90',
      form([fixture, { name: 'tides.txt', bytes: TIDES, type: 'text/plain' }], { metadata: JSON.stringify({ batch: 7 }) }),
    );
    expect(res.status).toBe(200);
    const { jobs } = (await res.json()) as Json;
    expect(jobs.map((j: Json) => [j.source, j.state])).toEqual([
      [fixture.name, 'succeeded'],
      ['tides.txt', 'succeeded'],
    ]);

    const collection = (await (await app.request('/v1/collections/kb')).json()) as Json;
    const byId = await search(collection.id, 'what causes ocean tides', { filter: { 'metadata.batch': 7 } });
    const byName = await search('kb', 'what causes ocean tides', { filter: { 'metadata.batch': 7 } });
    expect(byId.hits[0].chunk.source).toBe('tides.txt');
    expect(byName.hits.map((h: Json) => h.chunk.id)).toEqual(byId.hits.map((h: Json) => h.chunk.id));
    expect(new Set(byName.hits.map((h: Json) => h.chunk.documentMetadata.batch))).toEqual(new Set([7]));
  });

  it('lists documents with pagination and shows one document', async () => {
    const page1 = (await (await app.request('/v1/collections/kb/documents?limit=2')).json()) as Json;
    expect(page1.documents).toHaveLength(2);
    expect(page1.nextOffset).toBe(2);
    const page2 = (await (await app.request('/v1/collections/kb/documents?limit=2&offset=2')).json()) as Json;
    expect(page2.documents).toHaveLength(1);
    expect(page2.nextOffset).toBeNull();
    const sources = [...page1.documents, ...page2.documents].map((d: Json) => d.source);
    expect(new Set(sources).size).toBe(3);

    const doc = page2.documents[0];
    const shown = await app.request(`/v1/collections/kb/documents/${doc.id}`);
    expect(shown.status).toBe(200);
    expect(await shown.json()).toMatchObject({ id: doc.id, source: doc.source, chunkCount: expect.any(Number) });

    await expectError(await app.request('/v1/collections/kb/documents/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    await expectError(await app.request('/v1/collections/kb/documents/not-a-uuid'), 404, 'not_found');
    await expectError(await app.request('/v1/collections/kb/documents?limit=0'), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/documents?limit=ten'), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/documents?page=2'), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/nope/documents'), 404, 'not_found');
  });

  it('deleting a document removes it from search results', async () => {
    const before = await search('kb', 'what causes ocean tides');
    const tides = before.hits.find((h: Json) => h.chunk.source === 'tides.txt');
    expect(tides).toBeDefined();
    const del = await app.request(`/v1/collections/kb/documents/${tides.chunk.documentId}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const after = await search('kb', 'what causes ocean tides');
    expect(after.hits.length).toBeGreaterThan(0);
    expect(after.hits.map((h: Json) => h.chunk.source)).not.toContain('tides.txt');
    await expectError(await app.request(`/v1/collections/kb/documents/${tides.chunk.documentId}`, { method: 'DELETE' }), 404, 'not_found');
  });

  it('refuses bad uploads before storing anything', async () => {
    const countJobs = async () => (await queue.list({ limit: 1000 })).length;
    const jobsBefore = await countJobs();
    // A GIF: an image type no loader reads (PNG and JPEG go to OCR).
    const gif = new Uint8Array([
      0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c,
    ]);
    const unsupported = await expectError(
      await app.request(
        '/v1/collections/kb/documents',
        form([
          { name: 'ok.txt', bytes: 'fine text' },
          { name: 'photo.gif', bytes: gif },
        ]),
      ),
      415,
      'unsupported_media_type',
    );
    expect(unsupported.details.source).toBe('photo.gif');
    expect(unsupported.message).toMatch(/gif/);
    await expectError(
      await app.request('/v1/collections/kb/documents', form([{ name: 'blank.txt', bytes: '' }])),
      422,
      'unprocessable_document',
    );
    const field = await expectError(
      await app.request('/v1/collections/kb/documents', form([{ name: 'a.txt', bytes: 'text' }], { colour: 'red' })),
      400,
      'bad_request',
    );
    expect(field.details.fields).toEqual(['colour']);
    await expectError(
      await app.request('/v1/collections/kb/documents', form([{ name: 'a.txt', bytes: 'text' }], { metadata: '{oops' })),
      400,
      'bad_request',
    );
    await expectError(
      await app.request('/v1/collections/kb/documents', form([{ name: 'a.txt', bytes: 'text' }], { metadata: '[1]' })),
      400,
      'bad_request',
    );
    await expectError(await app.request('/v1/collections/kb/documents', form([], { metadata: '{}' })), 400, 'bad_request');
    await expectError(
      await app.request(
        '/v1/collections/kb/documents',
        form([
          { name: 'a.txt', bytes: 'one' },
          { name: 'a.txt', bytes: 'two' },
        ]),
      ),
      400,
      'bad_request',
    );
    const garbled = { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=xyz' }, body: 'not multipart at all' };
    expect((await expectError(await app.request('/v1/collections/kb/documents', garbled), 400, 'bad_request')).message).toMatch(
      /multipart/,
    );
    await expectError(await app.request('/v1/collections/kb/documents', json({ source: 'a.txt', text: '   ' })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/documents', json({ source: 'a.txt', text: 5 })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/documents', json({ text: 'no source' })), 400, 'bad_request');
    await expectError(
      await app.request('/v1/collections/kb/documents', json({ source: 'a.txt', text: 'x', extra: 1 })),
      400,
      'bad_request',
    );
    await expectError(await app.request('/v1/collections/kb/documents', json('{"source":')), 400, 'bad_request');
    await expectError(
      await app.request('/v1/collections/kb/documents', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' }),
      415,
      'unsupported_media_type',
    );
    await expectError(await app.request('/v1/collections/kb/documents?wait=abc', json({ source: 'a.txt', text: 'x' })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/documents?wait=500', json({ source: 'a.txt', text: 'x' })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/nope/documents', json({ source: 'a.txt', text: 'x' })), 404, 'not_found');
    expect(await countJobs()).toBe(jobsBefore);
  });

  it('a corrupt document ends failed with the reason; retry re-queues it; other retries are refused', async () => {
    const res = await app.request(
      '/v1/collections/kb/documents?wait=60',
      form([{ name: 'broken.pdf', bytes: '%PDF-1.7\n%\xe2\xe3\n1 0 obj garbage', type: 'application/pdf' }]),
    );
    expect(res.status).toBe(200);
    const { jobs } = (await res.json()) as Json;
    const failed = await waitForJob(jobs[0].id);
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, lastError: { code: 'unprocessable_document' }, result: null });
    expect(failed.lastError.message).toContain('broken.pdf');

    const retried = await app.request(`/v1/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ id: failed.id, state: 'queued', attempts: 0 });
    expect(await waitForJob(failed.id)).toMatchObject({ state: 'failed', attempts: 1 });

    const succeeded = (await queue.list({ state: 'succeeded', limit: 1 }))[0]!;
    const conflict = await expectError(await app.request(`/v1/jobs/${succeeded.id}/retry`, { method: 'POST' }), 409, 'conflict');
    expect(conflict.details.state).toBe('succeeded');
    await expectError(await app.request('/v1/jobs/00000000-0000-4000-8000-000000000000/retry', { method: 'POST' }), 404, 'not_found');
  });

  it('shows and lists jobs; unknown jobs are 404', async () => {
    const list = (await (await app.request('/v1/jobs?state=succeeded&collection=kb')).json()) as Json;
    expect(list.jobs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(list.jobs.map((j: Json) => j.state))).toEqual(new Set(['succeeded']));
    await expectError(await app.request('/v1/jobs?state=done'), 400, 'bad_request');
    await expectError(await app.request('/v1/jobs?collection=nope'), 404, 'not_found');
    await expectError(await app.request('/v1/jobs/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    await expectError(await app.request('/v1/jobs/not-a-job'), 404, 'not_found');
  });

  it('refuses bad search requests with 400s naming the problem', async () => {
    const empty = await expectError(await app.request('/v1/collections/kb/search', json({ query: '   ' })), 400, 'bad_request');
    expect(empty.message).toContain('query');
    const wrongType = await expectError(
      await app.request('/v1/collections/kb/search', json({ query: 'tides', topK: '5' })),
      400,
      'bad_request',
    );
    expect(wrongType.details.issues[0].path).toBe('topK');
    await expectError(await app.request('/v1/collections/kb/search', json({ query: 'tides', topK: 0 })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/search', json({ query: 'tides', mode: 'fuzzy' })), 400, 'bad_request');
    const unknown = await expectError(
      await app.request('/v1/collections/kb/search', json({ query: 'tides', limit: 3 })),
      400,
      'bad_request',
    );
    expect(unknown.message).toContain('limit');
    const badField = await expectError(
      await app.request('/v1/collections/kb/search', json({ query: 'tides', filter: { colour: 'red' } })),
      400,
      'bad_request',
    );
    expect(badField.message).toContain('colour');
    await expectError(
      await app.request('/v1/collections/kb/search', json({ query: 'tides', filter: { page: { near: 3 } } })),
      400,
      'bad_request',
    );
    await expectError(await app.request('/v1/collections/kb/search', json({ query: 'tides', filter: 'page=3' })), 400, 'bad_request');
    await expectError(await app.request('/v1/collections/kb/search', json('{"query": tides}')), 400, 'bad_request');
    await expectError(
      await app.request('/v1/collections/kb/search', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'query=tides',
      }),
      415,
      'unsupported_media_type',
    );
    await expectError(await app.request('/v1/collections/nope/search', json({ query: 'tides' })), 404, 'not_found');
  });

  // ---- limits, auth, ops -------------------------------------------------------------------

  it('rejects bodies over server.maxUploadBytes with 413', async () => {
    const small = await appWith({ maxUploadBytes: 1000 });
    const big = 'x'.repeat(5000);
    const jsonRes = await small.request('/v1/collections/kb/documents', json({ source: 'big.txt', text: big }));
    expect((await expectError(jsonRes, 413, 'payload_too_large')).details.maxBytes).toBe(1000);
    await expectError(
      await small.request('/v1/collections/kb/documents', form([{ name: 'big.txt', bytes: big }])),
      413,
      'payload_too_large',
    );
    const declared = await small.request('/v1/collections/kb/search', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': '5000' },
      body: JSON.stringify({ query: big.slice(0, 4980) }),
    });
    await expectError(declared, 413, 'payload_too_large');
  });

  it('requires a bearer API key on /v1 when keys are configured', async () => {
    const secured = await appWith({ apiKeys: [API_KEY, OTHER_KEY] });
    const missing = await secured.request('/v1/collections');
    expect((await expectError(missing, 401, 'unauthorized')).message).toContain('Bearer');
    expect(missing.headers.get('www-authenticate')).toBeTruthy();
    await expectError(
      await secured.request('/v1/collections', { headers: { Authorization: 'Bearer wrong-key-000000' } }),
      401,
      'unauthorized',
    );
    await expectError(await secured.request('/v1/collections', { headers: { Authorization: `Basic ${API_KEY}` } }), 401, 'unauthorized');
    const ok = await secured.request('/v1/collections', { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).collections.length).toBeGreaterThan(0);
    expect((await secured.request('/healthz')).status).toBe(200);
    // Auth off: the main app answers without a header.
    expect((await app.request('/v1/collections')).status).toBe(200);
  });

  it('rate-limits per API key with 429 JSON and Retry-After', async () => {
    const limited = await appWith({ apiKeys: [API_KEY, OTHER_KEY], rateLimitPerMinute: 3 });
    const as = (key: string) => ({ headers: { Authorization: `Bearer ${key}` } });
    for (let i = 0; i < 3; i++) expect((await limited.request('/v1/collections', as(API_KEY))).status).toBe(200);
    const refused = await limited.request('/v1/collections', as(API_KEY));
    const error = await expectError(refused, 429, 'rate_limited');
    expect(error.details.limit).toBe(3);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.request('/v1/collections', as(OTHER_KEY))).status).toBe(200);
  });

  it('rate-limits anonymous callers per client address', async () => {
    const limited = await appWith({ rateLimitPerMinute: 2 });
    // Loopback addresses: a keyless server answers no one else (the loopback guard).
    const from = (ip: string) => ({ incoming: { socket: { remoteAddress: ip } } });
    expect((await limited.request('/v1/collections', {}, from('127.0.0.11'))).status).toBe(200);
    expect((await limited.request('/v1/collections', {}, from('127.0.0.11'))).status).toBe(200);
    await expectError(await limited.request('/v1/collections', {}, from('127.0.0.11')), 429, 'rate_limited');
    expect((await limited.request('/v1/collections', {}, from('127.0.0.12'))).status).toBe(200);
  });

  it('reports health and Prometheus metrics by route, status and job state', async () => {
    const health = await app.request('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      checks: { database: { ok: true, kind: 'pglite' }, model: { ok: true, id: embedder.modelId, dimensions: embedder.dimensions } },
    });

    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/ragline_http_requests_total\{method="POST",route="\/v1\/collections\/:id\/search",status="200"\} [1-9]/);
    expect(metrics).toMatch(/ragline_http_requests_total\{method="POST",route="\/v1\/collections\/:id\/search",status="400"\} [1-9]/);
    expect(metrics).toMatch(/ragline_http_request_duration_seconds_count\{method="GET",route="\/v1\/jobs\/:id",status="200"\} [1-9]/);
    expect(metrics).toMatch(/ragline_ingest_jobs\{state="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/ragline_ingest_jobs\{state="failed"\} 1\b/);
  });

  it('startServer serves HTTP with an in-process worker and finishes in-flight requests on close', async () => {
    // Its own database, and the shared model kept open when this Ragline closes.
    const keepOpen = Object.create(embedder, { close: { value: async () => {} } }) as Embedder;
    const own = await Ragline.open(baseConfig(), { store: await openPgliteStore(), embedder: keepOpen });
    await own.createCollection('live');
    const running = await startServer(own, { host: '127.0.0.1', port: 0, inProcessWorker: true });
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);

    const upload = fetch(`${running.url}/v1/collections/live/documents?wait=90`, json({ source: 'tides.txt', text: TIDES }));
    const ownQueue = JobQueue.forStore(own.store);
    while (!(await ownQueue.list()).length) await new Promise((r) => setTimeout(r, 20));
    const closed = running.close(); // while the upload is still waiting for its job

    const res = await upload;
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).jobs[0]).toMatchObject({ state: 'succeeded', result: { status: 'ingested' } });
    await closed;
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
    await expect(own.store.listCollections()).rejects.toThrow();
  });

  it('deleting a collection hides it with its documents and jobs (soft delete; purged later, see tenancy tests)', async () => {
    const del = await app.request('/v1/collections/kb', { method: 'DELETE' });
    expect(del.status).toBe(200);
    await expectError(await app.request('/v1/collections/kb'), 404, 'not_found');
    await expectError(await app.request('/v1/collections/kb/search', json({ query: 'tides' })), 404, 'not_found');
    expect(await queue.list({ limit: 10, tenantId: 'default' })).toEqual([]);
    expect(((await (await app.request('/v1/jobs')).json()) as Json).jobs).toEqual([]);
  });
});
