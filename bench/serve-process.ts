import { type ChildProcess, spawn } from 'node:child_process';
import { MODELS_DIR, PROJECT_ROOT } from '../core/shared-data.ts';

/**
 * `ragline serve` as a separate process on 127.0.0.1 for the load and soak benches: its own process
 * group (so one signal reaches node behind npx and tsx), its RSS read from its own /metrics.
 */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resident set size of the server process, from ragline_process_resident_memory_bytes. */
  rssBytes: () => Promise<number>;
  stop: () => Promise<void>;
}

/** Rate limits out of the way: the benches measure capacity, not the limiter (which has its own tests). */
export const UNLIMITED_RATES = {
  RAGLINE_RATE_LIMIT_PER_MINUTE: '100000000',
  RAGLINE_RATE_LIMIT_TENANT_PER_MINUTE: '100000000',
  RAGLINE_RATE_LIMIT_GLOBAL_PER_MINUTE: '100000000',
};

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startServe(
  databaseUrl: string,
  options: { worker?: boolean; env?: Record<string, string>; readyTimeoutMs?: number } = {},
): Promise<ServeProcess> {
  let output = '';
  const child = spawn('npx', ['tsx', 'cli/main.ts', 'serve', '--port', '0', ...(options.worker ? ['--worker'] : [])], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      RAG_MODEL_DIR: process.env.RAG_MODEL_DIR ?? MODELS_DIR,
      RAGLINE_LOG_LEVEL: process.env.RAGLINE_LOG_LEVEL ?? 'warn',
      ...UNLIMITED_RATES,
      ...options.env,
    },
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGTERM');
    const timer = setTimeout(() => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await waitFor('the server to listen', options.readyTimeoutMs ?? 300_000, async () => {
      if (child.exitCode !== null) throw new Error(`ragline serve exited with ${child.exitCode}:\n${output}`);
      return /listening on (http:\/\/\S+)/.exec(output)?.[1];
    });
    // Ready: the BM25 indexes are loaded (from snapshot or rebuilt), not merely listening.
    await waitFor('/readyz', options.readyTimeoutMs ?? 300_000, async () => {
      if (child.exitCode !== null) throw new Error(`ragline serve exited with ${child.exitCode}:\n${output}`);
      const res = await fetch(`${url}/readyz`);
      return res.status === 200 ? true : undefined;
    });
    const rssBytes = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const match = /^ragline_process_resident_memory_bytes\s+(\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text);
      if (!match) throw new Error('/metrics has no ragline_process_resident_memory_bytes');
      return Number(match[1]);
    };
    return { url, child, output: () => output, rssBytes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
