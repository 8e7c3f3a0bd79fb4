import { z } from 'zod';

/** Response shapes of the handoff and batch routes (docs/handoffs-batches.md). */

const isoDate = z.string().describe('ISO 8601 timestamp');

export const handoffSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  collectionId: z.string(),
  collectionName: z.string(),
  requestId: z.string().describe('trace of the first request that raised it (GET /v1/requests/:id)'),
  lastRequestId: z.string().describe('trace of the latest repeat'),
  occurrences: z.number().int().describe('times the question was asked while the handoff was open'),
  question: z.string(),
  reason: z.enum(['not_covered', 'low_confidence']),
  confidence: z.number().nullable().describe('best dense similarity of the answer'),
  answer: z.string().describe('what the caller was told'),
  state: z.enum(['open', 'resolved']),
  resolution: z.object({ note: z.string(), answer: z.string().nullable(), by: z.string().nullable(), at: isoDate }).nullable(),
  webhook: z.object({
    state: z.enum(['none', 'pending', 'delivered', 'failed', 'dropped']),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    deliveredAt: isoDate.nullable(),
  }),
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const handoffListSchema = z.object({
  handoffs: z.array(handoffSchema),
  limit: z.number().int(),
  offset: z.number().int(),
  nextOffset: z.number().int().nullable(),
});

export const batchSchema = z.object({
  id: z.string(),
  collectionId: z.string(),
  collection: z.string(),
  state: z.enum(['queued', 'running', 'completed']),
  total: z.number().int(),
  queued: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  settings: z.record(z.string(), z.unknown()).describe('the /answer settings every question runs with'),
  createdAt: isoDate,
  finishedAt: isoDate.nullable(),
});
