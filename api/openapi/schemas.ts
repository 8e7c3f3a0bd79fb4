import { z } from 'zod';

/**
 * Response shapes, as zod schemas, for the OpenAPI document. Requests are validated by the routes'
 * own schemas; these describe what the routes send back, and the spec test checks real responses
 * against them, so they cannot drift silently from the code.
 */

const nullableInt = z.number().int().nullable();
const isoDate = z.string().describe('ISO 8601 timestamp');

export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }),
  requestId: z.string().optional().describe('search and answer: the trace of the failed request (GET /v1/requests/:id)'),
});

export const collectionSchema = z.object({
  id: z.string(),
  name: z.string(),
  tenantId: z.string().describe('the owning tenant; names are unique per tenant'),
  embeddingModel: z.string(),
  dimensions: z.number().int(),
  metadata: z.record(z.string(), z.unknown()),
  version: z.number().int().describe('bumped by every ingest or delete in the collection'),
  createdAt: isoDate,
});

export const collectionDetailSchema = collectionSchema.extend({ chunkCount: z.number().int() });
export const collectionListSchema = z.object({ collections: z.array(collectionSchema) });
export const deletedSchema = z.object({ deleted: z.literal(true), id: z.string() });
export const collectionDeletedSchema = deletedSchema.extend({
  restorableForDays: z.number().int().describe('POST /v1/collections/{id}/restore brings it back within this window'),
});
export const collectionRestoredSchema = z.object({ restored: z.literal(true), id: z.string(), name: z.string() });
export const deletedCollectionListSchema = z.object({
  collections: z.array(z.object({ id: z.string(), name: z.string(), tenantId: z.string(), deletedAt: isoDate })),
  restoreWindowDays: z.number().int(),
});

