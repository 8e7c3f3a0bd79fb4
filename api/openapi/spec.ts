import { z } from 'zod';
import { answerRequestSchema } from '../../answer/service.ts';
import { searchRequestSchema } from '../../retrieval/types.ts';
import { createCollectionSchema } from '../routes/collections.ts';
import { documentListQuerySchema, uploadQuerySchema } from '../routes/documents.ts';
import { jobListQuerySchema } from '../routes/jobs.ts';
import { feedbackRequestSchema } from '../routes/requests.ts';
import { chatCompletionRequestSchema } from '../openai-format.ts';
import { chunkListQuerySchema, chunkLookupQuerySchema } from '../routes/document-chunks.ts';
import { reportQuerySchema, requestListQuerySchema } from '../routes/request-list.ts';
import {
  auditQuerySchema,
  createKeySchema,
  createTenantSchema,
  deletionQuerySchema,
  settingsSchema,
  tenantScopeSchema,
} from '../routes/tenancy.ts';
import * as s from './schemas.ts';
import * as x from './experiment-schemas.ts';
import { configHistoryQuerySchema, rollbackConfigSchema, setConfigSchema, showConfigQuerySchema } from '../routes/configs.ts';
import { startExperimentSchema, stopExperimentSchema } from '../routes/experiments.ts';
import * as hb from './handoff-batch-schemas.ts';
import { handoffListQuerySchema, resolveHandoffSchema } from '../routes/handoffs.ts';
import { batchRequestSchema } from '../../facade/batches.ts';

/**
 * The route registry: one entry per route the app registers (Hono path syntax), with the zod schemas
 * of its body, query and responses. A registry beside the routes rather than @hono/zod-openapi,
 * which would have meant rewriting every route (and other engineers are editing them); the spec test
 * walks `app.routes` so a route added without an entry here fails the build.
 */
export interface RouteDoc {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType | 'multipart';
  query?: z.ZodObject;
  /** Status → JSON schema, or a content type for non-JSON bodies. */
  responses: Record<number, z.ZodType | { contentType: string; description: string }>;
  /** Needs `Authorization: Bearer <key>` when keys are configured. */
  auth: boolean;
}

const errors = { 400: s.errorSchema, 404: s.errorSchema };
/** Admin-only routes: 403 for a lesser role (or, for tenants, a non-bootstrap key). */
const adminErrors = { ...errors, 403: s.errorSchema };

