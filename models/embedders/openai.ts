import OpenAI from 'openai';
import pLimit from 'p-limit';
import { callProvider, createBreaker, type ResiliencePolicy } from '../../core/resilience.ts';
import { encode, encoding } from '../tokenizers/tiktoken.ts';
import type { Config } from '../../core/config.ts';
import { RaglineError } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import type { EmbedKind, EmbedOptions, Embedder, TokenCounter } from '../types.ts';

/** Limits of the OpenAI embeddings endpoint. */
export const EMBEDDING_LIMITS = {
  /** Inputs per request. */
  maxInputs: 2048,
  /** Tokens summed over all inputs of one request. */
  maxRequestTokens: 300_000,
  /** Tokens per input. */
  maxInputTokens: 8191,
};

/** Native dimensions; text-embedding-3-* can be shortened with the `dimensions` parameter. */
const KNOWN_MODELS: Record<string, { dimensions: number; shortenable: boolean }> = {
  'text-embedding-3-small': { dimensions: 1536, shortenable: true },
  'text-embedding-3-large': { dimensions: 3072, shortenable: true },
  'text-embedding-ada-002': { dimensions: 1536, shortenable: false },
};

/** Counts and truncates with cl100k_base, the encoding of OpenAI's embedding models. */
export class TiktokenCounter implements TokenCounter {
  // Building the encoder parses ~100k ranks (seconds on a busy machine): only when first needed.
  private get enc() {
    return encoding('cl100k_base');
  }

  count(text: string): number {
    return encode(this.enc, text).length;
  }

  truncate(text: string, maxTokens: number): string {
    const tokens = encode(this.enc, text);
    if (tokens.length <= maxTokens) return text;
    // A cut inside a multi-byte character decodes to U+FFFD: drop it.
    return this.enc.decode(tokens.slice(0, maxTokens)).replace(/\uFFFD+$/, '');
  }
}

export interface OpenAIEmbedderOptions {
  apiKey?: string;
  baseURL?: string;
  model: string;
  /** Requested output size; the model's native size when unset. */
  dimensions?: number;
  /** Requests in flight at once. */
  concurrency: number;
  policy: ResiliencePolicy;
  breaker: { minRequests: number; resetMs: number };
  /** Lower than the API's limits in tests; never higher. */
  limits?: Partial<typeof EMBEDDING_LIMITS>;
}

/**
 * Embeddings from the OpenAI API or any compatible server. Requests are packed up to the API's
 * limits (inputs and tokens per request), sent a few at a time, and retried like chat calls.
 *
 * Inputs over 8,191 tokens are truncated to 8,191 with a warning rather than refused: chunkers keep
 * chunks far below that, so only a caller embedding whole documents meets it, and losing the tail of
 * one text is better than failing a whole ingest.
 */
