import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { AnswerService } from '../answer/service.ts';
import { type Config, configSchema } from '../core/config.ts';
import { BATCH_JOB_KIND, Batches } from '../facade/batches.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { type Operations, openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import type { Embedder } from '../models/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { pollUntil } from './helpers/poll.ts';
import { describeShared } from './helpers/shared.ts';
import { BOOTSTRAP_KEY, type Json, OPERATOR, jsonRequest } from './helpers/tenants.ts';

const FAQ = fs.readFileSync(new URL('../fixtures/faq.txt', import.meta.url));
const QUESTIONS = [
  { question: 'Can Ragline read password-protected PDFs?', id: 'q-pdf', expect: 'extractive', phrase: 'password' },
  { question: 'Why was my scanned PDF rejected?', expect: 'extractive', phrase: 'text layer' },
  { question: 'What is the airspeed velocity of an unladen swallow in Patagonia?', expect: 'not_covered' },
  { question: 'Does ingesting the same file twice create duplicates?', id: 'q-dup', expect: 'extractive', phrase: 'unchanged file' },
];
const body = { questions: QUESTIONS.map((q) => (q.id ? { question: q.question, id: q.id } : q.question)) };

/** One server "process": store, Ragline, operations, app and (when started) a worker answering batches. */
interface Node {
  store: SqlStore;
  ragline: Ragline;
  operations: Operations;
  queue: JobQueue;
  app: Hono;
  worker: JobWorker;
  close(): Promise<void>;
}

function baseConfig(): Config {
  return configSchema.parse({
    server: { apiKeys: [BOOTSTRAP_KEY], rateLimitPerMinute: 100_000 },
    answer: { generator: 'extractive' },
    operations: { answerCacheSize: 0, ledgerFlushMs: 20 },
    handoffs: { enabled: false },
    batches: { maxQuestions: 5 },
  });
}

async function openNode(embedder: Embedder, dataDir?: string, worker: { staleMs?: number; heartbeatMs?: number } = {}): Promise<Node> {
  const store = await openPgliteStore(dataDir);
  const ragline = await Ragline.open(baseConfig(), { store, embedder });
  const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  const queue = JobQueue.forStore(store, { retryDelayMs: () => 0 });
  const batches = Batches.fromOperations(ragline, operations.queries);
  const w = new JobWorker(queue, pipelineProcessor(ragline), {
    pollMs: 25,
    heartbeatMs: worker.heartbeatMs ?? 1000,
    staleMs: worker.staleMs ?? 30_000,
    tasks: { [BATCH_JOB_KIND]: batches.processor() },
  });
  const app = createApi(ragline, { queue, worker: w, operations, batches });
  return {
    store,
    ragline,
    operations,
    queue,
    app,
    worker: w,
    async close() {
      await w.stop();
      await operations.close();
      await store.close();
    },
  };
}

async function keysFor(node: Node) {
  const tenancy = Tenancy.for(node.ragline);
  for (const id of ['team-a', 'team-b']) await tenancy.createTenant(OPERATOR, id);
  const guide = await node.ragline.createCollection('guide', {}, 'team-a');
  await node.ragline.ingest(guide, [{ source: 'faq.txt', bytes: FAQ, mime: 'text/plain' }]);
  return {
    writer: (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'writer' })).key,
    reader: (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'reader' })).key,
    other: (await tenancy.createKey(OPERATOR, { tenantId: 'team-b', role: 'admin' })).key,
  };
}

const submit = async (node: Node, key: string, payload: unknown = body, collection = 'guide') => {
  const res = await node.app.request(`/v1/collections/${collection}/batches`, jsonRequest('POST', payload, key));
  return { status: res.status, body: (await res.json()) as Json };
};
const progress = async (node: Node, key: string, id: string) =>
  (await (await node.app.request(`/v1/collections/guide/batches/${id}`, jsonRequest('GET', undefined, key))).json()) as Json;
const completed = (node: Node, key: string, id: string) =>
  pollUntil(async () => (await progress(node, key, id)).state === 'completed', `batch ${id} completed`, 90_000, 50);
async function results(node: Node, key: string, id: string): Promise<Json[]> {
  const res = await node.app.request(`/v1/collections/guide/batches/${id}/results`, jsonRequest('GET', undefined, key));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/x-ndjson');
  const text = await res.text();
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Json);
}

