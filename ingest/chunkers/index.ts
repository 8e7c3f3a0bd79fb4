import { RaglineError } from '../../core/errors.ts';
import type { Chunker, ChunkerOptions, ChunkStrategy } from '../types.ts';
import type { Embedder } from '../../models/types.ts';
import { StrategyChunker, type Strategy } from './chunker.ts';
import { fixedStrategy } from './fixed.ts';
import { resolveLimits } from './limits.ts';
import { lateStrategy } from './late.ts';
import { semanticStrategy } from './semantic.ts';
import { sentenceStrategy } from './sentence.ts';

export { contextualText, contextPrefix, documentPrefix } from './context.ts';

/**
 * Bump when a strategy cuts the same text differently under the same settings: it is part of every
 * document's content hash, so re-ingesting replaces chunks made by older code instead of skipping.
 */
export const CHUNKER_VERSION = 2;

/**
 * Bump when the chunker cuts a PDF's text differently while other formats keep their chunks (rules
 * applied to PDF text only, e.g. list markers kept with their items): it is in the content hash of
 * PDFs only, so stored PDFs are chunked again and every other document is still skipped.
 * 1: list markers and lead-ins ending in a colon stay with their items (units.ts).
 */
export const PDF_CHUNKER_VERSION = 1;

export const CHUNK_STRATEGIES: readonly ChunkStrategy[] = ['semantic', 'late', 'sentence', 'fixed'];

/**
 * A chunker for the strategy. Every chunk is at most min(options.maxTokens, embedder.maxTokens − 2)
 * model tokens, leaving room for contextualText()'s prefix; a chunk never spans two heading paths.
 */
export function createChunker(strategy: ChunkStrategy, embedder: Embedder, options: ChunkerOptions): Chunker {
  const limits = resolveLimits(embedder, options);
  let plan: Strategy;
  switch (strategy) {
    case 'semantic':
      plan = semanticStrategy(embedder, limits.minTokens);
      break;
    case 'late':
      plan = lateStrategy(embedder, limits.minTokens, options.lateFrameWeight ?? 1);
      break;
    case 'sentence':
      plan = sentenceStrategy;
      break;
    case 'fixed':
      plan = fixedStrategy;
      break;
    default:
      throw new RaglineError('invalid_config', `Unknown chunk strategy "${String(strategy)}": use one of ${CHUNK_STRATEGIES.join(', ')}.`, {
        strategy,
      });
  }
  return new StrategyChunker(plan, embedder, limits);
}
