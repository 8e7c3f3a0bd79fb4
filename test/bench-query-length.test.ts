import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queriesOfLength, runQueryLengthBench } from '../bench/query-length.ts';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: the results file is read loosely
type Json = Record<string, any>;

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeBoth('bench query-length (smoke: a few hundred chunks)', () => {
  let db: TempDatabase;
  beforeAll(async () => {
    // The bench keeps its collections in RAGLINE_BENCH_DATABASE: a scratch one here.
    db = await createScratchDatabase('bench_ql');
    process.env.RAGLINE_BENCH_DATABASE = db.name;
  });
  afterAll(async () => {
    delete process.env.RAGLINE_BENCH_DATABASE;
    await db?.drop();
  });

  it('makes queries of exactly the asked number of real words', () => {
    for (const length of [5, 200]) {
      const queries = queriesOfLength(length, 5);
      expect(queries).toHaveLength(5);
      for (const q of queries) expect(q.split(' ')).toHaveLength(length);
    }
  });

  it('runs end to end and writes a row per length and stage', async () => {
    const file = await runQueryLengthBench([
      '--chunks',
      '400',
      '--seeds',
      '40',
      '--lengths',
      '5,50',
      '--queries',
      '4',
      '--results',
      'smoke-query-length',
    ]);
    try {
      const out = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      expect(out.benchmark).toBe('smoke-query-length');
      expect(out.collection.chunks).toBe(400);
      expect(out.results.map((r: Json) => r.words)).toEqual([5, 50]);
      for (const r of out.results as Json[]) {
        expect(r.queryEmbeddingMs).toEqual(expect.objectContaining({ n: 4, p95: expect.any(Number) }));
        for (const mode of ['bm25', 'dense', 'hybrid'])
          expect(r.search[mode].totalMs).toEqual(expect.objectContaining({ n: 4, p99: expect.any(Number) }));
      }
      expect(out.rows).toHaveLength(2 * 4);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 180_000);
});
