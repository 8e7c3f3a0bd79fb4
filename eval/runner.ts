import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import { createEmbedder } from '../models/embedders/index.ts';
import type { Embedder } from '../models/types.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { Store } from '../store/types.ts';
import type { SearchRequestInput, SearchResponse } from '../retrieval/types.ts';
import type { BeirDataset } from './beir.ts';
import { loadDataset } from './datasets.ts';
import { backfillDocumentVectors } from '../ingest/document-vectors.ts';
import type { DocumentEvidenceSettings } from '../retrieval/document-evidence.ts';
import { evaluateRun, type Metrics, type Run } from './metrics.ts';
import { silentProgress, type Progress } from './progress.ts';
import { QUERY_KINDS, naturalQueries, querySetOf, type QueryKind, type QuerySet } from './query-kinds.ts';

/**
 * The evaluation harness: ingests a BEIR corpus into a scratch collection through the real
 * pipeline, runs every query of a split through `Ragline.search` in each mode, maps chunk hits
 * to documents and scores them.
 *
 * Everything expensive is cached: the collection persists under `<dataDir>/eval` (an unchanged
 * document is skipped by the pipeline), and every vector, passages and queries alike, is kept by
 * the CachingEmbedder under `<dataDir>/cache/embeddings`, so even a fresh store embeds nothing.
 */

export type EvalMode = 'dense' | 'bm25' | 'hybrid';
export const EVAL_MODES: readonly EvalMode[] = ['dense', 'bm25', 'hybrid'];

/** Documents scored per query; each retriever must supply at least this many candidates. */
export const EVAL_TOP_K = 100;

export interface FusionSettings {
  fusion?: 'rrf' | 'convex';
  k?: number;
  weights?: { dense: number; bm25: number };
  candidates?: number;
  /** Document vectors supporting chunk scores in the dense leg (all modes but bm25); omitted = the configured ones. */
  documentEvidence?: DocumentEvidenceSettings;
}

export interface EvalSessionOptions {
  config: Config;
  /** A BEIR folder. */
  dataset: string;
  splits: string[];
  limit?: number;
  seed?: number;
  /** The embedder to wrap with the cache; by default the configured one. Not closed by the session when given. */
  embedder?: Embedder;
  /** By default a PGlite database under `<dataDir>/eval`. The session closes it either way. */
  store?: Store;
  /**
   * BEIR's own protocol instead of the pipeline: each document is one passage ("title text"),
   * truncated at the model's input limit. For comparing with published scores.
   */
  wholeDocuments?: boolean;
  progress?: Progress;
}

export interface IngestSummary {
  documents: number;
  ingested: number;
  skipped: number;
  failed: number;
  chunks: number;
  seconds: number;
  /** First windows embedded for document vectors (0 under mean pooling). */
  documentVectorsEmbedded?: number;
}

/** What one mode actually used, as reported by the searcher. */
export interface UsedSettings {
  candidates: number;
  /** Distinct documents among a query's top chunks, on average (fewer than topK when documents have several chunks). */
  meanDocuments: number;
  /** Hybrid only. */
  fusion?: string;
  k?: number;
  /** Hybrid only: "dense,bm25" → number of queries that used those weights (they vary per query by default). */
  weights?: Record<string, number>;
}

export class EvalSession {
  private readonly queryVectors = new Map<string, Float32Array>();

  private constructor(
    readonly dataset: BeirDataset,
    readonly ragline: Ragline,
    readonly embedder: CachingEmbedder,
    readonly collection: string,
    readonly config: Config,
    private readonly progress: Progress,
    readonly wholeDocuments: boolean,
  ) {}

