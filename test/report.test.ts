import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi, describe } from 'vitest';
import { main } from '../cli/main.ts';
import { parseSince } from '../cli/commands/report.ts';
import { LedgerStore, type Trace } from '../store/ledger.ts';
import { ledgerReport } from '../store/ledger-report.ts';
import { openPgliteStore } from '../store/pglite.ts';

const DAY = 86_400_000;

function trace(id: string, fields: Partial<Trace>): Trace {
  return {
    id,
    createdAt: new Date(Date.now() - 60_000).toISOString(),
    kind: 'answer',
    tenantId: 'acme',
    keyId: 'k1',
    collectionId: null,
    collectionName: 'kb',
    collectionVersion: 1,
    question: `question ${id}`,
    settings: {},
    retrieved: [],
    promptVersion: 'answer-v1',
    promptHash: null,
    model: 'gpt-4o-mini',
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
    embedCostUsd: 0,
    stages: {},
    totalMs: 0,
    outcome: 'answered',
    cacheHit: false,
    ...fields,
  };
}

/**
 * A seeded ledger with figures computed by hand: 4 answers by acme/k1 on gpt-4o-mini (embed 10, 20,
 * 30, 40 ms; 100 + 200 + 300 + 400 tokens in), one by globex, one not-covered question asked three
 * times (two spellings), one fallback, one search, one cache hit, and one trace older than the window.
 */
const SEED: Trace[] = [
  trace('a1', { tokensIn: 100, tokensOut: 10, costUsd: 0.001, stages: { embedMs: 10, generateMs: 100 }, totalMs: 110 }),
  trace('a2', { tokensIn: 200, tokensOut: 20, costUsd: 0.002, stages: { embedMs: 20, generateMs: 200 }, totalMs: 220 }),
  trace('a3', { tokensIn: 300, tokensOut: 30, costUsd: 0.003, stages: { embedMs: 30, generateMs: 300 }, totalMs: 330 }),
  trace('a4', {
    tokensIn: 400,
    tokensOut: 40,
    costUsd: 0.004,
    stages: { embedMs: 40, generateMs: 400 },
    totalMs: 440,
    outcome: 'fallback:timeout',
  }),
  trace('g1', { tenantId: 'globex', keyId: 'k9', model: 'gpt-4o', tokensIn: 1000, tokensOut: 100, costUsd: 0.0035, embedCostUsd: 0.0005 }),
  trace('n1', { model: null, question: 'Where is the refund policy?', outcome: 'not_covered' }),
  trace('n2', { model: null, question: 'where is the  refund policy?', outcome: 'not_covered' }),
  trace('n3', { model: null, question: 'Where is the refund policy?', outcome: 'not_covered' }),
  trace('n4', { model: null, question: 'Who founded the company?', outcome: 'not_covered' }),
  trace('s1', { kind: 'search', model: null, stages: { embedMs: 5, bm25Ms: 2 }, totalMs: 9 }),
  trace('h1', { cacheHit: true, tokensIn: 0, costUsd: 0, totalMs: 1 }),
  trace('old', { createdAt: new Date(Date.now() - 30 * DAY).toISOString(), tokensIn: 99_999, costUsd: 9 }),
];

