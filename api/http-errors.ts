import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { RaglineError, badRequest, validationError, type ErrorCode } from '../core/errors.ts';
import { logger } from '../core/logger.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by routes that write a trace (search, answer): error responses then carry it as `requestId`. */
    traceId: string;
  }
}

/** Every error response: `{ error: { code, message, details } }` with the status of its code. */
export function errorResponse(c: Context, err: RaglineError): Response {
  return c.json(err.toJSON(), err.httpStatus as ContentfulStatusCode);
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_document',
  429: 'rate_limited',
  503: 'upstream_unavailable',
};

export const onError: ErrorHandler = (err, c) => {
  if (err instanceof RaglineError) {
    if (err.httpStatus >= 500) logger.error({ err, requestId: c.get('requestId') }, err.message);
    const traceId = c.get('traceId');
    // A traced request's error names its trace, so the caller can look it up (GET /v1/requests/:id).
    if (traceId) return c.json({ ...err.toJSON(), requestId: traceId }, err.httpStatus as ContentfulStatusCode);
    return errorResponse(c, err);
  }
  if (err instanceof HTTPException) {
    // Middleware that already built a JSON error response (auth, body limit) passes it through.
    if (err.res?.headers.get('content-type')?.includes('application/json')) return err.getResponse();
    const code = CODE_BY_STATUS[err.status] ?? 'internal';
    return errorResponse(c, new RaglineError(code, err.message || code.replace(/_/g, ' ')));
  }
  const requestId = c.get('requestId');
  logger.error({ err, requestId, method: c.req.method, path: c.req.path }, 'unhandled error');
  return errorResponse(c, new RaglineError('internal', 'internal server error', { requestId }));
};

export const onNotFound: NotFoundHandler = (c) =>
  errorResponse(c, new RaglineError('not_found', `no route for ${c.req.method} ${c.req.path}`, { method: c.req.method, path: c.req.path }));

export function isJsonContentType(contentType: string | undefined): boolean {
  return /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(contentType ?? '');
}

export function unsupportedMediaType(contentType: string | undefined, expected: string[]): RaglineError {
  return new RaglineError(
    'unsupported_media_type',
    `unsupported Content-Type ${contentType ? `"${contentType}"` : '(none)'}; expected ${expected.join(' or ')}`,
    { contentType: contentType ?? null, expected },
  );
}

/** Reads a JSON body: 415 for another content type, 400 for malformed JSON or a body the schema refuses. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  return parseJsonBody(schema, await readJsonValue(c));
}

/** The body as JSON, unvalidated: 415 for another content type, 400 when it is empty or malformed. */
export async function readJsonValue(c: Context): Promise<unknown> {
  const contentType = c.req.header('content-type');
  if (!isJsonContentType(contentType)) throw unsupportedMediaType(contentType, ['application/json']);
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(text.trim() ? `malformed JSON body: ${(err as Error).message}` : 'request body is empty; expected a JSON object');
  }
}

/** 400 naming the first issue (all issues in details) when `schema` refuses the body. */
export function parseJsonBody<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationError('request body', parsed.error);
  return parsed.data;
}

/** Validates the query string (all values are strings; use z.coerce for numbers). */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw validationError('query parameters', parsed.error);
  return parsed.data;
}