  static async open(options: EvalSessionOptions): Promise<EvalSession> {
    const dataset = loadDataset(options.dataset, { splits: options.splits, limit: options.limit, seed: options.seed });
    const { config } = options;
    const inner = options.embedder ?? (await createEmbedder(config));
    const embedder = new CachingEmbedder(inner, path.join(config.dataDir, 'cache', 'embeddings'), {
      dtype: config.embedding.provider === 'local' ? config.embedding.dtype : undefined,
      closeInner: !options.embedder,
      // Late chunking's windows: re-pooling experiments then cost no model time.
      cacheTokenStates: true,
    });
    const evalDir = path.join(config.dataDir, 'eval');
    const store = options.store ?? (await openPgliteStore(evalDir));
    const ragline = await Ragline.open({ ...config, dataDir: evalDir }, { store, embedder });
    const wholeDocuments = options.wholeDocuments ?? false;
    const collection = collectionName(dataset, embedder, config, wholeDocuments);
    return new EvalSession(dataset, ragline, embedder, collection, config, options.progress ?? silentProgress, wholeDocuments);
  }

  /** Ingests the corpus: title + blank line + text as plain text, source = document id. */
  async ingestCorpus(): Promise<IngestSummary> {
    if (this.wholeDocuments) return this.ingestWholeDocuments();
    const started = performance.now();
    await this.ragline.ensureCollection(this.collection);
    const summary: IngestSummary = { documents: this.dataset.corpus.length, ingested: 0, skipped: 0, failed: 0, chunks: 0, seconds: 0 };
    const failures: string[] = [];
    const encoder = new TextEncoder();
    const inputs = this.dataset.corpus.map((doc) => ({
      source: doc.id,
      bytes: encoder.encode(doc.title ? `${doc.title}\n\n${doc.text}` : doc.text),
      mime: 'text/plain',
      title: doc.title,
    }));
    this.progress.start(`ingest ${this.dataset.name}`, inputs.length);
    await this.ragline.ingest(this.collection, inputs, (_progress, outcome) => {
      if (!outcome) return;
      this.progress.tick();
      if (outcome.status === 'failed') {
        summary.failed++;
        failures.push(`${outcome.source}: ${outcome.error.message}`);
      } else if (outcome.status === 'skipped') {
        summary.skipped++;
      } else {
        summary.ingested++;
      }
    });
    const collection = await this.ragline.collection(this.collection);
    summary.chunks = await this.ragline.store.countChunks(collection.id);
    // Documents stored before document vectors existed (or made with the other pooling) get theirs now.
    const backfill = await backfillDocumentVectors(this.ragline.store, this.embedder, collection.id, this.config.documentVectors.pooling);
    summary.documentVectorsEmbedded = backfill.embedded;
    summary.seconds = (performance.now() - started) / 1000;
    this.progress.stop(`${summary.ingested} ingested, ${summary.skipped} unchanged, ${summary.failed} failed, ${summary.chunks} chunks`);
    if (failures.length) console.warn(`warning: ${failures.length} documents failed to ingest, e.g. ${failures.slice(0, 3).join('; ')}`);
    return summary;
  }

  /** One chunk per document, embedded as BEIR does ("title text", cut at the model's limit), bypassing the chunker. */
  private async ingestWholeDocuments(): Promise<IngestSummary> {
    const started = performance.now();
    const collection = await this.ragline.ensureCollection(this.collection);
    const { store } = this.ragline;
    const stored = new Set((await store.listDocuments(collection.id, { limit: 1_000_000 })).map((d) => d.source));
    const missing = this.dataset.corpus.filter((doc) => !stored.has(doc.id));
    this.progress.start(`ingest ${this.dataset.name} (one passage per document)`, this.dataset.corpus.length);
    this.progress.tick(stored.size);
    const SLICE = 256;
    for (let i = 0; i < missing.length; i += SLICE) {
      const docs = missing.slice(i, i + SLICE);
      const vectors = await this.embedder.embed(
        docs.map((d) => (d.title ? `${d.title} ${d.text}` : d.text)),
        'passage',
      );
      for (const [j, doc] of docs.entries()) {
        await store.replaceDocument({
          collectionId: collection.id,
          source: doc.id,
          title: doc.title,
          mime: 'text/plain',
          contentHash: doc.id,
          metadata: {},
          pageCount: null,
          chunks: [
            {
              ordinal: 0,
              text: doc.text,
              tokenCount: this.embedder.tokenizer.count(doc.text),
              pageStart: null,
              pageEnd: null,
              headingPath: [],
              charStart: 0,
              charEnd: doc.text.length,
              kind: 'text',
              embedding: vectors[j]!,
            },
          ],
        });
        this.progress.tick();
      }
    }
    const chunks = await store.countChunks(collection.id);
    const summary = {
      documents: this.dataset.corpus.length,
      ingested: missing.length,
      skipped: stored.size,
      failed: 0,
      chunks,
      seconds: 0,
    };
    summary.seconds = (performance.now() - started) / 1000;
    this.progress.stop(`${summary.ingested} ingested, ${summary.skipped} unchanged, ${chunks} chunks (one per document)`);
    return summary;
  }

