import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import type { ChatTurn } from '../../answer/condense.ts';
import type { AnswerRequestInput, AnswerResponse } from '../../answer/service.ts';
import { StructuredOutputError } from '../../answer/structured.ts';
import { RaglineError, badRequest, errorMessage } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import { CallAbortedError } from '../../core/resilience.ts';
import type { Ragline } from '../../facade/ragline.ts';
import type { TracedQueries } from '../../facade/traced-queries.ts';
import type { Collection } from '../../store/types.ts';
import { mayUse, principalOf, scopedCollection } from '../access.ts';
import { errorResponse, readJson } from '../http-errors.ts';
import {
  type ChatCompletionRequest,
  type FinishReason,
  chatChunk,
  chatCompletion,
  chatCompletionRequestSchema,
  messageText,
  openAIUsage,
  parseModel,
  sourcesFooter,
  toOpenAIError,
} from '../openai-format.ts';
import { requestContext } from '../request-context.ts';

/**
 * The OpenAI-compatible facade (mounted under /v1): an app built on an OpenAI client points its
 * base URL here and names a collection as the model. The last user message is the question, made
 * standalone from the earlier turns; the answer is Ragline's (retrieval, citations, guardrails,
 * traces, cache, token budget), in OpenAI's chat.completion (or chunk) format, with the citations
 * appended as "Sources:" and given as `citations`.
 */
export function openAICompatRoutes(ragline: Ragline, queries: TracedQueries): Hono {
  const app = new Hono();
  const limits = ragline.config.compat;

  app.get('/models', async (c) => {
    const principal = principalOf(c);
    const collections = (await ragline.store.listCollections(principal.tenantId)).filter((col) => mayUse(principal, col));
    const configs =
      (await queries.configs?.store.namesOf(
        collections.map((col) => col.id),
        MAX_CONFIG_MODELS,
      )) ?? [];
    const data = collections.flatMap((col) => [
      modelOf(col.name, col.createdAt, principal.tenantId),
      ...configs
        .filter((cfg) => cfg.collectionId === col.id)
        .map((cfg) => modelOf(`${col.name}:${cfg.name}`, cfg.createdAt, principal.tenantId)),
    ]);
    return c.json({ object: 'list', data });
  });

  app.get('/models/:model', async (c) => {
    const model = c.req.param('model');
    const collection = await collectionFor(c, ragline, model);
    const { config } = parseModel(model);
    const tenantId = principalOf(c).tenantId;
    if (!config) return c.json(modelOf(collection.name, collection.createdAt, tenantId));
    const named = (await queries.configs?.store.namesOf([collection.id], MAX_CONFIG_MODELS))?.find((cfg) => cfg.name === config);
    if (!named) {
      throw new RaglineError('not_found', `the model "${model}" does not exist: the collection has no config "${config}"`, {
        param: 'model',
        openaiCode: 'model_not_found',
      });
    }
    return c.json(modelOf(`${collection.name}:${named.name}`, named.createdAt, tenantId));
  });

  app.post(
    '/chat/completions',
    // Messages are text: the conversation cap (×4 for JSON escapes) plus room for the other fields.
    bodyLimit({
      maxSize: limits.maxConversationChars * 4 + 64 * 1024,
      onError: (c) => errorResponse(c, new RaglineError('payload_too_large', 'the chat request body is too large', { param: 'messages' })),
    }),
    async (c) => {
      const body = await readJson(c, chatCompletionRequestSchema);
      const turns = conversation(body, limits);
      const { config } = parseModel(body.model);
      const collection = await collectionFor(c, ragline, body.model);
      const context = requestContext(c);
      const upstream = new AbortController();
      c.req.raw.signal.addEventListener('abort', () => upstream.abort(), { once: true });
      const charge = async (usage: AnswerResponse['usage'] | { promptTokens: number; completionTokens: number }) =>
        c.get('chargeAnswerTokens')?.(usage);

      let condensed: Awaited<ReturnType<typeof queries.answers.condense>>;
      try {
        condensed = await queries.answers.condense(turns, upstream.signal);
      } catch (err) {
        // The client left during the rewrite call: nobody to answer.
        if (err instanceof CallAbortedError) return new Response(null, { status: 499 });
        throw err;
      }
      await charge(condensed.usage);
      const format = body.response_format && body.response_format.type !== 'text' ? body.response_format : undefined;
      const request: AnswerRequestInput = {
        question: condensed.question,
        ...(config ? { config } : {}),
        ...(body.user ? { user: body.user } : {}),
        ...(format ? { response_format: format } : {}),
        stream: Boolean(body.stream),
      };
      const base = { id: `chatcmpl-${context.requestId}`, created: Math.floor(Date.now() / 1000), model: body.model };
      const extras = (answer: Pick<AnswerResponse, 'kind' | 'grounded'> & { cache?: string; structured?: unknown }) => ({
        requestId: context.requestId,
        kind: answer.kind,
        grounded: answer.grounded,
        cache: answer.cache,
        standaloneQuestion: condensed.question,
        condensedBy: condensed.method,
        ...(answer.structured !== undefined ? { structured: answer.structured } : {}),
      });
      const resolve = async () => collection;

      if (!body.stream) {
        try {
          const answer = await queries.answer(context, resolve, request, upstream.signal, condensed);
          if (answer.cache !== 'hit') await charge(answer.usage);
          // A JSON answer stays parseable: its citations are only in the fields, not appended.
          const footer = answer.structured === undefined ? sourcesFooter(answer.citations) : '';
          return c.json(
            chatCompletion({
              ...base,
              content: answer.answer + footer,
              finishReason: finishReasonOf(answer),
              citations: answer.citations,
              usage: openAIUsage(condensed.usage, answer.cache === 'hit' ? zero : answer.usage),
              ragline: extras(answer),
            }),
          );
        } catch (err) {
          if (err instanceof CallAbortedError) return new Response(null, { status: 499 });
          if (err instanceof StructuredOutputError) await charge(err.usage);
          throw err;
        }
      }

      const events = queries.stream(context, resolve, request, upstream.signal, condensed);
      // Retrieval runs before the response is committed, so its errors keep their status and shape.
      const first = await events.next();
      const includeUsage = Boolean(body.stream_options?.include_usage);
      return streamSSE(c, async (sse) => {
        sse.onAbort(() => {
          upstream.abort();
          void events.return(undefined);
        });
        const send = (data: unknown) => sse.writeSSE({ data: JSON.stringify(data) });
        try {
          await send(chatChunk(base, { role: 'assistant', content: '' }));
          for (let next = first; !next.done; next = await events.next()) {
            if (sse.aborted) return;
            const event = next.value;
            if (event.event === 'token') await send(chatChunk(base, { content: event.data.delta }));
            if (event.event !== 'done') continue;
            const done = event.data as typeof event.data & { cache?: string };
            if (done.cache !== 'hit') await charge(done.usage);
            const footer = sourcesFooter(done.citations);
            if (footer) await send(chatChunk(base, { content: footer }));
            await send(chatChunk(base, {}, finishReasonOf(done), { citations: done.citations, ragline: extras(done) }));
            if (includeUsage) {
              await send({
                ...chatChunk(base, {}),
                choices: [],
                usage: openAIUsage(condensed.usage, done.cache === 'hit' ? zero : done.usage),
              });
            }
          }
          await sse.writeSSE({ data: '[DONE]' });
        } catch (err) {
          if (sse.aborted) return;
          const error = err instanceof RaglineError ? err : new RaglineError('internal', 'the answer failed', { cause: errorMessage(err) });
          logger.warn({ err: errorMessage(err), model: body.model }, 'chat completion stream failed');
          await send(toOpenAIError(error.httpStatus, error.toJSON().error));
        }
      });
    },
  );

  return app;
}

