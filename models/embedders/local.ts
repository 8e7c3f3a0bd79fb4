import fs from 'node:fs';
import path from 'node:path';
import { env, mean_pooling, pipeline, type FeatureExtractionPipeline, type Tensor } from '@huggingface/transformers';
import { BatchCoalescer } from './coalescer.ts';
import { RaglineError, errorMessage } from '../../core/errors.ts';
import type { EmbedKind, EmbedOptions, Embedder, TokenStates } from '../types.ts';
import { WordPieceCounter } from '../tokenizers/model-tokenizer.ts';

/** What we know about local models: dimension, training length, and any query/passage prefixes. */
const KNOWN_MODELS: Record<string, { dimensions: number; maxTokens: number; queryPrefix?: string; passagePrefix?: string }> = {
  'Xenova/all-MiniLM-L6-v2': { dimensions: 384, maxTokens: 256 },
  'Xenova/bge-small-en-v1.5': { dimensions: 384, maxTokens: 512, queryPrefix: 'Represent this sentence for searching relevant passages: ' },
  'Xenova/e5-small-v2': { dimensions: 384, maxTokens: 512, queryPrefix: 'query: ', passagePrefix: 'passage: ' },
};

export interface LocalEmbedderOptions {
  model: string;
  dtype: 'fp32' | 'q8';
  /** A folder in the hub layout (<dir>/<org>/<name>/onnx/model.onnx); when unset, the hub cache is used. */
  modelDir?: string;
  batchSize: number;
}

function modelMissing(options: LocalEmbedderOptions, cause: unknown): RaglineError {
  const file = options.dtype === 'q8' ? 'onnx/model_quantized.onnx' : 'onnx/model.onnx';
  const where = options.modelDir
    ? `RAG_MODEL_DIR=${options.modelDir} does not hold ${path.join(options.modelDir, options.model, file)}`
    : `it is not in the Hugging Face cache (${env.cacheDir}) and could not be downloaded`;
  return new RaglineError(
    'model_unavailable',
    `Embedding model ${options.model} (${options.dtype}) could not be loaded: ${where}. ` +
      `Set RAG_MODEL_DIR to a folder containing ${options.model}/${file} (e.g. RAG_MODEL_DIR=../shared/models), ` +
      `or allow downloads from the Hugging Face hub, or set RAGLINE_EMBEDDER=openai with OPENAI_API_KEY.`,
    { model: options.model, dtype: options.dtype, modelDir: options.modelDir ?? null, cause: errorMessage(cause) },
    { cause },
  );
}

/** One text of a model batch; `pieces` set when the caller wants its token vectors (embedTokens). */
interface BatchInput {
  text: string;
  pieces?: string[];
}

type BatchOutput = Float32Array | TokenStates;

/**
 * Local ONNX embeddings on the CPU through transformers.js: mean pooling, unit length. The batch
 * runner calls the tokenizer and model itself (what the feature-extraction pipeline does) so that
 * one model run serves pooled vectors and token vectors alike: both kinds of caller share batches.
 */
