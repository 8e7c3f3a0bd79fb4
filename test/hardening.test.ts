import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Ragline } from '../facade/ragline.ts';
import type { JobQueue } from '../ingest/jobs/queue.ts';
import { type Json, expectErrorBody, postForm, postJson } from './helpers/http.ts';
import { type PgliteApi, closePgliteApi, openPgliteApi } from './helpers/pglite-api.ts';
import { describeShared } from './helpers/shared.ts';

/** Nested `depth` levels deep: {"a":{"a":...{}}}, built as text so no recursion is needed. */
const deeplyNested = (depth: number) => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

describeShared('hostile input at the HTTP boundary (PGlite in memory + real model)', () => {
  let ragline: Ragline;
  let queue: JobQueue;
  let app: Hono;
  let api: PgliteApi;

  const search = (filter: unknown) => app.request('/v1/collections/kb/search', postJson({ query: 'tides and the moon', filter }));
  const upload = (body: Json) =>
    app.request('/v1/collections/kb/documents', postJson({ source: 'a.txt', text: 'Tides follow the moon.', ...body }));

  beforeAll(async () => {
    api = await openPgliteApi({ limits: { maxFilesPerRequest: 3 } });
    ({ ragline, queue, app } = api);
    await ragline.createCollection('kb');
    const res = await app.request(
      '/v1/collections/kb/documents?wait=60',
      postJson({ source: 'tides.txt', text: 'Ocean tides are caused by the moon and the sun.', metadata: { page: 3, team: 'ops' } }),
    );
    expect(res.status).toBe(200);
  });

  afterAll(() => closePgliteApi(api));

  it('refuses page bounds that are not whole int4 numbers with 400 (was 500)', async () => {
    for (const filter of [{ page: { gt: 2.5 } }, { page: { lt: 1e308 } }, { page: 1e308 }, { page: { in: [1, 'x'] } }]) {
      const error = await expectErrorBody(await search(filter), 400, 'bad_request');
      expect(error.message).toMatch(/page/);
    }
    // Real page bounds and numeric metadata bounds (numeric in SQL) still work.
    expect((await search({ page: { gte: 0 } })).status).toBe(200);
    const big = (await (await search({ 'metadata.page': { lt: 1e308 } })).json()) as Json;
    expect(big.hits.map((h: Json) => h.chunk.source)).toEqual(['tides.txt']);
  });

  it('refuses a filter with 40,000 fields with 400 naming the limit (was 500)', async () => {
    const filter = Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`metadata.k${i}`, i]));
    const error = await expectErrorBody(await search(filter), 400, 'bad_request');
    expect(error.message).toMatch(/at most 64 fields/);
  });

  it('refuses NUL characters in filter values, source and metadata with 400 (was 500)', async () => {
    await expectErrorBody(await search({ source: 'tides\u0000.txt' }), 400, 'bad_request');
    await expectErrorBody(await search({ 'metadata.team': { prefix: 'o\u0000' } }), 400, 'bad_request');
    const source = await expectErrorBody(await upload({ source: 'a\u0000.txt' }), 400, 'bad_request');
    expect(source.message).toMatch(/source.*NUL/);
    const value = await expectErrorBody(await upload({ metadata: { note: 'x\u0000y' } }), 400, 'bad_request');
    expect(value.details.field).toBe('metadata.note');
    await expectErrorBody(await upload({ metadata: { 'k\u0000': 1 } }), 400, 'bad_request');
    const multipart = await app.request('/v1/collections/kb/documents', postForm([{ name: 'b\u0000.txt', bytes: 'Some text.' }]));
    await expectErrorBody(multipart, 400, 'bad_request');
    expect(await queue.list()).toHaveLength(1); // nothing of the refused uploads was queued
  });

  it('refuses metadata nested 5,000 deep and metadata over the size limit with 400 naming the limit', async () => {
    const deep = await app.request(
      '/v1/collections/kb/documents',
      postJson(`{"source":"deep.txt","text":"Deep metadata.","metadata":${deeplyNested(5000)}}`),
    );
    const depth = await expectErrorBody(deep, 400, 'bad_request');
    expect(depth.details).toMatchObject({ limit: 'maxMetadataDepth', max: 8 });
    const form = await app.request(
      '/v1/collections/kb/documents',
      postForm([{ name: 'deep.txt', bytes: 'Deep metadata.' }], { metadata: deeplyNested(5000) }),
    );
    expect((await expectErrorBody(form, 400, 'bad_request')).details.limit).toBe('maxMetadataDepth');

    const huge = await expectErrorBody(await upload({ metadata: { blob: 'x'.repeat(1024 * 1024) } }), 400, 'bad_request');
    expect(huge.details).toMatchObject({ limit: 'maxMetadataBytes', max: 64 * 1024 });
    expect(huge.message).toMatch(/RAGLINE_MAX_METADATA_BYTES/);
    // Within the limits, nesting is fine.
    expect((await upload({ source: 'ok.txt', metadata: JSON.parse(deeplyNested(6)) as Json })).status).toBe(202);
  });

  it('keeps nested metadata out of the BM25 index while filters on top-level fields still match', async () => {
    const res = await app.request(
      '/v1/collections/kb/documents?wait=60',
      postJson({
        source: 'reefs.txt',
        text: 'Coral reefs grow in warm shallow seas.',
        metadata: { team: 'bio', detail: { notes: 'n'.repeat(20_000), tags: ['a', 'b'] } },
      }),
    );
    expect(res.status).toBe(200);
    const index = await ragline.bm25.ensureSynced(await ragline.collection('kb'));
    const [hit] = ((await (await search({ 'metadata.team': 'bio' })).json()) as Json).hits;
    expect(hit.chunk.source).toBe('reefs.txt');
    const kept = index.filterableOf(hit.chunk.id)?.documentMetadata;
    expect(kept).toMatchObject({ team: 'bio' });
    expect(kept).not.toHaveProperty('detail');
    expect(hit.chunk.documentMetadata.detail.tags).toEqual(['a', 'b']); // the stored document keeps it all
    // Filtering on a nested value matches nothing, as before (filters compare scalars only).
    const nested = (await (await search({ 'metadata.detail': 'x' })).json()) as Json;
    expect(nested.hits).toEqual([]);
  });

  it('refuses more files per multipart request than the limit with 413 naming it, creating no job', async () => {
    const before = (await queue.list({ limit: 500 })).length;
    const files = Array.from({ length: 4 }, (_, i) => ({ name: `f${i}.txt`, bytes: `File number ${i}.` }));
    const error = await expectErrorBody(await app.request('/v1/collections/kb/documents', postForm(files)), 413, 'payload_too_large');
    expect(error.details).toMatchObject({ limit: 'maxFilesPerRequest', max: 3, actual: 4 });
    expect(error.message).toMatch(/RAGLINE_MAX_FILES_PER_REQUEST/);
    expect((await queue.list({ limit: 500 })).length).toBe(before);
    const ok = await app.request('/v1/collections/kb/documents', postForm(files.slice(0, 3)));
    expect(ok.status).toBe(202);
  });
});
