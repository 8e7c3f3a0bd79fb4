import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BenchArgsError, BenchFlags } from '../bench/bench-args.ts';
import { PROJECT_ROOT } from './helpers/shared.ts';

const RUN = path.join(PROJECT_ROOT, 'bench', 'run.ts');

/**
 * `npm run bench <sub> -- <args>` as its own process. The model directory and the databases point nowhere, so a bench
 * that started its work before checking its options would fail some other way (a stack trace, exit code 1).
 */
function bench(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', RUN, ...args], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      RAG_MODEL_DIR: path.join(PROJECT_ROOT, 'no-such-model-dir'),
      RAGLINE_TEST_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      RAGLINE_TEST_PG_URL: 'postgres://nobody@127.0.0.1:1/none',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, stdout, stderr })));
}

describe('bench command lines', () => {
  it.each([
    // [arguments, what the one line must name]
    [['search', '--unknown-flag'], /unknown option --unknown-flag \(valid: --sizes, --queries\)/],
    [['ingest', '--unknown-flag'], /unknown option --unknown-flag \(valid: --files, .*--ocr-pages\)/],
    [['bm25-snapshot', '--chunks=abc'], /--chunks takes a whole number >= 100, got "abc"/],
    [['load', '--chunks', 'abc'], /--chunks takes a positive number, got "abc"/],
    [['filtered', '--stores=mysql'], /--stores: "mysql" is not one of pglite, postgres/],
    [['batch', '--questions=abc'], /--questions takes a whole number >= 1, got "abc"/],
  ])('npm run bench %j: one line on stderr and exit code 2, before any work', async (args, names) => {
    const { code, stdout, stderr } = await bench(args);
    expect(stderr).toMatch(names);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`see npm run bench ${args[0]} -- --help`);
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });

  it('--help still prints the usage and exits 0', async () => {
    const { code, stdout } = await bench(['search', '--help']);
    expect(stdout).toContain('Usage: bench search');
    expect(code).toBe(0);
  });
});

describe('BenchFlags', () => {
  it('reads "--key value", "--key=value" and switches, and rejects an option no read asked for', () => {
    const flags = new BenchFlags(['--chunks=400', '--sizes', '10,20', '--keep', '--typo', '3']);
    expect(flags.integer('chunks', 1)).toBe(400);
    expect(flags.numberList('sizes', [])).toEqual([10, 20]);
    expect(flags.switch('keep')).toBe(true);
    expect(flags.integer('queries', 7)).toBe(7);
    expect(() => flags.finish()).toThrow(new BenchArgsError('unknown option --typo (valid: --chunks, --sizes, --keep, --queries)'));
  });

  it('rejects values of the wrong kind', () => {
    expect(() => new BenchFlags(['--n=2.5']).integer('n', 1)).toThrow(BenchArgsError);
    expect(() => new BenchFlags(['--n=0']).integer('n', 1)).toThrow(/>= 1, got "0"/);
    expect(new BenchFlags(['--n=0']).integer('n', 1, 0)).toBe(0);
    expect(() => new BenchFlags(['--sizes=1,x']).numberList('sizes', [])).toThrow(/positive numbers/);
    expect(() => new BenchFlags(['--keep=maybe']).switch('keep')).toThrow(/is a switch/);
    expect(() => new BenchFlags(['stray'])).toThrow(/unexpected argument "stray"/);
  });
});
