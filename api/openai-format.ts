import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Citation } from '../answer/citations.ts';
import type { TokenUsage } from '../answer/types.ts';

/**
 * OpenAI's wire format for the compatible facade (api/routes/openai-compat.ts): the request schema,
 * the chat.completion and chat.completion.chunk objects, and errors as `{error: {message, type,
 * param, code}}`. Only the fields Ragline can honour are interpreted; sampling parameters
 * (temperature, top_p, max_tokens…) are accepted and ignored, since the collection's settings decide.
 */

const textPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const content = z
  .union([z.string(), z.array(textPart).max(100)], {
    error: 'content must be a string or a list of {type: "text", text} parts (images, audio and files are not supported)',
  })
  .nullable();

const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: content.optional(),
    name: z.string().max(200).optional(),
  })
  .loose();

export const chatCompletionRequestSchema = z
  .object({
    /** A collection name, or "collection:config" to answer with that named configuration. */
    model: z.string().trim().min(1).max(300),
    /** Bounded further by compat.maxMessages and compat.maxConversationChars. */
    messages: z.array(chatMessageSchema).min(1, 'messages must not be empty').max(1_000),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
    /** The app's end user, passed to the answer request (experiments assign variants by it). */
    user: z.string().min(1).max(200).optional(),
    n: z.literal(1, 'n must be 1: one answer per request').nullable().optional(),
    /** Passed to the answer request; {type: "text"} is the same as none. */
    response_format: z.record(z.string(), z.unknown()).nullable().optional(),
    tools: z.array(z.unknown()).max(0, 'tools are not supported: the model is a document collection').optional(),
    functions: z.array(z.unknown()).max(0, 'functions are not supported: the model is a document collection').optional(),
  })
  .loose();

export type ChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>;
export type ChatMessage = z.output<typeof chatMessageSchema>;

/** The text of a message: a string, or its text parts joined. */
export function messageText(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  return (message.content ?? []).map((p) => p.text).join('\n');
}

/** "handbook" or "handbook:config-name" (collection names cannot contain ":"). */
export function parseModel(model: string): { collection: string; config?: string } {
  const at = model.indexOf(':');
  if (at < 0) return { collection: model };
  const config = model.slice(at + 1).trim();
  return { collection: model.slice(0, at).trim(), ...(config ? { config } : {}) };
}

/** The citations as a "Sources:" list appended to the content, one line per cited chunk. */
export function sourcesFooter(citations: Citation[]): string {
  if (!citations.length) return '';
  const lines = citations.map((c) => {
    const where = [c.source, c.page !== null ? `p. ${c.page}` : undefined].filter(Boolean).join(', ');
    return `[${c.marker}] ${c.title && c.title !== c.source ? `${c.title} (${where})` : where}`;
  });
  return `\n\nSources:\n${lines.join('\n')}`;
}

export function openAIUsage(...usages: TokenUsage[]) {
  const prompt = usages.reduce((s, u) => s + u.promptTokens, 0);
  const completion = usages.reduce((s, u) => s + u.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export type FinishReason = 'stop' | 'content_filter';

export function chatCompletion(args: {
  id: string;
  created: number;
  model: string;
  content: string;
  finishReason: FinishReason;
  citations: Citation[];
  usage: ReturnType<typeof openAIUsage>;
  ragline: Record<string, unknown>;
}) {
  return {
    id: args.id,
    object: 'chat.completion' as const,
    created: args.created,
    model: args.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: args.content, refusal: null, citations: args.citations },
        finish_reason: args.finishReason,
        logprobs: null,
      },
    ],
    usage: args.usage,
    citations: args.citations,
    ragline: args.ragline,
  };
}

export function chatChunk(
  base: { id: string; created: number; model: string },
  delta: { role?: 'assistant'; content?: string },
  finishReason: FinishReason | null = null,
  extra: Record<string, unknown> = {},
) {
  return {
    ...base,
    object: 'chat.completion.chunk' as const,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    ...extra,
  };
}

const TYPE_BY_STATUS: Record<number, string> = {
  401: 'authentication_error',
  403: 'permission_error',
  429: 'rate_limit_error',
};

interface RaglineErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** A Ragline error body in OpenAI's shape; `details.param` and `details.openaiCode` win when a route set them. */
export function toOpenAIError(status: number, error: RaglineErrorBody) {
  const details = error.details ?? {};
  const issues = details.issues as { path?: string }[] | undefined;
  const param = typeof details.param === 'string' ? details.param : (issues?.[0]?.path ?? null);
  const type = TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  const code = typeof details.openaiCode === 'string' ? details.openaiCode : status === 429 ? 'rate_limit_exceeded' : error.code;
  return { error: { message: error.message, type, param: param || null, code, details } };
}

/**
 * Rewrites every JSON error answered under these routes (auth, limits, validation, the routes
 * themselves) into OpenAI's shape, keeping status and headers. Registered before auth, so it
 * sees their 401s and 429s too.
 */
export function openAIErrors(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    if (res.status < 400 || !res.headers.get('content-type')?.includes('application/json')) return;
    const body = (await res
      .clone()
      .json()
      .catch(() => undefined)) as { error?: RaglineErrorBody & { type?: string } } | undefined;
    if (!body?.error || body.error.type !== undefined) return;
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    // Assigning over an existing response would copy its headers (content-length among them) onto this one.
    c.res = undefined;
    c.res = new Response(JSON.stringify(toOpenAIError(res.status, body.error)), { status: res.status, headers });
  };
}
