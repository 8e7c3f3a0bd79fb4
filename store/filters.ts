import { z } from 'zod';
import { badRequest } from '../core/errors.ts';

/**
 * Metadata filters, parsed once and applied identically by every retriever: compiled to
 * parameterised SQL for dense search and to a predicate for BM25, so excluded documents
 * can never leak back in through the other list.
 *
 * Fields: documentId, source, title, mime, createdAt, updatedAt, page, or `metadata.<key>`
 * (the document metadata given at ingest). A condition is a bare value (equality) or an
 * object of operators: eq, ne, in, gt, gte, lt, lte, prefix (strings only).
 */
/** Postgres text cannot hold U+0000; refusing it here turns a driver error (500) into a 400. */
const filterString = z.string().refine((v) => !v.includes('\0'), 'must not contain NUL characters');
const scalar = z.union([filterString, z.number(), z.boolean()]);
const bound = z.union([filterString, z.number()]);
/** Clauses one filter may hold: each becomes SQL parameters, so the count is bounded per request. */
export const MAX_FILTER_FIELDS = 64;
/** `page` is an int4 column: bounds outside it would make Postgres refuse the whole query. */
const INT4_MIN = -(2 ** 31);
const INT4_MAX = 2 ** 31 - 1;
const conditionSchema = z.union([
  scalar,
  z
    .object({
      eq: scalar.optional(),
      ne: scalar.optional(),
      in: z.array(scalar).min(1).max(1000).optional(),
      gt: bound.optional(),
      gte: bound.optional(),
      lt: bound.optional(),
      lte: bound.optional(),
      prefix: filterString.pipe(z.string().min(1)).optional(),
    })
    .strict()
    .refine((c) => Object.values(c).some((v) => v !== undefined), 'a condition needs at least one operator'),
]);

const BUILTIN_FIELDS = ['documentId', 'source', 'title', 'mime', 'createdAt', 'updatedAt', 'page'] as const;
type BuiltinField = (typeof BUILTIN_FIELDS)[number];
const METADATA_KEY = /^metadata\.[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;

const fieldCount = z.custom<Record<string, unknown>>(
  (v) => typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length <= MAX_FILTER_FIELDS,
  `a filter may name at most ${MAX_FILTER_FIELDS} fields`,
);

export const filterSchema = fieldCount.pipe(z.record(z.string(), conditionSchema)).superRefine((filter, ctx) => {
  for (const field of Object.keys(filter)) {
    if (!(BUILTIN_FIELDS as readonly string[]).includes(field) && !METADATA_KEY.test(field)) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `unknown filter field "${field}"; use one of ${BUILTIN_FIELDS.join(', ')} or metadata.<key>`,
      });
    }
  }
});

export type FilterInput = z.infer<typeof filterSchema>;
type Scalar = string | number | boolean;
type Op = 'eq' | 'ne' | 'in' | 'gt' | 'gte' | 'lt' | 'lte' | 'prefix';

export interface Clause {
  field: BuiltinField | `metadata.${string}`;
  op: Op;
  value: Scalar | Scalar[];
}

/** A validated filter: a conjunction of clauses. */
export type Filter = Clause[];

const DATE_FIELDS = new Set(['createdAt', 'updatedAt']);

