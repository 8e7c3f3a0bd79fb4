import { EventEmitter, once } from 'node:events';
import os from 'node:os';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { loadShedding, routeClassOf } from '../api/middleware/load-shedding.ts';
import { ExtractiveGenerator } from '../answer/generators/extractive.ts';
import { AnswerService } from '../answer/service.ts';
import type { GenerateInput, GenerateResult, Generator, StreamEvent } from '../answer/types.ts';
import { configSchema, defaultSearchInFlight, loadConfig } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { pollUntil } from './helpers/poll.ts';
import { describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

/** A generator that holds every call until the test opens the gate: requests stay in flight on demand. */
class GatedGenerator implements Generator {
  readonly model = 'gated';
  readonly provider = 'test';
  readonly promptVersion = 'gated-v1';
  entered = 0;
  private open!: () => void;
  private gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });

  release(): void {
    this.open();
  }

  async generate(input: GenerateInput): Promise<GenerateResult> {
    this.entered += 1;
    await this.gate;
    return { text: `About ${input.question} [1]`, usage: { promptTokens: 1, completionTokens: 1 }, model: this.model };
  }

  async *stream(input: GenerateInput): AsyncIterable<StreamEvent> {
    this.entered += 1;
    await this.gate;
    yield { delta: `About ${input.question} [1]` };
    yield { done: true, usage: { promptTokens: 1, completionTokens: 1 }, model: this.model };
  }
}

const until = (condition: () => boolean, what: string) => pollUntil(condition, what, 10_000);

const post = (app: Hono, path: string, body: unknown) =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function expectShed(res: Response, routeClass: string, maxInFlight: number): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('2');
  const body = (await res.json()) as Json;
  expect(body).toEqual({
    error: {
      code: 'overloaded',
      message: expect.stringContaining(routeClass),
      details: { routeClass, reason: 'in_flight', maxInFlight, retryAfterSeconds: 2 },
    },
  });
}

describe('route classes', () => {
  it('classifies search, answer and upload POSTs and nothing else', () => {
    expect(routeClassOf('POST', '/v1/collections/kb/search')).toBe('search');
    expect(routeClassOf('POST', '/v1/collections/kb/answer')).toBe('answer');
    expect(routeClassOf('POST', '/v1/collections/kb/documents')).toBe('upload');
    expect(routeClassOf('GET', '/v1/collections/kb/documents')).toBeUndefined();
    expect(routeClassOf('POST', '/v1/collections')).toBeUndefined();
    expect(routeClassOf('POST', '/v1/collections/kb/documents/x')).toBeUndefined();
  });
});

describe('configuration', () => {
  it('reads the shedding bounds and the BM25 budget from their variables, with defaults', () => {
    const defaults = configSchema.parse({});
    expect(defaults.loadShedding).toEqual({
      search: defaultSearchInFlight(),
      answer: 16,
      upload: 8,
      retryAfterSeconds: 1,
      maxEventLoopDelayMs: 0,
    });
    expect(defaultSearchInFlight()).toBe(4 * os.availableParallelism());
    expect(defaults.bm25Cache).toEqual({ memoryMb: 1024, snapshots: true, snapshotEveryDocuments: 500, catchUpDelayMs: 100 });
    const config = loadConfig({
      RAGLINE_MAX_IN_FLIGHT_SEARCH: '3',
      RAGLINE_MAX_IN_FLIGHT_UPLOAD: '0',
      RAGLINE_SHED_RETRY_AFTER_SECONDS: '5',
      RAGLINE_SHED_EVENT_LOOP_DELAY_MS: '250',
      RAGLINE_BM25_MEMORY_MB: '0',
      RAGLINE_BM25_SNAPSHOTS: 'false',
    });
    expect(config.loadShedding).toMatchObject({ search: 3, answer: 16, upload: 0, retryAfterSeconds: 5, maxEventLoopDelayMs: 250 });
    expect(config.bm25Cache).toMatchObject({ memoryMb: 0, snapshots: false });
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ RAGLINE_MAX_IN_FLIGHT_ANSWER: '-1' })).toThrow(/RAGLINE_MAX_IN_FLIGHT_ANSWER/);
    expect(() => loadConfig({ RAGLINE_BM25_MEMORY_MB: 'lots' })).toThrow(/RAGLINE_BM25_MEMORY_MB/);
    expect(() => loadConfig({ RAGLINE_SHED_EVENT_LOOP_DELAY_MS: 'soon' })).toThrow(/RAGLINE_SHED_EVENT_LOOP_DELAY_MS/);
  });
});

