import type { Config } from '../core/config.ts';
import { RaglineError } from '../core/errors.ts';
import { createEmbedder } from '../models/embedders/index.ts';
import { IngestionPipeline, assertModelMatches, type IngestInput, type IngestOutcome, type IngestProgress } from '../ingest/pipeline.ts';
import type { Embedder } from '../models/types.ts';
import { Bm25Registry } from '../retrieval/bm25-registry.ts';
import type { Bm25Options } from '../retrieval/bm25.ts';
import { SqlBm25Snapshots } from '../store/bm25-snapshots.ts';
import { CollectionDirectory } from '../store/collection-directory.ts';
import { SqlStore } from '../store/sql-store.ts';
import { HybridSearcher, type SearchOptions } from '../retrieval/search.ts';
import { PineconeKeywordSearcher, type KeywordSearcher } from '../retrieval/keyword-search.ts';
import { SparseVectorWriter } from '../retrieval/sparse-writer.ts';
import { sparseIndexFromConfig } from '../store/pinecone-sparse.ts';
import { SqlSparseFrequencies } from '../store/sparse-frequencies.ts';
import { openStore } from '../store/index.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { ingestPooling } from '../ingest/document-vectors.ts';
import type { Collection, CollectionRef, Store } from '../store/types.ts';
import { searchRequestSchema, type SearchRequestInput, type SearchResponse } from '../retrieval/types.ts';
import { badRequest } from '../core/errors.ts';
import { DEFAULT_TENANT_ID, UUID_PATTERN } from '../core/api-keys.ts';
import { QueryEmbeddingCache } from '../models/embedders/query-cache.ts';

/** Documents ingested at once: enough to keep model batches full, few enough to bound memory. */
const DOCUMENTS_IN_FLIGHT = 4;

export interface RaglineParts {
  store?: Store;
  embedder?: Embedder;
}

/**
 * The composition root: one store, one embedder (loaded on first use), the BM25 indexes and
 * the searcher. The CLI, the HTTP API, workers and the evaluation harness all go through it.
 */
export class Ragline {
  /** The in-process BM25 indexes; with RAGLINE_SPARSE=pinecone never started nor loaded (keyword search runs in Pinecone). */
  readonly bm25: Bm25Registry;
  /** The configured BM25 settings (RAGLINE_BM25_*); unset ones keep the tuned defaults. */
  readonly bm25Options: Partial<Bm25Options>;
  /** The Pinecone sparse keyword searcher (RAGLINE_SPARSE=pinecone); undefined with the in-process BM25. */
  readonly keywordSearch: KeywordSearcher | undefined;
  /** Collections resolved from memory for searches and answers, evicted on every write. */
  readonly collections: CollectionDirectory;
  private embedderPromise: Promise<Embedder> | undefined;

  private constructor(
    readonly config: Config,
    readonly store: Store,
    embedder?: Embedder,
  ) {
    // Unset settings keep the tuned defaults.
    const bm25 = Object.fromEntries(Object.entries(config.bm25).filter(([, v]) => v !== undefined));
    this.bm25Options = bm25;
    const sql = store instanceof SqlStore ? store : undefined;
    const { bm25Cache } = config;
    this.bm25 = new Bm25Registry(store, {
      bm25,
      snapshots: sql && bm25Cache.snapshots ? new SqlBm25Snapshots(sql.db) : undefined,
      changes: sql?.db,
      memoryBudgetBytes: bm25Cache.memoryMb * 1024 * 1024,
      snapshotEveryDocuments: bm25Cache.snapshotEveryDocuments,
      catchUpDelayMs: bm25Cache.catchUpDelayMs,
    });
    if (config.sparse.backend === 'pinecone') {
      if (!sql) throw new RaglineError('invalid_config', 'Invalid configuration: RAGLINE_SPARSE: pinecone needs the SQL store', {});
      // Unset settings of the sparse index are a configuration error here, at start-up, naming the variable.
      const sparse = sparseIndexFromConfig(config);
      sql.attachKeywordIndex(new SparseVectorWriter(sparse, bm25));
      this.keywordSearch = new PineconeKeywordSearcher({ store, sparse, frequencies: new SqlSparseFrequencies(sql.db) }, bm25);
    }
    this.collections = new CollectionDirectory(store, {
      ttlMs: config.operations.collectionCacheTtlMs,
      local: sql?.localChanges,
      changes: sql?.db,
    });
    if (embedder) this.embedderPromise = Promise.resolve(this.withQueryCache(embedder));
  }

