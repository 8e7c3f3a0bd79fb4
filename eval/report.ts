import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { badRequest } from '../core/errors.ts';
import { METRIC_NAMES, type Metrics } from './metrics.ts';
import type { EvalMode, FusionSettings } from './runner.ts';

/** Command-line parsing and printing shared by `ragline eval` and `ragline tune`. */

const fusionOptionsSchema = z.object({
  fusion: z.enum(['rrf', 'convex']).optional(),
  k: z.coerce.number().min(0).max(10_000).optional(),
  weights: z
    .string()
    .regex(/^\s*[\d.]+\s*,\s*[\d.]+\s*$/, 'takes two numbers: dense,bm25')
    .transform((s) => {
      const [dense, bm25] = s.split(',').map(Number) as [number, number];
      return { dense, bm25 };
    })
    .optional(),
  candidates: z.coerce.number().int().min(1).max(1000).optional(),
});

export function parseFusionOptions(raw: Record<string, unknown>): FusionSettings {
  const parsed = fusionOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(`--${issue.path.join('.')}: ${issue.message}`);
  }
  const out: FusionSettings = {};
  for (const [key, value] of Object.entries(parsed.data)) if (value !== undefined) Object.assign(out, { [key]: value });
  return out;
}

export const METRIC_LABELS: Record<keyof Metrics, string> = {
  ndcg10: 'nDCG@10',
  recall10: 'Recall@10',
  recall100: 'Recall@100',
  mrr10: 'MRR@10',
};

export const fmt = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(4));

/** A plain Markdown-style table (pastes straight into a README). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Metrics down, modes across: the side-by-side comparison. */
export function modesTable(results: Partial<Record<EvalMode, Metrics>>): string {
  const modes = (['dense', 'bm25', 'hybrid'] as const).filter((m) => results[m]);
  return table(
    ['metric', ...modes],
    METRIC_NAMES.map((name) => [METRIC_LABELS[name], ...modes.map((m) => fmt(results[m]![name]))]),
  );
}

/** "rrf k=60 weights=1,1 candidates=200"; "default" for the shipped defaults. */
export function describeFusion(s: FusionSettings): string {
  if (!Object.keys(s).length) return 'default';
  const parts = [
    s.fusion ?? 'default fusion',
    s.k !== undefined ? `k=${s.k}` : undefined,
    s.weights ? `weights=${s.weights.dense},${s.weights.bm25}` : 'weights=default',
    s.candidates !== undefined ? `candidates=${s.candidates}` : undefined,
  ];
  return parts.filter(Boolean).join(' ');
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
