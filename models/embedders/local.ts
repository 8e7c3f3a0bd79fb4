import fs from 'node:fs';
import path from 'node:path';
import { env, pipeline, type FeatureExtractionPipeline } from '@huggingface/transformers';
import { BatchCoalescer } from './coalescer.ts';
import { RaglineError, errorMessage } from '../../core/errors.ts';
import type { EmbedKind, Embedder } from '../types.ts';
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

/** Local ONNX embeddings on the CPU through transformers.js: mean pooling, unit length. */
export class LocalEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxTokens: number;
  private readonly prefixes: { query: string; passage: string };
  private readonly batches: BatchCoalescer;
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

  async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    const prefix = this.prefixes[kind];
    // [CLS] and [SEP] take two of the model's positions.
    const budget = this.maxTokens - 2 - this.tokenizer.count(prefix);
    const inputs = texts.map((t) => prefix + this.tokenizer.truncate(t, budget));
    return this.batches.embed(inputs);
  }

  private async runBatch(inputs: string[]): Promise<Float32Array[]> {
    const started = performance.now();
    const tensor = await this.extractor(inputs, { pooling: 'mean', normalize: true });
    this.usage.batches++;
    this.usage.texts += inputs.length;
    this.usage.modelMs += performance.now() - started;
    const data = tensor.data as Float32Array;
    return inputs.map((_, row) => data.slice(row * this.dimensions, (row + 1) * this.dimensions));
  }

  async close(): Promise<void> {
    await this.extractor.dispose();
  }
}
