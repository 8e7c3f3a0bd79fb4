import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../core/shared-data.ts';

/** The demo fixtures the answer benches ingest: small, and what the questions below are about. */
export const BENCH_FIXTURES = ['faq.txt', 'getting-started.md', 'retrieval-tuning.html'];

const TOPICS = [
  'chunks',
  'fusion weights',
  'BM25',
  'the embedding model',
  'ingestion jobs',
  'citations',
  'PGlite',
  'Postgres',
  'filters',
  'recency',
];
const FORMS = [
  'How are {} configured?',
  'What does Ragline do with {}?',
  'Why would I change {}?',
  'Where are {} described?',
  'What limits apply to {}?',
];

/** 50 distinct questions over the fixtures: every topic in every form. */
export const BENCH_QUESTIONS: string[] = TOPICS.flatMap((t) => FORMS.map((f) => f.replace('{}', t)));

export function benchFixtureInputs(): { source: string; bytes: Uint8Array }[] {
  return BENCH_FIXTURES.map((f) => ({ source: f, bytes: new Uint8Array(fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', f))) }));
}
