/**
 * The contracts of the model stage: embedders and the tokenizers that count their input.
 * Ingestion embeds passages with them; retrieval embeds queries; answers reuse the token counts.
 */

export type EmbedKind = 'query' | 'passage';

export interface TokenCounter {
  /** Number of model tokens, without special tokens ([CLS]/[SEP]). */
  count(text: string): number;
  /** The longest prefix of `text` that has at most `maxTokens` tokens. */
  truncate(text: string, maxTokens: number): string;
}

export interface Embedder {
  /** Recorded on the collection; a different model on the same collection is refused. */
  readonly modelId: string;
  readonly dimensions: number;
  /** Inputs longer than this are truncated by the model; chunkers stay below it. */
  readonly maxTokens: number;
  readonly tokenizer: TokenCounter;
  /** Unit-length vectors, one per text, in input order. */
  embed(texts: string[], kind: EmbedKind, options?: EmbedOptions): Promise<Float32Array[]>;
  /**
   * Optional: the model's contextual vector of every token, for callers that pool their own vectors
   * from one pass (late chunking). Each input is a list of pieces read as one text (joined by a
   * space); together with the kind's prefix they must fit in maxTokens − 2. Embedders that only
   * return pooled vectors (a remote API) leave it out, and callers fall back to embed().
   */
  embedTokens?(inputs: string[][], kind: EmbedKind, options?: EmbedOptions): Promise<TokenStates[]>;
  close?(): Promise<void>;
}

export interface EmbedOptions {
  /**
   * A cancelled or overdue job: texts not yet handed to the model are dropped and the call rejects
   * with the signal's reason, so the model moves on to other work at once.
   */
  signal?: AbortSignal;
}

/** What embedTokens() returns for one input. */
export interface TokenStates {
  dimensions: number;
  /** tokens × dimensions, row t the last hidden state of token t; rows cover [CLS], prefix, pieces, [SEP]. */
  vectors: Float32Array;
  tokens: number;
  /** Rows [start, end) that belong to each piece, in input order. */
  pieces: Array<{ start: number; end: number }>;
}