describeShared('question batches (PGlite + real model, through the job queue)', () => {
  let embedder: Embedder;
  let node: Node;
  let keys: Awaited<ReturnType<typeof keysFor>>;

  beforeAll(async () => {
    embedder = await testEmbedder();
    node = await openNode(embedder);
    keys = await keysFor(node);
  });

  afterAll(async () => {
    await node?.close();
  });

  it('answers every question in order, one traced line each, with citations', async () => {
    node.worker.start();
    const created = await submit(node, keys.writer);
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ state: 'queued', total: 4, queued: 4, succeeded: 0, failed: 0, collection: 'guide' });
    await completed(node, keys.writer, created.body.id);
    expect(await progress(node, keys.writer, created.body.id)).toMatchObject({ succeeded: 4, failed: 0, queued: 0 });

    const lines = await results(node, keys.writer, created.body.id);
    expect(lines.map((l) => l.question)).toEqual(QUESTIONS.map((q) => q.question));
    expect(lines.map((l) => l.kind)).toEqual(QUESTIONS.map((q) => q.expect));
    expect(lines.map((l) => l.id ?? null)).toEqual(QUESTIONS.map((q) => q.id ?? null));
    for (const [i, line] of lines.entries()) {
      const q = QUESTIONS[i]!;
      expect(line.position).toBe(i);
      expect(line.state).toBe('succeeded');
      if (q.phrase) {
        expect(line.answer.toLowerCase()).toContain(q.phrase);
        expect(line.citations.length).toBeGreaterThan(0);
        expect(line.citations[0]).toMatchObject({ source: 'faq.txt', quote: expect.any(String) });
      } else expect(line.citations).toEqual([]);
      // Each answered question has its own trace in the ledger, readable by the batch's tenant.
      await node.operations.ledger.flush();
      const trace = await node.app.request(`/v1/requests/${line.requestId}`, jsonRequest('GET', undefined, keys.reader));
      expect(trace.status).toBe(200);
      expect((await trace.json()) as Json).toMatchObject({ kind: 'answer', question: q.question, tenantId: 'team-a' });
    }
    expect(new Set(lines.map((l) => l.requestId)).size).toBe(4);
    await node.worker.stop();
  });

  it('rejects bad batches with a 400 naming the problem, and a reader with a 403', async () => {
    const cases: [unknown, string][] = [
      [{ questions: [] }, 'at least one question'],
      [{ questions: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'at most 5 questions'],
      [{ questions: ['   '] }, 'question must not be empty'],
      [{ questions: ['x'.repeat(8_001)] }, 'questions'],
      [{ questions: ['ok'], settings: { topK: 3 } }, 'topK'],
      [{ questions: ['ok'], settings: { stream: true } }, 'settings cannot set stream'],
      [{ questions: ['ok'], settings: { question: 'hijack' } }, 'settings cannot set question'],
      [{ questions: ['ok'], colour: 'red' }, 'colour'],
      [{ questions: [{ question: 'ok', id: 'x'.repeat(201) }] }, 'questions'],
    ];
    for (const [payload, message] of cases) {
      const res = await submit(node, keys.writer, payload);
      expect({ payload, status: res.status }).toEqual({ payload, status: 400 });
      expect(JSON.stringify(res.body.error)).toContain(message);
    }
    expect((await submit(node, keys.reader)).status).toBe(403);
    expect((await submit(node, keys.writer, body, 'nope')).status).toBe(404);
  });

  it("is tenant-scoped: another tenant's key gets 404 for the batch, its progress and its results", async () => {
    const created = await submit(node, keys.writer, { questions: ['Which file types can I upload?'] });
    const id = created.body.id as string;
    for (const p of [`/v1/collections/guide/batches/${id}`, `/v1/collections/guide/batches/${id}/results`]) {
      const res = await node.app.request(p, jsonRequest('GET', undefined, keys.other));
      expect({ p, status: res.status }).toEqual({ p, status: 404 });
    }
    // Team B's own "guide" does not see A's batch either.
    const bGuide = await node.ragline.createCollection('guide', {}, 'team-b');
    expect(bGuide.tenantId).toBe('team-b');
    const res = await node.app.request(`/v1/collections/guide/batches/${id}`, jsonRequest('GET', undefined, keys.other));
    expect(res.status).toBe(404);
    expect((await progress(node, keys.reader, id)).state).toBe('queued');
  });

  it('runs below ingestion: an upload queued after a batch is claimed first, and job lists show only ingestion', async () => {
    const batch = await submit(node, keys.writer, {
      questions: ['What does a citation contain?', 'Why did Ragline answer "I don\'t know"?'],
    });
    const upload = await node.app.request(
      '/v1/collections/guide/documents',
      jsonRequest('POST', { source: 'later.txt', text: 'An ingest job queued after the batch.' }, keys.writer),
    );
    expect(upload.status).toBe(202);
    const [ingestJob] = ((await upload.json()) as Json).jobs as Json[];

    const first = await node.queue.claim('probe');
    expect(first).toMatchObject({ id: ingestJob!.id, kind: 'ingest', priority: 0 });
    const second = await node.queue.claim('probe');
    expect(second).toMatchObject({ kind: 'batch_question', priority: -10 });
    // Hand them back so a real worker can run them (as a dead worker's jobs would be).
    await node.store.db.query("UPDATE ingest_jobs SET state = 'queued', attempts = 0, locked_by = NULL WHERE locked_by = 'probe'");

    const listed = (await (await node.app.request('/v1/jobs', jsonRequest('GET', undefined, keys.writer))).json()) as Json;
    expect(listed.jobs.map((j: Json) => j.source)).toEqual(['later.txt']);

    node.worker.start();
    await completed(node, keys.writer, batch.body.id);
    const job = (await node.queue.get(ingestJob!.id))!;
    const { rows } = await node.store.db.query<{ started: Date }>(
      "SELECT min(started_at) AS started FROM ingest_jobs WHERE kind = 'batch_question' AND source LIKE $1",
      [`batch:${batch.body.id}#%`],
    );
    expect(job.state).toBe('succeeded');
    expect(new Date(job.finishedAt!).getTime()).toBeLessThanOrEqual(new Date(rows[0]!.started).getTime());
    await node.worker.stop();
  });
});

