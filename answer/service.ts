import { z } from 'zod';
import type { Config } from '../core/config.ts';
import { RaglineError, errorMessage, validationError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { CallAbortedError, ProviderError } from '../core/resilience.ts';
import type { Embedder } from '../models/types.ts';
import type { CollectionRef } from '../store/types.ts';
import { searchRequestSchema, type SearchHit, type SearchRequestInput, type SearchResponse } from '../retrieval/types.ts';
import { MarkerFilter, chunkReference, verifyCitations, type ChunkReference, type Citation } from './citations.ts';
import { ExtractiveGenerator, NOT_COVERED } from './generators/extractive.ts';
import { OpenAIChatGenerator, chatOptionsFromConfig } from './generators/openai-chat.ts';
import type { ContextChunk, FallbackReason, GenerationOverrides, Generator, TokenUsage } from './types.ts';
import type { AnswerOverrides } from './collection-config.ts';
import { routeQuestion, type DifficultySignals, type ModelTier, type RoutingThresholds } from './routing.ts';
import { redact } from '../core/redact.ts';
import {
  type AnswerGuardrails,
  BLOCKED_ANSWER,
  OutputGate,
  REFUSED_QUESTION,
  type Refusal,
  blocklistRefusal,
  guardrailsFromConfig,
  questionRefusal,
} from './guardrails.ts';
import type { InjectionFlag, InjectionMatch } from './prompts/injection.ts';
import { type ChatTurn, type Condensed, condenseQuestion } from './condense.ts';
import { StructuredFormat, citeStructured, generateStructured, mapStrings, responseFormatSchema } from './structured.ts';

/** The answer request: the search request's fields, with `question` for `query` and a smaller topK. */
export const answerRequestSchema = searchRequestSchema
  .omit({ query: true, topK: true })
  .extend({
    question: z.string().trim().min(1, 'question must not be empty').max(8_000),
    /** Chunks given to the generator. 5–10 keeps answers grounded without drowning the model. */
    topK: z.number().int().min(1).max(50).default(6),
    /** Lifts the 5–10 bound on topK (evaluation, experiments). */
    allowAnyTopK: z.boolean().default(false),
    stream: z.boolean().default(false),
    /** Ask for one JSON object valid against a JSON Schema (OpenAI's shape); needs an LLM, not with stream. */
    response_format: responseFormatSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.stream && r.response_format) {
      ctx.addIssue({
        code: 'custom',
        path: ['response_format'],
        message: 'response_format cannot be combined with stream: the object is validated (and repaired) whole, so send stream: false',
      });
    }
    if (!r.allowAnyTopK && (r.topK < 5 || r.topK > 10)) {
      ctx.addIssue({ code: 'custom', path: ['topK'], message: 'topK must be between 5 and 10 (set allowAnyTopK to override)' });
    }
  });

export type AnswerRequestInput = z.input<typeof answerRequestSchema>;
export type AnswerRequest = z.output<typeof answerRequestSchema>;

/** A retrieved chunk as the answer shows it: what a citation names (marker, chunk, document, source, title, page), and more. */
export interface AnswerChunk extends ChunkReference {
  pageEnd: number | null;
  headingPath: string[];
  updatedAt: string;
  score: number;
  denseScore: number | null;
  bm25Rank: number | null;
  denseRank: number | null;
  bm25Score: number | null;
  text: string;
}

export interface Confidence {
  /** Best cosine similarity of the question and a retrieved chunk (null when dense retrieval did not run). */
  bestDenseSimilarity: number | null;
  bm25Matched: boolean;
  minDenseSimilarity: number;
}