export function parseFilter(input: unknown): Filter {
  if (input === undefined || input === null) return [];
  const parsed = filterSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(`Invalid filter at "${issue.path.join('.') || 'filter'}": ${issue.message}`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const clauses: Clause[] = [];
  for (const [field, condition] of Object.entries(parsed.data)) {
    const f = field as Clause['field'];
    if (typeof condition !== 'object') {
      if (field === 'page') assertPageValues('eq', condition);
      clauses.push({ field: f, op: 'eq', value: condition });
      continue;
    }
    for (const [op, value] of Object.entries(condition)) {
      if (value === undefined) continue;
      if (op === 'prefix' && (field === 'page' || DATE_FIELDS.has(field))) {
        throw badRequest(`Invalid filter: "${field}" takes no prefix; use gte/lt ranges`, { field });
      }
      if (field === 'page') assertPageValues(op, value);
      if (DATE_FIELDS.has(field)) {
        for (const date of Array.isArray(value) ? value : [value]) {
          if (typeof date !== 'string' || Number.isNaN(Date.parse(date))) {
            throw badRequest(`Invalid filter at "${field}.${op}": expected an ISO date, got ${JSON.stringify(date)}`, { field, op });
          }
        }
      }
      clauses.push({ field: f, op: op as Op, value: value as Scalar | Scalar[] });
    }
  }
  return clauses;
}

function assertPageValues(op: string, value: unknown): void {
  for (const page of Array.isArray(value) ? value : [value]) {
    // A single non-numeric bound matches nothing (compiled to false); a list is cast to int[] as a whole.
    if (typeof page !== 'number' && op !== 'in') continue;
    if (typeof page !== 'number') {
      throw badRequest('Invalid filter at "page.in": pages are whole numbers', { field: 'page', op, value: page });
    }
    if (!Number.isInteger(page) || page < INT4_MIN || page > INT4_MAX) {
      throw badRequest(`Invalid filter at "page.${op}": pages are whole numbers, got ${page}`, {
        field: 'page',
        op,
        value: page,
      });
    }
  }
}

/** The values a chunk exposes to filters; BM25 keeps these beside each indexed chunk. */
export interface FilterableChunk {
  documentId: string;
  source: string;
  title: string;
  mime: string;
  createdAt: string;
  updatedAt: string;
  pageStart: number | null;
  documentMetadata: Record<string, unknown>;
}

function fieldValue(chunk: FilterableChunk, field: Clause['field']): unknown {
  switch (field) {
    case 'documentId':
      return chunk.documentId;
    case 'source':
      return chunk.source;
    case 'title':
      return chunk.title;
    case 'mime':
      return chunk.mime;
    case 'createdAt':
      return chunk.createdAt;
    case 'updatedAt':
      return chunk.updatedAt;
    case 'page':
      return chunk.pageStart;
    default:
      return chunk.documentMetadata[field.slice('metadata.'.length)];
  }
}

function compare(actual: unknown, expected: Scalar, isDate: boolean): number | null {
  if (isDate) {
    if (typeof actual !== 'string') return null;
    return Math.sign(Date.parse(actual) - Date.parse(String(expected)));
  }
  if (typeof expected === 'number') return typeof actual === 'number' ? Math.sign(actual - expected) : null;
  if (typeof expected === 'string') {
    if (typeof actual !== 'string') return null;
    return actual < expected ? -1 : actual > expected ? 1 : 0;
  }
  return null;
}

function clauseMatches(chunk: FilterableChunk, clause: Clause): boolean {
  const actual = fieldValue(chunk, clause.field);
  const isDate = DATE_FIELDS.has(clause.field);
  switch (clause.op) {
    case 'eq':
      return isDate ? compare(actual, clause.value as Scalar, true) === 0 : actual === clause.value;
    case 'ne':
      return isDate ? compare(actual, clause.value as Scalar, true) !== 0 : actual !== clause.value;
    case 'in':
      return (clause.value as Scalar[]).some((v) => (isDate ? compare(actual, v, true) === 0 : v === actual));
    case 'prefix':
      return typeof actual === 'string' && actual.startsWith(String(clause.value));
    default: {
      const c = compare(actual, clause.value as Scalar, isDate);
      if (c === null) return false;
      return clause.op === 'gt' ? c > 0 : clause.op === 'gte' ? c >= 0 : clause.op === 'lt' ? c < 0 : c <= 0;
    }
  }
}

export function matchesFilter(chunk: FilterableChunk, filter: Filter): boolean {
  return filter.every((clause) => clauseMatches(chunk, clause));
}

/** The clauses that test the document alone (page is a chunk's): matched documents are a superset of matched chunks. */
export function documentFilter(filter: Filter): Filter {
  return filter.filter((clause) => clause.field !== 'page');
}

/** The clauses documentFilter leaves out. */
export function chunkFilter(filter: Filter): Filter {
  return filter.filter((clause) => clause.field === 'page');
}

/**
 * A page clause tested on a chunk's first page exactly as filterToSql's SQL tests `c.page_start`:
 * a chunk without pages matches no page clause (SQL's NULL), `ne` included, unlike matchesFilter;
 * a non-numeric bound matches nothing. The int8 scan (store/vector-copies.ts) tests pages this way
 * so it selects the same rows as the SQL plans.
 */
export function pageMatchesLikeSql(pageStart: number | null, clause: Clause): boolean {
  if (pageStart === null) return false;
  if (clause.op === 'in') return (clause.value as Scalar[]).some((v) => Number(v) === pageStart);
  if (typeof clause.value !== 'number') return false;
  const v = clause.value;
  switch (clause.op) {
    case 'eq':
      return pageStart === v;
    case 'ne':
      return pageStart !== v;
    case 'gt':
      return pageStart > v;
    case 'gte':
      return pageStart >= v;
    case 'lt':
      return pageStart < v;
    case 'lte':
      return pageStart <= v;
    default:
      return false;
  }
}

const SQL_COLUMNS: Record<BuiltinField, string> = {
  documentId: 'd.id::text',
  source: 'd.source',
  title: 'd.title',
  mime: 'd.mime',
  // Postgres keeps microseconds, JavaScript dates milliseconds: compare at the precision both share.
  createdAt: "date_trunc('milliseconds', d.created_at)",
  updatedAt: "date_trunc('milliseconds', d.updated_at)",
  page: 'c.page_start',
};

const SQL_OPS: Record<'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte', string> = {
  eq: '=',
  ne: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
};

/**
 * Compiles a filter to a SQL condition over `documents d JOIN chunks c`. Values are always
 * parameters; metadata keys are parameters too (`d.metadata -> $n`), never spliced into SQL.
 */
export function filterToSql(filter: Filter, params: unknown[]): string {
  const parts: string[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  for (const clause of filter) {
    if (clause.field.startsWith('metadata.')) {
      parts.push(metadataClauseSql(clause, p));
      continue;
    }
    const column = SQL_COLUMNS[clause.field as BuiltinField];
    const cast = DATE_FIELDS.has(clause.field) ? '::timestamptz' : clause.field === 'page' ? '::int' : '::text';
    if (clause.op === 'in') {
      const values = (clause.value as Scalar[]).map((v) => (DATE_FIELDS.has(clause.field) ? v : String(v)));
      parts.push(`${column} = ANY(${p(values)}${cast}[])`);
    } else if (clause.op === 'prefix') {
      parts.push(`starts_with(${column}, ${p(String(clause.value))}::text)`);
    } else {
      if (clause.field === 'page' && typeof clause.value !== 'number') {
        parts.push('false');
        continue;
      }
      const value = clause.field === 'page' || DATE_FIELDS.has(clause.field) ? clause.value : String(clause.value);
      // COLLATE "C" makes string ranges order by code point, as the BM25 predicate does.
      const collate = cast === '::text' ? ' COLLATE "C"' : '';
      parts.push(`${column}${collate} ${SQL_OPS[clause.op]} ${p(value)}${cast}`);
    }
  }
  return parts.length ? parts.join(' AND ') : 'true';
}

function metadataClauseSql(clause: Clause, p: (value: unknown) => string): string {
  const key = p(clause.field.slice('metadata.'.length));
  const json = `(d.metadata -> ${key}::text)`;
  switch (clause.op) {
    case 'eq':
      return `${json} = ${p(JSON.stringify(clause.value))}::jsonb`;
    case 'ne':
      return `${json} IS DISTINCT FROM ${p(JSON.stringify(clause.value))}::jsonb`;
    case 'in':
      return `${json} IN (SELECT jsonb_array_elements(${p(JSON.stringify(clause.value))}::jsonb))`;
    case 'prefix':
      return `(CASE WHEN jsonb_typeof(${json}) = 'string' THEN starts_with(${json} #>> '{}', ${p(clause.value)}::text) ELSE false END)`;
    default: {
      const op = SQL_OPS[clause.op];
      if (typeof clause.value === 'number') {
        return `(CASE WHEN jsonb_typeof(${json}) = 'number' THEN (${json} #>> '{}')::numeric ${op} ${p(clause.value)}::numeric ELSE false END)`;
      }
      return `(CASE WHEN jsonb_typeof(${json}) = 'string' THEN (${json} #>> '{}') COLLATE "C" ${op} ${p(String(clause.value))}::text ELSE false END)`;
    }
  }
}
