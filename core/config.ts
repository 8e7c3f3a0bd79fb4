import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { BEARER_TOKEN_PATTERN } from './api-keys.ts';
import { proxyEntryProblem } from './client-address.ts';
import { RaglineError } from './errors.ts';
import { PII_KINDS } from './redact.ts';

/**
 * Configuration: environment variables override an optional JSON file (RAGLINE_CONFIG, or
 * ./ragline.config.json when present), which overrides defaults that need nothing installed.
 * Every setting has exactly one environment variable; a bad value names that variable.
 */
const positiveInt = z.coerce.number().int().positive();

/**
 * Searches in flight per process by default: 4 per core. A search is mostly CPU (BM25 in this
 * process, pgvector in the database on the same machine); the load bench on 2 cores peaked at ~8
 * connections (throughput flat beyond, every further one only queues and lengthens the tail).
 */
export const defaultSearchInFlight = () => 4 * os.availableParallelism();
const unitInterval = z.coerce.number().min(0).max(1);
/** "true"/"false" from the environment (z.coerce.boolean would read "false" as true). */
const booleanFlag = z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean());
/** Structured settings given as JSON text in an environment variable. */
const parseJsonString = (v: unknown) => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v; // the schema then reports the type mismatch against the variable
  }
};
const priceTableSchema = z.record(
  z.string().min(1),
  z.object({ inputPerMTok: z.number().min(0), outputPerMTok: z.number().min(0) }).strict(),
);

/** USD per 1M tokens, list prices at the time of writing; override with RAGLINE_LLM_PRICES. */
const DEFAULT_PRICES: z.infer<typeof priceTableSchema> = {
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'text-embedding-3-small': { inputPerMTok: 0.02, outputPerMTok: 0 },
  'text-embedding-3-large': { inputPerMTok: 0.13, outputPerMTok: 0 },
  extractive: { inputPerMTok: 0, outputPerMTok: 0 },
};

const ANSWER_DEFAULTS = {
  // Calibrated on SQuAD (eval/squad-answers.ts, MiniLM): answers 98.9 % of in-corpus questions,
  // refuses 28 % of near-domain out-of-corpus ones (unrelated questions score far lower, ~0.1).
  minDenseSimilarity: 0.3,
  requireBm25Match: false,
  generator: 'auto' as 'auto' | 'openai' | 'extractive',
  // pdf-qa: refuses 3 of 3 on-topic unanswerable questions with either PDF reading and
  // no answerable one; SQuAD: 0.17 % of answerable pairs refused (eval/answerability-squad.ts, docs/formats.md).
  answerability: 'on' as 'on' | 'off',
  prices: DEFAULT_PRICES,
};

const GUARDRAIL_DEFAULTS = {
  chunkInjection: 'fence' as 'fence' | 'drop',
  questionInjection: 'flag' as 'flag' | 'refuse',
  redactIngest: false,
  redactAnswers: false,
  redactTraces: false,
  redactKinds: [...PII_KINDS],
  outputBlocklist: [] as string[],
};

const RATE_LIMIT_DEFAULTS = {
  redisPrefix: 'ragline:rl',
  tenantRequestsPerMinute: 3_000,
  globalRequestsPerMinute: 20_000,
  keyTokensPerMinute: 100_000,
  tenantTokensPerMinute: 400_000,
  authFailuresPerWindow: 10,
  authFailureWindowSeconds: 900,
};
/** A secret sent as `Authorization: Bearer <token>`: anything outside RFC 6750's alphabet could never authenticate. */
const bearerToken = (minLength: number) =>
  z
    .string()
    .min(minLength)
    .regex(BEARER_TOKEN_PATTERN, 'must use only bearer-token characters: letters, digits and - . _ ~ + / (then optional =)');

const CONSOLE_DEFAULTS = { enabled: true, maxRequestsPage: 200, maxChunksPage: 500 };
const TENANCY_DEFAULTS = { restoreWindowDays: 7, purgeIntervalMinutes: 60, allowOpen: false };

/**
 * Bounds on the work one request, document or job may cause (issue #10). Documented in
 * docs/hardening.md; each has one environment variable below.
 */
export const LIMIT_DEFAULTS = {
  /** Characters a loader may extract from one document before it is refused (422). */
  maxDocumentChars: 2_000_000,
  /** Chunks one document may produce before it is refused (422). */
  maxChunksPerDocument: 5_000,
  /** Wall time one ingestion job may run before it is abandoned, failing for good. */
  jobDeadlineMs: 15 * 60_000,
  /** Serialized size of one document's metadata (UTF-8 bytes of its JSON). */
  maxMetadataBytes: 64 * 1024,
  /** Nesting depth of metadata objects and arrays (the top-level object is depth 1). */
  maxMetadataDepth: 8,
  /** Files one multipart upload request may carry (each becomes a job). */
  maxFilesPerRequest: 100,
  /** Days an upload's bytes are kept after its job finished; 0 deletes them once processed. */
  uploadRetentionDays: 0,
  /** Days the upload of a failed job is kept so it can be retried (at least uploadRetentionDays). */
  failedUploadRetentionDays: 7,
  /** How long `serve`/`worker` wait for requests and jobs on SIGTERM before cancelling them and exiting. */
  shutdownGraceMs: 10_000,
};

/** pgvector search over filters (store/sql-store.ts FilteredPlan, docs/scaleout.md "Filtered search"). */
export const DENSE_SEARCH_DEFAULTS = {
  /**
   * A filtered search whose matching documents hold at most this many chunks reads just those rows
   * and ranks them exactly, instead of walking the HNSW graph; 0 always walks the graph.
   */
  prefilterMaxChunks: 20_000,
  /**
   * hnsw.ef_search of a filtered graph walk, at least. A filter leaves fewer usable neighbours per
   * visited node, so the default beam (the candidate depth) lost recall: at 100k chunks a ~50 %
   * filter gave recall@10 0.918 at 100 and 0.982 at 400 (PGlite), a ~10 % filter 0.960 and 0.968.
   */
  filteredEfSearch: 400,
  /**
   * PGlite ranks a pre-filtered search through an in-process int8 copy of the collection's vectors
   * (store/vector-copies.ts): SQL finds the matching documents, JavaScript scores their rows, SQL
   * re-ranks the few the quantisation error cannot rule out. Exact like the SQL pre-filter, without
   * computing every distance in PGlite's single thread. A Postgres server always ranks in SQL.
   */
  int8Scan: true,
  /** Estimated heap all int8 copies may hold (~0.5 MB per 1,000 384-d chunks); least recently used are dropped. */
  int8MemoryMb: 256,
  /**
   * With an int8 copy serving, `auto` pre-filters up to this many matching chunks instead of
   * prefilterMaxChunks: scanning the copy costs ~0.05 µs a row, so at 100k chunks a ~50 % filter's
   * exact scan (p95 9.7 ms, recall 1.0) beat the graph walk (15.3 ms, recall 0.987). Not a setting;
   * RAGLINE_DENSE_PREFILTER_MAX_CHUNKS=0 still always walks the graph.
   */
  int8PrefilterMaxChunks: 200_000,
};

