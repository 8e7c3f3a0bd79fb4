import fs from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { glob, isDynamicPattern } from 'tinyglobby';
import { assertValidMetadata } from '../../ingest/metadata.ts';
import { badRequest } from '../../core/errors.ts';
import type { IngestInput, IngestOutcome } from '../../ingest/pipeline.ts';
import { withRagline } from '../context.ts';
import { resolveTenant, tenantScopeOption } from './tenancy.ts';

const SUPPORTED = /\.(pdf|md|markdown|mdx|html?|txt|text|docx|pptx|xlsx|csv|eml|epub|png|jpe?g)$/i;

/** Expands files, directories (recursively, supported extensions only) and globs, in a stable order. */
export async function expandPaths(args: string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const arg of args) {
    if (isDynamicPattern(arg)) {
      for (const f of await glob(arg, { absolute: true, onlyFiles: true })) files.add(f);
      continue;
    }
    const stat = await fs.stat(arg).catch(() => null);
    if (!stat) throw badRequest(`no such file or directory: ${arg}`, { path: arg });
    if (stat.isDirectory()) {
      const found = await glob('**/*', { cwd: arg, absolute: true, onlyFiles: true });
      for (const f of found.filter((f) => SUPPORTED.test(f))) files.add(f);
    } else {
      files.add(path.resolve(arg));
    }
  }
  return [...files].sort();
}

async function* readInputs(files: string[], metadata: Record<string, unknown>): AsyncGenerator<IngestInput> {
  for (const file of files) {
    const bytes = new Uint8Array(await fs.readFile(file));
    yield { source: path.relative(process.cwd(), file) || file, bytes, metadata };
  }
}

function summarize(outcomes: IngestOutcome[], seconds: number) {
  const count = (s: IngestOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const chunks = outcomes.reduce((n, o) => n + (o.status === 'ingested' || o.status === 'updated' ? o.chunks : 0), 0);
  console.log(
    `\n${count('ingested')} ingested, ${count('updated')} updated, ${count('skipped')} skipped (unchanged), ` +
      `${count('failed')} failed — ${chunks} chunks in ${seconds.toFixed(1)} s`,
  );
  for (const o of outcomes) if (o.status === 'failed') console.log(`  failed: ${o.error.message}`);
  for (const o of outcomes.flatMap((parent) => ('attachments' in parent ? (parent.attachments ?? []) : []))) {
    if (o.status === 'failed') console.log(`  attachment failed: ${o.error.message}`);
  }
}

export function registerIngestCommand(program: Command) {
  program
    .command('ingest')
    .description('Ingest files, directories or globs into a collection (created if missing).')
    .argument('<paths...>', 'files, directories or glob patterns')
    .option('-c, --collection <name>', 'collection name', 'default')
    .option('-m, --metadata <json>', 'JSON object stored as document metadata (filterable as metadata.<key>)')
    .addOption(tenantScopeOption())
    .action(async (paths: string[], opts: { collection: string; metadata?: string; tenant: string }) => {
      const metadata = parseMetadata(opts.metadata);
      const files = await expandPaths(paths);
      if (!files.length) throw badRequest(`no supported files found in: ${paths.join(' ')}`);
      await withRagline(async (ragline) => {
        assertValidMetadata(metadata, ragline.config.limits, '--metadata');
        const tenant = await resolveTenant(ragline, opts.tenant);
        const collection = await ragline.ensureCollection(opts.collection, tenant);
        const started = performance.now();
        const outcomes = await ingestWithProgress(ragline, collection, files, metadata);
        summarize(outcomes, (performance.now() - started) / 1000);
        if (outcomes.some((o) => o.status === 'failed')) process.exitCode = 1;
      });
    });
}

function parseMetadata(raw: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  try {
    const value: unknown = JSON.parse(raw);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    /* fall through to the error below */
  }
  throw badRequest('--metadata must be a JSON object, e.g. \'{"team":"docs"}\'');
}

async function ingestWithProgress(
  ragline: import('../../facade/ragline.ts').Ragline,
  collection: import('../../store/types.ts').Collection,
  files: string[],
  metadata: Record<string, unknown>,
): Promise<IngestOutcome[]> {
  const tty = Boolean(process.stdout.isTTY);
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: '{bar} {value}/{total} files | {chunks} chunks | {rate} chunks/s | {file}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let chunks = 0;
  let done = 0;
  const started = performance.now();
  bar?.start(files.length, 0, { chunks: 0, rate: '0', file: '' });
  const outcomes = await ragline.ingest(collection, readInputs(files, metadata), (progress, outcome) => {
    if (!outcome) {
      bar?.update(done, { file: path.basename(progress.source) });
      return;
    }
    done += 1;
    if (outcome.status === 'ingested' || outcome.status === 'updated') chunks += outcome.chunks;
    const rate = (chunks / ((performance.now() - started) / 1000)).toFixed(1);
    if (bar) bar.update(done, { chunks, rate, file: path.basename(outcome.source) });
    else console.log(fileLine(done, files.length, outcome));
  });
  bar?.stop();
  // A terminal saw only the bar: the per-file table comes once it is done.
  if (bar) outcomes.forEach((outcome, i) => console.log(fileLine(i + 1, files.length, outcome)));
  return outcomes;
}

const fileLine = (n: number, total: number, o: IngestOutcome) => `[${n}/${total}] ${o.status.padEnd(8)} ${o.source}${describe(o)}`;

function describe(o: IngestOutcome): string {
  if (o.status === 'ingested' || o.status === 'updated') {
    const attached = (o.attachments ?? []).map((a) => `\n    attachment ${a.status.padEnd(8)} ${a.source}${describe(a)}`).join('');
    return ` (${o.chunks} chunks${o.pages ? `, ${o.pages} pages` : ''}, ${Math.round(o.timings.embedMs)} ms embedding)${attached}`;
  }
  if (o.status === 'failed') return ` — ${o.error.message}`;
  return '';
}
