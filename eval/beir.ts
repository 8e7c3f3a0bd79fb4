import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RaglineError } from '../core/errors.ts';
import { mulberry32, shuffled } from '../core/random.ts';
import type { Qrels } from './metrics.ts';

/**
 * Reads a dataset in BEIR's layout: corpus.jsonl, queries.jsonl and qrels/<split>.tsv
 * (tab-separated, a header row, often CRLF line endings).
 */

export interface BeirDoc {
  id: string;
  title: string;
  text: string;
}

export interface BeirDataset {
  /** The folder's name, e.g. "scifact". */
  name: string;
  dir: string;
  corpus: BeirDoc[];
  /** Every query text in queries.jsonl (all splits), by id. */
  queries: Map<string, string>;
  /** Judgements of each loaded split. */
  qrels: Map<string, Qrels>;
  /** Present when the corpus was cut down with `limit`. */
  slice?: { limit: number; seed: number; fullCorpus: number };
}

export interface BeirOptions {
  splits: string[];
  /**
   * Keep only this many documents: all relevant documents of a set of queries (chosen in a
   * seeded random order until they fill half the budget) plus seeded random fillers. Queries
   * whose relevant documents are not all kept are dropped from the qrels, so the slice is
   * consistent: every judged document is in the corpus.
   */
  limit?: number;
  seed?: number;
}

export const DEFAULT_SEED = 42;

const docLine = z.object({ _id: z.union([z.string(), z.number()]), title: z.string().default(''), text: z.string() });
const queryLine = z.object({ _id: z.union([z.string(), z.number()]), text: z.string() });

function missing(what: string, file: string): RaglineError {
  return new RaglineError(
    'dataset_missing',
    `${what} not found: ${file} (expected a BEIR folder with corpus.jsonl, queries.jsonl and qrels/<split>.tsv)`,
    {
      path: file,
    },
  );
}

function readJsonl<T>(file: string, schema: z.ZodType<T>): T[] {
  if (!fs.existsSync(file)) throw missing(path.basename(file), file);
  const out: T[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const parsed = schema.safeParse(JSON.parse(line));
      if (!parsed.success) {
        throw new RaglineError('bad_request', `${file}:${i + 1}: ${parsed.error.issues[0]?.message ?? 'invalid line'}`, {
          path: file,
          line: i + 1,
        });
      }
      out.push(parsed.data);
    });
  return out;
}

export function readQrels(file: string): Qrels {
  if (!fs.existsSync(file)) throw missing('qrels', file);
  const qrels: Qrels = new Map();
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const [queryId, docId, score] = raw.replace(/\r$/, '').split('\t');
    const grade = Number(score);
    // The header row ("query-id corpus-id score") has a non-numeric score and is skipped here too.
    if (!queryId || !docId || !Number.isFinite(grade)) continue;
    let judgements = qrels.get(queryId);
    if (!judgements) qrels.set(queryId, (judgements = new Map()));
    judgements.set(docId, grade);
  }
  return qrels;
}

export function loadBeir(dir: string, options: BeirOptions): BeirDataset {
  const root = path.resolve(dir);
  if (!fs.existsSync(root)) throw missing('dataset folder', root);
  const corpus = readJsonl(path.join(root, 'corpus.jsonl'), docLine).map((d) => ({ id: String(d._id), title: d.title, text: d.text }));
  const queries = new Map(readJsonl(path.join(root, 'queries.jsonl'), queryLine).map((q) => [String(q._id), q.text]));
  const qrels = new Map(options.splits.map((split) => [split, readQrels(path.join(root, 'qrels', `${split}.tsv`))]));
  const dataset: BeirDataset = { name: path.basename(root), dir: root, corpus, queries, qrels };
  return options.limit !== undefined && options.limit < corpus.length
    ? sliceDataset(dataset, options.limit, options.seed ?? DEFAULT_SEED)
    : dataset;
}

export function sliceDataset(dataset: BeirDataset, limit: number, seed: number): BeirDataset {
  const random = mulberry32(seed);
  const known = new Set(dataset.corpus.map((d) => d.id));
  const keep = new Set<string>();
  const keptQueries = new Set<string>();

  const candidates = [...dataset.qrels.entries()].flatMap(([split, qrels]) => [...qrels.keys()].map((queryId) => ({ split, queryId })));
  for (const { split, queryId } of shuffled(candidates, random)) {
    const docs = [...dataset.qrels.get(split)!.get(queryId)!.keys()].filter((id) => known.has(id));
    const extra = docs.filter((id) => !keep.has(id));
    if (keep.size + extra.length > limit / 2) continue;
    extra.forEach((id) => keep.add(id));
    keptQueries.add(`${split}\0${queryId}`);
  }
  const fillers = shuffled(
    dataset.corpus.filter((d) => !keep.has(d.id)),
    random,
  ).slice(0, limit - keep.size);
  fillers.forEach((d) => keep.add(d.id));

  const qrels = new Map(
    [...dataset.qrels].map(
      ([split, all]) => [split, new Map([...all].filter(([queryId]) => keptQueries.has(`${split}\0${queryId}`)))] as const,
    ),
  );
  return {
    ...dataset,
    corpus: dataset.corpus.filter((d) => keep.has(d.id)),
    qrels,
    slice: { limit, seed, fullCorpus: dataset.corpus.length },
  };
}
