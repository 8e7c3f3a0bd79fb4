import { LocalEmbedder } from '../../ingest/embedders/local.ts';
import { TEST_MODEL_DIR } from './shared.ts';

let shared: Promise<LocalEmbedder> | undefined;

/** The real ONNX model from ../shared/models, loaded once per test file. */
export function testEmbedder(): Promise<LocalEmbedder> {
  shared ??= LocalEmbedder.load({ model: 'Xenova/all-MiniLM-L6-v2', dtype: 'fp32', modelDir: TEST_MODEL_DIR, batchSize: 32 });
  return shared;
}