/** The difficulty rule of model routing (answer/routing.ts, docs/experiments.md); not calibrated on data yet. */
export const ROUTING_DEFAULTS = {
  maxEasyWords: 16,
  maxEasyClauses: 1,
  minEasyTopSimilarity: 0.5,
  minEasyDenseGap: 0.05,
  minEasyFusedMargin: 0.25,
  maxEasyDocuments: 2,
  topHits: 3,
  sourceSimilarityMargin: 0.1,
};

const OPERATIONS_DEFAULTS = {
  retentionDays: 30,
  ledgerFlushMs: 1000,
  ledgerBatchSize: 100,
  ledgerMaxBuffered: 10_000,
  queryEmbeddingCacheSize: 10_000,
  answerCacheSize: 1_000,
  answerCacheTtlSeconds: 3600,
  collectionCacheTtlMs: 1000,
  redisKeyPrefix: 'ragline:',
};

/** Structured answers (response_format on /answer) and the OpenAI-compatible facade (docs/openai-compat.md). */
const COMPAT_DEFAULTS = {
  maxSchemaBytes: 16 * 1024,
  maxSchemaDepth: 10,
  condense: 'auto' as 'auto' | 'rule',
  condenseMaxTokens: 96,
  maxMessages: 64,
  maxConversationChars: 64_000,
};

const HANDOFF_DEFAULTS = {
  enabled: true,
  minConfidence: 0.4,
  webhookMaxAttempts: 5,
  webhookRetryBaseMs: 1000,
  webhookTimeoutMs: 5000,
  webhookMaxPending: 1000,
};

const BATCH_DEFAULTS = {
  maxQuestions: 1000,
  priority: -10,
  maxAttempts: 3,
  yieldQuietMs: 50,
  yieldMaxWaitMs: 2000,
};