export interface AnswerResponse {
  answer: string;
  /**
   * generated: an LLM wrote it; extractive: sentences quoted from the chunks; not_covered: nothing relevant was
   * retrieved; refused: a guardrail withheld the answer (see `refusal`).
   */
  kind: 'generated' | 'extractive' | 'not_covered' | 'refused';
  citations: Citation[];
  chunks: AnswerChunk[];
  usage: TokenUsage & { costUsd: number | null };
  /** The generator's model ("extractive" for the extractive answer); null when no generator ran. */
  model: string | null;
  promptVersion: string | null;
  timings: { retrievalMs: number; generationMs: number; totalMs: number; search: SearchResponse['timings'] | null };
  grounded: boolean;
  confidence: Confidence;
  /** Set when the configured LLM failed and the extractive answer was returned instead. */
  fallback?: { reason: FallbackReason; message: string };
  /** [n] markers the generator wrote that named no retrieved chunk; they were removed from `answer`. */
  strippedMarkers: number[];
  /** Retrieved chunks whose text looks like instructions to the model: fenced as untrusted or dropped (`action`). */
  suspiciousChunks: InjectionFlag[];
  /** Set when the question itself looks like prompt injection. */
  questionFlag: InjectionMatch | null;
  /** Set when kind is `refused`: which guardrail withheld the answer and why. */
  refusal?: Refusal;
  /** Set when model routing chose the generator: which tier, why, and what the strong model would have cost. */
  routing?: RoutingChoice;
  /** With response_format: the validated object (its [n] markers checked); null when none was generated (not covered, refused). */
  structured?: unknown;
}

export interface RoutingChoice {
  tier: ModelTier;
  reason: string;
  signals: DifficultySignals | null;
  strongModel: string;
  /** The same tokens priced at the strong model (null when its price is unknown). */
  strongCostUsd: number | null;
}

export type AnswerEvent =
  | {
      event: 'retrieval';
      data: { chunks: AnswerChunk[]; confidence: Confidence; suspiciousChunks: InjectionFlag[]; questionFlag: InjectionMatch | null };
    }
  | { event: 'token'; data: { delta: string } }
  | { event: 'done'; data: Omit<AnswerResponse, 'chunks'> };

/** What the service needs from Ragline (the facade satisfies it). */
export interface AnswerBackend {
  readonly config: Config;
  search(collection: CollectionRef, request: SearchRequestInput, options?: { queryVector?: Float32Array }): Promise<SearchResponse>;
  embedder(): Promise<Embedder>;
}

export interface AnswerServiceOptions {
  /** The LLM; without one every answer is extractive. */
  generator?: Generator;
  /** Used when there is no LLM or the LLM fails. */
  fallback: Generator;
  minDenseSimilarity?: number;
  requireBm25Match?: boolean;
  /** Injection screening, blocklist and redaction; by default from `config.guardrails`. */
  guardrails?: AnswerGuardrails;
  /** A cheaper model for easy questions (model routing); `generator` is then the strong one. */
  small?: Generator;
  /** The difficulty rule's thresholds; by default `config.routing`. */
  routing?: RoutingThresholds;
}

type Prices = Config['answer']['prices'];

/** USD for the usage, from the price table: exact model name first, else the longest name it starts with. */
/** A condensed question with the USD of its rewrite call (0 without one, null for a model without a price). */
export type CondensedWithCost = Condensed & { costUsd: number | null };

export function costUsd(model: string, usage: TokenUsage, prices: Prices): number | null {
  const key = prices[model]
    ? model
    : Object.keys(prices)
        .filter((k) => model.startsWith(k))
        .sort((a, b) => b.length - a.length)[0];
  const price = key ? prices[key] : undefined;
  if (!price) return null;
  const usd = (usage.promptTokens * price.inputPerMTok + usage.completionTokens * price.outputPerMTok) / 1e6;
  return Math.round(usd * 1e8) / 1e8;
}

interface Retrieved {
  request: AnswerRequest;
  overrides: AnswerOverrides;
  hits: SearchHit[];
  context: ContextChunk[];
  chunks: AnswerChunk[];
  confidence: Confidence;
  confident: boolean;
  suspiciousChunks: InjectionFlag[];
  questionFlag: InjectionMatch | null;
  questionVector?: Float32Array;
  search: SearchResponse['timings'];
  retrievalMs: number;
}

