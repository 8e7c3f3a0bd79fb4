/**
 * `npm run demo`: the main job on the embedded default, end to end. Ingests fixtures/ into the
 * PGlite store under ./.ragline, starts the HTTP API on a free local port, and asks it a
 * question over HTTP: search results with their explanations, then an answer with citations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../core/config.ts';
import { RaglineError } from '../core/errors.ts';
import { Ragline } from '../facade/ragline.ts';
import { MODELS_DIR, PROJECT_ROOT } from '../core/shared-data.ts';
import { startServer } from '../api/server.ts';
import type { IngestInput } from '../ingest/pipeline.ts';

const COLLECTION = 'demo';
const QUESTION = process.argv[2] ?? 'How does reciprocal rank fusion combine the dense and keyword result lists?';

function useSharedModelsWhenPresent() {
  // On a machine without hub access the model sits in ../shared/models; elsewhere the hub cache is used.
  if (!process.env.RAG_MODEL_DIR && fs.existsSync(path.join(MODELS_DIR, 'Xenova', 'all-MiniLM-L6-v2'))) {
    process.env.RAG_MODEL_DIR = MODELS_DIR;
    console.log(`model: RAG_MODEL_DIR not set, using ${path.relative(process.cwd(), MODELS_DIR)}`);
  }
}

function fixtureInputs(): IngestInput[] {
  const dir = path.join(PROJECT_ROOT, 'fixtures');
  return fs
    .readdirSync(dir)
    .filter((f) => f !== 'README.md' && /\.(md|html|txt|pdf|docx|xlsx)$/.test(f))
    .sort()
    .map((f) => ({ source: `fixtures/${f}`, bytes: new Uint8Array(fs.readFileSync(path.join(dir, f))) }));
}

async function post(url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json: any = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function main() {
  useSharedModelsWhenPresent();
  const config = loadConfig();
  const ragline = await Ragline.open(config);
  console.log(`store: ${ragline.store.kind} in ${path.relative(process.cwd(), config.dataDir) || config.dataDir}`);
  await ragline.ensureCollection(COLLECTION);

  console.log('\n1. Ingest fixtures/');
  const started = performance.now();
  const outcomes = await ragline.ingest(COLLECTION, fixtureInputs());
  console.table(
    outcomes.map((o) => ({
      source: o.source,
      status: o.status,
      chunks: o.status === 'ingested' || o.status === 'updated' ? o.chunks : o.status === 'skipped' ? o.document.chunkCount : 0,
      pages:
        o.status === 'ingested' || o.status === 'updated' ? (o.pages ?? '') : o.status === 'skipped' ? (o.document.pageCount ?? '') : '',
      'embed ms': o.status === 'ingested' || o.status === 'updated' ? Math.round(o.timings.embedMs) : '',
      note: o.status === 'failed' ? o.error.message : o.status === 'skipped' ? 'unchanged since last run' : '',
    })),
  );
  console.log(`ingested in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  console.log('\n2. Serve the HTTP API');
  const server = await startServer(ragline, { host: '127.0.0.1', port: 0, inProcessWorker: true, logOpenWarning: false });
  console.log(`listening on ${server.url}`);
  if (server.openWarning) console.log(`note: ${server.openWarning}`);
  try {
    console.log(`\n3. POST /v1/collections/${COLLECTION}/search  "${QUESTION}"`);
    const search = await post(`${server.url}/v1/collections/${COLLECTION}/search`, { query: QUESTION, topK: 3 });
    for (const [i, hit] of search.hits.entries()) {
      const c = hit.chunk;
      const e = hit.explanation;
      console.log(
        `  ${i + 1}. ${c.source}${c.pageStart ? ` p.${c.pageStart}` : ''} › ${c.headingPath.join(' › ')}  ` +
          `(dense #${e.denseRank ?? '-'}, bm25 #${e.bm25Rank ?? '-'}, fused ${e.fusedScore.toFixed(4)})`,
      );
    }

    console.log(`\n4. POST /v1/collections/${COLLECTION}/answer`);
    const answer = await post(`${server.url}/v1/collections/${COLLECTION}/answer`, { question: QUESTION });
    const label =
      answer.model === 'extractive'
        ? 'extractive answer (no LLM configured: set OPENAI_API_KEY or OPENAI_BASE_URL for a generated one)'
        : `model ${answer.model}`;
    console.log(`\n[${label}]${answer.fallback ? ` fallback: ${answer.fallback.reason}` : ''}\n`);
    console.log(answer.answer);
    console.log('\nCitations:');
    for (const c of answer.citations) console.log(`  [${c.marker}] ${c.source}${c.page ? ` p.${c.page}` : ''}: "${c.quote}"`);
    if (!answer.grounded) console.log('  (none: the documents do not cover this question)');
    console.log('\nNext: `npm run ragline -- serve` keeps this data serving, with the web console at http://127.0.0.1:8787/');
  } finally {
    await server.close();
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof RaglineError ? err.message : ((err as Error)?.stack ?? err)}`);
  process.exit(1);
});
