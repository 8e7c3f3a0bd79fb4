import { describe } from 'vitest';
import { sharedAvailable } from '../../core/shared-data.ts';

export { DATASETS_DIR, MODELS_DIR, PROJECT_ROOT, SHARED_DIR, datasetPath } from '../../core/shared-data.ts';

const available = sharedAvailable();
if (!available) {
  console.warn('[ragline tests] ../shared (datasets and models) is absent: tests that need it are skipped.');
}

/** describe() that skips, with the reason in its name, when ../shared is not beside the project. */
export const describeShared = (name: string, fn: () => void) =>
  available ? describe(name, fn) : describe.skip(`${name} [skipped: ../shared not found]`, fn);

export const SHARED_AVAILABLE = available;
export { TEST_MODEL_DIR } from '../../testkit/embedder.ts';
