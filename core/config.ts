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
    })
    .default({ provider: 'local', dtype: 'fp32', batchSize: 32 }),
  chunking: z
    .object({
      strategy: z.enum(['semantic', 'sentence', 'fixed']).default('semantic'),
      maxTokens: positiveInt.max(8192).default(256),
      minTokens: z.coerce.number().int().min(0).default(48),
      targetTokens: positiveInt.default(200),
    })
    .default({ strategy: 'semantic', maxTokens: 256, minTokens: 48, targetTokens: 200 }),
  openai: z
    .object({
      apiKey: z.string().min(1).optional(),
      baseUrl: z.string().url().optional(),
      chatModel: z.string().min(1).default('gpt-4o-mini'),
      timeoutMs: positiveInt.default(30_000),
      maxRetries: z.coerce.number().int().min(0).max(10).default(3),
      maxOutputTokens: positiveInt.max(16_384).default(512),
      temperature: z.coerce.number().min(0).max(2).default(0.1),
    })
    .default({ chatModel: 'gpt-4o-mini', timeoutMs: 30_000, maxRetries: 3, maxOutputTokens: 512, temperature: 0.1 }),
  answer: z
    .object({
      minDenseSimilarity: unitInterval.default(0.25),
    })
    .default({ minDenseSimilarity: 0.25 }),
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
      host: z.string().url().optional(),
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
  RAGLINE_HOST: ['server', 'host'],
  PORT: ['server', 'port'],
  RAGLINE_API_KEYS: ['server', 'apiKeys'],
  RAGLINE_MAX_UPLOAD_BYTES: ['server', 'maxUploadBytes'],
  RAGLINE_RATE_LIMIT_PER_MINUTE: ['server', 'rateLimitPerMinute'],
  PINECONE_API_KEY: ['pinecone', 'apiKey'],
  PINECONE_INDEX: ['pinecone', 'index'],
  PINECONE_HOST: ['pinecone', 'host'],
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
    setPath(raw, keys, LIST_VARS.has(name) ? value.split(',').map((s) => s.trim()).filter(Boolean) : value);
  }
  // Pinecone is all-or-nothing: half a configuration is an error, not a silent fallback.
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