describe('ragline report over a seeded ledger (PGlite on disk)', () => {
  let dataDir: string;
  const previousDataDir = process.env.RAGLINE_DATA_DIR;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-report-'));
    const store = await openPgliteStore(path.join(dataDir, 'pglite'));
    const ledger = new LedgerStore(store.db);
    await ledger.insertTraces(SEED);
    await ledger.putFeedback({ requestId: 'a1', rating: 5, comment: null, expected: null });
    await ledger.putFeedback({ requestId: 'a2', rating: 1, comment: 'wrong page', expected: 'page 4' });
    await ledger.putFeedback({ requestId: 'a3', rating: 2, comment: null, expected: null });
    await store.close();
    process.env.RAGLINE_DATA_DIR = dataDir;
  });

  afterAll(() => {
    if (previousDataDir === undefined) delete process.env.RAGLINE_DATA_DIR;
    else process.env.RAGLINE_DATA_DIR = previousDataDir;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const table = vi.spyOn(console, 'table').mockImplementation((rows: unknown) => void out.push(JSON.stringify(rows)));
    const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      const code = await main(['node', 'ragline', 'report', ...args]);
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      table.mockRestore();
      error.mockRestore();
    }
  }

  it('--json prints the expected figures', async () => {
    const { code, out } = await run(['--since', '7d', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.requests).toEqual({ total: 11, search: 1, answer: 10, cacheHits: 1 });
    // 10 answers: 4 answered of acme + g1 + h1 = 5 answered... a4 is a fallback, 4 not covered.
    expect(r.answerOutcomes).toEqual({ answered: 0.5, notCovered: 0.4, fallback: 0.1, error: 0 });
    // Stage percentiles over cache misses that ran the stage: embed 10, 20, 30, 40 (answers) and 5 (search).
    expect(r.latency.embedMs.p50).toBeCloseTo(20, 6);
    expect(r.latency.embedMs.p95).toBeCloseTo(38, 6);
    expect(r.latency.generateMs).toEqual({ p50: 250, p95: 385 });
    expect(r.latency.denseMs).toEqual({ p50: null, p95: null });
    const acme = r.usage.find((u: { tenantId: string; model: string }) => u.tenantId === 'acme' && u.model === 'gpt-4o-mini');
    expect(acme).toEqual({
      tenantId: 'acme',
      keyId: 'k1',
      model: 'gpt-4o-mini',
      requests: 5,
      tokensIn: 1000,
      tokensOut: 100,
      costUsd: 0.01,
    });
    const globex = r.usage.find((u: { tenantId: string }) => u.tenantId === 'globex');
    expect(globex).toMatchObject({ keyId: 'k9', model: 'gpt-4o', tokensIn: 1000, costUsd: 0.004 });
    expect(r.worstRated.map((w: { requestId: string }) => w.requestId)).toEqual(['a2', 'a3']);
    expect(r.worstRated[0]).toMatchObject({ comment: 'wrong page', expected: 'page 4' });
    expect(r.unanswered).toEqual([
      { question: 'Where is the refund policy?', count: 3 },
      { question: 'Who founded the company?', count: 1 },
    ]);
    expect(r.feedback).toEqual({ count: 3, rate: 0.3, averageRating: 2.67 });
  });

  it('the default text report shows cost and latency by stage; a wider window includes the old trace', async () => {
    const { code, out } = await run([]);
    expect(code).toBe(0);
    expect(out).toContain('Requests since');
    expect(out).toContain('"generate":{"p50":"250","p95":"385"}');
    expect(out).toContain('"costUsd":"0.010000"');
    expect(out).toContain('3×  Where is the refund policy?');
    const wide = JSON.parse((await run(['--since', '60d', '--json'])).out);
    expect(wide.requests.total).toBe(12);
  });

  it('a bad --since exits 2 with a message naming the option', async () => {
    const { code, err } = await run(['--since', 'last tuesday']);
    expect(code).toBe(2);
    expect(err).toContain('--since');
    expect(parseSince('24h', 1_000_000_000_000).getTime()).toBe(1_000_000_000_000 - DAY);
    expect(parseSince('2026-01-02').toISOString()).toBe('2026-01-02T00:00:00.000Z');
  });

  it('the report function agrees with the CLI on the same store', async () => {
    const store = await openPgliteStore(path.join(dataDir, 'pglite'));
    try {
      const r = await ledgerReport(new LedgerStore(store.db), new Date(Date.now() - 7 * DAY));
      expect(r.requests.total).toBe(11);
    } finally {
      await store.close();
    }
  });
});

describe('the routing figures of a tenant-scoped report', () => {
  it("count only that tenant's routed answers", async () => {
    const store = await openPgliteStore();
    try {
      const ledger = new LedgerStore(store.db);
      const routed = (tier: string, strongCostUsd: number) => ({ tier, reason: 'test', signals: null, strongModel: 'big', strongCostUsd });
      await ledger.insertTraces([
        trace('r1', { tenantId: 'acme', costUsd: 0.001, routing: routed('small', 0.01) }),
        trace('r2', { tenantId: 'globex', costUsd: 0.02, routing: routed('strong', 0.02) }),
        trace('r3', { tenantId: 'globex', costUsd: 0.001, routing: routed('small', 0.05) }),
      ]);
      const since = new Date(Date.now() - DAY);
      expect((await ledgerReport(ledger, since, 'acme')).routing).toEqual({
        routed: 1,
        small: 1,
        strong: 0,
        costUsd: 0.001,
        strongOnlyCostUsd: 0.01,
        savedUsd: 0.009,
      });
      expect((await ledgerReport(ledger, since)).routing).toMatchObject({ routed: 3, small: 2, strong: 1 });
    } finally {
      await store.close();
    }
  });
});