const ms = (start: number) => Math.round((performance.now() - start) * 10) / 10;

/**
 * Retrieval → confidence gate → generation → citation check. When retrieval found nothing that
 * looks relevant, the LLM is not called and the answer says so. When the LLM fails (circuit open,
 * timeout, 5xx or 429 after retries, unusable response), the extractive answer is returned with
 * `fallback.reason` rather than an error.
 */
export class AnswerService {
  private readonly generator: Generator | undefined;
  private readonly fallback: Generator;
  private readonly minDenseSimilarity: number;
  private readonly requireBm25Match: boolean;
  private readonly guardrails: AnswerGuardrails;
  private readonly small: Generator | undefined;
  private readonly routing: RoutingThresholds;
  /** The configured price table with the routing section's prices for the small and strong models. */
  private readonly prices: Prices;

  constructor(
    private readonly backend: AnswerBackend,
    options: AnswerServiceOptions,
  ) {
    this.generator = options.generator;
    this.fallback = options.fallback;
    this.minDenseSimilarity = options.minDenseSimilarity ?? backend.config.answer.minDenseSimilarity;
    this.requireBm25Match = options.requireBm25Match ?? backend.config.answer.requireBm25Match;
    this.guardrails = options.guardrails ?? guardrailsFromConfig(backend.config.guardrails);
    this.small = options.generator ? options.small : undefined;
    this.routing = options.routing ?? backend.config.routing;
    this.prices = routingPrices(backend.config, this.generator?.model, this.small?.model);
  }

  /** The configured setup: the OpenAI-compatible LLM when one is configured, the extractive generator always. */
  static fromConfig(backend: AnswerBackend): AnswerService {
    const { openai, answer } = backend.config;
    const llmConfigured = Boolean(openai.apiKey || openai.baseUrl);
    if (answer.generator === 'openai' && !llmConfigured) {
      throw new RaglineError(
        'invalid_config',
        'Invalid configuration: OPENAI_API_KEY: RAGLINE_ANSWER_GENERATOR=openai needs OPENAI_API_KEY or OPENAI_BASE_URL',
        {
          variable: 'OPENAI_API_KEY',
        },
      );
    }
    const useLlm = answer.generator === 'openai' || (answer.generator === 'auto' && llmConfigured);
    return new AnswerService(backend, {
      generator: useLlm ? OpenAIChatGenerator.fromConfig(backend.config) : undefined,
      small: useLlm ? smallGeneratorFromConfig(backend.config) : undefined,
      fallback: new ExtractiveGenerator(() => backend.embedder(), { checkAnswerability: answer.answerability === 'on' }),
    });
  }

  /** What shapes this service's answers besides the request: the answer cache keys on it. */
  get identity(): { model: string; smallModel?: string; promptVersion: string; minDenseSimilarity: number; requireBm25Match: boolean } {
    const g = this.generator ?? this.fallback;
    return {
      model: g.model,
      ...(this.small ? { smallModel: this.small.model } : {}),
      promptVersion: g.promptVersion,
      minDenseSimilarity: this.minDenseSimilarity,
      requireBm25Match: this.requireBm25Match,
    };
  }

  /** The LLM's circuit breaker: null without an LLM. */
  breakerState(): 'closed' | 'open' | 'half_open' | null {
    if (!(this.generator instanceof OpenAIChatGenerator)) return null;
    const b = this.generator.breaker;
    return b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed';
  }

  /** A chat's last question made standalone: an LLM rewrite when one is configured (and compat.condense is auto), else the rule. */
  async condense(turns: ChatTurn[], signal?: AbortSignal): Promise<CondensedWithCost> {
    const { condense, condenseMaxTokens } = this.backend.config.compat;
    const rewriter = condense === 'auto' && this.generator instanceof OpenAIChatGenerator ? this.generator : undefined;
    const condensed = await condenseQuestion(turns, { rewriter, maxTokens: condenseMaxTokens, signal });
    return { ...condensed, costUsd: condensed.model ? costUsd(condensed.model, condensed.usage, this.backend.config.answer.prices) : 0 };
  }

