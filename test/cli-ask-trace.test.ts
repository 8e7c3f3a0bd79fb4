import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openPgliteStore } from '../store/pglite.ts';
import { runCli } from './helpers/cli-process.ts';
import { describeShared } from './helpers/shared.ts';

async function cli(args: string[], env: Record<string, string>) {
  const run = runCli(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describeShared('`ragline ask` (real CLI process): only the answer on stdout, and one trace in the ledger', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-ask-'));
  const dataDir = path.join(root, 'data');
  const note = path.join(root, 'tides.txt');
  fs.writeFileSync(note, 'Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.');
  // RAGLINE_LOG_LEVEL unset here: the CLI's own default level is what is under test.
  const env = { RAGLINE_DATA_DIR: dataDir, RAGLINE_LOG_LEVEL: '' };

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('prints the answer and its sources without log lines, and writes the trace before exiting', async () => {
    const ingest = await cli(['ingest', note, '--collection', 'sea'], env);
    expect(ingest.code, ingest.stdout + ingest.stderr).toBe(0);
    const ask = await cli(['ask', 'What causes ocean tides?', '--collection', 'sea'], env);
    expect(ask.code, ask.stderr).toBe(0);
    expect(ask.stdout).toContain('gravitational pull of the moon');
    expect(ask.stdout.split('\n').filter((line) => line.trim().startsWith('{'))).toEqual([]);
    expect(ask.stderr.split('\n').filter((line) => /"level":(20|30)/.test(line))).toEqual([]); // no debug/info logs either

    const store = await openPgliteStore(path.join(dataDir, 'pglite'));
    try {
      const { rows } = await store.db.query<Record<string, unknown>>(
        'SELECT kind, key_id, tenant_id, question, outcome, collection_name FROM request_traces',
      );
      expect(rows).toEqual([
        {
          kind: 'answer',
          key_id: 'cli',
          tenant_id: 'default', // the CLI's tenant (--tenant, else the default one)
          question: 'What causes ocean tides?',
          outcome: 'answered',
          collection_name: 'sea',
        },
      ]);
    } finally {
      await store.close();
    }
  });

  it('an unknown RAGLINE_LOG_LEVEL is named in a warning instead of crashing the command', async () => {
    const run = await cli(['ingest', note, '--collection', 'sea'], { ...env, RAGLINE_LOG_LEVEL: 'loud' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/0 ingested, 0 updated, 1 skipped/);
    expect(run.stderr).toContain('RAGLINE_LOG_LEVEL is not a log level; logging at info');
  });
});
