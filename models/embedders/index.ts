import type { Config } from '../../core/config.ts';
import { RaglineError } from '../../core/errors.ts';
import type { Embedder } from '../types.ts';
import { LocalEmbedder } from './local.ts';

/** Builds the configured embedder. Providers register here; the rest of the code sees only Embedder. */
export async function createEmbedder(config: Config): Promise<Embedder> {
  const { embedding } = config;
  switch (embedding.provider) {
    case 'local':
      return LocalEmbedder.load({
        model: embedding.model!,
        dtype: embedding.dtype,
        modelDir: embedding.modelDir,
        batchSize: embedding.batchSize,
      });
    case 'openai': {
      const { OpenAIEmbedder } = await import('./openai.ts');
      if (!config.openai.apiKey && !config.openai.baseUrl) {
        throw new RaglineError(
          'invalid_config',
          'Invalid configuration: OPENAI_API_KEY: required when RAGLINE_EMBEDDER=openai (unless OPENAI_BASE_URL points at a server that needs no key)',
          {
            variable: 'OPENAI_API_KEY',
          },
        );
      }
      return OpenAIEmbedder.create(config);
    }
  }
}
