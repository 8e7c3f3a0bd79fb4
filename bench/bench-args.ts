import os from 'node:os';
import { execFileSync } from 'node:child_process';

/** Shared bits of the scale, load, soak and query-length benches: option parsing and the machine's load. */

/** "--key value" and "--key=value" into a map of raw strings. */
export function parseFlags(args: string[]): Map<string, string> {
  const tokens = args.flatMap((a) => (a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s).slice(0, 2) : [a]));
  const flags = new Map<string, string>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!token.startsWith('--')) throw new Error(`unexpected argument "${token}"`);
    const next = tokens[i + 1];
    if (next === undefined || next.startsWith('--')) flags.set(token.slice(2), 'true');
    else flags.set(token.slice(2), tokens[++i]!);
  }
  return flags;
}

export function numberList(flags: Map<string, string>, key: string, fallback: number[]): number[] {
  const raw = flags.get(key);
  if (raw === undefined) return fallback;
  const values = raw.split(',').map(Number);
  if (!values.length || values.some((v) => !(v > 0) || !Number.isFinite(v)))
    throw new Error(`--${key} takes positive numbers separated by commas`);
  return values;
}

export function positiveNumber(flags: Map<string, string>, key: string, fallback: number): number {
  const raw = flags.get(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`--${key} takes a positive number, got "${raw}"`);
  return value;
}

export function stringList<T extends string>(flags: Map<string, string>, key: string, allowed: readonly T[], fallback: T[]): T[] {
  const raw = flags.get(key);
  if (raw === undefined) return fallback;
  const values = raw.split(',') as T[];
  const bad = values.find((v) => !allowed.includes(v));
  if (bad) throw new Error(`--${key}: "${bad}" is not one of ${allowed.join(', ')}`);
  return values;
}

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

/** `--results <name>` writes bench/results/<name>.json instead of the bench's own name (smoke tests use it). */
export function resultsName(flags: Map<string, string>, fallback: string): string {
  const name = flags.get('results') ?? fallback;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`--results takes a plain file name (a-z, 0-9, -), got "${name}"`);
  return name;
}