  parse(input: unknown): AnswerRequest {
    const parsed = answerRequestSchema.safeParse(input);
    if (!parsed.success) throw validationError('answer request', parsed.error);
    return parsed.data;
  }

  async answer(
    collection: CollectionRef,
    input: AnswerRequestInput | AnswerRequest,
    signal?: AbortSignal,
    overrides: AnswerOverrides = {},
  ): Promise<AnswerResponse> {
    const start = performance.now();
    const request = this.parse(input);
    const format = request.response_format ? this.structuredFormat(request) : undefined;
    const questionFlag = this.guardrails.screen.detect(request.question);
    if (questionFlag && this.guardrails.questionInjection === 'refuse')
      return this.withStructured(this.refuseQuestion(questionFlag, start), format);
    const r = await this.retrieve(collection, request, questionFlag, overrides);
    if (!r.confident) return this.present(this.withStructured(this.notCovered(r, start), format));
    if (format) return this.present(await this.answerStructured(r, format, start, signal));

    const genStart = performance.now();
    const generation = await this.generateWithFallback(r, signal);
    const verified = verifyCitations(generation.text, r.context, { question: r.request.question });
    const response = this.finish(r, start, genStart, generation, verified);
    return this.present(this.withholdIfBlocked(response, this.guardrails.blocklist.check(response.answer)));
  }

  /** Events in order: one `retrieval`, `token`s, one `done`. Throws (before `retrieval`) for bad input or an unknown collection. */
  async *stream(
    collection: CollectionRef,
    input: AnswerRequestInput | AnswerRequest,
    signal?: AbortSignal,
    overrides: AnswerOverrides = {},
  ): AsyncGenerator<AnswerEvent> {
    const start = performance.now();
    const request = this.parse(input);
    const questionFlag = this.guardrails.screen.detect(request.question);
    if (questionFlag && this.guardrails.questionInjection === 'refuse') {
      const { chunks, ...done } = this.refuseQuestion(questionFlag, start);
      yield { event: 'retrieval', data: { chunks, confidence: done.confidence, suspiciousChunks: [], questionFlag } };
      yield { event: 'token', data: { delta: done.answer } };
      yield { event: 'done', data: done };
      return;
    }
    const r = await this.retrieve(collection, request, questionFlag, overrides);
    const shown = this.present({ chunks: r.chunks, citations: [], answer: '' });
    yield {
      event: 'retrieval',
      data: { chunks: shown.chunks, confidence: r.confidence, suspiciousChunks: r.suspiciousChunks, questionFlag },
    };
    if (!r.confident) {
      const { chunks: _chunks, ...done } = this.present(this.notCovered(r, start));
      yield { event: 'token', data: { delta: done.answer } };
      yield { event: 'done', data: done };
      return;
    }

    const genStart = performance.now();
    const known = new Set(r.context.map((c) => c.marker));
    const route = this.chooseGenerator(r);
    let generator = route.generator;
    let fallback: AnswerResponse['fallback'];
    // At most two passes: the LLM, then the extractive answer if the LLM failed before sending anything.
    for (;;) {
      const filter = new MarkerFilter(known);
      const gate = new OutputGate(this.guardrails.blocklist, this.guardrails.redaction);
      let text = '';
      let sent = false;
      try {
        let final: { usage: TokenUsage; model: string } | undefined;
        for await (const event of generator.stream({
          question: r.request.question,
          context: r.context,
          signal,
          questionVector: r.questionVector,
          overrides: this.generationOverrides(r, generator),
        })) {
          if ('delta' in event) {
            const out = filter.push(event.delta);
            if (!out) continue;
            text += out;
            const shownDelta = gate.push(out);
            if (gate.blocked.length) break;
            if (!shownDelta) continue;
            sent = true;
            yield { event: 'token', data: { delta: shownDelta } };
          } else {
            final = event;
          }
        }
        const rest = gate.blocked.length ? '' : filter.flush();
        text += rest;
        const shownRest = gate.blocked.length ? '' : gate.push(rest) + gate.flush();
        if (shownRest) yield { event: 'token', data: { delta: shownRest } };
        const verified = verifyCitations(text, r.context, { question: r.request.question });
        verified.strippedMarkers.unshift(...filter.stripped.filter((m) => !verified.strippedMarkers.includes(m)));
        const generation = {
          text,
          usage: final?.usage ?? { promptTokens: 0, completionTokens: 0 },
          model: final?.model ?? generator.model,
          generator,
          fallback,
          routing: route.routing,
        };
        const response = this.withholdIfBlocked(this.finish(r, start, genStart, generation, verified), gate.blocked);
        const { chunks: _chunks, ...done } = this.present(response);
        yield { event: 'done', data: done };
        return;
      } catch (err) {
        if (err instanceof CallAbortedError) return; // the client left; nobody is listening
        if (err instanceof ProviderError && !sent && generator !== this.fallback) {
          // The generator that failed may be the small one: the fallback is extractive either way.
          fallback = this.fallbackFor(err, r.request.question);
          generator = this.fallback;
          continue;
        }
        if (err instanceof RaglineError) throw err;
        const reason = err instanceof ProviderError ? err.reason : 'internal';
        throw new RaglineError('upstream_unavailable', `the answer stream failed after ${text.length} characters: ${errorMessage(err)}`, {
          reason,
          charactersSent: text.length,
        });
      }
    }
  }

