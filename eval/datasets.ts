import fs from 'node:fs';
import path from 'node:path';
import { datasetPath } from '../core/shared-data.ts';
import { DEFAULT_SEED, loadBeir, sliceDataset, type BeirDataset, type BeirOptions } from './beir.ts';
import { PUBMEDQA_PARAGRAPHS, buildPubmedqaParagraphs } from './pubmedqa-paragraphs.ts';

/**
 * A BEIR folder, or a set built from another shared dataset by name
 * (`pubmedqa-paragraphs`: eval/pubmedqa-paragraphs.ts), sliced like a BEIR folder.
 */
export function loadDataset(spec: string, options: BeirOptions): BeirDataset {
  if (path.basename(spec) === PUBMEDQA_PARAGRAPHS && !fs.existsSync(spec)) {
    const dataset = buildPubmedqaParagraphs(datasetPath('pubmedqa-pqal'), options.splits);
    return options.limit !== undefined && options.limit < dataset.corpus.length
      ? sliceDataset(dataset, options.limit, options.seed ?? DEFAULT_SEED)
      : dataset;
  }
  return loadBeir(spec, options);
}
