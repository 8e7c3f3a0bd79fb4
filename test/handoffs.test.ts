import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../api/app.ts';
import { configSchema, loadConfig } from '../core/config.ts';
import { Handoffs, handoffReason } from '../facade/handoffs.ts';
import { type Operations, openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { AnswerService } from '../answer/service.ts';
import { HandoffStore } from '../store/handoffs.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { LocalServer } from './contract/local-server.ts';
import { pollUntil } from './helpers/poll.ts';
import { describeShared } from './helpers/shared.ts';
import { BOOTSTRAP_KEY, type Json, OPERATOR, jsonRequest } from './helpers/tenants.ts';

const SECRET = 'webhook-secret-0123456789abcdef';
const FAQ = fs.readFileSync(new URL('../fixtures/faq.txt', import.meta.url));
const COVERED = 'Can Ragline read password-protected PDFs?';
const NOT_COVERED = 'What is the airspeed velocity of an unladen swallow in Patagonia?';

interface Delivery {
  body: string;
  headers: Record<string, string | string[] | undefined>;
  status: number;
}

/** A receiver that fails the first two deliveries of each handoff with a 500, then accepts. */
function flakyReceiver() {
  const deliveries: Delivery[] = [];
  const seen = new Map<string, number>();
  let hold: (() => void) | undefined;
  const server = new LocalServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const id = String(req.headers['x-ragline-handoff-id']);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      const status = n <= 2 ? 500 : 200;
      deliveries.push({ body, headers: req.headers, status });
      const answer = () => res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'down');
      // The very first delivery is held until the test lets it go: the answer must not wait for it.
      if (deliveries.length === 1) hold = answer;
      else answer();
    });
  });
  const release = () => {
    hold?.();
    hold = undefined;
  };
  return { server, deliveries, release };
}

