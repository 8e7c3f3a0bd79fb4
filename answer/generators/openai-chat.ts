import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsBase, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type CircuitBreaker from 'opossum';
import type { Config } from '../../core/config.ts';
import { logger } from '../../core/logger.ts';
import { Deadline, ProviderError, callProvider, classify, createBreaker, type ResiliencePolicy } from '../../core/resilience.ts';
import { ANSWER_PROMPT_VERSIONS, CURRENT_ANSWER_PROMPT, renderAnswerPrompt, type AnswerPromptVersion } from '../prompts/index.ts';
import { countChatTokens, countTokens } from '../../models/tokenizers/tiktoken.ts';
import { renderStructuredPrompt } from '../structured.ts';
import type { GenerateInput, GenerateResult, GenerationOverrides, Generator, StreamEvent, TokenUsage } from '../types.ts';

export interface OpenAIChatOptions {
  /** Local servers (vLLM, Ollama, llama.cpp) usually need no key. */
  apiKey?: string;
  /** Any OpenAI-compatible endpoint; the official API when unset. */
  baseURL?: string;
  model: string;
  temperature: number;
  maxOutputTokens: number;
  policy: ResiliencePolicy;
  breaker: { minRequests: number; resetMs: number; consecutiveFailures?: number };
  promptVersion?: AnswerPromptVersion;
}

export function chatOptionsFromConfig(config: Config): OpenAIChatOptions {
  const o = config.openai;
  return {
    apiKey: o.apiKey,
    baseURL: o.baseUrl,
    model: o.chatModel,
    temperature: o.temperature,
    maxOutputTokens: o.maxOutputTokens,
    policy: { timeoutMs: o.timeoutMs, retries: o.maxRetries, baseDelayMs: o.retryBaseMs, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 },
    breaker: { minRequests: o.breakerMinRequests, resetMs: o.breakerResetMs, consecutiveFailures: o.breakerConsecutiveFailures },
  };
}

type Breaker = CircuitBreaker<[() => Promise<unknown>], unknown>;

/**
 * Grounded answers from a chat-completions model. Every call goes through `callProvider`: a timeout
 * per attempt, retries with backoff that honour Retry-After, and this provider's circuit breaker.
 * The caller's AbortSignal reaches the HTTP request, so a client that goes away cancels the call.
 */
