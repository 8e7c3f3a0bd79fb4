import { z } from 'zod';
import { searchRequestSchema } from '../retrieval/types.ts';
import { ANSWER_PROMPT_VERSIONS } from './prompts/index.ts';

/** A config's name: what `config` in a request and `ragline config set <name>` refer to. */
export const CONFIG_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
export const configNameSchema = z.string().regex(CONFIG_NAME_PATTERN, 'config names are 1–100 letters, digits, "_", "." or "-"');

const search = searchRequestSchema.shape;

/**
 * What a named configuration may set. Every field is optional: a field it leaves out falls back
 * to the built-in default. Retrieval fields have the search request's own bounds.
 */
export const collectionConfigSchema = z
  .object({
    retrieval: z
      .object({
        mode: search.mode.unwrap().optional(),
        fusion: search.fusion,
        k: search.k,
        /** Fixed retriever weights, or "query-dependent" (the tuned default rule, chosen per query). */
        weights: z.union([search.weights.unwrap(), z.literal('query-dependent')]).optional(),
        candidates: search.candidates,
        /** Hits returned by search and chunks given to the generator (for answers outside 5–10 too). */
        topK: z.number().int().min(1).max(50).optional(),
        recency: search.recency,
      })
      .strict()
      .default({}),
    generation: z
      .object({
        /** A prompt template file of answer/prompts. */
        promptVersion: z.enum(ANSWER_PROMPT_VERSIONS).optional(),
        /** The chat model to ask on the strong (default) endpoint instead of RAGLINE_CHAT_MODEL. */
        model: z.string().trim().min(1).max(200).optional(),
        temperature: z.number().min(0).max(2).optional(),
        maxTokens: z.number().int().min(1).max(16_384).optional(),
        /** auto = the difficulty rule picks small or strong (when a small model is configured); small/strong force one. */
        routing: z.enum(['auto', 'small', 'strong']).optional(),
      })
      .strict()
      .default({}),
    policy: z
      .object({
        /** Below this best dense similarity the answer says the documents do not cover the question. */
        minDenseSimilarity: z.number().min(0).max(1).optional(),
        /** Also refuse when BM25 matched none of the retrieved chunks. */
        requireBm25Match: z.boolean().optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type CollectionConfigInput = z.input<typeof collectionConfigSchema>;
export type CollectionConfig = z.output<typeof collectionConfigSchema>;
export type GenerationSettings = CollectionConfig['generation'];
export type AnswerPolicy = CollectionConfig['policy'];

/** What a config contributes to an answer besides the retrieval fields: passed to the answer service per request. */
export interface AnswerOverrides {
  generation?: GenerationSettings;
  policy?: AnswerPolicy;
}

/**
 * The retrieval fields a config supplies for a request, in the request's own shape. The caller's
 * explicit fields are applied over these; fields neither sets keep the schema's defaults.
 */
export function retrievalFields(config: CollectionConfig): Record<string, unknown> {
  const { weights, ...rest } = config.retrieval;
  const fields: Record<string, unknown> = { ...rest };
  if (weights && weights !== 'query-dependent') fields.weights = weights;
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
