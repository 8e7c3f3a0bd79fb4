import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT, TEST_MODEL_DIR, describeShared } from './helpers/shared.ts';
import type { Json } from './helpers/tenants.ts';
import { runCli } from './helpers/cli-in-process.ts';

/** `ragline batch …` and `ragline handoffs …` in process, on an embedded PGlite data dir. */
describeShared('batch and handoffs CLI (PGlite data dir)', () => {
  let dir: string;
  const saved = { ...process.env };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-cli-batch-'));
    Object.assign(process.env, {
      RAGLINE_DATA_DIR: path.join(dir, 'data'),
      RAG_MODEL_DIR: TEST_MODEL_DIR,
      RAGLINE_ANSWER_GENERATOR: 'extractive',
      RAGLINE_ANSWER_CACHE_SIZE: '0',
      RAGLINE_BATCH_MAX_QUESTIONS: '4',
    });
    delete process.env.DATABASE_URL;
    delete process.env.OPENAI_API_KEY;
  });

  afterAll(() => {
    process.env = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ragline = (...args: string[]) => runCli(args, { stdout: true });

  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  it('submits a JSONL file, waits for it, and prints one result line per question', { timeout: 180_000 }, async () => {
    expect((await ragline('ingest', path.join(PROJECT_ROOT, 'fixtures/faq.txt'), '--collection', 'guide')).code).toBe(0);
    const questions = file(
      'q.jsonl',
      '"Can Ragline read password-protected PDFs?"\n\n{"question": "What is the airspeed velocity of an unladen swallow in Patagonia?", "id": "swallow"}\n',
    );
    const submitted = await ragline('batch', 'submit', 'guide', questions, '--wait', '--json');
    expect(submitted.code).toBe(0);
    const batch = JSON.parse(submitted.out) as Json;
    expect(batch).toMatchObject({ state: 'completed', total: 2, succeeded: 2, failed: 0 });

    const results = await ragline('batch', 'results', batch.id);
    expect(results.code).toBe(0);
    const lines = results.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
    expect(lines.map((l) => [l.position, l.kind, l.id ?? null])).toEqual([
      [0, 'extractive', null],
      [1, 'not_covered', 'swallow'],
    ]);
    expect(lines[0]!.citations[0].source).toContain('faq.txt');
    expect(lines.every((l) => typeof l.requestId === 'string')).toBe(true);

    // The not-covered batch question became a handoff, which the CLI lists and resolves.
    const listed = await ragline('handoffs', 'list', '--state', 'open', '--json');
    expect(listed.code).toBe(0);
    const [handoff] = JSON.parse(listed.out) as Json[];
    expect(handoff).toMatchObject({ reason: 'not_covered', requestId: lines[1]!.requestId, collectionName: 'guide' });
    const resolved = await ragline('handoffs', 'resolve', handoff!.id, '--note', 'added to the FAQ backlog', '--json');
    expect(resolved.code).toBe(0);
    expect(JSON.parse(resolved.out)).toMatchObject({ state: 'resolved', resolution: { note: 'added to the FAQ backlog' } });
    expect((await ragline('handoffs', 'resolve', handoff!.id, '--note', 'again')).code).toBe(1);
    expect(JSON.parse((await ragline('handoffs', 'list', '--state', 'open', '--json')).out)).toEqual([]);
  });

  it('refuses bad files and unknown ids with a message and a non-zero exit code', async () => {
    const cases: [string[], number, string][] = [
      [['batch', 'submit', 'guide', path.join(dir, 'missing.jsonl')], 2, 'cannot read'],
      [['batch', 'submit', 'guide', file('bad.jsonl', '"ok"\n{not json\n')], 2, 'line 2 is not JSON'],
      [['batch', 'submit', 'guide', file('empty-q.jsonl', '"ok"\n"   "\n')], 2, 'question 2'],
      [['batch', 'submit', 'guide', file('many.jsonl', '"a"\n"b"\n"c"\n"d"\n"e"\n')], 2, 'at most 4 questions'],
      [['batch', 'submit', 'guide', file('one.jsonl', '"a"\n'), '--settings', '{"topK": 2}'], 2, 'topK'],
      [['batch', 'submit', 'nope', file('one.jsonl', '"a"\n')], 1, 'not found'],
      [['batch', 'results', '00000000-0000-4000-8000-000000000000'], 1, 'not found'],
      [['batch', 'status', 'not-an-id'], 1, 'not found'],
      [['handoffs', 'resolve', 'not-an-id', '--note', 'x'], 1, 'not found'],
      [['handoffs', 'resolve', 'not-an-id', '--note', '  '], 2, '--note'],
      [['handoffs', 'list', '--limit', '500'], 2, '1 to 200'],
    ];
    for (const [args, code, message] of cases) {
      const run = await ragline(...args);
      expect({ args, code: run.code }).toEqual({ args, code });
      expect(run.err).toContain(message);
    }
  });
});
