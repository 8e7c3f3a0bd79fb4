/**
 * Search latency per stage (query embedding, dense, BM25, fusion, total) at ~10k and ~100k chunks
 * on the embedded PGlite store, with real text: SciFact abstracts split into passages plus SQuAD
 * paragraphs, embedded once with the real model (cached under .ragline/cache).
 *
 * Embedding 100k chunks for real would take hours on this CPU, so the 100k collection holds the
 * ~10k real chunks ten times over: the same real texts and the same real vectors, re-inserted as
 * separate documents. The output says so.
 *
 *   npm run bench:search [-- --sizes=10000,100000 --queries=200]
 *   npx tsx bench/search.ts --sizes 10000 --queries 50
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { datasetPath, MODELS_DIR } from '../core/shared-data.ts';
import { LocalEmbedder } from '../models/embedders/local.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import type { FilterInput } from '../store/filters.ts';
import { embedWithCache } from '../eval/probe/embed-cache.ts';
import { loadCorpus, loadQrels, loadQueries } from '../eval/probe/scifact.ts';
import { HybridSearcher } from '../retrieval/search.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { ChunkInput } from '../store/types.ts';
import type { SearchResponse } from '../retrieval/types.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { BenchFlags, exitOnBadArgs } from './bench-args.ts';

interface Passage {
  id: string;
  document: string;
  title: string;
  text: string;
}

interface BenchOptions {
  sizes: number[];
  queries: number;
}

function parseArgs(args: string[]): BenchOptions {
  const flags = new BenchFlags(args);
  const options = { sizes: flags.numberList('sizes', [10_000, 100_000]), queries: flags.integer('queries', 200, 6) };
  flags.finish();
  return options;
}

/** Packs sentences into passages of at most `maxWords` words. */
export function passages(text: string, maxWords: number): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let words = 0;
  for (const sentence of text.split(/(?<=[.!?]) +/)) {
    const n = sentence.split(' ').length;
    if (words > 0 && words + n > maxWords) {
      out.push(current.join(' '));
      current = [];
      words = 0;
    }
    current.push(sentence);
    words += n;
  }
  if (current.length) out.push(current.join(' '));
  return out;
}

/** ~10k real passages: SciFact abstracts (≤ 100 words per passage) and all SQuAD dev paragraphs. */
export function realCorpus(target: number): Passage[] {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { title: string; paragraphs: { context: string }[] }[];
  };
  const out: Passage[] = [];
  squad.data.forEach((article, a) =>
    article.paragraphs.forEach((p, i) =>
      out.push({ id: `squad-${a}-${i}`, document: `squad-${a}`, title: article.title.replace(/_/g, ' '), text: p.context }),
    ),
  );
  for (const doc of loadCorpus()) {
    if (out.length >= target) break;
    passages(doc.text, 100).forEach((text, i) =>
      out.push({ id: `scifact-${doc.id}-${i}`, document: `scifact-${doc.id}`, title: doc.title, text }),
    );
  }
  return out;
}

/** Real queries of three kinds: SciFact claims, SQuAD questions, and pasted ~120-word paragraphs. */
export function realQueries(n: number): { kind: string; text: string }[] {
  const test = loadQrels('test');
  const claims = loadQueries()
    .filter((q) => test.has(q.id))
    .map((q) => ({ kind: 'claim', text: q.text }));
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { paragraphs: { qas: { question: string }[] }[] }[];
  };
  const questions = squad.data.flatMap((a) => a.paragraphs.map((p) => ({ kind: 'question', text: p.qas[0]!.question })));
  const paragraphs = loadCorpus()
    .slice(-200)
    .map((d) => ({ kind: 'paragraph', text: d.text.split(' ').slice(0, 120).join(' ') }));
  const third = Math.ceil(n / 3);
  return [...claims.slice(0, third), ...questions.slice(0, third), ...paragraphs.slice(0, n - 2 * third)];
}