  /** Query vectors remembered in memory (when RAGLINE_QUERY_EMBEDDING_CACHE_SIZE > 0). */
  queryCache: QueryEmbeddingCache | undefined;

  /** The embedding model is loaded / warmUp() has built every collection's BM25 index: what /readyz reports. */
  readonly readiness = { modelLoaded: false, indexesBuilt: false };

  private withQueryCache(embedder: Embedder): Embedder {
    this.readiness.modelLoaded = true;
    const size = this.config.operations.queryEmbeddingCacheSize;
    if (!size) return embedder;
    this.queryCache = new QueryEmbeddingCache(embedder, size);
    return this.queryCache;
  }

  static async open(config: Config, parts: RaglineParts = {}): Promise<Ragline> {
    const store = parts.store ?? (await openStore(config));
    const ragline = new Ragline(config, store, parts.embedder);
    if (!ragline.keywordSearch) await ragline.bm25.start();
    await ragline.collections.start();
    return ragline;
  }

  embedder(): Promise<Embedder> {
    this.embedderPromise ??= createEmbedder(this.config).then(
      (e) => this.withQueryCache(e),
      (err) => {
        this.embedderPromise = undefined; // let a later call retry (e.g. after the model is installed)
        throw err;
      },
    );
    return this.embedderPromise;
  }

  /** Resolves within `tenantId` only: another tenant's collection is "not found", whatever id or name is sent. */
  async collection(ref: CollectionRef, tenantId: string = DEFAULT_TENANT_ID): Promise<Collection> {
    if (typeof ref !== 'string') return ref;
    const collection = await this.store.getCollection(ref, tenantId);
    if (!collection) throw new RaglineError('not_found', `collection "${ref}" not found`, { collection: ref });
    return collection;
  }

  /** For workers: the job's collection by the id stored with the job. */
  async collectionById(id: string): Promise<Collection> {
    const collection = await this.store.getCollectionById(id);
    if (!collection) throw new RaglineError('not_found', `collection "${id}" not found`, { collection: id });
    return collection;
  }

