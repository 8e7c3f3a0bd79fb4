import fs from 'node:fs';
import { expect, it } from 'vitest';
import { mulberry32 } from '../core/random.ts';
import { runScaleBench } from '../bench/scale.ts';
import { neighbourStructure, perturbed, realPassageCount, seedDocuments, syntheticDocuments } from '../bench/synthetic-corpus.ts';
import { describePostgres, postgresUnavailable } from './helpers/postgres.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: the results file is read loosely
type Json = Record<string, any>;

function randomUnitVectors(n: number, dims: number): Float32Array[] {
  const random = mulberry32(3);
  return Array.from({ length: n }, () => perturbed([[new Float32Array(dims), 0]], 1, random));
}

describeShared('the distinct synthetic corpus', () => {
  it('gives exactly the size asked for, real passages first, with no text or vector twice', () => {
    const seeds = seedDocuments(30);
    const vectors = randomUnitVectors(seeds.length, 16);
    const real = realPassageCount(seeds);
    const size = real * 4;
    const chunks = [...syntheticDocuments(seeds, vectors, size)].flatMap((d) => d.chunks);
    expect(chunks).toHaveLength(size);
    expect(new Set(chunks.map((c) => c.text)).size).toBe(size);
    expect(new Set(chunks.map((c) => Buffer.from(c.vector.buffer).toString('base64'))).size).toBe(size);
    expect(chunks.slice(0, real).every((c) => c.real)).toBe(true);
    expect(chunks.slice(real).every((c) => !c.real)).toBe(true);
    // The first passage of each seed keeps its real vector; every vector is unit length.
    expect(chunks[0]!.vector).toEqual(vectors[0]);
    for (const c of chunks.slice(0, 50)) expect(Math.hypot(...c.vector)).toBeCloseTo(1, 5);
    const structure = neighbourStructure(chunks, 20);
    expect(structure.maxCosine).toBeLessThan(0.9999);
    expect(structure.distinctSeedsTop10).toBeGreaterThan(1);
  });
});

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeBoth('bench scale (smoke: a few hundred chunks)', () => {
  it('runs end to end on PGlite and Postgres and writes well-formed results', async () => {
    const unavailable = await postgresUnavailable();
    if (unavailable && process.env.CI) throw new Error(unavailable);
    const stores = unavailable ? 'pglite' : 'pglite,postgres';
    const file = await runScaleBench([
      '--sizes',
      '400',
      '--stores',
      stores,
      '--queries',
      '8',
      '--seeds',
      '40',
      '--probes',
      '10',
      '--results',
      'smoke-scale',
    ]);
    try {
      const out = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      expect(out.benchmark).toBe('smoke-scale');
      expect(out.machine.loadAverage).toHaveLength(3);
      expect(out.results).toHaveLength(stores.split(',').length);
      for (const r of out.results as Json[]) {
        expect(r.chunks).toBe(400);
        expect(r.insertSeconds).toBeGreaterThan(0);
        expect(r.hnswBuildSeconds).toBeGreaterThan(0);
        expect(r.bm25).toEqual(
          expect.objectContaining({
            rebuildMs: expect.any(Number),
            snapshotLoadMs: expect.any(Number),
            heapBytesPerChunk: expect.any(Number),
          }),
        );
        for (const mode of ['hybrid', 'dense', 'bm25']) {
          for (const stage of ['denseMs', 'bm25Ms', 'fuseMs', 'totalMs']) {
            expect(r.stages[mode][stage]).toEqual(
              expect.objectContaining({ n: 8, p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) }),
            );
          }
        }
      }
      expect(out.neighbourStructure[0]).toEqual(expect.objectContaining({ chunks: 400, maxCosine: expect.any(Number) }));
      expect(out.rows.latency.length).toBe(3 * out.results.length);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 180_000);
});
