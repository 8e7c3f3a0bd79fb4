import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RaglineError } from '../core/errors.ts';
import type { BeirDataset } from './beir.ts';
import type { Qrels } from './metrics.ts';

/**
 * A paragraph-query retrieval set built from PubMedQA PQA-L (shared/datasets/pubmedqa-pqal):
 * each abstract's context passages, joined, are one document (about 200 words, like the
 * argument corpus of issue 17), and its long answer — the abstract's conclusion, which the
 * document does not contain — is a paragraph-length query whose only relevant document is that
 * abstract. Split: PubMedQA's own 500 test ids are "test", the other 500 "train".
 */

export const PUBMEDQA_PARAGRAPHS = 'pubmedqa-paragraphs';

const entry = z.object({ CONTEXTS: z.array(z.string()).min(1), LONG_ANSWER: z.string().min(1) });

function readJson(file: string): unknown {
  if (!fs.existsSync(file)) {
    throw new RaglineError('dataset_missing', `PubMedQA file not found: ${file} (expected ori_pqal.json and test_ground_truth.json)`, {
      path: file,
    });
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Query ids are the PubMed id prefixed with "q", so a query never shares its document's id. */
export const queryIdOf = (pmid: string) => `q${pmid}`;

export function buildPubmedqaParagraphs(dir: string, splits: readonly string[]): BeirDataset {
  const all = z.record(z.string(), entry).parse(readJson(path.join(dir, 'ori_pqal.json')));
  const testIds = new Set(Object.keys(z.record(z.string(), z.string()).parse(readJson(path.join(dir, 'test_ground_truth.json')))));
  const corpus: BeirDataset['corpus'] = [];
  const queries = new Map<string, string>();
  const bySplit: Record<'train' | 'test', Qrels> = { train: new Map(), test: new Map() };
  for (const [pmid, item] of Object.entries(all)) {
    corpus.push({ id: pmid, title: '', text: item.CONTEXTS.map((c) => c.trim()).join(' ') });
    queries.set(queryIdOf(pmid), item.LONG_ANSWER.trim());
    bySplit[testIds.has(pmid) ? 'test' : 'train'].set(queryIdOf(pmid), new Map([[pmid, 1]]));
  }
  const qrels = new Map<string, Qrels>();
  for (const split of splits) {
    if (split !== 'train' && split !== 'test') {
      throw new RaglineError('bad_request', `${PUBMEDQA_PARAGRAPHS} has the splits train and test, not "${split}"`, { split });
    }
    qrels.set(split, bySplit[split]);
  }
  return { name: PUBMEDQA_PARAGRAPHS, dir, corpus, queries, qrels };
}