export const configSchema = z.object({
  dataDir: z.string().min(1).default('./.ragline'),
  databaseUrl: z.string().url().optional(),
  /** Redis shared by replicas for rate-limit counters and the answer cache; unset keeps both in process. */
  redisUrl: z.string().url().optional(),
  embedding: z
    .object({
      provider: z.enum(['local', 'openai']).default('local'),
      model: z.string().min(1).optional(),
      dtype: z.enum(['fp32', 'q8']).default('fp32'),
      modelDir: z.string().min(1).optional(),
      dimensions: positiveInt.optional(),
      batchSize: positiveInt.max(2048).default(32),
      /** Embedding requests in flight at once (remote providers). */
      concurrency: positiveInt.max(64).default(4),
    })
    .default({ provider: 'local', dtype: 'fp32', batchSize: 32, concurrency: 4 }),
  chunking: z
    .object({
      /**
       * semantic: cuts where the meaning shifts (sentences embedded alone), then embeds each chunk;
       * late: the same kind of cuts and the chunk vectors from ONE model pass over windows (late
       * chunking; falls back to semantic for embedders without token vectors); sentence / fixed: packing only.
       */
      strategy: z.enum(['semantic', 'late', 'sentence', 'fixed']).default('semantic'),
      maxTokens: positiveInt.max(8192).default(256),
      minTokens: z.coerce.number().int().min(0).default(48),
      targetTokens: positiveInt.default(200),
      /**
       * late: weight of each frame token ([CLS], context prefix, [SEP]) against a chunk token in the
       * pooled chunk vector; 1 (unset) = the vector of embedding the chunk alone. No default, so
       * content hashes made without it stay valid.
       */
      lateFrameWeight: z.coerce.number().min(0).max(64).optional(),
    })
    .default({ strategy: 'semantic', maxTokens: 256, minTokens: 48, targetTokens: 200 }),
  /**
   * Document vectors beside the chunk vectors (store/document-vectors.ts, retrieval/document-evidence.ts):
   * a document's similarity to the query supports the scores of its chunks in the dense leg.
   */
  documentVectors: z
    .object({
      /**
       * How ingest makes each document's vector: 'mean' = the normalised mean of its chunk vectors
       * (no extra embedding), 'first-window' = "title text" embedded up to the model's window (one
       * extra embedding per document of more than one chunk), 'off' = none.
       */
      pooling: z.enum(['off', 'mean', 'first-window']).default('mean'),
      /** β in: chunk dense score = chunk similarity + β × its document's similarity. 0 = chunks alone. */
      weight: z.coerce.number().min(0).max(10).default(0),
      /** Nearest documents also taken from the document index, each entering through its best chunk. 0 = none. */
      candidates: z.coerce.number().int().min(0).max(1000).default(0),
    })
    .default({ pooling: 'mean', weight: 0, candidates: 0 }),
  /** How hybrid search fuses the dense and BM25 candidate lists (retrieval/fusion.ts, retrieval/document-fusion.ts). */
  fusion: z
    .object({
      /**
       * chunks: each chunk is ranked and normalised as itself; documents: among each list's distinct
       * documents, so one document's many chunks do not crowd others out, while every chunk is still returned.
       */
      unit: z.enum(['chunks', 'documents']).default('chunks'),
    })
    .default({ unit: 'chunks' }),
  /** BM25 scoring; defaults tuned on SciFact train (retrieval/bm25.ts). */
  bm25: z
    .object({
      k1: z.coerce.number().min(0).max(10).optional(),
      b: z.coerce.number().min(0).max(1).optional(),
      titleBoost: z.coerce.number().min(0).max(10).optional(),
      /**
       * Long queries keep only this many distinct terms, the rarest ones. Unset (the default) =
       * every term, scored exactly with top-k pruning (docs/bm25-exact.md).
       */
      maxQueryTerms: positiveInt.max(10_000).optional(),
    })
    .default({}),
  /** BM25 indexes across replicas (retrieval/bm25-registry.ts, docs/scaleout.md). */
  bm25Cache: z
    .object({
      /** Estimated heap all BM25 indexes may hold; least recently used collections unload beyond it. 0 = no limit. */
      memoryMb: z.coerce.number().int().min(0).default(1024),
      /** Persist each collection's index in SQL so replicas load it instead of rebuilding. */
      snapshots: booleanFlag.default(true),
      /** Rewrite a snapshot once this many documents changed since the stored one. */
      snapshotEveryDocuments: positiveInt.default(500),
      /** Change notices within this window are folded into one catch-up. */
      catchUpDelayMs: z.coerce.number().int().min(0).max(60_000).default(100),
    })
    .default({ memoryMb: 1024, snapshots: true, snapshotEveryDocuments: 500, catchUpDelayMs: 100 }),
  /**
   * Keyword search in a Pinecone sparse index (docs/scaleout.md). `local` is the in-process BM25;
   * `pinecone` needs PINECONE_API_KEY plus the sparse index's name and data-plane URL: every chunk
   * write then also upserts BM25 sparse vectors and updates the SQL document frequencies, searches
   * take their BM25 candidates from the sparse index, and no replica builds an in-process index.
   */
  sparse: z
    .object({
      backend: z.enum(['local', 'pinecone']).default('local'),
      /** The sparse index (PINECONE_SPARSE_INDEX), separate from the dense PINECONE_INDEX. */
      pineconeIndex: z.string().min(1).optional(),
      /** Its data-plane URL (PINECONE_SPARSE_HOST). */
      pineconeHost: z.string().url().optional(),
      /** API key for the sparse index (PINECONE_SPARSE_API_KEY); by default PINECONE_API_KEY. */
      pineconeApiKey: z.string().min(1).optional(),
      /** Retries of a request Pinecone answers with 429, with doubling backoff. */
      rateLimitRetries: z.coerce.number().int().min(0).max(20).default(5),
      /** First backoff delay after a 429. */
      retryDelayMs: positiveInt.max(60_000).default(500),
    })
    .default({ backend: 'local', rateLimitRetries: 5, retryDelayMs: 500 }),
  /** Filtered pgvector search: when to pre-filter instead of walking the graph (DENSE_SEARCH_DEFAULTS). */
  denseSearch: z
    .object({
      prefilterMaxChunks: z.coerce.number().int().min(0).max(10_000_000).default(DENSE_SEARCH_DEFAULTS.prefilterMaxChunks),
      filteredEfSearch: z.coerce.number().int().min(1).max(1000).default(DENSE_SEARCH_DEFAULTS.filteredEfSearch),
      int8Scan: booleanFlag.default(DENSE_SEARCH_DEFAULTS.int8Scan),
      int8MemoryMb: z.coerce.number().int().min(1).max(1_000_000).default(DENSE_SEARCH_DEFAULTS.int8MemoryMb),
    })
    .default(DENSE_SEARCH_DEFAULTS),
  /** Requests in flight per route class before new ones get 503 + Retry-After (api/middleware/load-shedding.ts). 0 = unbounded. */
  loadShedding: z
    .object({
      search: z.coerce.number().int().min(0).default(defaultSearchInFlight),
      answer: z.coerce.number().int().min(0).default(16),
      upload: z.coerce.number().int().min(0).default(8),
      /** Seconds a shed client is told to wait (Retry-After). */
      retryAfterSeconds: positiveInt.max(3600).default(1),
      /**
       * A class with requests in flight also sheds while the event loop's ticks have recently been this late on average
       * (ms); 0 = off, the default: near idle on 2 cores, 100 ms shed half of 4 concurrent extractive answers, whose own
       * work keeps the loop that late, and added nothing past saturation once the search bound is 4 per core.
       */
      maxEventLoopDelayMs: z.coerce.number().int().min(0).max(60_000).default(0),
    })
    .default(() => ({ search: defaultSearchInFlight(), answer: 16, upload: 8, retryAfterSeconds: 1, maxEventLoopDelayMs: 0 })),
  openai: z
    .object({
      apiKey: z.string().min(1).optional(),
      baseUrl: z.string().url().optional(),
      chatModel: z.string().min(1).default('gpt-4o-mini'),
      timeoutMs: positiveInt.default(30_000),
      maxRetries: z.coerce.number().int().min(0).max(10).default(3),
      maxOutputTokens: positiveInt.max(16_384).default(512),
      temperature: z.coerce.number().min(0).max(2).default(0.1),
      /** First retry delay; later ones double, with jitter. A 429/5xx Retry-After header wins when longer. */
      retryBaseMs: z.coerce.number().int().min(0).max(60_000).default(500),
      /** The circuit opens when over half of at least this many calls in a 10 s window failed. */
      breakerMinRequests: positiveInt.default(5),
      /** How long an open circuit stays open before one trial call is let through. */
      breakerResetMs: positiveInt.default(30_000),
      /** The circuit also opens after this many failed calls in a row, however slowly they came. */
      breakerConsecutiveFailures: positiveInt.default(3),
    })
    .default({
      chatModel: 'gpt-4o-mini',
      timeoutMs: 30_000,
      maxRetries: 3,
      maxOutputTokens: 512,
      temperature: 0.1,
      retryBaseMs: 500,
      breakerMinRequests: 5,
      breakerResetMs: 30_000,
      breakerConsecutiveFailures: 3,
    }),
  limits: z
    .object({
      maxDocumentChars: positiveInt.default(LIMIT_DEFAULTS.maxDocumentChars),
      maxChunksPerDocument: positiveInt.default(LIMIT_DEFAULTS.maxChunksPerDocument),
      jobDeadlineMs: positiveInt.default(LIMIT_DEFAULTS.jobDeadlineMs),
      maxMetadataBytes: positiveInt.default(LIMIT_DEFAULTS.maxMetadataBytes),
      maxMetadataDepth: positiveInt.max(64).default(LIMIT_DEFAULTS.maxMetadataDepth),
      maxFilesPerRequest: positiveInt.default(LIMIT_DEFAULTS.maxFilesPerRequest),
      uploadRetentionDays: z.coerce.number().min(0).default(LIMIT_DEFAULTS.uploadRetentionDays),
      failedUploadRetentionDays: z.coerce.number().min(0).default(LIMIT_DEFAULTS.failedUploadRetentionDays),
      shutdownGraceMs: positiveInt.default(LIMIT_DEFAULTS.shutdownGraceMs),
    })
    .default(LIMIT_DEFAULTS),
  answer: z
    .object({
      minDenseSimilarity: unitInterval.default(ANSWER_DEFAULTS.minDenseSimilarity),
      /** Also refuse when BM25 matched none of the retrieved chunks. */
      requireBm25Match: booleanFlag.default(ANSWER_DEFAULTS.requireBm25Match),
      /** auto = the OpenAI-compatible LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set, else extractive. */
      generator: z.enum(['auto', 'openai', 'extractive']).default(ANSWER_DEFAULTS.generator),
      /** The extractive answer refuses when its quoted text lacks the question's month or asked-for quantity. */
      answerability: z.enum(['on', 'off']).default(ANSWER_DEFAULTS.answerability),
      /** USD per 1M tokens by model name; a model missing here is reported with costUsd null. */
      prices: z.preprocess(parseJsonString, priceTableSchema).default(ANSWER_DEFAULTS.prices),
    })
    .default(ANSWER_DEFAULTS),
  server: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8787),
      /** Bootstrap keys: admins of the default tenant who may also manage tenants. Bearer-token characters only. */
      apiKeys: z.array(bearerToken(8)).default([]),
      maxUploadBytes: positiveInt.default(50 * 1024 * 1024),
      rateLimitPerMinute: positiveInt.default(600),
      /**
       * Reverse proxies (IPs or CIDR ranges) whose X-Forwarded-For is believed: the client is then the
       * right-most forwarded address that is not one of them. Empty: X-Forwarded-For is ignored.
       */
      trustedProxies: z
        .array(
          z
            .string()
            .trim()
            .superRefine((entry, ctx) => {
              const problem = proxyEntryProblem(entry);
              if (problem) ctx.addIssue({ code: 'custom', message: problem });
            }),
        )
        .max(1_000)
        .default([]),
    })
    .default({ host: '127.0.0.1', port: 8787, apiKeys: [], maxUploadBytes: 50 * 1024 * 1024, rateLimitPerMinute: 600, trustedProxies: [] }),
  /** Prompt-injection screening, PII redaction and the output blocklist (docs/guardrails.md). */
  guardrails: z
    .object({
      /** JSON file of extra injection patterns ({ patterns: [{ name, pattern }], replaceBuiltins? }). */
      injectionPatternsFile: z.string().min(1).optional(),
      /** A retrieved chunk that looks like injection: fence = sent labelled untrusted; drop = left out of the prompt. */
      chunkInjection: z.enum(['fence', 'drop']).default(GUARDRAIL_DEFAULTS.chunkInjection),
      /** A question that looks like injection: flag = answered and reported; refuse = not answered. */
      questionInjection: z.enum(['flag', 'refuse']).default(GUARDRAIL_DEFAULTS.questionInjection),
      /** Redact PII from document text before it is chunked, embedded and stored. */
      redactIngest: booleanFlag.default(false),
      /** Redact PII from answers and from the chunk texts and quotes an answer returns. */
      redactAnswers: booleanFlag.default(false),
      /** Redact PII from stored request traces (read by the request ledger). */
      redactTraces: booleanFlag.default(false),
      /** The PII kinds redaction looks for. */
      redactKinds: z.array(z.enum(PII_KINDS)).default([...PII_KINDS]),
      /** Terms (case- and disguise-insensitive, whole words) an answer must not contain; "/regex/" entries are patterns. */
      outputBlocklist: z.array(z.string().min(1).max(500)).max(1_000).default([]),
      /** A file with one blocklist entry per line (# comments), added to RAGLINE_OUTPUT_BLOCKLIST. */
      outputBlocklistFile: z.string().min(1).optional(),
    })
    .default(GUARDRAIL_DEFAULTS),
  /** Request and LLM-token rate limits; counters in Redis when redisUrl is set, else in process (docs/guardrails.md). */
  rateLimits: z
    .object({
      /** Prefix of every Redis key the limiters write. */
      redisPrefix: z.string().min(1).max(100).default(RATE_LIMIT_DEFAULTS.redisPrefix),
      /** Requests per minute for one tenant (all its keys together); the per-key limit is server.rateLimitPerMinute. */
      tenantRequestsPerMinute: positiveInt.default(RATE_LIMIT_DEFAULTS.tenantRequestsPerMinute),
      /** Requests per minute for the whole server (all tenants). */
      globalRequestsPerMinute: positiveInt.default(RATE_LIMIT_DEFAULTS.globalRequestsPerMinute),
      /** LLM tokens (prompt + completion) per minute one key may spend on /answer. */
      keyTokensPerMinute: positiveInt.default(RATE_LIMIT_DEFAULTS.keyTokensPerMinute),
      /** LLM tokens per minute one tenant may spend on /answer. */
      tenantTokensPerMinute: positiveInt.default(RATE_LIMIT_DEFAULTS.tenantTokensPerMinute),
      /** Failed authentications (401) one client address may have in the window before it is refused with 429. */
      authFailuresPerWindow: positiveInt.default(RATE_LIMIT_DEFAULTS.authFailuresPerWindow),
      authFailureWindowSeconds: positiveInt.default(RATE_LIMIT_DEFAULTS.authFailureWindowSeconds),
    })
    .default(RATE_LIMIT_DEFAULTS),
  tenancy: z
    .object({
      /** Days a deleted collection can be restored before the purge job removes it for good. */
      restoreWindowDays: positiveInt.max(3650).default(TENANCY_DEFAULTS.restoreWindowDays),
      /** How often the server runs the purge job. */
      purgeIntervalMinutes: positiveInt.max(7 * 24 * 60).default(TENANCY_DEFAULTS.purgeIntervalMinutes),
      /** Bearer token for GET /metrics when API keys are configured (an admin key works too). */
      metricsToken: bearerToken(16).optional(),
      /** Serve without any API key on a non-loopback address (everyone is admin of the default tenant). */
      allowOpen: booleanFlag.default(TENANCY_DEFAULTS.allowOpen),
    })
    .default(TENANCY_DEFAULTS),
  /**
   * Parsing bounds and OCR for the document loaders. Every field is optional here: its default
   * lives in ingest/loaders/limits.ts (LOADER_LIMITS), documented in docs/formats.md.
   */
  loaders: z
    .object({
      ocr: z.enum(['on', 'off']).optional(),
      pdfLayout: z.enum(['on', 'off']).optional(),
      ocrMaxPages: positiveInt.optional(),
      ocrTimeoutMs: positiveInt.optional(),
      zipMaxEntries: positiveInt.optional(),
      zipMaxUncompressedBytes: positiveInt.optional(),
      zipMaxCompressionRatio: z.coerce.number().positive().optional(),
      sheetMaxCells: positiveInt.optional(),
      emailMaxAttachments: z.coerce.number().int().min(0).optional(),
      emailMaxAttachmentBytes: positiveInt.optional(),
    })
    .default({}),
  /** The request ledger, the caches and readiness (docs/operations.md). */
  operations: z
    .object({
      /** Traces older than this are purged (hourly, by the server). */
      retentionDays: positiveInt.max(3650).default(OPERATIONS_DEFAULTS.retentionDays),
      /** Buffered traces are written at least this often… */
      ledgerFlushMs: positiveInt.max(60_000).default(OPERATIONS_DEFAULTS.ledgerFlushMs),
      /** …or as soon as this many are waiting. */
      ledgerBatchSize: positiveInt.max(5_000).default(OPERATIONS_DEFAULTS.ledgerBatchSize),
      /** Traces held while the database is unreachable; beyond it the oldest are dropped (and counted). */
      ledgerMaxBuffered: positiveInt.max(1_000_000).default(OPERATIONS_DEFAULTS.ledgerMaxBuffered),
      /** Query embeddings kept in memory (LRU), keyed by model and normalized text; 0 turns the cache off. */
      queryEmbeddingCacheSize: z.coerce.number().int().min(0).max(1_000_000).default(OPERATIONS_DEFAULTS.queryEmbeddingCacheSize),
      /** Answers kept in process (LRU) when REDIS_URL is unset; 0 turns the answer cache off. */
      answerCacheSize: z.coerce.number().int().min(0).max(1_000_000).default(OPERATIONS_DEFAULTS.answerCacheSize),
      /** How long a cached answer lives (also in Redis). */
      answerCacheTtlSeconds: positiveInt.max(30 * 86_400).default(OPERATIONS_DEFAULTS.answerCacheTtlSeconds),
      /**
       * How long a search or answer trusts a collection (and its version) resolved from memory
       * without asking SQL. Writes evict it at once (this process's directly, other processes'
       * through LISTEN/NOTIFY); the TTL bounds what no notice reaches. 0 = ask SQL every time.
       */
      collectionCacheTtlMs: z.coerce.number().int().min(0).max(60_000).default(OPERATIONS_DEFAULTS.collectionCacheTtlMs),
      /** Prefix of every Redis key Ragline writes. */
      redisKeyPrefix: z.string().min(1).max(200).default(OPERATIONS_DEFAULTS.redisKeyPrefix),
    })
    .default(OPERATIONS_DEFAULTS),
  /**
   * Model routing (docs/experiments.md): a second, cheaper OpenAI-compatible model for easy
   * questions. The `openai` section stays the strong model; without `smallModel` there is no routing.
   */
  routing: z
    .object({
      /** The small model's endpoint; the strong one's (OPENAI_BASE_URL) when unset. */
      smallBaseUrl: z.string().url().optional(),
      /** The small endpoint's key; OPENAI_API_KEY when unset. */
      smallApiKey: z.string().min(1).optional(),
      /** The small model's name; setting it turns routing on. */
      smallModel: z.string().min(1).optional(),
      /** USD per 1M tokens of the small model (in / out); the price table's entry for its name when unset. */
      smallInputPerMTok: z.coerce.number().min(0).optional(),
      smallOutputPerMTok: z.coerce.number().min(0).optional(),
      /** USD per 1M tokens of the strong model (in / out); the price table's entry for its name when unset. */
      strongInputPerMTok: z.coerce.number().min(0).optional(),
      strongOutputPerMTok: z.coerce.number().min(0).optional(),
      /** Longer questions (in words) go to the strong model. */
      maxEasyWords: positiveInt.max(10_000).default(ROUTING_DEFAULTS.maxEasyWords),
      /** Questions with more clauses go to the strong model. */
      maxEasyClauses: positiveInt.max(100).default(ROUTING_DEFAULTS.maxEasyClauses),
      /** The best hit's dense similarity an easy question needs. */
      minEasyTopSimilarity: unitInterval.default(ROUTING_DEFAULTS.minEasyTopSimilarity),
      /** Dense similarity by which the best hit must lead the second (or the fused margin below). */
      minEasyDenseGap: unitInterval.default(ROUTING_DEFAULTS.minEasyDenseGap),
      /** Share of its fused score by which the best hit must lead the second (or the dense gap above). */
      minEasyFusedMargin: unitInterval.default(ROUTING_DEFAULTS.minEasyFusedMargin),
      /** More distinct documents among the top hits means several sources are needed: strong model. */
      maxEasyDocuments: positiveInt.max(100).default(ROUTING_DEFAULTS.maxEasyDocuments),
      /** How many top hits the document count looks at. */
      topHits: positiveInt.max(50).default(ROUTING_DEFAULTS.topHits),
      /** A top hit counts as a needed source when its dense similarity is within this of the best hit's. */
      sourceSimilarityMargin: unitInterval.default(ROUTING_DEFAULTS.sourceSimilarityMargin),
    })
    .default(ROUTING_DEFAULTS),
  compat: z
    .object({
      /** A response_format JSON Schema larger than this (serialised) is refused with 400. */
      maxSchemaBytes: positiveInt.max(1024 * 1024).default(COMPAT_DEFAULTS.maxSchemaBytes),
      /** Subschemas nested deeper than this (properties, items, anyOf…) are refused with 400. */
      maxSchemaDepth: positiveInt.max(64).default(COMPAT_DEFAULTS.maxSchemaDepth),
      /** How earlier chat turns make the last question standalone: auto = an LLM rewrite when an LLM is configured, else the rule; rule = never call the LLM for it. */
      condense: z.enum(['auto', 'rule']).default(COMPAT_DEFAULTS.condense),
      /** Output tokens the rewrite call may use. */
      condenseMaxTokens: positiveInt.max(1_000).default(COMPAT_DEFAULTS.condenseMaxTokens),
      /** Messages one /v1/chat/completions request may carry. */
      maxMessages: positiveInt.max(1_000).default(COMPAT_DEFAULTS.maxMessages),
      /** Characters of message content one /v1/chat/completions request may carry, all messages together. */
      maxConversationChars: positiveInt.max(1_000_000).default(COMPAT_DEFAULTS.maxConversationChars),
    })
    .default(COMPAT_DEFAULTS),
  /** Questions a person should answer: not covered or weakly grounded answers (docs/handoffs-batches.md). */
  handoffs: z
    .object({
      /** Record handoffs at all. */
      enabled: booleanFlag.default(HANDOFF_DEFAULTS.enabled),
      /**
       * An answered question whose best dense similarity is below this is handed off too (the
       * not-covered gate, RAGLINE_MIN_DENSE_SIMILARITY, sits lower); 0 hands off only `not_covered`.
       */
      minConfidence: unitInterval.default(HANDOFF_DEFAULTS.minConfidence),
      /** Where each new handoff is POSTed as JSON; unset = no webhook. */
      webhookUrl: z.string().url().optional(),
      /** HMAC-SHA256 key of the `X-Ragline-Signature` header; required with a webhook URL. */
      webhookSecret: z.string().min(16).optional(),
      /** Deliveries tried before the handoff is marked `failed`. */
      webhookMaxAttempts: positiveInt.max(20).default(HANDOFF_DEFAULTS.webhookMaxAttempts),
      /** First retry delay; doubled on each attempt (with jitter). */
      webhookRetryBaseMs: positiveInt.max(600_000).default(HANDOFF_DEFAULTS.webhookRetryBaseMs),
      /** One delivery attempt is abandoned after this long. */
      webhookTimeoutMs: positiveInt.max(120_000).default(HANDOFF_DEFAULTS.webhookTimeoutMs),
      /** Deliveries in flight at once; beyond it new ones are recorded as `dropped` rather than queued in memory. */
      webhookMaxPending: positiveInt.max(100_000).default(HANDOFF_DEFAULTS.webhookMaxPending),
    })
    .refine((h) => !h.webhookUrl || h.webhookSecret, {
      message: 'a handoff webhook URL needs RAGLINE_HANDOFF_WEBHOOK_SECRET (at least 16 characters)',
      path: ['webhookSecret'],
    })
    .default(HANDOFF_DEFAULTS),
  /** Non-urgent question batches run through the job queue (docs/handoffs-batches.md). */
  batches: z
    .object({
      /** Questions one batch may hold. */
      maxQuestions: positiveInt.max(10_000).default(BATCH_DEFAULTS.maxQuestions),
      /** Queue priority of a batch's jobs; ingestion runs at 0 and higher priorities are claimed first. */
      priority: z.coerce.number().int().min(-1000).max(-1).default(BATCH_DEFAULTS.priority),
      /** Attempts per question before its line records the error. */
      maxAttempts: positiveInt.max(10).default(BATCH_DEFAULTS.maxAttempts),
      /** A batch question starts once no /search or /answer of this process has run for this long… */
      yieldQuietMs: z.coerce.number().int().min(0).max(10_000).default(BATCH_DEFAULTS.yieldQuietMs),
      /** …or after waiting this long, so steady interactive traffic slows batches without starving them. */
      yieldMaxWaitMs: z.coerce.number().int().min(0).max(60_000).default(BATCH_DEFAULTS.yieldMaxWaitMs),
    })
    .default(BATCH_DEFAULTS),
  /** The web console `ragline serve` shows at `/` (docs/console.md). */
  console: z
    .object({
      /** Serve the console's page and scripts; the API is unaffected either way. */
      enabled: booleanFlag.default(CONSOLE_DEFAULTS.enabled),
      /** Most requests one page of `GET /v1/requests` may return. */
      maxRequestsPage: positiveInt.max(1_000).default(CONSOLE_DEFAULTS.maxRequestsPage),
      /** Most chunks one page of `GET /v1/collections/:id/documents/:docId/chunks` may return. */
      maxChunksPage: positiveInt.max(5_000).default(CONSOLE_DEFAULTS.maxChunksPage),
    })
    .default(CONSOLE_DEFAULTS),
  pinecone: z
    .object({
      apiKey: z.string().min(1),
      index: z.string().min(1),
      /** Data-plane URL; by default the host the control plane reports for the index. */
      host: z.string().url().optional(),
      /** Control-plane URL (e.g. Pinecone Local); by default Pinecone's. */
      controllerHost: z.string().url().optional(),
    })
    .optional(),
});

