import type { Config } from '../core/config.ts';
import { backfillDocumentVectors, type DocumentPoolingSetting } from '../ingest/document-vectors.ts';
import type { DocumentEvidenceSettings } from '../retrieval/document-evidence.ts';
import type { Metrics } from './metrics.ts';
import type { Progress } from './progress.ts';
import { naturalQueries, type QuerySet } from './query-kinds.ts';
import { EvalSession } from './runner.ts';

/**
 * Chooses the document-evidence settings (pooling, β, document candidates) on the train splits of
 * several corpora together, so a default is changed only when it wins across corpora rather than
 * on one. Each corpus's train queries are halved (alternate ids in sorted order): the choice is
 * made on the first half ("train") and scored on the second ("held-out"); the test splits stay
 * untouched, and only the train split is loaded, so a --limit slice is the one `ragline eval
 * --split train --limit n` ingests (its embeddings are cached).
 */

/** Alternate queries of a set, by sorted id: two disjoint halves of one split. */
export function halves(set: QuerySet): { train: QuerySet; test: QuerySet } {
  const ids = [...set.qrels.keys()].sort();
  const pick = (parity: number): QuerySet => {
    const keep = new Set(ids.filter((_, i) => i % 2 === parity));
    return {
      ...set,
      queries: set.queries.filter((q) => keep.has(q.id)),
      qrels: new Map([...set.qrels].filter(([id]) => keep.has(id))),
    };
  };
  return { train: pick(0), test: pick(1) };
}

export interface DocumentTunePoint extends DocumentEvidenceSettings {
  pooling: Exclude<DocumentPoolingSetting, 'off'>;
}

export interface CorpusSpec {
  dataset: string;
  limit?: number;
  seed?: number;
}

export interface DocumentTuneRow {
  point: DocumentTunePoint;
  /** nDCG@10 and friends by corpus name, split and mode. */
  corpora: Record<string, Record<'train' | 'test', Record<'dense' | 'hybrid', Metrics>>>;
  /** Mean train nDCG@10 over the corpora, per mode: what the choice is made on. */
  meanTrain: Record<'dense' | 'hybrid', number>;
  meanTest: Record<'dense' | 'hybrid', number>;
}

export interface DocumentTuneReport {
  rows: DocumentTuneRow[];
  /** The row with the best mean train hybrid nDCG@10 (the first grid point, chunks alone, on a tie). */
  best: DocumentTuneRow;
  bm25: Record<string, Record<'train' | 'test', Metrics>>;
  corpora: { name: string; documents: number; trainQueries: number; testQueries: number; firstWindowsEmbedded: number }[];
}

export function defaultDocumentGrid(): DocumentTunePoint[] {
  return [
    { pooling: 'mean', weight: 0, candidates: 0 },
    { pooling: 'mean', weight: 0.25, candidates: 0 },
    { pooling: 'mean', weight: 0.5, candidates: 0 },
    { pooling: 'mean', weight: 1, candidates: 0 },
    { pooling: 'mean', weight: 0.5, candidates: 50 },
    { pooling: 'first-window', weight: 0.5, candidates: 0 },
    { pooling: 'first-window', weight: 1, candidates: 0 },
  ];
}

export async function runDocumentTune(
  options: { config: Config; corpora: CorpusSpec[]; grid?: DocumentTunePoint[]; progress?: Progress },
  onCorpus?: (name: string) => void,
): Promise<DocumentTuneReport> {
  const grid = options.grid ?? defaultDocumentGrid();
  const rows: DocumentTuneRow[] = grid.map((point) => ({
    point,
    corpora: {},
    meanTrain: { dense: 0, hybrid: 0 },
    meanTest: { dense: 0, hybrid: 0 },
  }));
  const bm25: DocumentTuneReport['bm25'] = {};
  const corpora: DocumentTuneReport['corpora'] = [];
  for (const spec of options.corpora) {
    const session = await EvalSession.open({ ...spec, config: options.config, splits: ['train'], progress: options.progress });
    try {
      await session.ingestCorpus();
      const name = session.dataset.name;
      onCorpus?.(name);
      const sets = halves(naturalQueries(session.dataset, 'train'));
      const collection = await session.ragline.collection(session.collection);
      bm25[name] = {
        train: (await session.evaluate(sets.train, 'bm25')).metrics,
        test: (await session.evaluate(sets.test, 'bm25')).metrics,
      };
      let firstWindowsEmbedded = 0;
      for (const pooling of ['mean', 'first-window'] as const) {
        const points = rows.filter((r) => r.point.pooling === pooling);
        if (!points.length) continue;
        const backfill = await backfillDocumentVectors(session.ragline.store, session.embedder, collection.id, pooling);
        if (pooling === 'first-window') firstWindowsEmbedded += backfill.embedded;
        for (const row of points) {
          const documentEvidence = { weight: row.point.weight, candidates: row.point.candidates };
          const result = {} as DocumentTuneRow['corpora'][string];
          for (const split of ['train', 'test'] as const) {
            result[split] = {
              dense: (await session.evaluate(sets[split], 'dense', { documentEvidence })).metrics,
              hybrid: (await session.evaluate(sets[split], 'hybrid', { documentEvidence })).metrics,
            };
          }
          row.corpora[name] = result;
        }
      }
      corpora.push({
        name,
        documents: session.dataset.corpus.length,
        trainQueries: sets.train.qrels.size,
        testQueries: sets.test.qrels.size,
        firstWindowsEmbedded,
      });
    } finally {
      await session.close();
    }
  }
  for (const row of rows) {
    const values = Object.values(row.corpora);
    for (const mode of ['dense', 'hybrid'] as const) {
      row.meanTrain[mode] = values.reduce((s, c) => s + c.train[mode].ndcg10, 0) / values.length;
      row.meanTest[mode] = values.reduce((s, c) => s + c.test[mode].ndcg10, 0) / values.length;
    }
  }
  const best = rows.reduce((b, r) => (r.meanTrain.hybrid > b.meanTrain.hybrid ? r : b), rows[0]!);
  return { rows, best, bm25, corpora };
}
