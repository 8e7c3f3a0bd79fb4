import { defineConfig } from 'vitest/config';

/** Files that disturb every other test using a shared service (e.g. restarting the Postgres cluster). */
const EXCLUSIVE = 'test/**/*.exclusive.test.ts';

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The ONNX model and PGlite are heavy; two cores run two files at a time.
    pool: 'forks',
    maxWorkers: 2,
    env: { RAG_MODEL_DIR: process.env.RAG_MODEL_DIR ?? '../shared/models', RAGLINE_LOG_LEVEL: 'warn' },
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: [EXCLUSIVE], sequence: { groupOrder: 0 } } },
      // Runs once the whole suite has finished, one file at a time, so nothing else of the run is connected.
      { extends: true, test: { name: 'exclusive', include: [EXCLUSIVE], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