export class LocalEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxTokens: number;
  private readonly prefixes: { query: string; passage: string };
  private readonly batches: BatchCoalescer<BatchInput, BatchOutput>;
  /** Work done by the model so far; benchmarks read it to tell model time from the rest. */
  readonly usage = { batches: 0, texts: 0, modelMs: 0 };

  private constructor(
    private readonly extractor: FeatureExtractionPipeline,
    readonly tokenizer: WordPieceCounter,
    readonly options: LocalEmbedderOptions,
  ) {
    const known = KNOWN_MODELS[options.model];
    this.modelId = options.model;
    this.dimensions = known?.dimensions ?? Number((extractor.model.config as { hidden_size?: number }).hidden_size);
    this.maxTokens = known?.maxTokens ?? 512;
    this.prefixes = { query: known?.queryPrefix ?? '', passage: known?.passagePrefix ?? '' };
    this.batches = new BatchCoalescer((inputs) => this.runBatch(inputs), options.batchSize);
  }

  static async load(options: LocalEmbedderOptions): Promise<LocalEmbedder> {
    if (options.modelDir) {
      env.localModelPath = options.modelDir.endsWith('/') ? options.modelDir : `${options.modelDir}/`;
      env.allowLocalModels = true;
      // A model folder was named: use it and nothing else, so a typo fails here rather than downloading.
      env.allowRemoteModels = false;
      if (!fs.existsSync(path.join(options.modelDir, options.model))) throw modelMissing(options, new Error('folder not found'));
    }
    let extractor: FeatureExtractionPipeline;
    try {
      extractor = (await pipeline('feature-extraction', options.model, { dtype: options.dtype })) as FeatureExtractionPipeline;
    } catch (err) {
      throw modelMissing(options, err);
    }
    return new LocalEmbedder(extractor, new WordPieceCounter(extractor.tokenizer), options);
  }

  async embed(texts: string[], kind: EmbedKind, options: EmbedOptions = {}): Promise<Float32Array[]> {
    const prefix = this.prefixes[kind];
    // [CLS] and [SEP] take two of the model's positions.
    const budget = this.maxTokens - 2 - this.tokenizer.count(prefix);
    const inputs = texts.map((t) => ({ text: prefix + this.tokenizer.truncate(t, budget) }));
    return (await this.batches.embed(inputs, options.signal)) as Float32Array[];
  }

  /** Token vectors of each input (its pieces joined by a space); an input over maxTokens − 2 is refused, not cut. */
  async embedTokens(inputs: string[][], kind: EmbedKind, options: EmbedOptions = {}): Promise<TokenStates[]> {
    const prefix = this.prefixes[kind];
    const prefixTokens = this.tokenizer.count(prefix);
    const batchInputs = inputs.map((pieces) => {
      const tokens = prefixTokens + pieces.reduce((n, p) => n + this.tokenizer.count(p), 0);
      if (tokens > this.maxTokens - 2) {
        throw new RaglineError('internal', `embedTokens input of ${tokens} tokens exceeds the model's ${this.maxTokens - 2}.`);
      }
      return { text: prefix + pieces.join(' '), pieces };
    });
    return (await this.batches.embed(batchInputs, options.signal)) as TokenStates[];
  }

  private async runBatch(inputs: BatchInput[]): Promise<BatchOutput[]> {
    const started = performance.now();
    const encoded = this.extractor.tokenizer(
      inputs.map((i) => i.text),
      { padding: true, truncation: true },
    ) as { input_ids: Tensor; attention_mask: Tensor };
    const outputs = (await this.extractor.model(encoded)) as { last_hidden_state: Tensor };
    const hidden = outputs.last_hidden_state;
    this.usage.batches++;
    this.usage.texts += inputs.length;
    this.usage.modelMs += performance.now() - started;
    const pooled = mean_pooling(hidden, encoded.attention_mask).normalize(2, -1).data as Float32Array;
    const [, length] = hidden.dims as [number, number, number];
    const states = hidden.data as Float32Array;
    const mask = encoded.attention_mask.data as BigInt64Array;
    return inputs.map((input, row): BatchOutput => {
      if (!input.pieces) return pooled.slice(row * this.dimensions, (row + 1) * this.dimensions);
      let tokens = 0;
      for (let t = 0; t < length; t++) tokens += Number(mask[row * length + t]);
      return this.tokenStates(input, states.slice(row * length * this.dimensions, (row * length + tokens) * this.dimensions), tokens);
    });
  }

  /** Maps rows to pieces: WordPiece never merges across whitespace, so each piece's count is its share of the rows. */
  private tokenStates(input: BatchInput, vectors: Float32Array, tokens: number): TokenStates {
    const pieces: TokenStates['pieces'] = [];
    let at = 1 + this.tokenizer.count(input.text) - input.pieces!.reduce((n, p) => n + this.tokenizer.count(p), 0);
    for (const piece of input.pieces!) {
      const end = at + this.tokenizer.count(piece);
      pieces.push({ start: at, end });
      at = end;
    }
    if (at + 1 !== tokens) {
      throw new RaglineError('internal', `Token vectors do not line up with the pieces: ${tokens} rows for ${at + 1} counted tokens.`);
    }
    return { dimensions: this.dimensions, vectors, tokens, pieces };
  }

  async close(): Promise<void> {
    await this.extractor.dispose();
  }
}
