import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema, DEFAULT_DOCUMENT_LIMITS } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import type { JobQueue } from '../ingest/jobs/queue.ts';
import { IngestionPipeline } from '../ingest/pipeline.ts';
import type { Embedder } from '../models/types.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { pdfBomb } from '../testkit/pdf-bomb.ts';
import { type Json, expectErrorBody, postForm, postJson } from './helpers/http.ts';
import { type PgliteApi, closePgliteApi, openPgliteApi } from './helpers/pglite-api.ts';
import { describeShared } from './helpers/shared.ts';

const text = (s: string) => new TextEncoder().encode(s);

describeShared('document limits: the PDF bomb and every loader (PGlite in memory + real model)', () => {
  let embedder: Embedder;
  let store: SqlStore;
  let ragline: Ragline;
  let queue: JobQueue;
  let app: Hono;
  let api: PgliteApi;

  beforeAll(async () => {
    api = await openPgliteApi();
    ({ embedder, store, ragline, queue, app } = api);
    await ragline.createCollection('kb');
  });

  afterAll(() => closePgliteApi(api));

  it('fails the bomb (one compressed stream, ~14 M characters) once, naming the limit; the worker then takes the next job', async () => {
    const bomb = await pdfBomb();
    expect(bomb.byteLength).toBeLessThan(200_000);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const started = performance.now();
    const res = await app.request(
      '/v1/collections/kb/documents?wait=100',
      postForm([{ name: 'bomb.pdf', bytes: bomb, type: 'application/pdf' }]),
    );
    loopDelay.disable();
    const [job] = ((await res.json()) as Json).jobs;
    expect(job).toMatchObject({ state: 'failed', attempts: 1, lastError: { code: 'unprocessable_document' } });
    expect(job.lastError.message).toMatch(/maxDocumentChars.*RAGLINE_MAX_DOCUMENT_CHARS/);
    expect(job.lastError.details).toMatchObject({ limit: 'maxDocumentChars', max: DEFAULT_DOCUMENT_LIMITS.maxDocumentChars });
    // Reported, not asserted: how long the rejection took and how long the event loop stalled meanwhile.
    console.info(
      `[pdf bomb] ${bomb.byteLength} bytes rejected in ${Math.round(performance.now() - started)} ms; ` +
        `event-loop delay p99 ${Math.round(loopDelay.percentile(99) / 1e6)} ms, max ${Math.round(loopDelay.max / 1e6)} ms`,
    );

    const next = await app.request(
      '/v1/collections/kb/documents?wait=60',
      postJson({ source: 'tides.txt', text: 'Tides follow the moon.' }),
    );
    expect(next.status).toBe(200);
    expect(((await next.json()) as Json).jobs[0]).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(await store.countChunks((await ragline.collection('kb')).id)).toBe(1);
  });

  it('refuses a JSON text upload over maxDocumentChars with 422 at once', async () => {
    const small = await Ragline.open(configSchema.parse({ limits: { maxDocumentChars: 100 } }), { store, embedder });
    const res = await createApi(small, { queue }).request(
      '/v1/collections/kb/documents',
      postJson({ source: 'long.txt', text: 'x '.repeat(80) }),
    );
    const error = await expectErrorBody(res, 422, 'unprocessable_document');
    expect(error.details).toMatchObject({ limit: 'maxDocumentChars', max: 100, actual: 160 });
  });

  it('applies the character and chunk limits to the output of every loader, after loading', async () => {
    const collection = await ragline.collection('kb');
    const markdown = `# Notes\n\n${Array.from({ length: 40 }, (_, i) => `Paragraph ${i} talks about rivers and their deltas at length.`).join('\n\n')}`;
    const html = `<html><body>${'<p>Glaciers carve valleys slowly over many thousands of years.</p>'.repeat(40)}</body></html>`;
    for (const [source, bytes] of [
      ['notes.md', text(markdown)],
      ['page.html', text(html)],
    ] as const) {
      const byChars = new IngestionPipeline(store, embedder, ragline.config.chunking, {
        documentLimits: { ...DEFAULT_DOCUMENT_LIMITS, maxDocumentChars: 500 },
      });
      const tooLong = await byChars.ingest(collection, { source, bytes });
      expect(tooLong).toMatchObject({
        status: 'failed',
        error: { code: 'unprocessable_document', details: { limit: 'maxDocumentChars' } },
      });

      const byChunks = new IngestionPipeline(
        store,
        embedder,
        { ...ragline.config.chunking, strategy: 'fixed', maxTokens: 32, targetTokens: 24, minTokens: 0 },
        { documentLimits: { ...DEFAULT_DOCUMENT_LIMITS, maxChunksPerDocument: 3 } },
      );
      const tooMany = await byChunks.ingest(collection, { source, bytes });
      expect(tooMany).toMatchObject({ status: 'failed', error: { details: { limit: 'maxChunksPerDocument', max: 3 } } });
      expect((tooMany as Json).error.details.actual).toBeGreaterThan(3);
      expect(await store.getDocumentBySource(collection.id, source)).toBeNull();
    }
  });
});