  private async retrieve(
    collection: CollectionRef,
    request: AnswerRequest,
    questionFlag: InjectionMatch | null,
    overrides: AnswerOverrides,
  ): Promise<Retrieved> {
    const minDenseSimilarity = overrides.policy?.minDenseSimilarity ?? this.minDenseSimilarity;
    const requireBm25Match = overrides.policy?.requireBm25Match ?? this.requireBm25Match;
    const start = performance.now();
    const { question, allowAnyTopK: _a, stream: _s, response_format: _f, ...searchFields } = request;
    // Embedding the question here once serves both the dense search and the extractive generator.
    let questionVector: Float32Array | undefined;
    if (request.mode !== 'bm25') {
      const embedder = await this.backend.embedder();
      [questionVector] = await embedder.embed([question], 'query');
    }
    const response = await this.backend.search(collection, { ...searchFields, query: question }, { queryVector: questionVector });
    const hits = response.hits;
    const retrieved: ContextChunk[] = hits.map((h, i) => ({ marker: i + 1, chunk: h.chunk, denseScore: h.explanation.denseScore }));
    const drop = this.guardrails.chunkInjection === 'drop';
    const suspiciousChunks = this.guardrails.screen.flag(retrieved, drop ? 'dropped' : 'fenced');
    const flagged = new Map(suspiciousChunks.map((f) => [f.marker, f.reason]));
    // Fenced chunks stay (labelled untrusted in the prompt); dropped ones never reach the generator.
    const context = retrieved
      .filter((c) => !(drop && flagged.has(c.marker)))
      .map((c) => (flagged.has(c.marker) ? { ...c, untrusted: flagged.get(c.marker) } : c));
    const denseScores = hits.map((h) => h.explanation.denseScore).filter((s): s is number => s !== null);
    const confidence: Confidence = {
      bestDenseSimilarity: denseScores.length ? Math.max(...denseScores) : null,
      bm25Matched: hits.some((h) => h.explanation.bm25Rank !== null),
      minDenseSimilarity,
    };
    const denseOk = request.mode === 'bm25' ? confidence.bm25Matched : (confidence.bestDenseSimilarity ?? -1) >= minDenseSimilarity;
    const confident = context.length > 0 && denseOk && (!requireBm25Match || confidence.bm25Matched);
    return {
      request,
      overrides,
      hits,
      context,
      chunks: hits.map((h, i) => toAnswerChunk(h, i + 1)),
      confidence,
      confident,
      suspiciousChunks,
      questionFlag,
      questionVector,
      search: response.timings,
      retrievalMs: ms(start),
    };
  }