describeShared('load shedding answers before auth (API keys, PGlite)', () => {
  const KEY = 'shed-test-key-0123456789';
  let ragline: Ragline;

  beforeAll(async () => {
    const store = await openPgliteStore();
    const config = configSchema.parse({
      server: { apiKeys: [KEY] },
      loadShedding: { search: 1, answer: 2, upload: 1, retryAfterSeconds: 2, maxEventLoopDelayMs: 0 },
    });
    // The shared model stays open for the block below, which closes it.
    const shared = await testEmbedder();
    const embedder = Object.assign(Object.create(shared) as typeof shared, { close: async () => {} });
    ragline = await Ragline.open(config, { store, embedder });
    await ragline.createCollection('kb');
    await ragline.ingest('kb', [{ source: 'tides.txt', bytes: new TextEncoder().encode('Ocean tides follow the moon and the sun.') }]);
  });

  afterAll(async () => {
    await ragline?.close();
  });

  it('a full class sheds anonymous, wrongly keyed and keyed requests alike, before auth runs', async () => {
    const generator = new GatedGenerator();
    const app = createApi(ragline, {
      answers: new AnswerService(ragline, { generator, fallback: new ExtractiveGenerator(() => ragline.embedder()) }),
    });
    const ask = (key?: string) =>
      app.request('/v1/collections/kb/answer', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ question: 'What do tides follow?' }),
      });
    expect((await ask()).status).toBe(401); // not full: auth applies as before

    const held = [ask(KEY), ask(KEY)];
    await until(() => generator.entered === 2, 'two answers to reach the generator');
    // The same answer for everyone: nothing about the caller, its tenant or its key is in it.
    await expectShed(await ask(), 'answer', 2);
    await expectShed(await ask('not-a-key-0123456789'), 'answer', 2);
    for (let i = 0; i < 3; i++) await expectShed(await ask(KEY), 'answer', 2);
    expect(generator.entered).toBe(2);

    generator.release();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    expect((await ask(KEY)).status).toBe(200);
    expect((await ask()).status).toBe(401); // not full again: auth applies as before
  });
});

describeShared('load shedding through the API (PGlite + real model, a gated generator)', () => {
  let store: SqlStore;
  let ragline: Ragline;

  const appWith = (generator: GatedGenerator) => {
    const service = new AnswerService(ragline, { generator, fallback: new ExtractiveGenerator(() => ragline.embedder()) });
    return createApi(ragline, { answers: service });
  };
  const question = { question: 'What do the moon and the sun cause in the ocean?' };

  beforeAll(async () => {
    store = await openPgliteStore();
    // The in-flight rule alone: a busy test machine must not shed these by event-loop delay (tested below).
    const config = configSchema.parse({ loadShedding: { search: 1, answer: 2, upload: 1, retryAfterSeconds: 2, maxEventLoopDelayMs: 0 } });
    ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    await ragline.createCollection('kb');
    await ragline.ingest('kb', [
      {
        source: 'tides.txt',
        bytes: new TextEncoder().encode('Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.'),
      },
    ]);
  });

  afterAll(async () => {
    await ragline?.close();
  });

  it('answers 503 with Retry-After at once when the answer class is full, serves other classes, and recovers', async () => {
    const generator = new GatedGenerator();
    const app = appWith(generator);
    const held = [post(app, '/v1/collections/kb/answer', question), post(app, '/v1/collections/kb/answer', question)];
    await until(() => generator.entered === 2, 'two answers to reach the generator');

    await expectShed(await post(app, '/v1/collections/kb/answer', question), 'answer', 2);
    expect(generator.entered).toBe(2); // the shed request never reached retrieval or generation
    const search = await post(app, '/v1/collections/kb/search', { query: 'moon tides', mode: 'bm25' });
    expect(search.status).toBe(200);

    generator.release();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    const after = await post(app, '/v1/collections/kb/answer', question);
    expect(after.status).toBe(200);
    expect(((await after.json()) as Json).answer).toContain('About');
  });

  it('keeps a streamed answer in flight until its event stream ends', async () => {
    const generator = new GatedGenerator();
    const app = appWith(generator);
    const streams = await Promise.all([
      post(app, '/v1/collections/kb/answer', { ...question, stream: true }),
      post(app, '/v1/collections/kb/answer', { ...question, stream: true }),
    ]);
    for (const res of streams) expect(res.headers.get('content-type')).toContain('text/event-stream');
    await until(() => generator.entered === 2, 'both streams to reach the generator');
    // Both handlers have returned their Response; the streams are still open, so both still count.
    await expectShed(await post(app, '/v1/collections/kb/answer', question), 'answer', 2);

    generator.release();
    const bodies = await Promise.all(streams.map((res) => res.text()));
    for (const body of bodies) expect(body).toContain('event: done');
    const after = await post(app, '/v1/collections/kb/answer', question);
    expect(after.status).toBe(200);
  });

  it('a request that fails in its handler gives its slot back (search bounded at 1), and uploads pass meanwhile', async () => {
    const app = appWith(new GatedGenerator());
    // Invalid requests fail inside the handler; each must release its slot or the next would be shed.
    for (let i = 0; i < 3; i++) {
      const res = await post(app, '/v1/collections/kb/search', { query: '' });
      expect(res.status).toBe(400);
    }
    const upload = await app.request('/v1/collections/kb/documents', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'moon.txt', text: 'The moon orbits the earth.' }),
    });
    expect(upload.status).toBeLessThan(300);
  });
});

