import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { RaglineError, badRequest, errorMessage } from '../core/errors.ts';
import { type Citation, rewriteMarkers, verifyCitations } from './citations.ts';
import type { ContextChunk, GenerateInput, Generator, StructuredInstruction, TokenUsage } from './types.ts';

/**
 * Structured answers: the caller sends a JSON Schema (OpenAI's `response_format` shape), the LLM is
 * asked for one JSON object, the reply is validated with ajv (the maintained JSON Schema validator;
 * zod cannot check a schema that only arrives at runtime), repaired once by a follow-up call that
 * shows the validation errors, or refused with a 422 naming them. Citations are [n] markers inside
 * string values, checked against the retrieved chunks exactly like prose answers.
 */

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * OpenAI's `{type: "json_schema", json_schema: {name, schema, strict?}}`; the short form
 * `{type: "json_schema", schema, name?}` and OpenAI's `{type: "json_object"}` (any object) are
 * normalised to it first.
 */
export const responseFormatSchema = z.preprocess(
  (raw) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
    const r = raw as Record<string, unknown>;
    if (r.type === 'json_object' && Object.keys(r).length === 1)
      return { type: 'json_schema', json_schema: { name: 'json_object', schema: { type: 'object' } } };
    if (r.type === 'json_schema' && !('json_schema' in r) && 'schema' in r) {
      const { type, name, schema, strict, ...rest } = r;
      return { type, json_schema: { name: name ?? 'answer', schema, ...(strict === undefined ? {} : { strict }) }, ...rest };
    }
    return raw;
  },
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({
          name: z.string().regex(NAME, 'name must be 1–64 letters, digits, "_" or "-"'),
          description: z.string().max(2_000).optional(),
          /** A JSON Schema (draft 2020-12); its size and depth are bounded by config.structured. */
          schema: z.record(z.string(), z.unknown()),
          strict: z.boolean().nullable().optional(),
        })
        .strict(),
    })
    .strict(),
);

export type ResponseFormat = z.output<typeof responseFormatSchema>;

export interface StructuredLimits {
  maxSchemaBytes: number;
  maxSchemaDepth: number;
}

/** Keywords whose value is a map of name → subschema, one subschema, or a list of subschemas. */
const SCHEMA_MAPS = new Set(['properties', '$defs', 'definitions', 'dependentSchemas']);
const SCHEMA_ONE = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
]);
const SCHEMA_LIST = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Regular expressions from the caller would run on the model's output: one bad pattern can hang the process. */
const REFUSED_KEYWORDS = new Set(['pattern', 'patternProperties']);

const invalidFormat = (message: string, details: Record<string, unknown> = {}) =>
  badRequest(`invalid response_format: ${message}`, { field: 'response_format.json_schema.schema', ...details });

/** Walks the subschemas (not the data keywords such as enum or const), refusing too deep a nesting and regex keywords. */
function checkShape(node: unknown, depth: number, path: string, limits: StructuredLimits): void {
  if (depth > limits.maxSchemaDepth) {
    throw invalidFormat(`the schema nests deeper than ${limits.maxSchemaDepth} levels (at ${path})`, { maxDepth: limits.maxSchemaDepth });
  }
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) throw invalidFormat(`a subschema must be an object or a boolean (at ${path})`);
  for (const [key, value] of Object.entries(node)) {
    const at = `${path}/${key}`;
    if (REFUSED_KEYWORDS.has(key)) {
      throw invalidFormat(`"${key}" is not supported (caller-supplied regular expressions are not run) (at ${at})`, { keyword: key });
    }
    if (SCHEMA_MAPS.has(key) && value && typeof value === 'object') {
      for (const [name, sub] of Object.entries(value)) checkShape(sub, depth + 1, `${at}/${name}`, limits);
    } else if (SCHEMA_ONE.has(key)) {
      checkShape(value, depth + 1, at, limits);
    } else if (SCHEMA_LIST.has(key) && Array.isArray(value)) {
      value.forEach((sub, i) => checkShape(sub, depth + 1, `${at}/${i}`, limits));
    }
  }
}

// validateFormats: off, since "format" needs ajv-formats and OpenAI treats it as a hint anyway.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
/** Compiled validators by schema text: a repeated schema is compiled once, and the cache cannot grow without bound. */
const compiled = new LRUCache<string, ValidateFunction>({ max: 200 });

const MAX_REPORTED_ERRORS = 20;

function describe(e: ErrorObject): string {
  const where = e.instancePath || '(root)';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` ("${(e.params as { additionalProperty: string }).additionalProperty}")`
      : e.keyword === 'enum'
        ? `: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues).slice(0, 200)}`
        : '';
  return `${where} ${e.message ?? e.keyword}${extra}`;
}

export type StructuredCheck = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** A response format whose schema compiled: checks a model reply (JSON parsing, then the schema). */
export class StructuredFormat {
  private constructor(
    readonly name: string,
    readonly schema: Record<string, unknown>,
    readonly strict: boolean,
    private readonly validate: ValidateFunction,
  ) {}

  /** 400 for a schema over the limits, with regex keywords, or that is not valid JSON Schema. */
  static compile(format: ResponseFormat, limits: StructuredLimits): StructuredFormat {
    const { name, schema, strict } = format.json_schema;
    checkShape(schema, 1, '#', limits);
    let text: string;
    try {
      text = JSON.stringify(schema);
    } catch (err) {
      throw invalidFormat(`the schema cannot be serialised: ${errorMessage(err)}`);
    }
    if (Buffer.byteLength(text) > limits.maxSchemaBytes) {
      throw invalidFormat(`the schema is larger than ${limits.maxSchemaBytes} bytes`, { maxBytes: limits.maxSchemaBytes });
    }
    let validate = compiled.get(text);
    if (!validate) {
      const copy = JSON.parse(text) as Record<string, unknown>;
      try {
        validate = ajv.compile(copy);
      } catch (err) {
        throw invalidFormat(`not a valid JSON Schema: ${errorMessage(err)}`);
      } finally {
        // ajv keeps every schema it compiled; the LRU above is the only cache.
        ajv.removeSchema(copy);
      }
      compiled.set(text, validate);
    }
    return new StructuredFormat(name, schema, strict ?? false, validate);
  }