  private async generateWithFallback(r: Retrieved, signal?: AbortSignal) {
    const input = { question: r.request.question, context: r.context, signal, questionVector: r.questionVector };
    const { generator, routing } = this.chooseGenerator(r);
    if (generator !== this.fallback) {
      try {
        const generated = await generator.generate({ ...input, overrides: this.generationOverrides(r, generator) });
        return { ...generated, generator, fallback: undefined, routing };
      } catch (err) {
        if (!(err instanceof ProviderError)) throw err;
        const fallback = this.fallbackFor(err, r.request.question);
        return { ...(await this.fallback.generate(input)), generator: this.fallback, fallback, routing };
      }
    }
    return { ...(await this.fallback.generate(input)), generator: this.fallback, fallback: undefined, routing: undefined };
  }

  /**
   * The LLM for this question: the strong one, unless a small one is configured and the difficulty
   * rule (or the config's `routing: small`) picks it. Without an LLM, the extractive generator.
   */
  private chooseGenerator(r: Retrieved): { generator: Generator; routing?: Omit<RoutingChoice, 'strongCostUsd'> } {
    if (!this.generator) return { generator: this.fallback };
    if (!this.small) return { generator: this.generator };
    const strongModel = r.overrides.generation?.model ?? this.generator.model;
    const forced = r.overrides.generation?.routing;
    if (forced === 'small' || forced === 'strong') {
      const reason = `the config sets routing: ${forced}`;
      return { generator: forced === 'small' ? this.small : this.generator, routing: { tier: forced, reason, signals: null, strongModel } };
    }
    const decision = routeQuestion(r.request.question, r.hits, this.routing);
    const generator = decision.tier === 'small' ? this.small : this.generator;
    return { generator, routing: { tier: decision.tier, reason: decision.reason, signals: decision.signals, strongModel } };
  }

  /** A config's generation settings; its model names the strong endpoint's model, so the small one keeps its own. */
  private generationOverrides(r: Retrieved, generator: Generator): GenerationOverrides | undefined {
    const g = r.overrides.generation;
    if (!g) return undefined;
    return {
      ...(g.model && generator === this.generator ? { model: g.model } : {}),
      ...(g.temperature !== undefined ? { temperature: g.temperature } : {}),
      ...(g.maxTokens !== undefined ? { maxOutputTokens: g.maxTokens } : {}),
      ...(g.promptVersion ? { promptVersion: g.promptVersion } : {}),
    };
  }

  /** 400 before any work when structured output cannot be produced (no LLM) or its schema is refused. */
  private structuredFormat(request: AnswerRequest): StructuredFormat {
    if (!this.generator) {
      throw new RaglineError(
        'bad_request',
        'response_format needs an LLM: this server answers extractively (set OPENAI_API_KEY or OPENAI_BASE_URL)',
        { field: 'response_format', generator: this.fallback.model },
      );
    }
    return StructuredFormat.compile(request.response_format!, this.backend.config.compat);
  }

  /** Answers without a generated object still carry the field, so a client can always read `structured`. */
  private withStructured(response: AnswerResponse, format: StructuredFormat | undefined): AnswerResponse {
    return format ? { ...response, structured: null } : response;
  }

