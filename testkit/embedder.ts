import { MODELS_DIR } from '../core/shared-data.ts';
import { LocalEmbedder } from '../models/embedders/local.ts';

/** The model folder tests and benches load from: RAG_MODEL_DIR when set, else ../shared/models. */
export const TEST_MODEL_DIR = process.env.RAG_MODEL_DIR ?? MODELS_DIR;

let shared: Promise<LocalEmbedder> | undefined;

/** The real ONNX model from ../shared/models, loaded once per process (per test file under vitest). */
export function testEmbedder(): Promise<LocalEmbedder> {
  shared ??= LocalEmbedder.load({ model: 'Xenova/all-MiniLM-L6-v2', dtype: 'fp32', modelDir: TEST_MODEL_DIR, batchSize: 32 });
  return shared;
}