  /** Embeds the queries not seen yet in one call (sorted by length inside the embedder, cached on disk). */
  async embedQueries(set: QuerySet): Promise<void> {
    const texts = [...new Set(set.queries.map((q) => q.text))].filter((t) => !this.queryVectors.has(t));
    if (!texts.length) return;
    this.progress.start(`embed ${set.name} queries`, texts.length);
    const vectors = await this.embedder.embed(texts, 'query');
    texts.forEach((text, i) => this.queryVectors.set(text, vectors[i]!));
    this.progress.tick(texts.length);
    this.progress.stop();
  }

  /** A query's vector, once embedQueries() has seen it. */
  queryVector(text: string): Float32Array | undefined {
    return this.queryVectors.get(text);
  }

  /** Runs every query of the set in one mode; returns document rankings (the best chunk places its document). */
  async retrieve(set: QuerySet, mode: EvalMode, settings: FusionSettings = {}): Promise<{ run: Run; used: UsedSettings }> {
    if (mode !== 'bm25') await this.embedQueries(set);
    const run: Run = new Map();
    const used: UsedSettings = { candidates: 0, meanDocuments: 0 };
    let documents = 0;
    for (const query of set.queries) {
      const { documentEvidence, ...fusion } = settings;
      const request: SearchRequestInput = { query: query.text, mode, topK: EVAL_TOP_K, ...fusion };
      const response = await this.ragline.search(this.collection, request, {
        queryVector: mode === 'bm25' ? undefined : this.queryVectors.get(query.text),
        ...(documentEvidence ? { documentEvidence } : {}),
      });
      const ranking = documentRanking(response);
      run.set(query.id, ranking);
      documents += ranking.length;
      used.candidates = response.settings.candidates;
      if (mode === 'hybrid') recordFusion(used, response.settings);
    }
    used.meanDocuments = set.queries.length ? documents / set.queries.length : 0;
    return { run, used };
  }

  async evaluate(set: QuerySet, mode: EvalMode, settings: FusionSettings = {}): Promise<{ metrics: Metrics; used: UsedSettings }> {
    const { run, used } = await this.retrieve(set, mode, settings);
    return { metrics: evaluateRun(run, set.qrels, { excludeSelf: set.excludeSelf }).mean, used };
  }

  async close(): Promise<void> {
    await this.ragline.close();
  }
}

/** Chunk hits → document ids in rank order; a document's first (best) chunk decides its place. */
export function documentRanking(response: SearchResponse): string[] {
  const seen = new Set<string>();
  for (const hit of response.hits) seen.add(hit.chunk.source);
  return [...seen];
}

