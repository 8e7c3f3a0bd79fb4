import os from 'node:os';
import { execFileSync } from 'node:child_process';

/**
 * Shared bits of every bench: option parsing and the machine's load. A bad command line is a
 * BenchArgsError, which bench/run.ts prints as one line before exiting 2: nothing heavy may start
 * before a bench has read all of its options.
 */

/** The stores a bench can run against (--stores). */
export const STORE_KINDS = ['pglite', 'postgres'] as const;

export class BenchArgsError extends Error {
  override name = 'BenchArgsError';
}

/**
 * The options of one bench run, read by name. Each read records the name as known, so `finish()`
 * can reject whatever was given but never read, listing the options the bench does read.
 */
export class BenchFlags {
  private readonly given = new Map<string, string>();
  private readonly known = new Set<string>();

  /** Accepts "--key value", "--key=value" and a bare "--key" (a switch). */
  constructor(args: readonly string[]) {
    const tokens = args.flatMap((a) => (a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s).slice(0, 2) : [a]));
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (!token.startsWith('--') || token === '--') throw new BenchArgsError(`unexpected argument "${token}"`);
      const next = tokens[i + 1];
      if (next === undefined || next.startsWith('--')) this.given.set(token.slice(2), 'true');
      else this.given.set(token.slice(2), tokens[++i]!);
    }
  }

  /** The raw value of --key, or undefined when it was not given. */
  raw(key: string): string | undefined {
    this.known.add(key);
    return this.given.get(key);
  }

  string(key: string, fallback: string): string {
    return this.raw(key) ?? fallback;
  }

  switch(key: string): boolean {
    const raw = this.raw(key);
    if (raw === undefined || raw === 'false') return false;
    if (raw === 'true') return true;
    throw new BenchArgsError(`--${key} is a switch and takes no value, got "${raw}"`);
  }

  positiveNumber(key: string, fallback: number): number {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!(value > 0) || !Number.isFinite(value)) throw new BenchArgsError(`--${key} takes a positive number, got "${raw}"`);
    return value;
  }

  /** A whole number of at least `min`. */
  integer(key: string, fallback: number, min?: number): number;
  integer(key: string, fallback: undefined, min?: number): number | undefined;
  integer(key: string, fallback: number | undefined, min = 1): number | undefined {
    const raw = this.raw(key);
    return raw === undefined ? fallback : parseInteger(key, raw, min);
  }

  numberList(key: string, fallback: number[]): number[] {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    const values = raw.split(',').map(Number);
    if (values.some((v) => !(v > 0) || !Number.isFinite(v)))
      throw new BenchArgsError(`--${key} takes positive numbers separated by commas, got "${raw}"`);
    return values;
  }

  oneOfList<T extends string>(key: string, allowed: readonly T[], fallback: T[]): T[] {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    const values = raw.split(',').map((v) => v.trim()) as T[];
    const bad = values.find((v) => !allowed.includes(v));
    if (bad !== undefined) throw new BenchArgsError(`--${key}: "${bad}" is not one of ${allowed.join(', ')}`);
    return values;
  }

  /** `--results <name>` writes bench/results/<name>.json instead of the bench's own name (smoke tests use it). */
  resultsName(fallback: string): string {
    const name = this.string('results', fallback);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new BenchArgsError(`--results takes a plain file name (a-z, 0-9, -), got "${name}"`);
    return name;
  }

  /** Call once every option has been read: an option the bench never read is a typo or a stale flag. */
  finish(): void {
    const unknown = [...this.given.keys()].filter((key) => !this.known.has(key));
    if (!unknown.length) return;
    const valid = [...this.known].map((key) => `--${key}`).join(', ');
    throw new BenchArgsError(`unknown option --${unknown[0]} (valid: ${valid || 'none'})`);
  }
}

function parseInteger(key: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new BenchArgsError(`--${key} takes a whole number >= ${min}, got "${raw}"`);
  return value;
}

/** A commander argParser for whole-number options, failing the same way as BenchFlags. */
export const integerOption =
  (key: string, min = 1) =>
  (raw: string): number =>
    parseInteger(key, raw, min);

/** The machine is shared: every figure is printed with the load it was measured under. */
export interface MachineLoad {
  uptime: string;
  loadAverage: [number, number, number];
  cpus: number;
}

export function machineLoad(): MachineLoad {
  let uptime: string;
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = `load average: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}`;
  }
  const [a = 0, b = 0, c = 0] = os.loadavg().map((v) => Math.round(v * 100) / 100);
  return { uptime, loadAverage: [a, b, c], cpus: os.cpus().length };
}

export const ms = (v: number) => Math.round(v * 100) / 100;

/** How every bench's command line fails: one line on stderr naming the problem, and exit code 2. */
export function exitOnBadArgs(command: string, err: unknown): never {
  if (!(err instanceof BenchArgsError)) throw err;
  const help = command && !command.startsWith('-') ? `npm run bench ${command} -- --help` : 'npm run bench -- --help';
  process.stderr.write(`bench${command ? ` ${command}` : ''}: ${err.message}; see ${help}\n`);
  process.exit(2);
}