const ms = (v: number) => Math.round(v * 100) / 100;
const DEFAULT_LABEL = 'default fusion settings, 100 candidates per retriever';

export async function runSearchBench(args: string[] = []) {
  const options = parseArgs(args);
  const embedder = await LocalEmbedder.load({
    model: 'Xenova/all-MiniLM-L6-v2',
    dtype: 'fp32',
    modelDir: process.env.RAG_MODEL_DIR ?? MODELS_DIR,
    batchSize: 32,
  });
  const baseSize = Math.min(...options.sizes, 10_000);
  const corpus = realCorpus(baseSize);
  console.log(`real corpus: ${corpus.length} passages (SciFact abstracts split ≤ 100 words + SQuAD dev paragraphs)`);
  // SQuAD paragraphs share their cache with eval/probe/query-sets.ts (same ids and texts).
  const progress = (line: string) => process.stdout.write(`\r${line}   `);
  const squad = corpus.filter((p) => p.id.startsWith('squad-'));
  const scifact = corpus.filter((p) => !p.id.startsWith('squad-'));
  const squadVectors = await embedWithCache(
    embedder,
    'squad-paragraphs-minilm-fp32',
    squad.map((p) => ({ id: p.id.slice('squad-'.length), text: `${p.title} ${p.text}` })),
    'passage',
    progress,
  );
  const scifactVectors = await embedWithCache(
    embedder,
    `bench-scifact-passages-${scifact.length}-minilm-fp32`,
    scifact.map((p) => ({ id: p.id, text: `${p.title} ${p.text}` })),
    'passage',
    progress,
  );
  const vectors = new Map<string, Float32Array>([
    ...squad.map((p) => [p.id, squadVectors.get(p.id.slice('squad-'.length))!] as const),
    ...scifactVectors,
  ]);
  const queries = realQueries(options.queries);

  // Query embedding, one query at a time as a user would send them.
  await embedder.embed(['warm up'], 'query');
  const queryVectors: Float32Array[] = [];
  const embedSamples: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const [v] = await embedder.embed([q.text], 'query');
    embedSamples.push(performance.now() - t0);
    queryVectors.push(v!);
  }

  const byDocument = new Map<string, Passage[]>();
  for (const p of corpus) {
    const list = byDocument.get(p.document) ?? [];
    list.push(p);
    byDocument.set(p.document, list);
  }

  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown>[] = [];
  for (const size of options.sizes) {
    const copies = Math.max(1, Math.round(size / corpus.length));
    const store = await openPgliteStore();
    const collection0 = await store.createCollection({
      name: `bench-${size}`,
      embeddingModel: embedder.modelId,
      dimensions: embedder.dimensions,
    });
    // A bulk load: without the HNSW index inserts are cheap; it is built once afterwards.
    await store.dropVectorIndex(collection0.id);
    const loadStart = performance.now();
    let chunks = 0;
    for (let copy = 0; copy < copies; copy++) {
      for (const [document, list] of byDocument) {
        const inputs: ChunkInput[] = list.map((p, ordinal) => ({
          ordinal,
          text: p.text,
          tokenCount: p.text.split(' ').length,
          pageStart: null,
          pageEnd: null,
          headingPath: [],
          charStart: 0,
          charEnd: p.text.length,
          kind: 'text',
          embedding: vectors.get(p.id)!,
        }));
        await store.replaceDocument({
          collectionId: collection0.id,
          source: copy === 0 ? document : `${document}#copy${copy}`,
          title: list[0]!.title,
          mime: 'text/plain',
          contentHash: `${document}-${copy}`,
          metadata: { copy, shard: chunks % 10 },
          pageCount: null,
          chunks: inputs,
        });
        chunks += inputs.length;
      }
      process.stdout.write(`\r[${size}] loaded ${chunks} chunks (${((performance.now() - loadStart) / 1000).toFixed(0)} s)   `);
    }
    console.log();
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const indexStart = performance.now();
    await store.buildVectorIndex(collection0.id, { maintenanceWorkMem: '1GB' });
    const indexSeconds = (performance.now() - indexStart) / 1000;
    const collection = (await store.getCollection(collection0.id))!;
    const registry = new Bm25Registry(store);
    const buildStart = performance.now();
    await registry.ensureSynced(collection);
    const bm25BuildSeconds = (performance.now() - buildStart) / 1000;
    const searcher = new HybridSearcher({ store, embedder, bm25: registry });

    const scenarios: { name: string; mode: 'hybrid' | 'dense' | 'bm25'; filter?: FilterInput }[] = [
      { name: 'hybrid', mode: 'hybrid' },
      { name: 'dense', mode: 'dense' },
      { name: 'bm25', mode: 'bm25' },
      { name: 'hybrid, filter ~10%', mode: 'hybrid', filter: { 'metadata.shard': 3 } },
    ];
    for (const scenario of scenarios) {
      // Warm-up: plans, caches and JIT.
      for (let i = 0; i < 5; i++) {
        await searcher.search(
          collection,
          { query: queries[i]!.text, mode: scenario.mode, topK: 10, filter: scenario.filter },
          { queryVector: queryVectors[i] },
        );
      }
      const samples: SearchResponse['timings'][] = [];
      let returned = 0;
      for (let i = 0; i < queries.length; i++) {
        const r = await searcher.search(
          collection,
          { query: queries[i]!.text, mode: scenario.mode, topK: 10, filter: scenario.filter },
          { queryVector: queryVectors[i] },
        );
        samples.push(r.timings);
        returned += r.hits.length;
      }
      const stage = (key: keyof SearchResponse['timings']) => summarize(samples.map((s) => s[key]));
      const total = stage('totalMs');
      const row = {
        chunks,
        scenario: scenario.name,
        queries: samples.length,
        'dense p50/p95': `${ms(stage('denseMs').p50)} / ${ms(stage('denseMs').p95)}`,
        'bm25 p50/p95': `${ms(stage('bm25Ms').p50)} / ${ms(stage('bm25Ms').p95)}`,
        'fuse p50/p95': `${ms(stage('fuseMs').p50)} / ${ms(stage('fuseMs').p95)}`,
        'total p50': ms(total.p50),
        'total p95': ms(total.p95),
        'total p99': ms(total.p99),
        'hits/query': ms(returned / samples.length),
      };
      rows.push(row);
      results.push({
        chunks,
        copies,
        scenario: scenario.name,
        loadSeconds,
        indexSeconds,
        bm25BuildSeconds,
        stages: {
          denseMs: stage('denseMs'),
          bm25Ms: stage('bm25Ms'),
          fuseMs: stage('fuseMs'),
          totalMs: total,
        },
      });
      console.log(`[${chunks}] ${scenario.name}: total p95 ${ms(total.p95)} ms`);
    }
    console.log(
      `[${chunks}] load ${loadSeconds.toFixed(0)} s, HNSW build ${indexSeconds.toFixed(0)} s, BM25 index build ${bm25BuildSeconds.toFixed(1)} s`,
    );
    await store.close();
  }

  const embedStats = summarize(embedSamples);
  const note =
    `Real texts and real MiniLM vectors for ${corpus.length} passages; larger sizes repeat those same texts and vectors ` +
    `as separate documents (not new data). Query embedding excluded from the rows (queries pass a precomputed vector).`;
  printTable(`Search latency per stage in ms (PGlite, in memory, top-10, ${DEFAULT_LABEL}). ${note}`, rows);
  printTable('Query embedding alone (one query per call, MiniLM fp32 on CPU)', [
    { queries: embedStats.n, p50: ms(embedStats.p50), p95: ms(embedStats.p95), p99: ms(embedStats.p99) },
  ]);
  writeResults('search', { note, realPassages: corpus.length, queryEmbeddingMs: embedStats, scenarios: results, rows });
  await embedder.close();
}

if (import.meta.url === `file://${process.argv[1]}`)
  await runSearchBench(process.argv.slice(2)).catch((err) => exitOnBadArgs('search', err));
