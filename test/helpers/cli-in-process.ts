import { vi } from 'vitest';
import { main } from '../../cli/main.ts';

export interface CliRun {
  code: number;
  /** What the command printed for its user: console.log lines and console.table rows (as JSON). */
  out: string;
  /** console.error (and console.warn when asked) and raw writes to stderr. */
  err: string;
}

export interface CliCapture {
  /** Also capture raw writes to stdout (progress lines, streamed answers). */
  stdout?: boolean;
  /** Count console.warn as error output. */
  warn?: boolean;
}

/** Runs `ragline <args>` in this process, with its output captured instead of printed. */
export async function runCli(args: string[], capture: CliCapture = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'table').mockImplementation((rows: unknown) => void out.push(JSON.stringify(rows)));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  if (capture.warn) vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  if (capture.stdout) {
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => Boolean(out.push(String(chunk))));
  }
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => Boolean(err.push(String(chunk))));
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'ragline', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    vi.restoreAllMocks();
  }
}