export const documentSchema = z.object({
  id: z.string(),
  collectionId: z.string(),
  source: z.string(),
  title: z.string(),
  mime: z.string(),
  contentHash: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  version: z.number().int(),
  chunkCount: z.number().int(),
  pageCount: nullableInt,
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const documentListSchema = z.object({
  documents: z.array(documentSchema),
  limit: z.number().int(),
  offset: z.number().int(),
  nextOffset: nullableInt,
});

export const jobSchema = z.object({
  id: z.string(),
  collectionId: z.string(),
  source: z.string(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  progress: z.record(z.string(), z.unknown()),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
  result: z
    .object({ documentId: z.string(), status: z.enum(['ingested', 'updated', 'skipped']), chunks: z.number().int(), pages: nullableInt })
    .nullable(),
  worker: z.string().nullable(),
  heartbeatAt: isoDate.nullable(),
  createdAt: isoDate,
  startedAt: isoDate.nullable(),
  finishedAt: isoDate.nullable(),
});

export const jobsSchema = z.object({ jobs: z.array(jobSchema) });
export const jobListSchema = z.object({
  jobs: z.array(jobSchema),
  limit: z.number().int(),
  offset: z.number().int(),
  nextOffset: nullableInt,
});

const explanationSchema = z.object({
  denseRank: nullableInt,
  denseScore: z.number().nullable(),
  bm25Rank: nullableInt,
  bm25Score: z.number().nullable(),
  fusedScore: z.number(),
});

const searchHitSchema = z.object({
  chunk: z
    .object({ id: z.string(), documentId: z.string(), source: z.string(), title: z.string(), text: z.string() })
    .catchall(z.unknown()),
  score: z.number(),
  explanation: explanationSchema,
});

const searchTimingsSchema = z.object({
  embedMs: z.number(),
  denseMs: z.number(),
  bm25Ms: z.number(),
  fuseMs: z.number(),
  loadMs: z.number(),
  totalMs: z.number(),
});

export const searchResponseSchema = z.object({
  requestId: z.string().describe('the trace id: GET /v1/requests/{id}, POST /v1/feedback'),
  hits: z.array(searchHitSchema),
  settings: z.object({
    mode: z.enum(['hybrid', 'dense', 'bm25']),
    fusion: z.enum(['rrf', 'convex']),
    k: z.number(),
    weights: z.object({ dense: z.number(), bm25: z.number() }),
    candidates: z.number().int(),
  }),
  timings: searchTimingsSchema,
});

const chunkReferenceSchema = z.object({
  marker: z.number().int(),
  chunkId: z.string(),
  documentId: z.string(),
  source: z.string(),
  title: z.string(),
  page: nullableInt,
});

const answerChunkSchema = chunkReferenceSchema.extend({
  pageEnd: nullableInt,
  headingPath: z.array(z.string()),
  updatedAt: isoDate,
  score: z.number(),
  denseScore: z.number().nullable(),
  denseRank: nullableInt,
  bm25Rank: nullableInt,
  bm25Score: z.number().nullable(),
  text: z.string(),
});

export const answerResponseSchema = z
  .object({
    requestId: z.string(),
    cache: z.enum(['hit', 'miss', 'off']).describe('hit: served from the answer cache (nothing was retrieved or generated)'),
    answer: z.string(),
    kind: z.enum(['generated', 'extractive', 'not_covered']),
    citations: z.array(chunkReferenceSchema.extend({ quote: z.string() })),
    chunks: z.array(answerChunkSchema),
    usage: z.object({ promptTokens: z.number().int(), completionTokens: z.number().int(), costUsd: z.number().nullable() }),
    model: z.string().nullable(),
    promptVersion: z.string().nullable(),
    timings: z.object({
      retrievalMs: z.number(),
      generationMs: z.number(),
      totalMs: z.number(),
      search: searchTimingsSchema.nullable(),
    }),
    grounded: z.boolean(),
    confidence: z.object({ bestDenseSimilarity: z.number().nullable(), bm25Matched: z.boolean(), minDenseSimilarity: z.number() }),
    fallback: z.object({ reason: z.string(), message: z.string() }).optional(),
    strippedMarkers: z.array(z.number().int()),
    suspiciousChunks: z.array(z.object({ marker: z.number().int(), chunkId: z.string(), source: z.string() }).catchall(z.unknown())),
    structured: z.unknown().optional().describe('with response_format: the validated object (null when none was generated)'),
  })
  .catchall(z.unknown())
  .describe('JSON answer; with "stream": true, Server-Sent Events retrieval, token…, done (this object without chunks) or error');

const tracedChunkSchema = explanationSchema.extend({ chunkId: z.string() });

export const feedbackSchema = z.object({
  requestId: z.string(),
  rating: z.number().int().min(1).max(5).describe('up = 5, down = 1'),
  comment: z.string().nullable(),
  expected: z.string().nullable(),
  createdAt: isoDate,
});

export const traceSchema = z.object({
  id: z.string(),
  createdAt: isoDate,
  kind: z.enum(['search', 'answer']),
  tenantId: z.string().nullable(),
  keyId: z.string().nullable(),
  collectionId: z.string().nullable(),
  collectionName: z.string().nullable(),
  collectionVersion: z.number().int().nullable(),
  question: z.string().describe('after the redaction hook'),
  settings: z.record(z.string(), z.unknown()),
  retrieved: z.array(tracedChunkSchema),
  promptVersion: z.string().nullable(),
  promptHash: z.string().nullable(),
  model: z.string().nullable(),
  tokensIn: z.number().int(),
  tokensOut: z.number().int(),
  costUsd: z.number().nullable(),
  embedCostUsd: z.number().nullable(),
  stages: z.record(z.string(), z.number()).describe('ms per stage: embedMs, denseMs, bm25Ms, fuseMs, loadMs, generateMs, firstTokenMs'),
  totalMs: z.number(),
  outcome: z.string().describe('answered | not_covered | fallback:<reason> | error:<code>'),
  cacheHit: z.boolean(),
  configName: z.string().nullable().optional().describe('the collection config that served the request'),
  configVersion: z.number().int().nullable().optional(),
  experiment: z.string().nullable().optional(),
  variant: z.string().nullable().optional(),
  routing: z.record(z.string(), z.unknown()).nullable().optional().describe('model routing: tier, reason, signals, strongCostUsd'),
  feedback: feedbackSchema.nullable(),
});

const keyRole = z.enum(['admin', 'writer', 'reader']);

export const apiKeySchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  role: keyRole,
  collections: z.array(z.string()).nullable().describe('null: every collection of the tenant'),
  label: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: isoDate,
  revokedAt: isoDate.nullable(),
});
export const createdKeySchema = apiKeySchema.extend({
  key: z.string().describe('the secret, shown only this once'),
  tenant: z.string(),
});
export const apiKeyListSchema = z.object({ keys: z.array(apiKeySchema) });
export const revokedKeySchema = z.object({ revoked: z.literal(true), key: apiKeySchema });

export const tenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  settings: z.object({ requireDeleteApproval: z.boolean() }),
  createdAt: isoDate,
});
export const tenantListSchema = z.object({ tenants: z.array(tenantSchema) });

export const auditEntrySchema = z.object({
  id: z.number().int(),
  at: isoDate,
  tenantId: z.string(),
  actor: z.string().describe('key id, or system:<job>'),
  client: z.string(),
  action: z.string(),
  target: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export const auditListSchema = z.object({
  entries: z.array(auditEntrySchema),
  limit: z.number().int(),
  offset: z.number().int(),
});

export const deletionRequestSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  kind: z.literal('document'),
  collectionId: z.string(),
  targetId: z.string(),
  requestedBy: z.string(),
  state: z.enum(['pending', 'approved', 'rejected']),
  decidedBy: z.string().nullable(),
  createdAt: isoDate,
  decidedAt: isoDate.nullable(),
});
export const deletionPendingSchema = z.object({ deleted: z.literal(false), pendingApproval: deletionRequestSchema });
export const deletionRequestListSchema = z.object({ requests: z.array(deletionRequestSchema) });