  get instruction(): StructuredInstruction {
    return { name: this.name, schema: this.schema, strict: this.strict };
  }

  check(reply: string): StructuredCheck {
    const parsed = parseJsonReply(reply);
    if (!parsed.ok) return { ok: false, errors: [parsed.error] };
    if (this.validate(parsed.value)) return { ok: true, value: parsed.value };
    const errors = (this.validate.errors ?? []).slice(0, MAX_REPORTED_ERRORS).map(describe);
    return { ok: false, errors: errors.length ? errors : ['(root) does not match the schema'] };
  }
}

/** The JSON in a reply: the whole text, or inside a ``` fence, or from its first "{" to its last "}". */
export function parseJsonReply(reply: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const text = reply.trim();
  const fenced = /^```[a-zA-Z]*\s*([\s\S]*?)\s*```$/.exec(text)?.[1];
  const candidates = [fenced ?? text];
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) candidates.push(text.slice(first, last + 1));
  let error = '';
  for (const candidate of candidates) {
    try {
      return { ok: true, value: JSON.parse(candidate) };
    } catch (err) {
      error ||= errorMessage(err);
    }
  }
  return { ok: false, error: `the reply is not JSON: ${error}` };
}

/** Every [n] in the object's strings is checked like a prose answer's: unknown ones are removed, known ones cited with a quote. */
export function citeStructured(
  value: unknown,
  context: ContextChunk[],
  question: string,
): { value: unknown; citations: Citation[]; strippedMarkers: number[] } {
  const known = new Set(context.map((c) => c.marker));
  const strippedMarkers: number[] = [];
  const cited: string[] = [];
  const clean = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const text = rewriteMarkers(v, known, strippedMarkers);
      if (/\[\d+\]/.test(text)) cited.push(text);
      return text;
    }
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clean(x)]));
    return v;
  };
  const cleaned = clean(value);
  const { citations } = verifyCitations(cited.join('\n\n'), context, { question });
  return { value: cleaned, citations, strippedMarkers };
}

/** The 422 when the reply and its repair both failed the schema; `usage` is what the two calls spent. */
export class StructuredOutputError extends RaglineError {
  constructor(
    errors: string[],
    readonly usage: TokenUsage,
    attempts: number,
  ) {
    super('invalid_structured_output', `the model's reply did not match the response_format schema after ${attempts} attempts`, {
      errors,
      attempts,
      usage,
    });
    this.name = 'StructuredOutputError';
  }
}

export interface StructuredGeneration {
  value: unknown;
  text: string;
  usage: TokenUsage;
  model: string;
  attempts: number;
}

/** One call, and when its reply fails the schema, one repair call that shows the errors. */
export async function generateStructured(
  generator: Generator,
  input: GenerateInput,
  format: StructuredFormat,
): Promise<StructuredGeneration> {
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0 };
  let instruction = format.instruction;
  let errors: string[] = [];
  for (let attempt = 1; attempt <= 2; attempt++) {
    const result = await generator.generate({ ...input, structured: instruction });
    usage.promptTokens += result.usage.promptTokens;
    usage.completionTokens += result.usage.completionTokens;
    const outcome = format.check(result.text);
    if (outcome.ok) return { value: outcome.value, text: result.text, usage, model: result.model, attempts: attempt };
    errors = outcome.errors;
    instruction = { ...format.instruction, repair: { previous: result.text.slice(0, 20_000), errors } };
  }
  throw new StructuredOutputError(errors, usage, 2);
}

interface StructuredTemplate {
  version: string;
  system: string;
  repair: string;
}

export const STRUCTURED_PROMPT_VERSION = 'structured-v1';
let template: StructuredTemplate | undefined;

function loadStructuredTemplate(): StructuredTemplate {
  if (template) return template;
  const file = fileURLToPath(new URL(`./prompts/${STRUCTURED_PROMPT_VERSION}.md`, import.meta.url));
  const body = fs.readFileSync(file, 'utf8').replace(/^<!--[\s\S]*?-->\s*/, '');
  const match = /^## system\n([\s\S]*?)\n## repair\n([\s\S]*)$/.exec(body);
  if (!match)
    throw new RaglineError('internal', `${STRUCTURED_PROMPT_VERSION} must have a "## system" and a "## repair" section`, { file });
  template = { version: STRUCTURED_PROMPT_VERSION, system: match[1]!.trim(), repair: match[2]!.trim() };
  return template;
}

/** The text appended to the answer prompt's system message, and the repair turn when there is one. */
export function renderStructuredPrompt(instruction: StructuredInstruction): { system: string; repair?: string } {
  const t = loadStructuredTemplate();
  const values: Record<string, string> = {
    name: instruction.name,
    schema: JSON.stringify(instruction.schema, null, 2),
    errors: (instruction.repair?.errors ?? []).map((e) => `- ${e}`).join('\n'),
  };
  const fill = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => values[name] ?? whole);
  return { system: fill(t.system), ...(instruction.repair ? { repair: fill(t.repair) } : {}) };
}

/** The same value with every string passed through `fn` (redaction of a structured answer). */
export function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}
