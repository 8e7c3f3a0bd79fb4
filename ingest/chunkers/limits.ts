import { z } from 'zod';
import { RaglineError } from '../../core/errors.ts';
import type { ChunkerOptions } from '../types.ts';
import type { Embedder } from '../../models/types.ts';

const optionsSchema = z.object({
  maxTokens: z.number().int().positive(),
  minTokens: z.number().int().min(0),
  targetTokens: z.number().int().positive(),
});

/** The sizes every chunker works with, after validation. */
export interface Limits {
  /** No chunk (nor its contextual text) is ever larger: min(maxTokens, model length − [CLS] − [SEP]). */
  cap: number;
  /** What packers aim for, never above the cap. */
  target: number;
  minTokens: number;
}

export function resolveLimits(embedder: Embedder, options: ChunkerOptions): Limits {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RaglineError('invalid_config', `Invalid chunker options: ${issue.path.join('.') || 'options'}: ${issue.message}`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  if (!embedder?.tokenizer || !Number.isInteger(embedder.maxTokens)) {
    throw new RaglineError('invalid_config', 'Chunkers need an embedder with a tokenizer and an integer maxTokens.');
  }
  const { maxTokens, minTokens, targetTokens } = parsed.data;
  const cap = Math.min(maxTokens, embedder.maxTokens - 2);
  if (cap < 1) {
    throw new RaglineError('invalid_config', `Embedder ${embedder.modelId} accepts ${embedder.maxTokens} tokens: no room for chunks.`, {
      model: embedder.modelId,
    });
  }
  return { cap, target: Math.min(targetTokens, cap), minTokens };
}