export type Config = z.infer<typeof configSchema>;
export type Limits = Config['limits'];
/** What loaders and the pipeline enforce on every document, whatever its format. */
export type DocumentLimits = Pick<Limits, 'maxDocumentChars' | 'maxChunksPerDocument' | 'maxMetadataBytes' | 'maxMetadataDepth'>;
export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = {
  maxDocumentChars: LIMIT_DEFAULTS.maxDocumentChars,
  maxChunksPerDocument: LIMIT_DEFAULTS.maxChunksPerDocument,
  maxMetadataBytes: LIMIT_DEFAULTS.maxMetadataBytes,
  maxMetadataDepth: LIMIT_DEFAULTS.maxMetadataDepth,
};

/** Environment variable → path in the config object. */
export const ENV_VARS: Record<string, string[]> = {
  RAGLINE_DATA_DIR: ['dataDir'],
  DATABASE_URL: ['databaseUrl'],
  REDIS_URL: ['redisUrl'],
  RAGLINE_EMBEDDER: ['embedding', 'provider'],
  RAGLINE_EMBEDDING_MODEL: ['embedding', 'model'],
  RAGLINE_EMBEDDING_DTYPE: ['embedding', 'dtype'],
  RAG_MODEL_DIR: ['embedding', 'modelDir'],
  RAGLINE_EMBEDDING_DIMENSIONS: ['embedding', 'dimensions'],
  RAGLINE_EMBEDDING_BATCH: ['embedding', 'batchSize'],
  RAGLINE_DOCUMENT_POOLING: ['documentVectors', 'pooling'],
  RAGLINE_DOCUMENT_WEIGHT: ['documentVectors', 'weight'],
  RAGLINE_DOCUMENT_CANDIDATES: ['documentVectors', 'candidates'],
  RAGLINE_CHUNK_STRATEGY: ['chunking', 'strategy'],
  RAGLINE_FUSION_UNIT: ['fusion', 'unit'],
  RAGLINE_BM25_K1: ['bm25', 'k1'],
  RAGLINE_BM25_B: ['bm25', 'b'],
  RAGLINE_BM25_TITLE_BOOST: ['bm25', 'titleBoost'],
  RAGLINE_BM25_MAX_QUERY_TERMS: ['bm25', 'maxQueryTerms'],
  RAGLINE_CHUNK_MAX_TOKENS: ['chunking', 'maxTokens'],
  RAGLINE_CHUNK_MIN_TOKENS: ['chunking', 'minTokens'],
  RAGLINE_CHUNK_TARGET_TOKENS: ['chunking', 'targetTokens'],
  RAGLINE_LATE_FRAME_WEIGHT: ['chunking', 'lateFrameWeight'],
  OPENAI_API_KEY: ['openai', 'apiKey'],
  OPENAI_BASE_URL: ['openai', 'baseUrl'],
  RAGLINE_CHAT_MODEL: ['openai', 'chatModel'],
  RAGLINE_LLM_TIMEOUT_MS: ['openai', 'timeoutMs'],
  RAGLINE_LLM_MAX_RETRIES: ['openai', 'maxRetries'],
  RAGLINE_LLM_MAX_TOKENS: ['openai', 'maxOutputTokens'],
  RAGLINE_LLM_TEMPERATURE: ['openai', 'temperature'],
  RAGLINE_MIN_DENSE_SIMILARITY: ['answer', 'minDenseSimilarity'],
  RAGLINE_LLM_RETRY_BASE_MS: ['openai', 'retryBaseMs'],
  RAGLINE_LLM_BREAKER_MIN_REQUESTS: ['openai', 'breakerMinRequests'],
  RAGLINE_LLM_BREAKER_RESET_MS: ['openai', 'breakerResetMs'],
  RAGLINE_ANSWER_REQUIRE_BM25: ['answer', 'requireBm25Match'],
  RAGLINE_ANSWER_GENERATOR: ['answer', 'generator'],
  RAGLINE_ANSWERABILITY: ['answer', 'answerability'],
  RAGLINE_LLM_PRICES: ['answer', 'prices'],
  RAGLINE_EMBEDDING_CONCURRENCY: ['embedding', 'concurrency'],
  RAGLINE_HOST: ['server', 'host'],
  PORT: ['server', 'port'],
  RAGLINE_API_KEYS: ['server', 'apiKeys'],
  RAGLINE_MAX_UPLOAD_BYTES: ['server', 'maxUploadBytes'],
  RAGLINE_RATE_LIMIT_PER_MINUTE: ['server', 'rateLimitPerMinute'],
  RAGLINE_TRUSTED_PROXIES: ['server', 'trustedProxies'],
  RAGLINE_INJECTION_PATTERNS_FILE: ['guardrails', 'injectionPatternsFile'],
  RAGLINE_CHUNK_INJECTION: ['guardrails', 'chunkInjection'],
  RAGLINE_QUESTION_INJECTION: ['guardrails', 'questionInjection'],
  RAGLINE_REDACT_INGEST: ['guardrails', 'redactIngest'],
  RAGLINE_REDACT_ANSWERS: ['guardrails', 'redactAnswers'],
  RAGLINE_REDACT_TRACES: ['guardrails', 'redactTraces'],
  RAGLINE_REDACT_KINDS: ['guardrails', 'redactKinds'],
  RAGLINE_OUTPUT_BLOCKLIST: ['guardrails', 'outputBlocklist'],
  RAGLINE_OUTPUT_BLOCKLIST_FILE: ['guardrails', 'outputBlocklistFile'],
  RAGLINE_RATE_LIMIT_PREFIX: ['rateLimits', 'redisPrefix'],
  RAGLINE_RATE_LIMIT_TENANT_PER_MINUTE: ['rateLimits', 'tenantRequestsPerMinute'],
  RAGLINE_RATE_LIMIT_GLOBAL_PER_MINUTE: ['rateLimits', 'globalRequestsPerMinute'],
  RAGLINE_KEY_TOKENS_PER_MINUTE: ['rateLimits', 'keyTokensPerMinute'],
  RAGLINE_TENANT_TOKENS_PER_MINUTE: ['rateLimits', 'tenantTokensPerMinute'],
  RAGLINE_AUTH_FAILURES_PER_WINDOW: ['rateLimits', 'authFailuresPerWindow'],
  RAGLINE_AUTH_FAILURE_WINDOW_SECONDS: ['rateLimits', 'authFailureWindowSeconds'],
  RAGLINE_RESTORE_WINDOW_DAYS: ['tenancy', 'restoreWindowDays'],
  RAGLINE_PURGE_INTERVAL_MINUTES: ['tenancy', 'purgeIntervalMinutes'],
  RAGLINE_METRICS_TOKEN: ['tenancy', 'metricsToken'],
  RAGLINE_ALLOW_OPEN: ['tenancy', 'allowOpen'],
  RAGLINE_OCR: ['loaders', 'ocr'],
  RAGLINE_PDF_LAYOUT: ['loaders', 'pdfLayout'],
  RAGLINE_OCR_MAX_PAGES: ['loaders', 'ocrMaxPages'],
  RAGLINE_OCR_TIMEOUT_MS: ['loaders', 'ocrTimeoutMs'],
  RAGLINE_ZIP_MAX_ENTRIES: ['loaders', 'zipMaxEntries'],
  RAGLINE_ZIP_MAX_BYTES: ['loaders', 'zipMaxUncompressedBytes'],
  RAGLINE_ZIP_MAX_RATIO: ['loaders', 'zipMaxCompressionRatio'],
  RAGLINE_SHEET_MAX_CELLS: ['loaders', 'sheetMaxCells'],
  RAGLINE_EMAIL_MAX_ATTACHMENTS: ['loaders', 'emailMaxAttachments'],
  RAGLINE_EMAIL_MAX_ATTACHMENT_BYTES: ['loaders', 'emailMaxAttachmentBytes'],
  RAGLINE_LLM_BREAKER_CONSECUTIVE_FAILURES: ['openai', 'breakerConsecutiveFailures'],
  RAGLINE_MAX_DOCUMENT_CHARS: ['limits', 'maxDocumentChars'],
  RAGLINE_MAX_CHUNKS_PER_DOCUMENT: ['limits', 'maxChunksPerDocument'],
  RAGLINE_JOB_DEADLINE_MS: ['limits', 'jobDeadlineMs'],
  RAGLINE_MAX_METADATA_BYTES: ['limits', 'maxMetadataBytes'],
  RAGLINE_MAX_METADATA_DEPTH: ['limits', 'maxMetadataDepth'],
  RAGLINE_MAX_FILES_PER_REQUEST: ['limits', 'maxFilesPerRequest'],
  RAGLINE_UPLOAD_RETENTION_DAYS: ['limits', 'uploadRetentionDays'],
  RAGLINE_FAILED_UPLOAD_RETENTION_DAYS: ['limits', 'failedUploadRetentionDays'],
  RAGLINE_SHUTDOWN_GRACE_MS: ['limits', 'shutdownGraceMs'],
  RAGLINE_LEDGER_RETENTION_DAYS: ['operations', 'retentionDays'],
  RAGLINE_LEDGER_FLUSH_MS: ['operations', 'ledgerFlushMs'],
  RAGLINE_LEDGER_BATCH_SIZE: ['operations', 'ledgerBatchSize'],
  RAGLINE_LEDGER_MAX_BUFFERED: ['operations', 'ledgerMaxBuffered'],
  RAGLINE_QUERY_EMBEDDING_CACHE_SIZE: ['operations', 'queryEmbeddingCacheSize'],
  RAGLINE_ANSWER_CACHE_SIZE: ['operations', 'answerCacheSize'],
  RAGLINE_ANSWER_CACHE_TTL_SECONDS: ['operations', 'answerCacheTtlSeconds'],
  RAGLINE_COLLECTION_CACHE_TTL_MS: ['operations', 'collectionCacheTtlMs'],
  RAGLINE_REDIS_KEY_PREFIX: ['operations', 'redisKeyPrefix'],
  RAGLINE_CONSOLE: ['console', 'enabled'],
  RAGLINE_CONSOLE_MAX_REQUESTS_PAGE: ['console', 'maxRequestsPage'],
  RAGLINE_CONSOLE_MAX_CHUNKS_PAGE: ['console', 'maxChunksPage'],
  RAGLINE_BM25_MEMORY_MB: ['bm25Cache', 'memoryMb'],
  RAGLINE_DENSE_PREFILTER_MAX_CHUNKS: ['denseSearch', 'prefilterMaxChunks'],
  RAGLINE_DENSE_FILTERED_EF_SEARCH: ['denseSearch', 'filteredEfSearch'],
  RAGLINE_DENSE_INT8_SCAN: ['denseSearch', 'int8Scan'],
  RAGLINE_DENSE_INT8_MEMORY_MB: ['denseSearch', 'int8MemoryMb'],
  RAGLINE_BM25_SNAPSHOTS: ['bm25Cache', 'snapshots'],
  RAGLINE_BM25_SNAPSHOT_EVERY_DOCUMENTS: ['bm25Cache', 'snapshotEveryDocuments'],
  RAGLINE_BM25_CATCH_UP_DELAY_MS: ['bm25Cache', 'catchUpDelayMs'],
  RAGLINE_MAX_IN_FLIGHT_SEARCH: ['loadShedding', 'search'],
  RAGLINE_MAX_IN_FLIGHT_ANSWER: ['loadShedding', 'answer'],
  RAGLINE_MAX_IN_FLIGHT_UPLOAD: ['loadShedding', 'upload'],
  RAGLINE_SHED_RETRY_AFTER_SECONDS: ['loadShedding', 'retryAfterSeconds'],
  RAGLINE_SHED_EVENT_LOOP_DELAY_MS: ['loadShedding', 'maxEventLoopDelayMs'],
  RAGLINE_SMALL_LLM_BASE_URL: ['routing', 'smallBaseUrl'],
  RAGLINE_SMALL_LLM_API_KEY: ['routing', 'smallApiKey'],
  RAGLINE_SMALL_LLM_MODEL: ['routing', 'smallModel'],
  RAGLINE_SMALL_LLM_PRICE_IN: ['routing', 'smallInputPerMTok'],
  RAGLINE_SMALL_LLM_PRICE_OUT: ['routing', 'smallOutputPerMTok'],
  RAGLINE_STRONG_LLM_PRICE_IN: ['routing', 'strongInputPerMTok'],
  RAGLINE_STRONG_LLM_PRICE_OUT: ['routing', 'strongOutputPerMTok'],
  RAGLINE_ROUTING_MAX_EASY_WORDS: ['routing', 'maxEasyWords'],
  RAGLINE_ROUTING_MAX_EASY_CLAUSES: ['routing', 'maxEasyClauses'],
  RAGLINE_ROUTING_MIN_EASY_SIMILARITY: ['routing', 'minEasyTopSimilarity'],
  RAGLINE_ROUTING_MIN_EASY_DENSE_GAP: ['routing', 'minEasyDenseGap'],
  RAGLINE_ROUTING_MIN_EASY_FUSED_MARGIN: ['routing', 'minEasyFusedMargin'],
  RAGLINE_ROUTING_MAX_EASY_DOCUMENTS: ['routing', 'maxEasyDocuments'],
  RAGLINE_ROUTING_TOP_HITS: ['routing', 'topHits'],
  RAGLINE_ROUTING_SOURCE_MARGIN: ['routing', 'sourceSimilarityMargin'],
  RAGLINE_STRUCTURED_MAX_SCHEMA_BYTES: ['compat', 'maxSchemaBytes'],
  RAGLINE_STRUCTURED_MAX_SCHEMA_DEPTH: ['compat', 'maxSchemaDepth'],
  RAGLINE_CHAT_CONDENSE: ['compat', 'condense'],
  RAGLINE_CHAT_CONDENSE_MAX_TOKENS: ['compat', 'condenseMaxTokens'],
  RAGLINE_CHAT_MAX_MESSAGES: ['compat', 'maxMessages'],
  RAGLINE_CHAT_MAX_CONVERSATION_CHARS: ['compat', 'maxConversationChars'],
  RAGLINE_HANDOFFS: ['handoffs', 'enabled'],
  RAGLINE_HANDOFF_MIN_CONFIDENCE: ['handoffs', 'minConfidence'],
  RAGLINE_HANDOFF_WEBHOOK_URL: ['handoffs', 'webhookUrl'],
  RAGLINE_HANDOFF_WEBHOOK_SECRET: ['handoffs', 'webhookSecret'],
  RAGLINE_HANDOFF_WEBHOOK_MAX_ATTEMPTS: ['handoffs', 'webhookMaxAttempts'],
  RAGLINE_HANDOFF_WEBHOOK_RETRY_BASE_MS: ['handoffs', 'webhookRetryBaseMs'],
  RAGLINE_HANDOFF_WEBHOOK_TIMEOUT_MS: ['handoffs', 'webhookTimeoutMs'],
  RAGLINE_HANDOFF_WEBHOOK_MAX_PENDING: ['handoffs', 'webhookMaxPending'],
  RAGLINE_BATCH_MAX_QUESTIONS: ['batches', 'maxQuestions'],
  RAGLINE_BATCH_PRIORITY: ['batches', 'priority'],
  RAGLINE_BATCH_MAX_ATTEMPTS: ['batches', 'maxAttempts'],
  RAGLINE_BATCH_YIELD_QUIET_MS: ['batches', 'yieldQuietMs'],
  RAGLINE_BATCH_YIELD_MAX_WAIT_MS: ['batches', 'yieldMaxWaitMs'],
  RAGLINE_SPARSE: ['sparse', 'backend'],
  PINECONE_SPARSE_INDEX: ['sparse', 'pineconeIndex'],
  PINECONE_SPARSE_HOST: ['sparse', 'pineconeHost'],
  PINECONE_SPARSE_API_KEY: ['sparse', 'pineconeApiKey'],
  RAGLINE_SPARSE_RATE_LIMIT_RETRIES: ['sparse', 'rateLimitRetries'],
  RAGLINE_SPARSE_RETRY_DELAY_MS: ['sparse', 'retryDelayMs'],
  PINECONE_API_KEY: ['pinecone', 'apiKey'],
  PINECONE_INDEX: ['pinecone', 'index'],
  PINECONE_HOST: ['pinecone', 'host'],
  PINECONE_CONTROLLER_HOST: ['pinecone', 'controllerHost'],
};