const check = z.object({ ok: z.boolean() }).catchall(z.unknown());
export const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ database: check, model: check }),
});
export const readySchema = z.object({
  status: z.enum(['ready', 'starting']),
  checks: z.object({ modelLoaded: z.boolean(), bm25IndexesBuilt: z.boolean() }),
});

/** The OpenAI-compatible routes answer errors in OpenAI's shape (Ragline's details kept beside it). */
export const openAIErrorSchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string().describe('invalid_request_error | authentication_error | permission_error | rate_limit_error | server_error'),
    param: z.string().nullable(),
    code: z.string().describe('model_not_found, rate_limit_exceeded, or the Ragline error code'),
    details: z.record(z.string(), z.unknown()),
  }),
});

export const openAIModelSchema = z.object({
  id: z.string().describe('the collection name; "name:config" selects a named configuration'),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string().describe('the tenant'),
});
export const openAIModelListSchema = z.object({ object: z.literal('list'), data: z.array(openAIModelSchema) });

const citationSchema = chunkReferenceSchema.extend({ quote: z.string() });

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().describe('the answer, then "Sources:" with one line per citation (not appended to a structured answer)'),
          refusal: z.null(),
          citations: z.array(citationSchema),
        }),
        finish_reason: z.enum(['stop', 'content_filter']),
        logprobs: z.null(),
      }),
    ),
    usage: z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() }),
    citations: z.array(citationSchema),
    ragline: z
      .object({
        requestId: z.string(),
        kind: z.string(),
        grounded: z.boolean(),
        standaloneQuestion: z.string().describe('the question retrieval saw, after condensing earlier turns'),
        condensedBy: z.enum(['none', 'rule', 'llm']),
        structured: z.unknown().optional(),
      })
      .catchall(z.unknown()),
  })
  .describe('chat.completion; with "stream": true, chat.completion.chunk Server-Sent Events ending in data: [DONE]');
// The console's read-only routes (docs/console.md).
const pageFields = { limit: z.number().int(), offset: z.number().int(), nextOffset: nullableInt };

const chunkViewSchema = z.object({
  id: z.string(),
  ordinal: z.number().int(),
  headingPath: z.array(z.string()),
  pageStart: nullableInt,
  pageEnd: nullableInt,
  tokenCount: z.number().int(),
  kind: z.string(),
  text: z.string(),
});

export const chunkLookupSchema = z.object({
  chunks: z.array(chunkViewSchema.extend({ documentId: z.string(), source: z.string(), title: z.string() })),
});

export const chunkListSchema = z.object({
  document: z.object({ id: z.string(), source: z.string(), title: z.string(), chunkCount: z.number().int() }),
  chunks: z.array(chunkViewSchema),
  ...pageFields,
});

export const traceSummaryListSchema = z.object({
  requests: z.array(
    z.object({
      id: z.string(),
      createdAt: isoDate,
      kind: z.enum(['search', 'answer']),
      collectionName: z.string().nullable(),
      question: z.string(),
      model: z.string().nullable(),
      tokensIn: z.number().int(),
      tokensOut: z.number().int(),
      costUsd: z.number().nullable().describe('chat plus query embedding'),
      stages: z.record(z.string(), z.number()),
      totalMs: z.number(),
      outcome: z.string(),
      cacheHit: z.boolean(),
      rating: nullableInt.describe('the feedback, 1–5; null when unrated'),
      comment: z.string().nullable(),
    }),
  ),
  ...pageFields,
});

const percentilesSchema = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });

export const reportSchema = z.object({
  since: isoDate,
  requests: z.object({ total: z.number().int(), search: z.number().int(), answer: z.number().int(), cacheHits: z.number().int() }),
  latency: z.record(z.string(), percentilesSchema),
  answerOutcomes: z.object({ answered: z.number(), notCovered: z.number(), fallback: z.number(), error: z.number() }),
  usage: z.array(
    z.object({
      tenantId: z.string().nullable(),
      keyId: z.string().nullable(),
      model: z.string().nullable(),
      requests: z.number().int(),
      tokensIn: z.number().int(),
      tokensOut: z.number().int(),
      costUsd: z.number(),
    }),
  ),
  worstRated: z.array(
    z.object({
      requestId: z.string(),
      question: z.string(),
      rating: z.number().int(),
      comment: z.string().nullable(),
      expected: z.string().nullable(),
    }),
  ),
  unanswered: z.array(z.object({ question: z.string(), count: z.number().int() })),
  feedback: z.object({ count: z.number().int(), rate: z.number(), averageRating: z.number().nullable() }),
  routing: z
    .object({
      routed: z.number().int(),
      small: z.number().int(),
      strong: z.number().int(),
      costUsd: z.number(),
      strongOnlyCostUsd: z.number(),
      savedUsd: z.number(),
    })
    .describe('model routing: answers per tier and the cost saved against always using the strong model'),
});
