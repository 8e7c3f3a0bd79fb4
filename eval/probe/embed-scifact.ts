/**
 * Embeds the SciFact corpus (title + ' ' + text, truncated by the embedder) and all queries once
 * with the real local model and caches the vectors under .ragline/cache, so the fusion probes can
 * run in seconds. About 10 minutes of CPU; resumable (progress is appended to a .part file).
 *
 *   npx tsx eval/probe/embed-scifact.ts
 */
import fs from 'node:fs';
import { LocalEmbedder } from '../../models/embedders/local.ts';
import { MODELS_DIR } from '../../core/shared-data.ts';
import { PartialVectorFile } from './embed-cache.ts';
import { CACHE_DIR, EMBEDDING_CACHE, loadCorpus, loadQueries } from './scifact.ts';

const SLICE = 256;

async function main() {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  if (fs.existsSync(EMBEDDING_CACHE.ids)) {
    console.log(`cache already complete: ${EMBEDDING_CACHE.ids}`);
    return;
  }
  const embedder = await LocalEmbedder.load({
    model: 'Xenova/all-MiniLM-L6-v2',
    dtype: 'fp32',
    modelDir: process.env.RAG_MODEL_DIR ?? MODELS_DIR,
    batchSize: 32,
  });
  // Sorting by length across the whole corpus keeps padding small in every batch.
  const corpus = loadCorpus()
    .map((d) => ({ id: d.id, text: `${d.title} ${d.text}` }))
    .sort((a, b) => a.text.length - b.text.length);
  const queries = loadQueries();
  const items = [
    ...corpus.map((d) => ({ ...d, kind: 'passage' as const })),
    ...queries.map((q) => ({ id: q.id, text: q.text, kind: 'query' as const })),
  ];

  const out = new PartialVectorFile(EMBEDDING_CACHE.vectors, embedder.dimensions);
  const started = Date.now();
  const startedAt = out.done;
  while (out.done < items.length) {
    const slice = items.slice(out.done, out.done + SLICE);
    const kind = slice[0]!.kind;
    const sameKind = slice.filter((s) => s.kind === kind);
    out.append(
      await embedder.embed(
        sameKind.map((s) => s.text),
        kind,
      ),
    );
    const rate = (out.done - startedAt) / ((Date.now() - started) / 1000);
    console.log(`${out.done}/${items.length} (${rate.toFixed(1)}/s, ~${Math.round((items.length - out.done) / rate)} s left)`);
  }
  out.finish();
  fs.writeFileSync(
    EMBEDDING_CACHE.ids,
    JSON.stringify({
      model: embedder.modelId,
      dtype: 'fp32',
      dimensions: embedder.dimensions,
      corpus: corpus.map((d) => d.id),
      queries: queries.map((q) => q.id),
    }),
  );
  console.log(`wrote ${EMBEDDING_CACHE.vectors}`);
  await embedder.close();
}

await main();
