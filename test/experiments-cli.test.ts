import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPostgresStore } from '../store/postgres.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { type TempDatabase, createScratchDatabase, describePostgres } from './helpers/postgres.ts';
import { DATASETS_DIR, SHARED_AVAILABLE } from './helpers/shared.ts';
import { runCli } from './helpers/cli-in-process.ts';

/** `ragline config …` and `ragline experiments …` against DATABASE_URL, in process. */
const describeIt = await describePostgres();

(SHARED_AVAILABLE ? describeIt : describe.skip)('config and experiments CLI (Postgres server)', () => {
  let db: TempDatabase;
  let dataDir: string;
  const saved = { url: process.env.DATABASE_URL, dir: process.env.RAGLINE_DATA_DIR, chunks: process.env.RAGLINE_CHUNK_STRATEGY };

  beforeAll(async () => {
    db = await createScratchDatabase('experiments_cli');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-exp-cli-'));
    Object.assign(process.env, { DATABASE_URL: db.url, RAGLINE_DATA_DIR: dataDir, RAGLINE_CHUNK_STRATEGY: 'sentence' });
    const store = await openPostgresStore(db.url);
    const ragline = await Ragline.open(configSchema.parse({ databaseUrl: db.url }), { store, embedder: await testEmbedder() });
    const collection = await ragline.createCollection('guide');
    const texts = ['Reciprocal rank fusion sums reciprocal ranks.', 'The server listens on port 8787.', 'Chunks stay under a token cap.'];
    await ragline.ingest(
      collection,
      texts.map((text, i) => ({ source: `d${i}.txt`, bytes: new TextEncoder().encode(text), mime: 'text/plain' })),
    );
    await ragline.bm25.close();
    await store.close();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    for (const [key, value] of [
      ['DATABASE_URL', saved.url],
      ['RAGLINE_DATA_DIR', saved.dir],
      ['RAGLINE_CHUNK_STRATEGY', saved.chunks],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await db?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const ragline = (...args: string[]) => runCli(args, { warn: true });
  const json = async (...args: string[]) => {
    const r = await ragline(...args, '--json');
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    return JSON.parse(r.out);
  };

  it('sets, shows, lists, rolls back and activates configs; bad input exits 2 with a message', async () => {
    expect((await json('config', 'set', 'control', '-c', 'guide', '--settings', '{"retrieval":{"topK":5}}')).active).toBe(true);
    await json('config', 'set', 'control', '-c', 'guide', '--settings', '{"retrieval":{"topK":7}}', '--note', 'wider');
    expect((await json('config', 'show', '-c', 'guide')).settings.retrieval.topK).toBe(7);
    const rolled = await json('config', 'rollback', 'control', '-c', 'guide');
    expect(rolled).toMatchObject({ version: 3, settings: { retrieval: { topK: 5 } } });
    expect((await json('config', 'history', 'control', '-c', 'guide')).versions.map((v: { version: number }) => v.version)).toEqual([
      3, 2, 1,
    ]);
    await json('config', 'set', 'dense', '-c', 'guide', '--settings', '{"retrieval":{"mode":"dense","topK":5}}');
    expect((await json('config', 'list', '-c', 'guide')).active).toBe('control');

    const bad = await ragline('config', 'set', 'x', '-c', 'guide', '--settings', '{"retrieval":{"topK":"many"}}');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('topK');
    expect((await ragline('config', 'set', 'x', '-c', 'guide', '--settings', 'not json')).code).toBe(2);
    const missing = await ragline('config', 'show', 'nope', '-c', 'guide');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('"nope" not found');
  });

  it('starts an experiment, answers by user, reports (with offline nDCG@10 on a tiny slice), stops with a winner', async () => {
    expect((await ragline('experiments', 'start', 'mode', '-c', 'guide', '--variants', 'control=60,dense=50')).code).toBe(2);
    expect((await ragline('experiments', 'start', 'mode', '-c', 'guide', '--variants', 'control:60')).code).toBe(2);
    const started = await json('experiments', 'start', 'mode', '-c', 'guide', '--variants', 'control=50,dense=50');
    expect(started.state).toBe('running');

    const answer = await json('ask', 'Which port does the server listen on?', '-c', 'guide', '--user', 'alice');
    expect(answer.chunks.length).toBeGreaterThan(0);

    const scifact = path.join(DATASETS_DIR, 'scifact');
    const report = await json('experiments', 'report', 'mode', '-c', 'guide', '--dataset', scifact, '--limit', '30');
    expect(report.variants.map((v: { config: string }) => v.config)).toEqual(['control', 'dense']);
    expect(report.variants.reduce((n: number, v: { answers: number }) => n + v.answers, 0)).toBe(1);
    expect(report.offline.map((o: { config: string; mode: string }) => [o.config, o.mode])).toEqual([
      ['control', 'hybrid'],
      ['dense', 'dense'],
    ]);
    for (const o of report.offline) {
      expect(o.queries).toBeGreaterThan(0);
      expect(o.ndcg10).toBeGreaterThan(0.3);
      expect(o.ndcg10).toBeLessThanOrEqual(1);
    }

    const table = await ragline('experiments', 'report', 'mode', '-c', 'guide');
    expect(table.out).toContain('up-rate (95 % CI)');
    expect((await ragline('experiments', 'stop', 'mode', '-c', 'guide', '--winner', 'ghost')).code).toBe(2);
    await json('experiments', 'stop', 'mode', '-c', 'guide', '--winner', 'dense');
    expect((await json('config', 'list', '-c', 'guide')).active).toBe('dense');
    const audit = await ragline('audit', '--json');
    for (const action of ['config.set', 'config.rollback', 'experiment.start', 'experiment.stop']) expect(audit.out).toContain(action);
  });
});
