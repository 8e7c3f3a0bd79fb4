import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, TEST_MODEL_DIR } from './shared.ts';

export interface RaglineProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string;
}

/**
 * `ragline <args>` against `databaseUrl` with the test model, in its own process group so that a
 * signal sent with killGroup reaches node behind npx and tsx.
 */
export function spawnRagline(args: string[], databaseUrl: string, env: Record<string, string> = {}): RaglineProcess {
  let output = '';
  const child = spawn('npx', ['tsx', 'cli/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: databaseUrl, RAG_MODEL_DIR: path.resolve(TEST_MODEL_DIR), ...env },
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Signals the whole process group and resolves once the process has exited. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(-child.pid!, signal);
  return exited;
}
