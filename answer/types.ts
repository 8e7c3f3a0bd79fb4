import type { ChunkRecord } from '../store/types.ts';

/** One retrieved chunk as the generator sees it: `marker` is the n of its [n] citations (1-based). */
export interface ContextChunk {
  marker: number;
  chunk: ChunkRecord;
  /** Cosine similarity of the question and the chunk, when the dense retriever found it. */
  denseScore: number | null;
  /** Set when the injection screen flagged the chunk: the reason, shown in the prompt beside the fenced text. */
  untrusted?: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface GenerateInput {
  question: string;
  context: ContextChunk[];
  signal?: AbortSignal;
  /** The question's embedding when the caller already has it (saves the extractive generator one call). */
  questionVector?: Float32Array;
  /** Per-request generation settings (from a collection config); unset fields keep the generator's own. */
  overrides?: GenerationOverrides;
  /** Asks for one JSON object matching a schema instead of prose (answer/structured.ts); LLM generators only. */
  structured?: StructuredInstruction;
}

export interface GenerationOverrides {
  model?: string;
  temperature?: number;
  maxOutputTokens?: number;
  promptVersion?: string;
}

/** What a generator needs to ask for structured output, and, on the repair call, what went wrong the first time. */
export interface StructuredInstruction {
  name: string;
  schema: Record<string, unknown>;
  strict: boolean;
  repair?: { previous: string; errors: string[] };
}

export interface GenerateResult {
  text: string;
  usage: TokenUsage;
  model: string;
}

export type StreamEvent = { delta: string } | { done: true; usage: TokenUsage; model: string };

export interface Generator {
  /** "extractive" for the non-generative fallback, else the LLM's model name. */
  readonly model: string;
  /** Identifies the provider (its base URL) in logs and fallback reasons. */
  readonly provider: string;
  /** The prompt template (or, for the extractive generator, the algorithm) that shapes the answer. */
  readonly promptVersion: string;
  generate(input: GenerateInput): Promise<GenerateResult>;
  /** Yields text deltas, then exactly one `done` event. Errors are thrown from the iterator. */
  stream(input: GenerateInput): AsyncIterable<StreamEvent>;
}

/** Why an LLM answer was replaced by the extractive one: how the provider call failed. */
export type { FallbackReason } from '../core/resilience.ts';