  /**
   * The object from the LLM (one repair call at most; a 422 when both replies fail the schema). No
   * extractive fallback: quoted sentences cannot fill a schema, so a failing LLM is a 503.
   */
  private async answerStructured(r: Retrieved, format: StructuredFormat, start: number, signal?: AbortSignal): Promise<AnswerResponse> {
    const genStart = performance.now();
    // Structured output always goes to the strong model: the difficulty rule judges prose answers.
    const generator = this.generator!;
    const input = {
      question: r.request.question,
      context: r.context,
      signal,
      questionVector: r.questionVector,
      overrides: this.generationOverrides(r, generator),
    };
    let generation: Awaited<ReturnType<typeof generateStructured>>;
    try {
      generation = await generateStructured(generator, input, format);
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      throw new RaglineError('upstream_unavailable', `structured output needs the LLM, and the LLM failed: ${err.message}`, {
        reason: err.reason,
      });
    }
    const cited = citeStructured(generation.value, r.context, r.request.question);
    const text = JSON.stringify(cited.value);
    const response = this.finish(
      r,
      start,
      genStart,
      { text, usage: generation.usage, model: generation.model, generator },
      { text, citations: cited.citations, strippedMarkers: cited.strippedMarkers },
    );
    return this.withholdIfBlocked({ ...response, structured: cited.value }, this.guardrails.blocklist.check(text));
  }

  private fallbackFor(err: ProviderError, question: string): NonNullable<AnswerResponse['fallback']> {
    logger.warn(
      { provider: this.generator?.provider, reason: err.reason, err: err.message, question: question.slice(0, 80) },
      'LLM unavailable: extractive answer',
    );
    return { reason: err.reason, message: err.message };
  }

  private notCovered(r: Retrieved, start: number): AnswerResponse {
    logger.info({ confidence: r.confidence, hits: r.hits.length }, 'answer refused: retrieval found nothing relevant enough');
    return {
      answer: NOT_COVERED,
      kind: 'not_covered',
      citations: [],
      chunks: r.chunks,
      usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 },
      model: null,
      promptVersion: null,
      timings: { retrievalMs: r.retrievalMs, generationMs: 0, totalMs: ms(start), search: r.search },
      grounded: false,
      confidence: r.confidence,
      strippedMarkers: [],
      suspiciousChunks: r.suspiciousChunks,
      questionFlag: r.questionFlag,
    };
  }

  /** The answer to a question the screen flagged, when questions that look like injection are refused. */
  private refuseQuestion(flag: InjectionMatch, start: number): AnswerResponse {
    logger.warn({ patterns: flag.patterns }, 'answer refused: the question looks like prompt injection');
    return {
      answer: REFUSED_QUESTION,
      kind: 'refused',
      citations: [],
      chunks: [],
      usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 },
      model: null,
      promptVersion: null,
      timings: { retrievalMs: 0, generationMs: 0, totalMs: ms(start), search: null },
      grounded: false,
      confidence: { bestDenseSimilarity: null, bm25Matched: false, minDenseSimilarity: this.minDenseSimilarity },
      strippedMarkers: [],
      suspiciousChunks: [],
      questionFlag: flag,
      refusal: questionRefusal(flag),
    };
  }

  /** An answer that matched the output blocklist is replaced by a refusal; its usage (tokens were spent) stays. */
  private withholdIfBlocked(response: AnswerResponse, matched: string[]): AnswerResponse {
    if (!matched.length) return response;
    logger.warn({ matched: matched.length }, 'answer withheld: it matched the output blocklist');
    const withheld = {
      ...response,
      answer: BLOCKED_ANSWER,
      kind: 'refused' as const,
      citations: [],
      grounded: false,
      refusal: blocklistRefusal(matched),
    };
    return response.structured === undefined ? withheld : { ...withheld, structured: null };
  }

  /** PII redaction of what the caller sees (answer, chunk texts, quotes), when configured. */
  private present<T extends Pick<AnswerResponse, 'answer' | 'chunks' | 'citations'>>(response: T): T {
    const options = this.guardrails.redaction;
    if (!options) return response;
    return {
      ...response,
      answer: redact(response.answer, options),
      chunks: response.chunks.map((c) => ({ ...c, text: redact(c.text, options) })),
      citations: response.citations.map((c) => ({ ...c, quote: redact(c.quote, options) })),
      ...('structured' in response && response.structured
        ? { structured: mapStrings(response.structured, (t) => redact(t, options)) }
        : {}),
    };
  }

  private finish(
    r: Retrieved,
    start: number,
    genStart: number,
    generation: {
      text: string;
      usage: TokenUsage;
      model: string;
      generator: Generator;
      fallback?: AnswerResponse['fallback'];
      routing?: Omit<RoutingChoice, 'strongCostUsd'>;
    },
    verified: ReturnType<typeof verifyCitations>,
  ): AnswerResponse {
    const extractive = generation.generator === this.fallback;
    const promptVersion =
      generation.generator instanceof OpenAIChatGenerator
        ? generation.generator.promptVersionFor(
            r.overrides.generation?.promptVersion ? { promptVersion: r.overrides.generation.promptVersion } : undefined,
          )
        : generation.generator.promptVersion;
    const declined = verified.text.includes(NOT_COVERED) && !verified.citations.length;
    const response: AnswerResponse = {
      answer: verified.text,
      kind: declined ? 'not_covered' : extractive ? 'extractive' : 'generated',
      citations: verified.citations,
      chunks: r.chunks,
      usage: { ...generation.usage, costUsd: costUsd(generation.model, generation.usage, this.prices) },
      model: generation.model,
      promptVersion,
      timings: { retrievalMs: r.retrievalMs, generationMs: ms(genStart), totalMs: ms(start), search: r.search },
      grounded: verified.citations.length > 0,
      confidence: r.confidence,
      strippedMarkers: verified.strippedMarkers,
      suspiciousChunks: r.suspiciousChunks,
      questionFlag: r.questionFlag,
    };
    if (generation.fallback) response.fallback = generation.fallback;
    if (generation.routing) {
      response.routing = { ...generation.routing, strongCostUsd: costUsd(generation.routing.strongModel, generation.usage, this.prices) };
    }
    logger.info(
      {
        model: response.model,
        promptVersion: response.promptVersion,
        kind: response.kind,
        grounded: response.grounded,
        fallback: response.fallback?.reason,
        strippedMarkers: response.strippedMarkers.length,
        suspiciousChunks: response.suspiciousChunks.length,
        totalMs: response.timings.totalMs,
      },
      'answered',
    );
    return response;
  }
}