/** A route held open until the test says so, behind the shedding middlewares as the API mounts them. */
function gatedApp(options: Parameters<typeof loadShedding>[0]) {
  const shedding = loadShedding(options);
  const gates: (() => void)[] = [];
  const entered = new EventEmitter();
  const app = new Hono();
  app.use('/v1/*', shedding.early);
  app.use('/v1/*', shedding.reserve);
  app.post('/v1/collections/:id/search', async (c) => {
    const gate = new Promise<void>((resolve) => gates.push(resolve));
    entered.emit('search');
    await gate;
    return c.json({ ok: true });
  });
  app.post('/v1/collections/:id/documents', (c) => c.json({ ok: true }, 202));
  const search = async () => app.request('/v1/collections/kb/search', { method: 'POST' });
  const upload = async () => app.request('/v1/collections/kb/documents', { method: 'POST' });
  return { gates, entered, search, upload, releaseAll: () => gates.splice(0).forEach((open) => open()) };
}

/** Records when each response settles, so tests can assert what came back before what. */
function tracked(order: string[], name: string, res: Promise<Response>) {
  return res.then((r) => {
    order.push(name);
    return r;
  });
}

describe('shedding does not wait for the work in flight', () => {
  it('a full class answers 503 while the requests holding it are still running, and serves again once they finish', async () => {
    const { gates, search, releaseAll } = gatedApp({ maxInFlight: { search: 3, answer: 0, upload: 0 }, retryAfterSeconds: 2 });
    const order: string[] = [];
    const held = [0, 1, 2].map((i) => tracked(order, `held-${i}`, search()));
    await until(() => gates.length === 3, 'three searches to be in flight');
    for (let i = 0; i < 5; i++) {
      const res = await tracked(order, `shed-${i}`, search());
      await expectShed(res, 'search', 3);
    }
    // Every 503 came back while all three held searches were still unanswered.
    expect(order).toEqual(['shed-0', 'shed-1', 'shed-2', 'shed-3', 'shed-4']);
    releaseAll();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    const after = search();
    await until(() => gates.length === 1, 'a new search to be admitted');
    releaseAll();
    expect((await after).status).toBe(200);
  });

  it('sheds on event-loop delay only while the class has requests in flight (an injected delay reading)', async () => {
    let delayMs = 0;
    const { gates, search, upload, releaseAll } = gatedApp({
      maxInFlight: { search: 8, answer: 0, upload: 4 },
      retryAfterSeconds: 2,
      maxEventLoopDelayMs: 50,
      eventLoopDelay: { recentMs: () => delayMs },
    });
    delayMs = 500;
    // Nothing in flight: the first search is admitted however late the loop is, so a slow replica still serves.
    const first = search();
    await until(() => gates.length === 1, 'the first search to be admitted');
    const res = await search();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(((await res.json()) as Json).error).toMatchObject({
      code: 'overloaded',
      details: { routeClass: 'search', reason: 'event_loop_delay', maxInFlight: 8, maxEventLoopDelayMs: 50, retryAfterSeconds: 2 },
    });
    expect((await upload()).status).toBe(202); // a class with nothing in flight is not shed
    delayMs = 10;
    const second = search();
    await until(() => gates.length === 2, 'a search to be admitted once the loop caught up');
    releaseAll();
    for (const r of await Promise.all([first, second])) expect(r.status).toBe(200);
  });

  it("the process's own monitor sees a deliberately blocked event loop and sheds, then admits again", async () => {
    const { gates, entered, search, releaseAll } = gatedApp({
      maxInFlight: { search: 8, answer: 0, upload: 0 },
      retryAfterSeconds: 2,
      maxEventLoopDelayMs: 20,
    });
    const first = search();
    await until(() => gates.length === 1, 'one search in flight');
    // Let the monitor start and see a normal loop first, then hold the loop for 400 ms.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const blockedUntil = Date.now() + 400;
    while (Date.now() < blockedUntil) {
      // busy: nothing else can run, the monitor's timer included
    }
    await new Promise((resolve) => setTimeout(resolve, 30)); // the monitor's timer records the delay
    const shed = await search();
    expect(shed.status).toBe(503);
    expect(((await shed.json()) as Json).error.details).toMatchObject({ reason: 'event_loop_delay', routeClass: 'search' });
    expect(gates.length).toBe(1); // the shed request never reached the handler
    // Once the windows holding the block have passed, searches are admitted again: each probe either
    // comes back 503 or reaches the handler (and is then held like the first).
    const admitted = await pollUntil(
      async () => {
        // Listening first: an admitted request can reach the handler before search() returns.
        const reached = once(entered, 'search').then(() => 'admitted' as const);
        const res = search();
        const outcome = await Promise.race([res.then((r) => r.status), reached]);
        if (outcome === 'admitted') return { res }; // wrapped: returning the promise itself would wait for it
        expect(outcome).toBe(503);
        return false;
      },
      'a search to be admitted after the loop recovered',
      10_000,
    );
    releaseAll();
    expect((await first).status).toBe(200);
    expect((await admitted.res).status).toBe(200);
  });
});