const zero = { promptTokens: 0, completionTokens: 0 };

function finishReasonOf(answer: Pick<AnswerResponse, 'kind'>): FinishReason {
  return answer.kind === 'refused' ? 'content_filter' : 'stop';
}

/**
 * `collection:config` entries the model list holds at most (beside every bare collection): the list
 * stays one bounded query however many configs a tenant keeps.
 */
const MAX_CONFIG_MODELS = 1_000;

function modelOf(id: string, createdAt: string, tenantId: string) {
  return { id, object: 'model' as const, created: Math.floor(Date.parse(createdAt) / 1000), owned_by: tenantId };
}

/** The collection a model names, in the caller's tenant; otherwise OpenAI's 404 model_not_found. */
async function collectionFor(c: Context, ragline: Ragline, model: string): Promise<Collection> {
  const { collection } = parseModel(model);
  try {
    return await scopedCollection(c, ragline, collection);
  } catch (err) {
    if (!(err instanceof RaglineError) || err.code !== 'not_found') throw err;
    throw new RaglineError('not_found', `the model "${model}" does not exist: no collection "${collection}" for this key`, {
      param: 'model',
      openaiCode: 'model_not_found',
    });
  }
}

/** User and assistant turns (system and tool messages are not passed on: the answer prompt is Ragline's), bounded. */
function conversation(body: ChatCompletionRequest, limits: { maxMessages: number; maxConversationChars: number }): ChatTurn[] {
  if (body.messages.length > limits.maxMessages) {
    throw badRequest(`too many messages: at most ${limits.maxMessages}`, { param: 'messages', max: limits.maxMessages });
  }
  const turns: ChatTurn[] = [];
  let chars = 0;
  for (const message of body.messages) {
    const text = messageText(message);
    chars += text.length;
    if (message.role === 'user' || message.role === 'assistant') turns.push({ role: message.role, content: text });
  }
  if (chars > limits.maxConversationChars) {
    throw badRequest(`the messages hold more than ${limits.maxConversationChars} characters`, {
      param: 'messages',
      max: limits.maxConversationChars,
    });
  }
  const last = body.messages.at(-1)!;
  if (last.role !== 'user' || !messageText(last).trim()) {
    throw badRequest('the last message must be a non-empty user message: it is the question', { param: 'messages' });
  }
  return turns;
}
