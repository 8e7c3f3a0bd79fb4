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
  embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]>;
  close?(): Promise<void>;
}
