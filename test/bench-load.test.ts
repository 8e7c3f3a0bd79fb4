import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLoadBench } from '../bench/load.ts';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: the results file is read loosely
type Json = Record<string, any>;

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeBoth('bench load (smoke: a few hundred chunks, 1 s steps)', () => {
  let db: TempDatabase;
  beforeAll(async () => {
    db = await createScratchDatabase('bench_load');
    process.env.RAGLINE_BENCH_DATABASE = db.name;
  });
  afterAll(async () => {
    delete process.env.RAGLINE_BENCH_DATABASE;
    await db?.drop();
  });

  it('steps /search and /answer against ragline serve, and sheds past the in-flight limit', async () => {
    const file = await runLoadBench([
      ...['--chunks', '400', '--seeds', '40', '--queries', '8', '--seconds', '1'],
      ...['--connections', '1,2', '--saturate', '8', '--answer-connections', '1'],
      ...['--max-in-flight-search', '1', '--max-in-flight-answer', '1', '--results', 'smoke-load'],
    ]);
    try {
      const out = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      expect(out.benchmark).toBe('smoke-load');
      expect(out.steps.map((s: Json) => `${s.route}:${s.connections}`)).toEqual(['search:1', 'search:2', 'search:8', 'answer:1']);
      for (const s of out.steps as Json[]) {
        expect(s.accepted).toBeGreaterThan(0);
        expect(s.errors).toBe(0);
        expect(s.otherStatuses).toEqual({});
        expect(s.acceptedMs).toEqual(
          expect.objectContaining({ p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) }),
        );
        expect(s.rssMaxBytes).toBeGreaterThan(0);
      }
      // One search in flight allowed, eight connections: some requests must be shed with 503.
      expect(out.summary.saturation.shedShare).toBeGreaterThan(0);
      expect(out.summary).toHaveProperty('sustainedSearchPerSecondAtP95Under100ms');
      expect(out.summary.rssMaxMb).toBeGreaterThan(0);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 240_000);
});
