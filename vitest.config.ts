import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The ONNX model and PGlite are heavy; two cores run two files at a time.
    pool: 'forks',
    maxWorkers: 2,
    env: { RAG_MODEL_DIR: process.env.RAG_MODEL_DIR ?? '../shared/models', RAGLINE_LOG_LEVEL: 'warn' },
  },
});
