import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from '../core/config.ts';
import { datasetPath } from '../core/shared-data.ts';
import { Ragline } from '../facade/ragline.ts';
import { createChunker, contextualText } from '../ingest/chunkers/index.ts';
import { LocalEmbedder } from '../models/embedders/local.ts';
import { loadDocument } from '../ingest/loaders/index.ts';
import type { ChunkStrategy } from '../ingest/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { printTable, writeResults } from '../eval/results.ts';
import { runFormatBench } from './formats.ts';

interface Options {
  files: number;
  strategies: string;
  /** Only the per-format loading and OCR figures (bench/results/formats.json); the pipeline comparison is skipped. */
  formatsOnly?: boolean;
  rounds: number;
  ocrPages: number;
}

function pickFiles(perKind: number): string[] {
  const pdfDir = datasetPath('pdfs');
  const mdDir = datasetPath('docs-markdown', 'rust-book', 'src');
  const pdfs = fs
    .readdirSync(pdfDir)
    .filter((f) => f.endsWith('.pdf'))
    .map((f) => path.join(pdfDir, f))
    // The 260-page report alone would dominate; keep the sample varied and the run short.
    .filter((f) => fs.statSync(f).size < 1_500_000)
    .slice(0, perKind);
  const mds = fs
    .readdirSync(mdDir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .slice(0, perKind)
    .map((f) => path.join(mdDir, f));
  return [...pdfs, ...mds];
}

/**
 * Pipeline throughput (load → chunk → embed → store, chunks/s) against the raw model
 * throughput on the very same chunk texts (passages/s), both measured in this run.
 */
export async function runIngestBench(opts: Options) {
  if (opts.formatsOnly) {
    await runFormatBench({ rounds: opts.rounds, ocrPages: opts.ocrPages });
    return;
  }
  const modelDir = process.env.RAG_MODEL_DIR ?? datasetPath('..', 'models');
  const embedder = await LocalEmbedder.load({ model: 'Xenova/all-MiniLM-L6-v2', dtype: 'fp32', modelDir, batchSize: 32 });
  const files = pickFiles(opts.files);
  const inputs = files.map((f) => ({ source: path.basename(f), bytes: new Uint8Array(fs.readFileSync(f)) }));
  await embedder.embed(['warm up the model'], 'passage');

  // Parsing alone: pages/s.
  let pages = 0;
  const parseStart = performance.now();
  const docs = [];
  for (const input of inputs) {
    const doc = await loadDocument(input.bytes, input.source);
    pages += doc.pageCount ?? 0;
    docs.push(doc);
  }
  const parseSeconds = (performance.now() - parseStart) / 1000;

  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown> = {};
  for (const strategy of opts.strategies.split(',') as ChunkStrategy[]) {
    const config = configSchema.parse({ chunking: { strategy } });
    const ragline = await Ragline.open(config, { store: await openPgliteStore(), embedder });
    await ragline.createCollection('bench');
    // Baseline first: the model alone on the texts the pipeline will embed, in one call (sorted by
    // length, full batches): the best the model can do on this machine.
    const chunker = createChunker(strategy, embedder, config.chunking);
    const texts: string[] = [];
    for (const doc of docs) for (const d of await chunker.chunk(doc)) texts.push(contextualText(d, doc));
    await embedder.embed(texts.slice(0, 64), 'passage'); // warm: ONNX Runtime prepares each new input shape once
    const rawStart = performance.now();
    await embedder.embed(texts, 'passage');
    const rawSeconds = (performance.now() - rawStart) / 1000;

    const usageBefore = { ...embedder.usage };
    const start = performance.now();
    const outcomes = await ragline.ingest('bench', inputs);
    const pipelineSeconds = (performance.now() - start) / 1000;
    const modelSeconds = (embedder.usage.modelMs - usageBefore.modelMs) / 1000;
    const modelTexts = embedder.usage.texts - usageBefore.texts;
    const ok = outcomes.filter((o) => o.status === 'ingested');
    const chunks = ok.reduce((n, o) => n + (o.status === 'ingested' ? o.chunks : 0), 0);

    const pipelineRate = chunks / pipelineSeconds;
    const rawRate = texts.length / rawSeconds;
    const row = {
      strategy,
      documents: ok.length,
      chunks,
      'pipeline chunks/s': pipelineRate,
      'raw model passages/s': rawRate,
      'pipeline / raw': pipelineRate / rawRate,
      'model texts': modelTexts,
      'model share': modelSeconds / pipelineSeconds,
      'pipeline s': pipelineSeconds,
    };
    rows.push(row);
    results[strategy] = row;
    await ragline.store.close();
  }
  printTable(`Ingestion: ${files.length} documents (${pages} PDF pages parsed at ${(pages / parseSeconds).toFixed(1)} pages/s)`, rows);
  console.log('\n"pipeline / raw": the whole pipeline (4 documents in flight) against the model alone on the same chunk texts.');
  console.log('"model share": the part of the pipeline\'s wall time the model was running. "model texts" counts every text');
  console.log('the model saw: the chunks, plus, for the semantic strategy, each sentence it embeds to find boundaries;');
  console.log('for late, the windows it reads once (the chunks pooled from them are not embedded again) and the short chunks.');
  await embedder.close();
  // Office formats and OCR: loading only, so the figures above keep their meaning.
  const { formats, ocr } = await runFormatBench({ rounds: opts.rounds, ocrPages: opts.ocrPages });
  writeResults('ingest', {
    files: files.map((f) => path.basename(f)),
    pages,
    parsePagesPerSecond: pages / parseSeconds,
    results,
    formats,
    ocr,
  });
}
