import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaglineError } from './errors.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The read-only evaluation data and models that live beside the project (never copied into it). */
export const SHARED_DIR = path.resolve(process.env.RAGLINE_SHARED_DIR ?? path.join(PROJECT_ROOT, '..', 'shared'));
export const DATASETS_DIR = path.join(SHARED_DIR, 'datasets');
export const MODELS_DIR = path.join(SHARED_DIR, 'models');

export function sharedAvailable(): boolean {
  return fs.existsSync(DATASETS_DIR) && fs.existsSync(MODELS_DIR);
}

/** Path of a dataset under shared/datasets, or a clear error saying where it was looked for. */
export function datasetPath(...parts: string[]): string {
  const full = path.join(DATASETS_DIR, ...parts);
  if (!fs.existsSync(full)) {
    throw new RaglineError(
      'dataset_missing',
      `Dataset not found: ${full}. Ragline's evaluation data lives in a "shared" folder beside the project ` +
        `(../shared/datasets); put it there or set RAGLINE_SHARED_DIR to its location.`,
      { path: full },
    );
  }
  return full;
}

export { PROJECT_ROOT };