export const ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'ops',
    summary: 'Liveness: the database answers and the model loads',
    auth: false,
    responses: { 200: s.healthSchema, 503: s.healthSchema },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'ops',
    summary: 'Readiness: model loaded and every BM25 index built',
    auth: false,
    responses: { 200: s.readySchema, 503: s.readySchema },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'ops',
    summary: 'Prometheus metrics',
    auth: true,
    responses: { 200: { contentType: 'text/plain', description: 'Prometheus text format' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'ops',
    summary: 'This document',
    auth: false,
    responses: { 200: { contentType: 'application/json', description: 'OpenAPI 3.1' } },
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'ops',
    summary: 'API reference page (rendered from /openapi.json, no external assets)',
    auth: false,
    responses: { 200: { contentType: 'text/html', description: 'HTML page' } },
  },
  {
    method: 'post',
    path: '/v1/collections',
    tag: 'collections',
    summary: 'Create a collection',
    auth: true,
    body: createCollectionSchema,
    responses: { 201: s.collectionSchema, 400: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections',
    tag: 'collections',
    summary: 'List collections',
    auth: true,
    responses: { 200: s.collectionListSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id',
    tag: 'collections',
    summary: 'Show a collection (id or name)',
    auth: true,
    responses: { 200: s.collectionDetailSchema, 404: s.errorSchema },
  },
  {
    method: 'delete',
    path: '/v1/collections/:id',
    tag: 'collections',
    summary: 'Delete a collection (soft: restorable within the restore window)',
    auth: true,
    responses: { 200: s.collectionDeletedSchema, 403: s.errorSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/restore',
    tag: 'collections',
    summary: 'Restore a deleted collection (id or name) within the restore window',
    auth: true,
    responses: { 200: s.collectionRestoredSchema, 403: s.errorSchema, 404: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/documents',
    tag: 'documents',
    summary: 'Upload documents (multipart or JSON); 202 with jobs, 200 with ?wait once done',
    auth: true,
    body: 'multipart',
    query: uploadQuerySchema,
    responses: { 200: s.jobsSchema, 202: s.jobsSchema, ...errors, 413: s.errorSchema, 415: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/documents',
    tag: 'documents',
    summary: 'List documents',
    auth: true,
    query: documentListQuerySchema,
    responses: { 200: s.documentListSchema, ...errors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/documents/:docId',
    tag: 'documents',
    summary: 'Show a document',
    auth: true,
    responses: { 200: s.documentSchema, 404: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/documents/:docId/chunks',
    tag: 'documents',
    summary: "A document's chunks in order: heading path, pages, token count, text (paged)",
    auth: true,
    query: chunkListQuerySchema(5_000),
    responses: { 200: s.chunkListSchema, ...errors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/chunks',
    tag: 'documents',
    summary: "Chunks by id (e.g. a trace's), at most 100; ids of other collections are left out",
    auth: true,
    query: chunkLookupQuerySchema,
    responses: { 200: s.chunkLookupSchema, ...errors },
  },
  {
    method: 'delete',
    path: '/v1/collections/:id/documents/:docId',
    tag: 'documents',
    summary: 'Delete a document; 202 with a deletion request when the tenant requires approval',
    auth: true,
    responses: { 200: s.deletedSchema, 202: s.deletionPendingSchema, 403: s.errorSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/search',
    tag: 'query',
    summary: 'Hybrid, dense or BM25 search (traced)',
    auth: true,
    body: searchRequestSchema,
    responses: { 200: s.searchResponseSchema, ...errors, 415: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/answer',
    tag: 'query',
    summary: 'Answer with citations (traced, cached); JSON or SSE',
    auth: true,
    body: answerRequestSchema,
    responses: { 200: s.answerResponseSchema, ...errors, 415: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/chat/completions',
    tag: 'openai',
    summary: 'OpenAI-compatible chat completion: model = collection (or collection:config); JSON or SSE chunks',
    auth: true,
    body: chatCompletionRequestSchema,
    responses: {
      200: s.chatCompletionSchema,
      400: s.openAIErrorSchema,
      401: s.openAIErrorSchema,
      404: s.openAIErrorSchema,
      413: s.openAIErrorSchema,
      422: s.openAIErrorSchema,
      429: s.openAIErrorSchema,
    },
  },
  {
    method: 'get',
    path: '/v1/models',
    tag: 'openai',
    summary: "OpenAI-compatible model list: the caller's collections, and each one's named configs as collection:config",
    auth: true,
    responses: { 200: s.openAIModelListSchema, 401: s.openAIErrorSchema },
  },
  {
    method: 'get',
    path: '/v1/models/:model',
    tag: 'openai',
    summary: 'OpenAI-compatible model: one collection, or collection:config',
    auth: true,
    responses: { 200: s.openAIModelSchema, 404: s.openAIErrorSchema },
  },
  {
    method: 'get',
    path: '/v1/jobs',
    tag: 'jobs',
    summary: 'List ingestion jobs',
    auth: true,
    query: jobListQuerySchema,
    responses: { 200: s.jobListSchema, 400: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/jobs/:id',
    tag: 'jobs',
    summary: 'Show a job',
    auth: true,
    responses: { 200: s.jobSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/jobs/:id/retry',
    tag: 'jobs',
    summary: 'Retry a failed job',
    auth: true,
    responses: { 200: s.jobSchema, 404: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/jobs/:id/cancel',
    tag: 'jobs',
    summary: 'Cancel a queued or running job',
    auth: true,
    responses: { 200: s.jobSchema, 403: s.errorSchema, 404: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/keys',
    tag: 'tenancy',
    summary: 'Issue an API key (the secret is returned only here); bootstrap keys may name another tenant',
    auth: true,
    body: createKeySchema,
    responses: { 201: s.createdKeySchema, ...adminErrors },
  },
  {
    method: 'get',
    path: '/v1/keys',
    tag: 'tenancy',
    summary: "List a tenant's API keys (no secrets)",
    auth: true,
    query: tenantScopeSchema,
    responses: { 200: s.apiKeyListSchema, ...adminErrors },
  },
  {
    method: 'delete',
    path: '/v1/keys/:keyId',
    tag: 'tenancy',
    summary: 'Revoke an API key',
    auth: true,
    query: tenantScopeSchema,
    responses: { 200: s.revokedKeySchema, ...adminErrors },
  },
  {
    method: 'post',
    path: '/v1/tenants',
    tag: 'tenancy',
    summary: 'Create a tenant (bootstrap keys only)',
    auth: true,
    body: createTenantSchema,
    responses: { 201: s.tenantSchema, 400: s.errorSchema, 403: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/tenants',
    tag: 'tenancy',
    summary: 'List tenants (bootstrap keys only)',
    auth: true,
    responses: { 200: s.tenantListSchema, 403: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/tenant',
    tag: 'tenancy',
    summary: "The caller's tenant and its settings",
    auth: true,
    responses: { 200: s.tenantSchema, 404: s.errorSchema },
  },
  {
    method: 'patch',
    path: '/v1/tenant',
    tag: 'tenancy',
    summary: "Change the caller's tenant settings",
    auth: true,
    body: settingsSchema,
    responses: { 200: s.tenantSchema, ...adminErrors },
  },
  {
    method: 'get',
    path: '/v1/audit',
    tag: 'tenancy',
    summary: "The caller's tenant audit log, newest first",
    auth: true,
    query: auditQuerySchema,
    responses: { 200: s.auditListSchema, 400: s.errorSchema, 403: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/deleted-collections',
    tag: 'tenancy',
    summary: 'Deleted collections still within the restore window',
    auth: true,
    responses: { 200: s.deletedCollectionListSchema, 403: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/deletions',
    tag: 'tenancy',
    summary: 'Document deletion requests awaiting (or past) approval',
    auth: true,
    query: deletionQuerySchema,
    responses: { 200: s.deletionRequestListSchema, 400: s.errorSchema, 403: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/deletions/:requestId/approve',
    tag: 'tenancy',
    summary: 'Approve a deletion request (deletes the document)',
    auth: true,
    responses: { 200: s.deletionRequestSchema, 403: s.errorSchema, 404: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/deletions/:requestId/reject',
    tag: 'tenancy',
    summary: 'Reject a deletion request (the document stays)',
    auth: true,
    responses: { 200: s.deletionRequestSchema, 403: s.errorSchema, 404: s.errorSchema, 409: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/requests',
    tag: 'ledger',
    summary: "The caller's tenant's recent requests, newest first: latency by stage, cost, outcome, rating (paged)",
    auth: true,
    query: requestListQuerySchema(1_000),
    responses: { 200: s.traceSummaryListSchema, 400: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/report',
    tag: 'ledger',
    summary: "`ragline report` for the caller's tenant: volume, latency, outcomes, cost, worst-rated and unanswered questions",
    auth: true,
    query: reportQuerySchema,
    responses: { 200: s.reportSchema, 400: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/requests/:id',
    tag: 'ledger',
    summary: "A request's trace and feedback (the caller's tenant only)",
    auth: true,
    responses: { 200: s.traceSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/feedback',
    tag: 'ledger',
    summary: 'Rate an answer; again for the same request replaces it',
    auth: true,
    body: feedbackRequestSchema,
    responses: { 200: s.feedbackSchema, ...errors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/configs',
    tag: 'experiments',
    summary: "The collection's configs (newest version of each), the active one and the running experiment",
    auth: true,
    responses: { 200: x.configListSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/configs',
    tag: 'experiments',
    summary: 'Store the next version of a named config (admin; audited)',
    auth: true,
    body: setConfigSchema,
    responses: { 201: x.configSetSchema, ...adminErrors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/configs/:name',
    tag: 'experiments',
    summary: 'A config: its newest version, or ?version=',
    auth: true,
    query: showConfigQuerySchema,
    responses: { 200: x.configVersionSchema, ...errors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/configs/:name/history',
    tag: 'experiments',
    summary: "A config's versions, newest first",
    auth: true,
    query: configHistoryQuerySchema,
    responses: { 200: x.configHistorySchema, ...errors },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/configs/:name/rollback',
    tag: 'experiments',
    summary: 'Restore an earlier version (default: the one before the newest) as a new version (admin; audited)',
    auth: true,
    body: rollbackConfigSchema,
    responses: { 200: x.configVersionSchema, ...adminErrors, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/configs/:name/activate',
    tag: 'experiments',
    summary: "Make the config the collection's active one (admin; audited)",
    auth: true,
    responses: { 200: x.configVersionSchema, ...adminErrors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/experiments',
    tag: 'experiments',
    summary: "The collection's experiments, newest first",
    auth: true,
    responses: { 200: x.experimentListSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/experiments',
    tag: 'experiments',
    summary: 'Start splitting traffic between configs, sticky per user or key (admin; audited)',
    auth: true,
    body: startExperimentSchema,
    responses: { 201: x.experimentSchema, ...adminErrors, 409: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/experiments/:name',
    tag: 'experiments',
    summary: 'One experiment',
    auth: true,
    responses: { 200: x.experimentSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/experiments/:name/stop',
    tag: 'experiments',
    summary: 'Stop the experiment; the winner becomes the active config (admin; audited)',
    auth: true,
    body: stopExperimentSchema,
    responses: { 200: x.experimentSchema, ...adminErrors, 409: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/experiments/:name/report',
    tag: 'experiments',
    summary: 'Per variant: requests, latency, tokens and cost, outcomes, feedback up-rate with interval and test',
    auth: true,
    responses: { 200: x.experimentReportSchema, 404: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/handoffs',
    tag: 'handoffs',
    summary: 'Questions handed off to a person (not covered or low confidence), newest first',
    auth: true,
    query: handoffListQuerySchema,
    responses: { 200: hb.handoffListSchema, ...errors },
  },
  {
    method: 'get',
    path: '/v1/handoffs/:id',
    tag: 'handoffs',
    summary: "One handoff (the caller's tenant only)",
    auth: true,
    responses: { 200: hb.handoffSchema, 404: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/handoffs/:id/resolve',
    tag: 'handoffs',
    summary: 'Resolve a handoff with a note and optionally the answer it should have had',
    auth: true,
    body: resolveHandoffSchema,
    responses: { 200: hb.handoffSchema, ...adminErrors, 409: s.errorSchema },
  },
  {
    method: 'post',
    path: '/v1/collections/:id/batches',
    tag: 'batches',
    summary: 'Queue many questions, answered at low priority by the workers',
    auth: true,
    body: batchRequestSchema(1000),
    responses: { 202: hb.batchSchema, ...adminErrors },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/batches/:batchId',
    tag: 'batches',
    summary: "A batch's progress",
    auth: true,
    responses: { 200: hb.batchSchema, 404: s.errorSchema },
  },
  {
    method: 'get',
    path: '/v1/collections/:id/batches/:batchId/results',
    tag: 'batches',
    summary: 'One JSON line per question: question, answer, kind, citations, requestId (or error)',
    auth: true,
    responses: {
      200: { contentType: 'application/x-ndjson', description: 'JSONL, in question order; unanswered questions have state "queued"' },
      404: s.errorSchema,
    },
  },
  {
    method: 'get',
    path: '/',
    tag: 'console',
    summary: 'The web console (docs/console.md); RAGLINE_CONSOLE=false turns it off',
    auth: false,
    responses: { 200: { contentType: 'text/html', description: 'HTML page; its data comes from /v1 with the key typed in' } },
  },
  {
    method: 'get',
    path: '/console/:file',
    tag: 'console',
    summary: "The console's scripts and style sheet (files of the project's console/ folder only)",
    auth: false,
    responses: { 200: { contentType: 'text/javascript', description: 'ES module or CSS' }, 404: s.errorSchema },
  },
];

/** `/v1/collections/:id` → `/v1/collections/{id}`. */
export const openApiPath = (honoPath: string) => honoPath.replace(/:(\w+)/g, '{$1}');

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

function operation(route: RouteDoc) {
  const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = route.query
    ? Object.entries((jsonSchema(route.query, 'input').properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema,
      }))
    : [];
  const requestBody =
    route.body === 'multipart'
      ? {
          required: true,
          content: {
            'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } },
            'application/json': {
              schema: { type: 'object', description: '{source, text | base64, mime?, title?, metadata?} or {documents: [...]}' },
            },
          },
        }
      : route.body
        ? { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } }
        : undefined;
  const responses = Object.fromEntries(
    Object.entries(route.responses).map(([status, r]) => [
      status,
      'contentType' in r
        ? { description: r.description, content: { [r.contentType]: {} } }
        : { description: status.startsWith('2') ? 'OK' : 'error', content: { 'application/json': { schema: jsonSchema(r, 'output') } } },
    ]),
  );
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId: `${route.method}${openApiPath(route.path)
      .replace(/[{}]/g, '')
      .replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ?? '').toUpperCase())}`,
    ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
    ...(route.auth ? {} : { security: [] }),
  };
}

/** The OpenAPI 3.1 document for every route in the registry. */
export function buildOpenApi(version = '0.1.0') {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ragline API',
      version,
      description: 'Errors are always {"error": {"code", "message", "details"}} with a 4xx for bad input.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'only when API keys are configured' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