/** What a receiver does: recompute the HMAC over "<timestamp>.<raw body>" and compare in constant time. */
function verifySignature(d: Delivery): boolean {
  const timestamp = String(d.headers['x-ragline-timestamp']);
  const header = String(d.headers['x-ragline-signature']);
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${d.body}`).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

describe('handoffReason', () => {
  const confidence = (best: number | null) => ({ bestDenseSimilarity: best, bm25Matched: true, minDenseSimilarity: 0.3 });
  it('hands off not-covered and weakly grounded answers, not confident or refused ones', () => {
    expect(handoffReason({ kind: 'not_covered', confidence: confidence(0.1) }, 0.4)).toBe('not_covered');
    expect(handoffReason({ kind: 'extractive', confidence: confidence(0.35) }, 0.4)).toBe('low_confidence');
    expect(handoffReason({ kind: 'generated', confidence: confidence(0.62) }, 0.4)).toBeNull();
    expect(handoffReason({ kind: 'extractive', confidence: confidence(null) }, 0.4)).toBeNull();
    expect(handoffReason({ kind: 'refused', confidence: confidence(0.1) }, 0.4)).toBeNull();
    expect(handoffReason({ kind: 'extractive', confidence: confidence(0.35) }, 0)).toBeNull();
  });
});

describe('handoff configuration', () => {
  it('refuses a webhook URL without a secret, naming the variable', () => {
    expect(() => loadConfig({ RAGLINE_HANDOFF_WEBHOOK_URL: 'http://127.0.0.1:9/hook' })).toThrow(/RAGLINE_HANDOFF_WEBHOOK_SECRET/);
    expect(() => loadConfig({ RAGLINE_HANDOFF_MIN_CONFIDENCE: '1.5' })).toThrow(/RAGLINE_HANDOFF_MIN_CONFIDENCE/);
    const config = loadConfig({ RAGLINE_HANDOFF_WEBHOOK_URL: 'http://127.0.0.1:9/hook', RAGLINE_HANDOFF_WEBHOOK_SECRET: SECRET });
    expect(config.handoffs).toMatchObject({ enabled: true, minConfidence: 0.4, webhookMaxAttempts: 5, webhookSecret: SECRET });
  });
});

describeShared('human handoff (PGlite + real model + a webhook on 127.0.0.1)', () => {
  let store: SqlStore;
  let ragline: Ragline;
  let operations: Operations;
  let app: Hono;
  let writerKey: string;
  let readerKey: string;
  let otherKey: string;
  const receiver = flakyReceiver();

  const ask = async (question: string, key = writerKey) => {
    const res = await app.request('/v1/collections/guide/answer', jsonRequest('POST', { question }, key));
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  const list = async (query = '', key = writerKey) => {
    const res = await app.request(`/v1/handoffs${query}`, jsonRequest('GET', undefined, key));
    return { status: res.status, body: (await res.json()) as Json };
  };

  beforeAll(async () => {
    await receiver.server.start();
    store = await openPgliteStore();
    const config = configSchema.parse({
      server: { apiKeys: [BOOTSTRAP_KEY], rateLimitPerMinute: 100_000 },
      answer: { generator: 'extractive' },
      operations: { answerCacheSize: 0 },
      handoffs: { webhookUrl: `${receiver.server.origin}/hooks/ragline`, webhookSecret: SECRET, webhookRetryBaseMs: 20 },
    });
    ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    operations = openOperations(ragline, AnswerService.fromConfig(ragline));
    app = createApi(ragline, { operations });
    const tenancy = Tenancy.for(ragline);
    for (const id of ['team-a', 'team-b']) await tenancy.createTenant(OPERATOR, id);
    const guide = await ragline.createCollection('guide', {}, 'team-a');
    await ragline.ingest(guide, [{ source: 'faq.txt', bytes: FAQ, mime: 'text/plain' }]);
    writerKey = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'writer' })).key;
    readerKey = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'reader' })).key;
    otherKey = (await tenancy.createKey(OPERATOR, { tenantId: 'team-b', role: 'admin' })).key;
  });

  afterAll(async () => {
    receiver.release();
    await operations?.close();
    await store?.close();
    await receiver.server.stop();
  });

  it('records a not-covered question, answers at once although the webhook hangs, and delivers after two failures', async () => {
    const answer = await ask(NOT_COVERED);
    expect(answer.kind).toBe('not_covered');
    // The answer came back while the first delivery is still held open by the receiver.
    await pollUntil(() => receiver.deliveries.length === 1, 'the first webhook delivery', 10_000);
    const open = await list('?state=open');
    expect(open.body.handoffs).toHaveLength(1);
    const handoff = open.body.handoffs[0];
    expect(handoff).toMatchObject({
      question: NOT_COVERED,
      reason: 'not_covered',
      requestId: answer.requestId,
      collectionName: 'guide',
      tenantId: 'team-a',
      state: 'open',
      occurrences: 1,
    });
    expect(handoff.webhook.state).toBe('pending');

    receiver.release();
    await operations.handoffs.settled();
    expect(receiver.deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
    for (const d of receiver.deliveries) {
      expect(verifySignature(d)).toBe(true);
      expect(Math.abs(Number(d.headers['x-ragline-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
      expect(JSON.parse(d.body)).toMatchObject({ type: 'handoff.created', handoff: { id: handoff.id, question: NOT_COVERED } });
    }
    // A tampered body fails verification: the check above can fail.
    expect(verifySignature({ ...receiver.deliveries[2]!, body: receiver.deliveries[2]!.body.replace('swallow', 'sparrow') })).toBe(false);
    const stored = (await (await app.request(`/v1/handoffs/${handoff.id}`, jsonRequest('GET', undefined, writerKey))).json()) as Json;
    expect(stored.webhook).toMatchObject({ state: 'delivered', attempts: 3, lastError: null });
    expect(stored.webhook.deliveredAt).toEqual(expect.any(String));
  });

  it('raises no handoff for a well-covered question', async () => {
    const before = receiver.deliveries.length;
    const answer = await ask(COVERED);
    expect(answer.kind).toBe('extractive');
    expect(answer.confidence.bestDenseSimilarity).toBeGreaterThan(0.4);
    await operations.handoffs.settled();
    const all = await list();
    expect(all.body.handoffs.map((h: Json) => h.question)).toEqual([NOT_COVERED]);
    expect(receiver.deliveries.length).toBe(before);
  });

  it('counts a repeat on the open handoff instead of opening (and delivering) another', async () => {
    const before = receiver.deliveries.length;
    const again = await ask(`  ${NOT_COVERED.toUpperCase()} `);
    await operations.handoffs.settled();
    const [handoff] = (await list()).body.handoffs as Json[];
    expect(handoff).toMatchObject({ occurrences: 2, lastRequestId: again.requestId });
    expect(receiver.deliveries.length).toBe(before);
  });

  it('resolves with a note and an answer; a second resolve is a 409, a reader gets 403, bad bodies 400', async () => {
    const [handoff] = (await list('?state=open')).body.handoffs as Json[];
    const resolve = (body: unknown, key = writerKey, id = handoff!.id) =>
      app.request(`/v1/handoffs/${id}/resolve`, jsonRequest('POST', body, key));

    expect((await resolve({ note: 'not ours' }, readerKey)).status).toBe(403);
    const empty = await resolve({ note: '   ' });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(await empty.json())).toContain('note');
    expect((await resolve({ note: 'x', extra: true })).status).toBe(400);
    expect((await resolve({ note: 'x' }, writerKey, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await resolve({ note: 'x' }, writerKey, 'not-a-uuid')).status).toBe(404);

    const ok = await resolve({ note: 'Out of scope for the guide', answer: 'About 11 m/s.' });
    expect(ok.status).toBe(200);
    expect((await ok.json()) as Json).toMatchObject({
      state: 'resolved',
      resolution: { note: 'Out of scope for the guide', answer: 'About 11 m/s.', by: expect.any(String) },
    });
    expect((await resolve({ note: 'again' })).status).toBe(409);
    expect((await list('?state=open')).body.handoffs).toEqual([]);
    expect((await list('?state=resolved')).body.handoffs.map((h: Json) => h.id)).toEqual([handoff!.id]);

    // Resolved, the question opens a fresh handoff the next time it is not covered.
    await ask(NOT_COVERED);
    await operations.handoffs.settled();
    expect((await list('?state=open')).body.handoffs).toHaveLength(1);
  });

  it('pages the list within bounds and rejects bad filters', async () => {
    const page = await list('?limit=1');
    expect(page.body).toMatchObject({ limit: 1, offset: 0 });
    expect(page.body.nextOffset).toBe(1);
    expect((await list('?limit=1&offset=1')).body.nextOffset).toBeNull();
    for (const bad of ['?limit=0', '?limit=201', '?state=closed', '?offset=-1', '?colour=red']) {
      const res = await list(bad);
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      expect(res.body.error.code).toBe('bad_request');
    }
    expect((await list('?collection=nope')).status).toBe(404);
  });

  it('shows another tenant none of them (404 by id)', async () => {
    const [handoff] = (await list()).body.handoffs as Json[];
    const theirs = await list('', otherKey);
    expect(theirs).toEqual({ status: 200, body: { handoffs: [], limit: 50, offset: 0, nextOffset: null } });
    expect((await app.request(`/v1/handoffs/${handoff!.id}`, jsonRequest('GET', undefined, otherKey))).status).toBe(404);
    const res = await app.request(`/v1/handoffs/${handoff!.id}/resolve`, jsonRequest('POST', { note: 'b was here' }, otherKey));
    expect(res.status).toBe(404);
    expect((await list('?state=open')).body.handoffs[0].state).toBe('open');
  });

  it('hands off a streamed not-covered answer too', async () => {
    const question = 'How many moons does Neptune have?';
    const res = await app.request('/v1/collections/guide/answer', jsonRequest('POST', { question, stream: true }, writerKey));
    expect(res.status).toBe(200);
    const events = await res.text();
    const requestId = /"requestId":"([^"]+)"/.exec(events)?.[1];
    expect(requestId).toEqual(expect.any(String));
    receiver.release();
    await operations.handoffs.settled();
    const mine = (await list()).body.handoffs.filter((h: Json) => h.question === question);
    expect(mine).toMatchObject([{ reason: 'not_covered', requestId }]);
  });

  it('hands off an answered question below the confidence threshold as low_confidence', async () => {
    const strict = new Handoffs(new HandoffStore(store.db), { ...ragline.config.handoffs, webhookUrl: undefined, minConfidence: 0.99 });
    const collection = (await ragline.store.getCollection('guide', 'team-a'))!;
    const { answers } = operations.queries;
    const request = answers.parse({ question: COVERED });
    const response = await answers.answer(collection, request);
    expect(response.kind).toBe('extractive');
    strict.observe({ requestId: 'req-weak-1', tenantId: 'team-a', keyId: null }, collection, request, response);
    await strict.settled();
    const row = (await new HandoffStore(store.db).list({ tenantId: 'team-a', limit: 50, offset: 0 })).find(
      (h) => h.requestId === 'req-weak-1',
    );
    expect(row).toMatchObject({ reason: 'low_confidence', question: COVERED, webhook: { state: 'none' } });
    expect(row?.confidence).toBeCloseTo(response.confidence.bestDenseSimilarity!, 6);
  });

  it('gives up after the configured attempts and records the failure; the webhook never throws into answers', async () => {
    const dead = new LocalServer((_req, res) => res.writeHead(503).end());
    await dead.start();
    const handoffs = new Handoffs(new HandoffStore(store.db), {
      ...ragline.config.handoffs,
      webhookUrl: dead.origin,
      webhookMaxAttempts: 3,
      webhookRetryBaseMs: 10,
    });
    const collection = (await ragline.store.getCollection('guide', 'team-a'))!;
    const { answers } = operations.queries;
    const request = answers.parse({ question: 'Which fish sing?' });
    const response = await answers.answer(collection, request);
    expect(response.kind).toBe('not_covered');
    handoffs.observe({ requestId: 'req-dead-1', tenantId: 'team-a', keyId: null }, collection, request, response);
    await handoffs.settled();
    await dead.stop();
    const [row] = (await new HandoffStore(store.db).list({ tenantId: 'team-a', limit: 50, offset: 0 })).filter(
      (h) => h.requestId === 'req-dead-1',
    );
    expect(row?.webhook).toMatchObject({ state: 'failed', attempts: 3, lastError: 'webhook answered 503' });
  });
});