export class OpenAIChatGenerator implements Generator {
  readonly model: string;
  readonly provider: string;
  readonly promptVersion: string;
  readonly breaker: Breaker;
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAIChatOptions) {
    this.model = options.model;
    this.provider = options.baseURL ?? 'openai';
    this.promptVersion = options.promptVersion ?? CURRENT_ANSWER_PROMPT;
    this.client = new OpenAI({
      apiKey: options.apiKey ?? 'not-needed',
      baseURL: options.baseURL,
      maxRetries: 0, // retries live in callProvider only
      timeout: options.policy.timeoutMs,
    });
    this.breaker = createBreaker({ name: `chat:${this.provider}`, ...options.breaker });
  }

  static fromConfig(config: Config): OpenAIChatGenerator {
    return new OpenAIChatGenerator(chatOptionsFromConfig(config));
  }

  /** The prompt version a request's overrides pick, else this generator's. */
  promptVersionFor(overrides?: GenerationOverrides): AnswerPromptVersion {
    const wanted = overrides?.promptVersion;
    if (wanted && (ANSWER_PROMPT_VERSIONS as readonly string[]).includes(wanted)) return wanted as AnswerPromptVersion;
    return this.promptVersion as AnswerPromptVersion;
  }

  private messages(input: GenerateInput): ChatCompletionMessageParam[] {
    const prompt = renderAnswerPrompt(input.question, input.context, this.promptVersionFor(input.overrides));
    logger.debug({ promptVersion: prompt.version, promptHash: prompt.hash, model: this.model }, 'answer prompt rendered');
    if (!input.structured) {
      return [
        { role: 'system', content: prompt.system },
        { role: 'user', content: prompt.user },
      ];
    }
    const structured = renderStructuredPrompt(input.structured);
    const repair = input.structured.repair;
    return [
      { role: 'system', content: `${prompt.system}\n\n${structured.system}` },
      { role: 'user', content: prompt.user },
      ...(repair && structured.repair
        ? [
            { role: 'assistant' as const, content: repair.previous },
            { role: 'user' as const, content: structured.repair },
          ]
        : []),
    ];
  }

  private params(messages: ChatCompletionMessageParam[], input?: GenerateInput, nativeJson = false): ChatCompletionCreateParamsBase {
    const overrides: GenerationOverrides = input?.overrides ?? {};
    const maxOutputTokens = overrides.maxOutputTokens ?? this.options.maxOutputTokens;
    // The official API wants max_completion_tokens (reasoning models reject max_tokens); compatible
    // servers have long understood max_tokens, not all of them the newer name.
    const limit = this.options.baseURL ? { max_tokens: maxOutputTokens } : { max_completion_tokens: maxOutputTokens };
    const s = nativeJson ? input?.structured : undefined;
    const format = s
      ? { response_format: { type: 'json_schema' as const, json_schema: { name: s.name, schema: s.schema, strict: s.strict } } }
      : {};
    return {
      model: overrides.model ?? this.model,
      messages,
      temperature: overrides.temperature ?? this.options.temperature,
      ...limit,
      ...format,
    };
  }

  private usage(
    messages: ChatCompletionMessageParam[],
    text: string,
    reported?: OpenAI.CompletionUsage | null,
    model = this.model,
  ): TokenUsage {
    return {
      promptTokens:
        reported?.prompt_tokens ??
        countChatTokens(
          model,
          messages.map((m) => ({ content: String(m.content) })),
        ),
      completionTokens: reported?.completion_tokens ?? countTokens(model, text),
    };
  }

  /**
   * With `input.structured`, OpenAI's `response_format` is sent too; a server that refuses it (400
   * or 422: an older compatible server, or a schema its strict mode rejects) is asked again with
   * the JSON instruction in the prompt only. Not remembered: the next schema may well be accepted.
   */
  async generate(input: GenerateInput): Promise<GenerateResult> {
    if (!input.structured) return this.complete(input, false);
    try {
      return await this.complete(input, true);
    } catch (err) {
      const refused = err instanceof ProviderError && err.reason === 'rejected' && [400, 422].includes(err.details.status ?? 0);
      if (!refused || input.signal?.aborted) throw err;
      logger.info({ provider: this.provider, err: err.message }, 'response_format refused: asking for JSON in the prompt only');
      return this.complete(input, false);
    }
  }

  private async complete(input: GenerateInput, nativeJson: boolean): Promise<GenerateResult> {
    const messages = this.messages(input);
    const completion = await callProvider(
      async (signal) => {
        const response = await this.client.chat.completions.create(
          { ...this.params(messages, input, nativeJson), stream: false },
          { signal },
        );
        const text = response?.choices?.[0]?.message?.content;
        if (typeof text !== 'string' || !text.trim()) throw new Error('the completion has no message content');
        return { text, usage: response.usage, model: response.model };
      },
      { policy: this.options.policy, breaker: this.breaker, signal: input.signal, label: `chat:${this.provider}` },
    );
    const asked = input.overrides?.model ?? this.model;
    return {
      text: completion.text,
      usage: this.usage(messages, completion.text, completion.usage, asked),
      model: completion.model || asked,
    };
  }

  /**
   * A short completion outside the answer prompt (the chat facade's question rewrite): the caller's
   * messages, at most `maxTokens` of output, temperature 0, through the same retries and breaker.
   */
  async rewrite(
    messages: { role: 'system' | 'user'; content: string }[],
    maxTokens: number,
    signal?: AbortSignal,
  ): Promise<GenerateResult> {
    const limit = this.options.baseURL ? { max_tokens: maxTokens } : { max_completion_tokens: maxTokens };
    const completion = await callProvider(
      async (callSignal) => {
        const response = await this.client.chat.completions.create(
          { model: this.model, messages, temperature: 0, ...limit, stream: false },
          { signal: callSignal },
        );
        const text = response?.choices?.[0]?.message?.content;
        if (typeof text !== 'string' || !text.trim()) throw new Error('the completion has no message content');
        return { text, usage: response.usage, model: response.model };
      },
      { policy: this.options.policy, breaker: this.breaker, signal, label: `chat-rewrite:${this.provider}` },
    );
    return { text: completion.text, usage: this.usage(messages, completion.text, completion.usage), model: completion.model || this.model };
  }

  /**
   * Connecting and receiving the first chunk are retried like any call. After the first token has
   * been passed on nothing is retried (the caller has already shown it): a failure then is thrown.
   */
  async *stream(input: GenerateInput): AsyncIterable<StreamEvent> {
    const messages = this.messages(input);
    const policy = this.options.policy;
    const opened = await callProvider(
      async (signal) => {
        const stream = await this.client.chat.completions.create(
          { ...this.params(messages, input), stream: true, stream_options: { include_usage: true } },
          { signal },
        );
        const iterator = stream[Symbol.asyncIterator]();
        const first = await iterator.next();
        return { stream, iterator, first };
      },
      { policy, breaker: this.breaker, signal: input.signal, label: `chat-stream:${this.provider}` },
    );

    // From here the attempt's deadline is gone: an idle timer and the caller's signal abort the stream.
    const idle = new Deadline(policy.timeoutMs, input.signal);
    const stop = () => opened.stream.controller.abort();
    idle.signal.addEventListener('abort', stop, { once: true });
    let text = '';
    let reported: OpenAI.CompletionUsage | null | undefined;
    let model = input.overrides?.model ?? this.model;
    let finished = false;
    try {
      for (let next = opened.first; !next.done; next = await opened.iterator.next()) {
        idle.restart();
        const chunk: ChatCompletionChunk = next.value;
        if (chunk.model) model = chunk.model;
        if (chunk.usage) reported = chunk.usage;
        if (chunk.choices?.[0]?.finish_reason) finished = true;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          text += delta;
          yield { delta };
        }
      }
      // The SDK ends the iteration quietly when its request is aborted: that is a timeout or a cancel, not the end.
      if (idle.signal.aborted) throw new Error('the stream was aborted');
      // A dropped connection also just ends the iteration: only a finish_reason says the answer is whole.
      if (!finished)
        throw new ProviderError('upstream_error', 'the stream ended before the model finished its answer', { retryable: false });
      if (!text.trim()) throw new ProviderError('bad_response', 'the stream ended without any content', { retryable: false });
    } catch (err) {
      throw classify(err, { timedOut: idle.timedOut, callerAborted: idle.callerAborted });
    } finally {
      idle.signal.removeEventListener('abort', stop);
      idle.clear();
      // A consumer that stops iterating early (client gone) must not leave the upstream request open.
      if (!opened.stream.controller.signal.aborted) opened.stream.controller.abort();
    }
    yield { done: true, usage: this.usage(messages, text, reported, model), model };
  }
}
