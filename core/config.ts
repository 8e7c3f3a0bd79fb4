import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RaglineError } from './errors.ts';

/**
 * Configuration: environment variables override an optional JSON file (RAGLINE_CONFIG, or
 * ./ragline.config.json when present), which overrides defaults that need nothing installed.
 * Every setting has exactly one environment variable; a bad value names that variable.
 */
const positiveInt = z.coerce.number().int().positive();
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
  prices: DEFAULT_PRICES,
};

export const configSchema = z.object({
  dataDir: z.string().min(1).default('./.ragline'),
  databaseUrl: z.string().url().optional(),
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
      strategy: z.enum(['semantic', 'sentence', 'fixed']).default('semantic'),
      maxTokens: positiveInt.max(8192).default(256),
      minTokens: z.coerce.number().int().min(0).default(48),
      targetTokens: positiveInt.default(200),
    })
    .default({ strategy: 'semantic', maxTokens: 256, minTokens: 48, targetTokens: 200 }),
  /** BM25 scoring; defaults tuned on SciFact train (retrieval/bm25.ts). */
  bm25: z
    .object({
      k1: z.coerce.number().min(0).max(10).optional(),
      b: z.coerce.number().min(0).max(1).optional(),
      titleBoost: z.coerce.number().min(0).max(10).optional(),
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
  /** Requests in flight per route class before new ones get 503 + Retry-After (api/middleware/load-shedding.ts). 0 = unbounded. */
  loadShedding: z
    .object({
      search: z.coerce.number().int().min(0).default(64),
      answer: z.coerce.number().int().min(0).default(16),
      upload: z.coerce.number().int().min(0).default(8),
      /** Seconds a shed client is told to wait (Retry-After). */
      retryAfterSeconds: positiveInt.max(3600).default(1),
    })
    .default({ search: 64, answer: 16, upload: 8, retryAfterSeconds: 1 }),
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
    }),
  answer: z
    .object({
      minDenseSimilarity: unitInterval.default(ANSWER_DEFAULTS.minDenseSimilarity),
      /** Also refuse when BM25 matched none of the retrieved chunks. */
      requireBm25Match: booleanFlag.default(ANSWER_DEFAULTS.requireBm25Match),
      /** auto = the OpenAI-compatible LLM when OPENAI_API_KEY or OPENAI_BASE_URL is set, else extractive. */
      generator: z.enum(['auto', 'openai', 'extractive']).default(ANSWER_DEFAULTS.generator),
      /** USD per 1M tokens by model name; a model missing here is reported with costUsd null. */
      prices: z.preprocess(parseJsonString, priceTableSchema).default(ANSWER_DEFAULTS.prices),
    })
    .default(ANSWER_DEFAULTS),
  server: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8787),
      apiKeys: z.array(z.string().min(8)).default([]),
      maxUploadBytes: positiveInt.default(50 * 1024 * 1024),
      rateLimitPerMinute: positiveInt.default(600),
    })
    .default({ host: '127.0.0.1', port: 8787, apiKeys: [], maxUploadBytes: 50 * 1024 * 1024, rateLimitPerMinute: 600 }),
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

/** Environment variable → path in the config object. */
export const ENV_VARS: Record<string, string[]> = {
  RAGLINE_DATA_DIR: ['dataDir'],
  DATABASE_URL: ['databaseUrl'],
  RAGLINE_EMBEDDER: ['embedding', 'provider'],
  RAGLINE_EMBEDDING_MODEL: ['embedding', 'model'],
  RAGLINE_EMBEDDING_DTYPE: ['embedding', 'dtype'],
  RAG_MODEL_DIR: ['embedding', 'modelDir'],
  RAGLINE_EMBEDDING_DIMENSIONS: ['embedding', 'dimensions'],
  RAGLINE_EMBEDDING_BATCH: ['embedding', 'batchSize'],
  RAGLINE_CHUNK_STRATEGY: ['chunking', 'strategy'],
  RAGLINE_BM25_K1: ['bm25', 'k1'],
  RAGLINE_BM25_B: ['bm25', 'b'],
  RAGLINE_BM25_TITLE_BOOST: ['bm25', 'titleBoost'],
  RAGLINE_CHUNK_MAX_TOKENS: ['chunking', 'maxTokens'],
  RAGLINE_CHUNK_MIN_TOKENS: ['chunking', 'minTokens'],
  RAGLINE_CHUNK_TARGET_TOKENS: ['chunking', 'targetTokens'],
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
  RAGLINE_LLM_PRICES: ['answer', 'prices'],
  RAGLINE_EMBEDDING_CONCURRENCY: ['embedding', 'concurrency'],
  RAGLINE_HOST: ['server', 'host'],
  PORT: ['server', 'port'],
  RAGLINE_API_KEYS: ['server', 'apiKeys'],
  RAGLINE_MAX_UPLOAD_BYTES: ['server', 'maxUploadBytes'],
  RAGLINE_RATE_LIMIT_PER_MINUTE: ['server', 'rateLimitPerMinute'],
  RAGLINE_BM25_MEMORY_MB: ['bm25Cache', 'memoryMb'],
  RAGLINE_BM25_SNAPSHOTS: ['bm25Cache', 'snapshots'],
  RAGLINE_BM25_SNAPSHOT_EVERY_DOCUMENTS: ['bm25Cache', 'snapshotEveryDocuments'],
  RAGLINE_BM25_CATCH_UP_DELAY_MS: ['bm25Cache', 'catchUpDelayMs'],
  RAGLINE_MAX_IN_FLIGHT_SEARCH: ['loadShedding', 'search'],
  RAGLINE_MAX_IN_FLIGHT_ANSWER: ['loadShedding', 'answer'],
  RAGLINE_MAX_IN_FLIGHT_UPLOAD: ['loadShedding', 'upload'],
  RAGLINE_SHED_RETRY_AFTER_SECONDS: ['loadShedding', 'retryAfterSeconds'],
  PINECONE_API_KEY: ['pinecone', 'apiKey'],
  PINECONE_INDEX: ['pinecone', 'index'],
  PINECONE_HOST: ['pinecone', 'host'],
  PINECONE_CONTROLLER_HOST: ['pinecone', 'controllerHost'],
};

const LIST_VARS = new Set(['RAGLINE_API_KEYS']);

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
