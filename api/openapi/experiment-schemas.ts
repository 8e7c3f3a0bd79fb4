import { z } from 'zod';

/** Response shapes of the config and experiment routes (docs/experiments.md). */
const isoDate = z.string().describe('ISO 8601');

export const configVersionSchema = z.object({
  collectionId: z.string(),
  name: z.string(),
  version: z.number().int(),
  settings: z.record(z.string(), z.unknown()).describe('{retrieval, generation, policy}'),
  note: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: isoDate,
});

export const configSetSchema = z.object({ config: configVersionSchema, active: z.boolean() });
export const configHistorySchema = z.object({ versions: z.array(configVersionSchema) });

export const experimentSchema = z.object({
  collectionId: z.string(),
  name: z.string(),
  variants: z.array(z.object({ config: z.string(), percent: z.number().int() })),
  state: z.enum(['running', 'stopped']),
  winner: z.string().nullable(),
  startedBy: z.string().nullable(),
  startedAt: isoDate,
  stoppedAt: isoDate.nullable(),
});

export const configListSchema = z.object({
  active: z.string().nullable(),
  configs: z.array(configVersionSchema),
  experiment: experimentSchema.nullable(),
});
export const experimentListSchema = z.object({ experiments: z.array(experimentSchema) });

const percentiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });
export const experimentReportSchema = z.object({
  experiment: experimentSchema,
  variants: z.array(
    z.object({
      config: z.string(),
      percent: z.number(),
      requests: z.number().int(),
      answers: z.number().int(),
      searches: z.number().int(),
      latency: z.record(z.string(), percentiles),
      tokensIn: z.number().int(),
      tokensOut: z.number().int(),
      costUsd: z.number(),
      outcomes: z.object({ answered: z.number(), notCovered: z.number(), fallback: z.number(), error: z.number() }),
      feedback: z.object({
        rated: z.number().int(),
        up: z.number().int(),
        upRate: z.number().nullable(),
        interval95: z.object({ low: z.number(), high: z.number() }).nullable().describe('Wilson score interval'),
      }),
      versusFirst: z
        .object({ difference: z.number(), z: z.number(), pValue: z.number() })
        .nullable()
        .describe('two-proportion z-test of the up-rate against the first variant'),
    }),
  ),
});
