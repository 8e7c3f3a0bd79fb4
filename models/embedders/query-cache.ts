import { LRUCache } from 'lru-cache';
import { normalizeText } from '../../core/normalize.ts';
import type { EmbedKind, EmbedOptions, Embedder, TokenCounter, TokenStates } from '../types.ts';

/**
 * Remembers query vectors in memory (least recently used out first), keyed by model and normalized
 * text, so a repeated question skips the model. Passages (ingestion) go straight to the inner embedder.
 */
export class QueryEmbeddingCache implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxTokens: number;
  readonly tokenizer: TokenCounter;
  /** Token vectors are passed through uncached; present only when the inner embedder has them. */
  readonly embedTokens?: (inputs: string[][], kind: EmbedKind, options?: EmbedOptions) => Promise<TokenStates[]>;
  readonly stats = { hits: 0, misses: 0 };
  private readonly vectors: LRUCache<string, Float32Array>;

  constructor(
    readonly inner: Embedder,
    maxEntries: number,
  ) {
    this.modelId = inner.modelId;
    this.dimensions = inner.dimensions;
    this.maxTokens = inner.maxTokens;
    this.tokenizer = inner.tokenizer;
    if (inner.embedTokens) this.embedTokens = (inputs, kind, options) => inner.embedTokens!(inputs, kind, options);
    this.vectors = new LRUCache({ max: maxEntries });
  }

  async embed(texts: string[], kind: EmbedKind, options?: EmbedOptions): Promise<Float32Array[]> {
    if (kind !== 'query') return this.inner.embed(texts, kind, options);
    const keys = texts.map((t) => `${this.modelId}\u0000${normalizeText(t)}`);
    const out: (Float32Array | undefined)[] = keys.map((k) => this.vectors.get(k));
    const missing = out.flatMap((v, i) => (v ? [] : [i]));
    this.stats.hits += texts.length - missing.length;
    this.stats.misses += missing.length;
    if (missing.length) {
      const computed = await this.inner.embed(
        missing.map((i) => texts[i]!),
        kind,
        options,
      );
      missing.forEach((i, j) => {
        out[i] = computed[j]!;
        this.vectors.set(keys[i]!, computed[j]!);
      });
    }
    return out as Float32Array[];
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