describeShared('question batches: a question whose job is cancelled', () => {
  it('ends failed with the job error, and the batch still completes', async () => {
    const node = await openNode(await testEmbedder());
    try {
      const keys = await keysFor(node);
      const created = await submit(node, keys.writer, {
        questions: [{ question: 'Which file types can I upload?', id: 'gone' }, 'What does a citation contain?'],
      });
      const { rows } = await node.store.db.query<{ id: string }>(
        "SELECT id FROM ingest_jobs WHERE kind = 'batch_question' AND source = $1",
        [`batch:${created.body.id}#0`],
      );
      await node.queue.cancel(rows[0]!.id);
      node.worker.start();
      await completed(node, keys.writer, created.body.id);
      expect(await progress(node, keys.writer, created.body.id)).toMatchObject({ succeeded: 1, failed: 1, queued: 0 });
      const lines = await results(node, keys.writer, created.body.id);
      expect(lines.map((l) => [l.state, l.id ?? null, l.error?.code ?? null])).toEqual([
        ['failed', 'gone', 'cancelled'],
        ['succeeded', null, null],
      ]);
    } finally {
      await node.close();
    }
  });
});

describeShared('question batches survive a restart (PGlite on disk)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-batches-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finishes after the process stops mid-batch and a dead worker held one question', async () => {
    const embedder = await testEmbedder();
    const first = await openNode(embedder, dir);
    const keys = await keysFor(first);
    const created = await submit(first, keys.writer);
    const id = created.body.id as string;
    // A worker claims a question and dies with it (no heartbeat ever again).
    const orphan = await first.queue.claim('dead-worker');
    expect(orphan?.kind).toBe('batch_question');
    // A live worker answers one more question, then the whole "process" stops.
    first.worker.start();
    await pollUntil(async () => (await progress(first, keys.writer, id)).succeeded >= 1, 'one question answered', 60_000, 25);
    await first.close();
    const before = (await openAndRead(embedder, dir, id)).filter((l) => l.state === 'succeeded');
    expect(before.length).toBeGreaterThanOrEqual(1);

    // A new process on the same data: it takes the dead worker's question over once its lease is stale.
    const second = await openNode(embedder, dir, { staleMs: 300, heartbeatMs: 100 });
    try {
      second.worker.start();
      await completed(second, keys.writer, id);
      const lines = await results(second, keys.writer, id);
      expect(lines.map((l) => [l.position, l.state, l.kind])).toEqual(QUESTIONS.map((q, i) => [i, 'succeeded', q.expect]));
      // Questions answered before the stop kept their answer and trace: nothing was answered twice.
      for (const done of before) expect(lines[done.position]?.requestId).toBe(done.requestId);
      const orphanJob = await second.queue.get(orphan!.id);
      expect(orphanJob).toMatchObject({ state: 'succeeded', attempts: 2 });
    } finally {
      await second.close();
    }
  });
});

/** The batch's lines as stored, read by a short-lived node (the data dir allows one at a time). */
async function openAndRead(embedder: Embedder, dir: string, id: string): Promise<Json[]> {
  const node = await openNode(embedder, dir);
  try {
    const batches = Batches.fromOperations(node.ragline, node.operations.queries);
    const lines: Json[] = [];
    for await (const line of batches.results(id)) lines.push(JSON.parse(line) as Json);
    return lines;
  } finally {
    await node.close();
  }
}

describe('batch request schema', () => {
  it('accepts plain strings and labelled questions, and keeps settings', async () => {
    const { batchRequestSchema } = await import('../facade/batches.ts');
    const parsed = batchRequestSchema(3).parse({ questions: ['a', { question: ' b ', id: 'x' }], settings: { mode: 'bm25', topK: 5 } });
    expect(parsed).toEqual({ questions: ['a', { question: 'b', id: 'x' }], settings: { mode: 'bm25', topK: 5 } });
  });
});

describe('InteractiveLoad (batch questions step aside)', () => {
  it('waits while an interactive request runs and for the quiet period after it, but never past maxWait', async () => {
    const { InteractiveLoad } = await import('../facade/interactive-load.ts');
    const load = new InteractiveLoad();
    const order: string[] = [];
    load.enter();
    const waiting = load.quiet(30, 60_000).then(() => order.push('batch question starts'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('search ends');
    load.leave();
    await waiting;
    expect(order).toEqual(['search ends', 'batch question starts']);

    load.enter(); // never leaves: the bound lets the batch go on anyway
    let done = false;
    await Promise.race([load.quiet(10, 100).then(() => (done = true)), new Promise((r) => setTimeout(r, 5_000))]);
    expect(done).toBe(true);
    expect(load.busy).toBe(true);
  });
});