const LIST_VARS = new Set(['RAGLINE_API_KEYS', 'RAGLINE_REDACT_KINDS', 'RAGLINE_OUTPUT_BLOCKLIST', 'RAGLINE_TRUSTED_PROXIES']);

function setPath(target: Record<string, unknown>, keys: string[], value: unknown) {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function readConfigFile(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const explicit = env.RAGLINE_CONFIG;
  const file = explicit ?? (fs.existsSync('ragline.config.json') ? 'ragline.config.json' : undefined);
  if (!file) return {};
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new RaglineError('invalid_config', `RAGLINE_CONFIG: cannot read ${file}: ${(err as Error).message}`, {
      variable: 'RAGLINE_CONFIG',
      file,
    });
  }
}

function variableFor(issuePath: PropertyKey[]): string {
  const dotted = issuePath.map(String).join('.');
  const match = Object.entries(ENV_VARS).find(([, keys]) => dotted.startsWith(keys.join('.')));
  return match ? match[0] : dotted;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = readConfigFile(env);
  for (const [name, keys] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(
      raw,
      keys,
      LIST_VARS.has(name)
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value,
    );
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = variableFor(issue.path);
    throw new RaglineError('invalid_config', `Invalid configuration: ${variable}: ${issue.message}`, {
      variable,
      issues: result.error.issues.map((i) => ({ variable: variableFor(i.path), message: i.message })),
    });
  }
  const config = result.data;
  config.dataDir = path.resolve(config.dataDir);
  if (config.embedding.modelDir) config.embedding.modelDir = path.resolve(config.embedding.modelDir);
  config.embedding.model ??= config.embedding.provider === 'openai' ? 'text-embedding-3-small' : 'Xenova/all-MiniLM-L6-v2';
  return config;
}
