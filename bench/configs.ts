/**
 * `npm run bench configs`: what resolving a collection config costs a request. /search (BM25 only,
 * so no model time hides it) through the whole Hono app on PGlite in memory, in three cases
 * measured in the same run, interleaved: no config, an active config, a running experiment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApi } from '../api/app.ts';
import { configSchema } from '../core/config.ts';
import { PROJECT_ROOT } from '../core/shared-data.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { testEmbedder } from '../testkit/embedder.ts';

const FILES = ['faq.txt', 'getting-started.md', 'retrieval-tuning.html'];
const QUERIES = ['chunk size', 'fusion weights', 'BM25 parameters', 'embedding model', 'ingestion jobs', 'citations', 'filters', 'recency'];
const ROUNDS = 60;

export async function runConfigsBench() {
  const store = await openPgliteStore();
  const ragline = await Ragline.open(configSchema.parse({ server: { rateLimitPerMinute: 1_000_000 } }), {
    store,
    embedder: await testEmbedder(),
  });
  const app = createApi(ragline);
  const post = async (path: string, body: unknown) => {
    const started = performance.now();
    const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - started;
  };
  for (const name of ['plain', 'configured', 'experiment']) {
    await ragline.createCollection(name);
    await ragline.ingest(
      name,
      FILES.map((f) => ({ source: f, bytes: new Uint8Array(fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', f))) })),
    );
  }
  await post('/v1/collections/configured/configs', { name: 'main', settings: { retrieval: { topK: 8 } } });
  for (const name of ['a', 'b']) await post('/v1/collections/experiment/configs', { name, settings: { retrieval: { topK: 8 } } });
  await post('/v1/collections/experiment/experiments', {
    name: 'split',
    variants: [
      { config: 'a', percent: 50 },
      { config: 'b', percent: 50 },
    ],
  });

  const samples: Record<string, number[]> = { plain: [], configured: [], experiment: [] };
  for (const name of Object.keys(samples)) await post(`/v1/collections/${name}/search`, { query: 'warm up', mode: 'bm25' });
  for (let round = 0; round < ROUNDS; round++) {
    for (const query of QUERIES) {
      for (const name of Object.keys(samples)) {
        samples[name]!.push(await post(`/v1/collections/${name}/search`, { query, mode: 'bm25', user: `user-${round}` }));
      }
    }
  }
  const rows = Object.entries(samples).map(([name, ms]) => ({ case: name, ...summarize(ms) }));
  const plain = rows[0]!;
  printTable(`/search (BM25 only, topK 8), ${ROUNDS * QUERIES.length} requests per case, in-process HTTP, PGlite in memory`, [
    ...rows.map((r) => ({ case: r.case, n: r.n, p50_ms: r.p50, p95_ms: r.p95, mean_ms: r.mean, 'p50 over plain (ms)': r.p50 - plain.p50 })),
  ]);
  writeResults('configs', { machine: { cpus: os.cpus().length, load: os.loadavg() }, rounds: ROUNDS, queries: QUERIES.length, rows });
  await ragline.bm25.close(); // lets pending BM25 snapshot writes finish before the database goes
  await store.close();
}