function toAnswerChunk(hit: SearchHit, marker: number): AnswerChunk {
  const c = hit.chunk;
  return {
    ...chunkReference(marker, c),
    pageEnd: c.pageEnd,
    headingPath: c.headingPath,
    updatedAt: c.updatedAt,
    score: hit.score,
    denseScore: hit.explanation.denseScore,
    bm25Rank: hit.explanation.bm25Rank,
    denseRank: hit.explanation.denseRank,
    bm25Score: hit.explanation.bm25Score,
    text: c.text,
  };
}

/** The small model's generator when routing is configured (`routing.smallModel`), on its own endpoint and breaker. */
export function smallGeneratorFromConfig(config: Config): OpenAIChatGenerator | undefined {
  const r = config.routing;
  if (!r.smallModel) return undefined;
  const options = chatOptionsFromConfig(config);
  return new OpenAIChatGenerator({
    ...options,
    model: r.smallModel,
    baseURL: r.smallBaseUrl ?? options.baseURL,
    apiKey: r.smallApiKey ?? options.apiKey,
  });
}

/** The price table with the routing section's explicit prices for the strong and small models laid over it. */
function routingPrices(config: Config, strongModel: string | undefined, smallModel: string | undefined): Prices {
  const r = config.routing;
  const prices: Prices = { ...config.answer.prices };
  const lay = (model: string | undefined, input: number | undefined, output: number | undefined) => {
    if (!model || (input === undefined && output === undefined)) return;
    const known = prices[model];
    prices[model] = { inputPerMTok: input ?? known?.inputPerMTok ?? 0, outputPerMTok: output ?? known?.outputPerMTok ?? 0 };
  };
  lay(strongModel, r.strongInputPerMTok, r.strongOutputPerMTok);
  lay(smallModel, r.smallInputPerMTok, r.smallOutputPerMTok);
  return prices;
}
