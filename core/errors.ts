import type { z } from 'zod';
/**
 * One error type for every failure a user should see: a stable machine-readable code,
 * the HTTP status it maps to, and details naming what was wrong.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_config'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable_document'
  | 'model_mismatch'
  | 'model_unavailable'
  | 'rate_limited'
  | 'unauthorized'
  | 'forbidden'
  | 'upstream_unavailable'
  | 'overloaded'
  | 'dataset_missing'
  | 'invalid_structured_output'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_config: 500,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable_document: 422,
  model_mismatch: 409,
  model_unavailable: 503,
  rate_limited: 429,
  upstream_unavailable: 503,
  overloaded: 503,
  dataset_missing: 404,
  invalid_structured_output: 422,
  internal: 500,
};

export class RaglineError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RaglineError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return STATUS[this.code];
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details ?? {} } };
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) => new RaglineError('bad_request', message, details);
export const notFound = (message: string, details?: Record<string, unknown>) => new RaglineError('not_found', message, details);

/** A document that cannot be ingested: names the file and the reason. */
export class DocumentError extends RaglineError {
  constructor(source: string, reason: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super('unprocessable_document', `${source}: ${reason}`, { source, reason, ...details }, options);
    this.name = 'DocumentError';
  }
}

/** A document over one of the configured DocumentLimits: 422 naming the limit; never retried. */
export class DocumentLimitError extends DocumentError {
  constructor(source: string, limit: string, variable: string, max: number, actual: number | string) {
    super(source, `exceeds the limit ${limit} = ${max} (${variable}): ${actual}`, { limit, variable, max, actual });
    this.name = 'DocumentLimitError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A zod failure as a 400 naming each offending field. */
export function validationError(what: string, error: z.ZodError): RaglineError {
  const issues = error.issues.map((i) => ({ path: i.path.map(String).join('.'), code: i.code, message: i.message }));
  const first = issues[0]!;
  return badRequest(`invalid ${what}: ${first.path ? `${first.path}: ` : ''}${first.message}`, { issues });
}