  async createCollection(name: string, metadata: Record<string, unknown> = {}, tenantId: string = DEFAULT_TENANT_ID): Promise<Collection> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) {
      throw badRequest('collection name must be 1–128 letters, digits, "_", "-" or ".", starting with a letter or digit', { name });
    }
    if (UUID_PATTERN.test(name)) throw badRequest('a collection name must not look like a uuid (ids have that shape)', { name });
    const embedder = await this.embedder();
    return this.store.createCollection({ name, embeddingModel: embedder.modelId, dimensions: embedder.dimensions, metadata, tenantId });
  }

  /** The collection by name, created with the configured model when it does not exist yet. */
  async ensureCollection(name: string, tenantId: string = DEFAULT_TENANT_ID): Promise<Collection> {
    return (await this.store.getCollection(name, tenantId)) ?? this.createCollection(name, {}, tenantId);
  }

  async pipeline(): Promise<IngestionPipeline> {
    const { redactIngest, redactKinds } = this.config.guardrails;
    return new IngestionPipeline(this.store, await this.embedder(), this.config.chunking, {
      loaderLimits: this.config.loaders,
      redaction: redactIngest ? { kinds: redactKinds } : undefined,
      documentLimits: this.config.limits,
      documentPooling: ingestPooling(this.config.documentVectors),
    });
  }

  /**
   * Ingests documents, a few at a time so the embedder can fill its batches with texts from
   * several of them (see BatchCoalescer); two inputs with the same source still run in order.
   * One failure never stops the others. Outcomes come back in input order.
   */
  async ingest(
    collectionIdOrName: CollectionRef,
    inputs: Iterable<IngestInput> | AsyncIterable<IngestInput>,
    onProgress?: (p: IngestProgress, outcome?: IngestOutcome) => void,
  ): Promise<IngestOutcome[]> {
    const collection = await this.collection(collectionIdOrName);
    const pipeline = await this.pipeline();
    const outcomes: IngestOutcome[] = [];
    const inFlight = new Set<Promise<void>>();
    const lastOfSource = new Map<string, Promise<void>>();
    let index = 0;
    for await (const input of inputs) {
      const position = index++;
      const task = (lastOfSource.get(input.source) ?? Promise.resolve()).then(async () => {
        const outcome = await pipeline.ingest(collection, input, (p) => onProgress?.(p));
        outcomes[position] = outcome;
        onProgress?.({ source: input.source, stage: 'store' }, outcome);
      });
      lastOfSource.set(input.source, task);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task)).catch(() => {});
      // Reading ahead is bounded: a lazy list of files is not pulled into memory all at once.
      if (inFlight.size >= DOCUMENTS_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return outcomes;
  }

  async search(collectionIdOrName: CollectionRef, input: SearchRequestInput, options?: SearchOptions): Promise<SearchResponse> {
    const parsed = searchRequestSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw badRequest(`invalid search request: ${issue.path.join('.') || 'body'}: ${issue.message}`, {
        issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const collection = await this.collection(collectionIdOrName);
    const embedder = await this.embedder();
    if (parsed.data.mode !== 'bm25') assertModelMatches(collection, embedder);
    const { weight, candidates } = this.config.documentVectors;
    const documentEvidence = { weight, candidates };
    const fusionUnit = this.config.fusion.unit;
    const searcher = this.keywordSearch
      ? new HybridSearcher({ store: this.store, embedder, keywords: this.keywordSearch, documentEvidence, fusionUnit })
      : new HybridSearcher({ store: this.store, embedder, bm25: this.bm25, documentEvidence, fusionUnit });
    return searcher.search(collection, parsed.data, options);
  }

  /**
   * Loads the BM25 indexes that fit the memory budget (from their snapshots where stored) and the
   * embedding model, so the first searches after a start do not pay for it. Searches meanwhile
   * wait only for their own collection. Then, in the background, the int8 vector copies that fit
   * theirs (PGlite), so filtered searches do not wait for them either.
   */
  warmUp(): Promise<{ collections: number; chunksIndexed: number }> {
    this.warming ??= this.buildIndexes().catch((err: unknown) => {
      this.warming = undefined; // a later call (or /readyz) tries again
      throw err;
    });
    return this.warming;
  }

  /** The warm-up in progress or done; undefined before the first call. */
  warming: Promise<{ collections: number; chunksIndexed: number }> | undefined;

  private async buildIndexes(): Promise<{ collections: number; chunksIndexed: number }> {
    const embedder = this.embedder();
    // With keyword search in Pinecone there is no index to load: readiness waits for the model only.
    const collections = await this.store.listAllCollections();
    const loaded = this.keywordSearch ? { collections: 0, chunksIndexed: 0 } : await this.bm25.warmUp(collections);
    // Not part of readiness: until a collection's int8 copy is loaded, its filtered searches rank in SQL.
    if (this.store instanceof SqlStore) void this.store.vectorCopies?.warmUp(collections);
    await embedder;
    this.readiness.indexesBuilt = true;
    return loaded;
  }

  /** Deletes the document, its stored uploads, and what its finished jobs said about it. */
  async deleteDocument(collectionIdOrName: CollectionRef, documentId: string): Promise<boolean> {
    const collection = await this.collection(collectionIdOrName);
    const document = await this.store.getDocument(collection.id, documentId);
    if (!document || !(await this.store.deleteDocument(collection.id, documentId))) return false;
    if (this.store instanceof SqlStore) await JobQueue.forStore(this.store).forgetDocument(collection.id, document.source);
    return true;
  }

  async deleteCollection(collectionIdOrName: CollectionRef): Promise<boolean> {
    const collection = await this.collection(collectionIdOrName);
    this.bm25.drop(collection.id);
    return this.store.deleteCollection(collection.id);
  }

  async close(): Promise<void> {
    const embedder = await this.embedderPromise?.catch(() => undefined);
    await embedder?.close?.();
    await this.bm25.close();
    await this.collections.close();
    await this.store.close();
  }
}
