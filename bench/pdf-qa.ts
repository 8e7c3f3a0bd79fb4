import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../core/config.ts';
import { datasetPath } from '../core/shared-data.ts';
import { Ragline } from '../facade/ragline.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import { createEmbedder } from '../models/embedders/index.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { consoleProgress } from '../eval/progress.ts';
import { loadQaQuestions } from '../eval/qa.ts';
import { runQaEvaluation } from '../eval/qa-runner.ts';
import { measureNoise } from '../eval/noise.ts';
import { printQaReport } from '../eval/qa-report.ts';
import { writeResults } from '../eval/results.ts';

interface Options {
  label: string;
}

/**
 * pdf-qa end to end: the 21 shared PDFs ingested into one collection of a store of its own
 * (`<dataDir>/eval/pdf-qa-<label>`, so a loader change is measured on a fresh ingest), every
 * vector cached under `<dataDir>/cache/embeddings`, then the questions and the noise share.
 */
export async function runPdfQaBench(opts: Options) {
  const config = loadConfig();
  const inner = await createEmbedder(config);
  const embedder = new CachingEmbedder(inner, path.join(config.dataDir, 'cache', 'embeddings'), {
    dtype: config.embedding.provider === 'local' ? config.embedding.dtype : undefined,
  });
  const storeDir = path.join(config.dataDir, 'eval', `pdf-qa-${opts.label}`);
  const store = await openPgliteStore(storeDir);
  const ragline = await Ragline.open({ ...config, dataDir: storeDir }, { store, embedder });
  try {
    const pdfDir = datasetPath('pdfs');
    const files = fs
      .readdirSync(pdfDir)
      .filter((f) => f.endsWith('.pdf'))
      .sort();
    const collection = 'pdf-qa';
    await ragline.ensureCollection(collection);
    const ingestStart = performance.now();
    const outcomes = await ragline.ingest(
      collection,
      files.map((f) => ({ source: f, bytes: new Uint8Array(fs.readFileSync(path.join(pdfDir, f))) })),
    );
    const failed = outcomes.filter((o) => o.status === 'failed');
    for (const o of failed) if (o.status === 'failed') console.warn(`failed: ${o.source}: ${o.error.message}`);
    const ingestSeconds = (performance.now() - ingestStart) / 1000;

    const c = await ragline.collection(collection);
    const docs = await store.listDocuments(c.id, { limit: 1000 });
    const chunks = await store.chunksOfDocuments(
      c.id,
      docs.map((d) => d.id),
    );
    const noise = measureNoise(chunks.map((ch) => ({ documentId: ch.documentId, text: ch.text })));

    const questions = loadQaQuestions(datasetPath('pdf-qa', 'questions.jsonl'));
    const run = await runQaEvaluation({ ragline, collection, questions, progress: consoleProgress() });
    printQaReport(run);
    console.log(
      `\nchunks ${noise.chunks}: mostly noise ${noise.mostlyNoise} (${((100 * noise.mostlyNoise) / noise.chunks).toFixed(1)}%), ` +
        `with a noise line ${noise.withNoise}, with dot leaders ${noise.withDotLeaders}; ingest ${ingestSeconds.toFixed(0)} s`,
    );
    writeResults(`pdf-qa-${opts.label}`, { report: run.report, noise, results: run.results, ingestSeconds });
  } finally {
    await ragline.close();
  }
}
