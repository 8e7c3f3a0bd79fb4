import fs from 'node:fs';
import { expect, it } from 'vitest';
import { runSoakBench } from '../bench/soak.ts';
import { describePostgres } from './helpers/postgres.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: the results file is read loosely
type Json = Record<string, any>;

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeBoth('bench soak (smoke: ~15 s)', () => {
  it('ingests, searches and deletes through two replicas with no errors and writes well-formed results', async () => {
    const file = await runSoakBench([
      '--minutes',
      '0.25',
      '--ingest-every-ms',
      '1000',
      '--delete-every',
      '2',
      '--search-every-ms',
      '250',
      '--results',
      'smoke-soak',
    ]);
    try {
      const out = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      expect(out.benchmark).toBe('smoke-soak');
      expect(out.errors).toEqual([]);
      expect(out.summary.ingests).toBeGreaterThan(0);
      expect(out.summary.deletes).toBeGreaterThan(0);
      expect(out.summary.searches).toBeGreaterThan(0);
      expect(out.summary).toEqual(
        expect.objectContaining({ notVisibleWithin1s: expect.any(Number), staleAfterDelete: expect.any(Number) }),
      );
      for (const replica of ['a', 'b']) {
        expect(out.replicas[replica].rss.length).toBeGreaterThanOrEqual(2);
        expect(Number.isFinite(out.replicas[replica].rssSlopeMbPerMinute)).toBe(true);
        expect(out.replicas[replica].visibilityMs.n).toBe(out.summary.ingests);
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 300_000);
});