export class OpenAIEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxTokens = EMBEDDING_LIMITS.maxInputTokens;
  readonly tokenizer = new TiktokenCounter();
  /** Requests sent and tokens embedded by this instance. */
  readonly usage = { requests: 0, tokens: 0 };
  private readonly client: OpenAI;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly limits: typeof EMBEDDING_LIMITS;
  private readonly breaker: ReturnType<typeof createBreaker>;
  private readonly sendDimensions: boolean;

  private constructor(
    private readonly options: OpenAIEmbedderOptions,
    dimensions: number,
  ) {
    const known = KNOWN_MODELS[options.model];
    this.dimensions = dimensions;
    this.sendDimensions = Boolean(known?.shortenable && dimensions !== known.dimensions);
    // A shortened vector is a different embedding space: the collection must record it.
    this.modelId = known && dimensions === known.dimensions ? options.model : `${options.model}@${dimensions}`;
    this.client = new OpenAI({
      apiKey: options.apiKey ?? 'not-needed',
      baseURL: options.baseURL,
      maxRetries: 0,
      timeout: options.policy.timeoutMs,
    });
    this.limit = pLimit(options.concurrency);
    this.limits = { ...EMBEDDING_LIMITS, ...options.limits };
    this.breaker = createBreaker({ name: `embeddings:${options.baseURL ?? 'openai'}`, ...options.breaker });
  }

  static async create(config: Config): Promise<OpenAIEmbedder> {
    const o = config.openai;
    return OpenAIEmbedder.fromOptions({
      apiKey: o.apiKey,
      baseURL: o.baseUrl,
      model: config.embedding.model ?? 'text-embedding-3-small',
      dimensions: config.embedding.dimensions,
      concurrency: config.embedding.concurrency,
      // Embedding a batch of long inputs takes longer than a chat turn's first token: allow twice the LLM timeout.
      policy: {
        timeoutMs: 2 * o.timeoutMs,
        retries: o.maxRetries,
        baseDelayMs: o.retryBaseMs,
        maxDelayMs: 30_000,
        maxRetryAfterMs: 120_000,
      },
      breaker: { minRequests: o.breakerMinRequests, resetMs: o.breakerResetMs },
    });
  }

  static async fromOptions(options: OpenAIEmbedderOptions): Promise<OpenAIEmbedder> {
    const known = KNOWN_MODELS[options.model];
    if (
      known &&
      options.dimensions &&
      (options.dimensions > known.dimensions || (!known.shortenable && options.dimensions !== known.dimensions))
    ) {
      throw new RaglineError(
        'invalid_config',
        `Invalid configuration: RAGLINE_EMBEDDING_DIMENSIONS: ${options.model} gives ${known.shortenable ? 'at most' : 'exactly'} ${known.dimensions} dimensions`,
        { variable: 'RAGLINE_EMBEDDING_DIMENSIONS', model: options.model },
      );
    }
    if (known || options.dimensions) return new OpenAIEmbedder(options, options.dimensions ?? known!.dimensions);
    // A model we know nothing about (e.g. on a local server): ask it once for the vector size.
    const probe = new OpenAIEmbedder(options, 0);
    const [vector] = await probe.request(['dimension probe']);
    return new OpenAIEmbedder(options, vector!.length);
  }

  async embed(texts: string[], _kind: EmbedKind, options: EmbedOptions = {}): Promise<Float32Array[]> {
    const { signal } = options;
    const batches = this.batches(texts);
    const results = await Promise.all(
      batches.map((batch) =>
        this.limit(() => {
          // Requests still waiting for a slot are not sent once the caller has given up.
          signal?.throwIfAborted();
          return this.request(batch.inputs, signal);
        }),
      ),
    );
    const out = new Array<Float32Array>(texts.length);
    batches.forEach((batch, b) => batch.indexes.forEach((index, i) => (out[index] = results[b]![i]!)));
    return out;
  }

  /** Consecutive inputs packed into requests that respect every limit. */
  private batches(texts: string[]): Array<{ inputs: string[]; indexes: number[] }> {
    const batches: Array<{ inputs: string[]; indexes: number[]; tokens: number }> = [];
    let current = { inputs: [] as string[], indexes: [] as number[], tokens: 0 };
    texts.forEach((raw, index) => {
      // The API refuses empty strings.
      let text = raw.trim() ? raw : ' ';
      let tokens = this.tokenizer.count(text);
      if (tokens > this.limits.maxInputTokens) {
        logger.warn({ index, tokens, limit: this.limits.maxInputTokens, model: this.options.model }, 'embedding input truncated');
        text = this.tokenizer.truncate(text, this.limits.maxInputTokens);
        tokens = this.tokenizer.count(text);
      }
      if (
        current.inputs.length &&
        (current.inputs.length >= this.limits.maxInputs || current.tokens + tokens > this.limits.maxRequestTokens)
      ) {
        batches.push(current);
        current = { inputs: [], indexes: [], tokens: 0 };
      }
      current.inputs.push(text);
      current.indexes.push(index);
      current.tokens += tokens;
    });
    if (current.inputs.length) batches.push(current);
    return batches;
  }

  private async request(inputs: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const response = await callProvider(
      async (attemptSignal) => {
        const res = await this.client.embeddings.create(
          { model: this.options.model, input: inputs, ...(this.sendDimensions ? { dimensions: this.dimensions } : {}) },
          { signal: attemptSignal },
        );
        if (!Array.isArray(res?.data) || res.data.length !== inputs.length) {
          throw new Error(`expected ${inputs.length} embeddings, got ${Array.isArray(res?.data) ? res.data.length : 'none'}`);
        }
        return res;
      },
      { policy: this.options.policy, breaker: this.breaker, signal, label: `embeddings:${this.options.model}` },
    );
    this.usage.requests++;
    this.usage.tokens += response.usage?.prompt_tokens ?? 0;
    const vectors = new Array<Float32Array>(inputs.length);
    response.data.forEach((item, position) => {
      const vector = Float32Array.from(item.embedding as ArrayLike<number>);
      if (this.dimensions && vector.length !== this.dimensions) {
        throw new RaglineError(
          'model_mismatch',
          `${this.options.model} returned ${vector.length} dimensions, expected ${this.dimensions}`,
          {
            model: this.options.model,
          },
        );
      }
      vectors[item.index ?? position] = normalise(vector);
    });
    return vectors;
  }
}

function normalise(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0 && Math.abs(norm - 1) > 1e-6) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