function recordFusion(used: UsedSettings, s: SearchResponse['settings']) {
  used.fusion = s.fusion;
  used.k = s.k;
  used.weights ??= {};
  const key = `${round(s.weights.dense)},${round(s.weights.bm25)}`;
  used.weights[key] = (used.weights[key] ?? 0) + 1;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** The scratch collection's name: the dataset plus everything that changes the stored chunks. */
function collectionName(dataset: BeirDataset, embedder: Embedder, config: Config, wholeDocuments: boolean): string {
  const fingerprint = JSON.stringify({
    ...(wholeDocuments ? { wholeDocuments } : {}),
    dataset: dataset.name,
    documents: dataset.corpus.length,
    slice: dataset.slice ?? null,
    model: embedder.modelId,
    dtype: config.embedding.provider === 'local' ? config.embedding.dtype : null,
    chunking: config.chunking,
  });
  const hash = createHash('sha256').update(fingerprint).digest('hex').slice(0, 12);
  const slug =
    dataset.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'dataset';
  return `eval-${slug}-${hash}`;
}

// ---- one evaluation run, as `ragline eval` performs it ----

export interface EvalOptions extends Omit<EvalSessionOptions, 'splits'> {
  split: string;
  modes?: readonly EvalMode[];
  /** Applied to hybrid only: dense and bm25 alone do not fuse. */
  fusion?: FusionSettings;
  /** Also score keyword / natural / paragraph queries separately. */
  queryKinds?: boolean;
}

export interface EvalReport {
  results: Partial<Record<EvalMode, Metrics>>;
  settings: {
    dataset: string;
    path: string;
    split: string;
    queries: number;
    documents: number;
    chunks: number;
    limit: number | null;
    seed: number | null;
    model: string;
    dtype: string | null;
    chunking: Config['chunking'] | 'one passage per document';
    topK: number;
    collection: string;
    requested: FusionSettings;
    used: Partial<Record<EvalMode, UsedSettings>>;
    embedding: { fromCache: number; embedded: number };
    seconds: number;
  };
  queryKinds?: Partial<Record<QueryKind, Partial<Record<EvalMode, Metrics>>>>;
}

export async function runEvaluation(options: EvalOptions): Promise<EvalReport> {
  const started = performance.now();
  const modes = options.modes ?? EVAL_MODES;
  const session = await EvalSession.open({ ...options, splits: [options.split] });
  try {
    const ingest = await session.ingestCorpus();
    const natural = naturalQueries(session.dataset, options.split);
    const results: EvalReport['results'] = {};
    const used: EvalReport['settings']['used'] = {};
    for (const mode of modes) {
      const outcome = await session.evaluate(natural, mode, mode === 'hybrid' ? options.fusion : {});
      results[mode] = outcome.metrics;
      used[mode] = outcome.used;
    }
    let queryKinds: EvalReport['queryKinds'];
    if (options.queryKinds) {
      queryKinds = {};
      for (const kind of QUERY_KINDS) {
        const set = kind === 'natural' ? natural : querySetOf(kind, session.dataset, options.split);
        const row: Partial<Record<EvalMode, Metrics>> = (queryKinds[kind] = {});
        for (const mode of modes) {
          row[mode] =
            kind === 'natural' ? results[mode] : (await session.evaluate(set, mode, mode === 'hybrid' ? options.fusion : {})).metrics;
        }
      }
    }
    const { config, dataset, embedder } = session;
    return {
      results,
      settings: {
        dataset: dataset.name,
        path: dataset.dir,
        split: options.split,
        queries: natural.qrels.size,
        documents: dataset.corpus.length,
        chunks: ingest.chunks,
        limit: dataset.slice?.limit ?? null,
        seed: dataset.slice?.seed ?? null,
        model: embedder.modelId,
        dtype: config.embedding.provider === 'local' ? config.embedding.dtype : null,
        chunking: session.wholeDocuments ? 'one passage per document' : config.chunking,
        topK: EVAL_TOP_K,
        collection: session.collection,
        requested: options.fusion ?? {},
        used,
        embedding: { fromCache: embedder.stats.hits, embedded: embedder.stats.misses },
        seconds: (performance.now() - started) / 1000,
      },
      ...(queryKinds ? { queryKinds } : {}),
    };
  } finally {
    await session.close();
  }
}
