import { loadTemplate, ANSWER_PROMPT_VERSIONS, type AnswerPromptVersion } from '../answer/prompts/index.ts';
import {
  costUsd,
  type AnswerEvent,
  type AnswerRequest,
  type AnswerRequestInput,
  type AnswerResponse,
  type AnswerService,
  type CondensedWithCost,
} from '../answer/service.ts';
import { StructuredOutputError } from '../answer/structured.ts';
import { RaglineError, errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { SearchHit, SearchRequestInput, SearchResponse } from '../retrieval/types.ts';
import type { Trace, TraceStages } from '../store/ledger.ts';
import type { Collection, CollectionRef } from '../store/types.ts';
import { answerCacheKey, type AnswerCache } from './answer-cache.ts';
import type { AnswerOverrides } from '../answer/collection-config.ts';
import { CollectionConfigs, NO_CONFIG, type AppliedConfig, type ConfiguredRequest } from './configs.ts';
import type { RequestLedger } from './ledger.ts';
import type { Ragline } from './ragline.ts';

/** Who asked and under which id: the API fills it from the principal, the CLI with its own id. */
export interface RequestContext {
  requestId: string;
  tenantId: string | null;
  keyId: string | null;
}

export type CacheStatus = 'hit' | 'miss' | 'off';
/**
 * The collection a request is about: already resolved, a name or id in the default tenant, or a
 * resolver the route supplies (tenant and key scoping) so that its failures are traced too.
 */
export type CollectionSource = CollectionRef | (() => Promise<Collection>);

export type TracedAnswer = AnswerResponse & { requestId: string; cache: CacheStatus };
/** Sees every completed answer (also cache hits and streams); must not throw or block (handoffs hang here). */
export type AnswerObserver = (ctx: RequestContext, collection: Collection, request: AnswerRequest, response: AnswerResponse) => void;
export type TracedSearch = SearchResponse & { requestId: string };

const round = (n: number) => Math.round(n * 10) / 10;

function promptHash(version: string | null): string | null {
  if (!version || !(ANSWER_PROMPT_VERSIONS as readonly string[]).includes(version)) return null;
  return loadTemplate(version as AnswerPromptVersion).hash;
}

function tracedHits(hits: { chunk: { id: string }; explanation: SearchHit['explanation'] }[]) {
  return hits.map((h) => ({
    chunkId: h.chunk.id,
    denseRank: h.explanation.denseRank,
    denseScore: h.explanation.denseScore,
    bm25Rank: h.explanation.bm25Rank,
    bm25Score: h.explanation.bm25Score,
    fusedScore: h.explanation.fusedScore,
  }));
}

function searchStages(t: SearchResponse['timings']): TraceStages {
  return {
    embedMs: round(t.embedMs),
    denseMs: round(t.denseMs),
    bm25Ms: round(t.bm25Ms),
    fuseMs: round(t.fuseMs),
    loadMs: round(t.loadMs),
  };
}

/** `answered`, `not_covered` or `fallback:<reason>`, from what the answer says about itself. */
export function answerOutcome(r: Pick<AnswerResponse, 'kind' | 'fallback'>): string {
  if (r.fallback) return `fallback:${r.fallback.reason}`;
  return r.kind === 'not_covered' ? 'not_covered' : 'answered';
}

/**
 * Search and answer with a trace for every request (also failed ones) and the answer cache in
 * front of the answer service. Listeners (metrics) see each trace as it is recorded.
 */
export class TracedQueries {
  private readonly listeners: ((trace: Trace) => void)[] = [];
  /** Collection configs and experiments (docs/experiments.md); absent without a SQL store. */
  readonly configs: CollectionConfigs | undefined;
  private readonly answerObservers: AnswerObserver[] = [];

  constructor(
    readonly ragline: Ragline,
    readonly answers: AnswerService,
    readonly ledger: RequestLedger | undefined,
    readonly cache: AnswerCache | undefined,
  ) {
    this.configs = CollectionConfigs.for(ragline.store);
  }

  onTrace(listener: (trace: Trace) => void): void {
    this.listeners.push(listener);
  }

  onAnswer(observer: AnswerObserver): void {
    this.answerObservers.push(observer);
  }

  private answered(ctx: RequestContext, collection: Collection, request: AnswerRequest, response: AnswerResponse): void {
    for (const observe of this.answerObservers) {
      try {
        observe(ctx, collection, request, response);
      } catch (err) {
        logger.warn({ err: errorMessage(err), requestId: ctx.requestId }, 'answer observer failed');
      }
    }
  }

  async search(ctx: RequestContext, collectionRef: CollectionSource, input: SearchRequestInput): Promise<TracedSearch> {
    const started = performance.now();
    const base = this.baseTrace(ctx, 'search', typeof input?.query === 'string' ? input.query : '');
    try {
      const collection = await this.resolve(collectionRef);
      Object.assign(base, collectionFields(collection));
      const configured = await this.configure(ctx, collection, input, 'search');
      Object.assign(base, configured.applied);
      const response = await this.ragline.search(collection, configured.input);
      this.record({
        ...base,
        settings: response.settings,
        retrieved: tracedHits(response.hits),
        stages: searchStages(response.timings),
        embedCostUsd: await this.embedCost(base.question, response.settings.mode),
        totalMs: round(response.timings.totalMs),
        outcome: 'answered',
      });
      return { ...response, requestId: ctx.requestId };
    } catch (err) {
      this.recordError(base, err, started);
      throw err;
    }
  }

  async answer(
    ctx: RequestContext,
    collectionRef: CollectionSource,
    input: AnswerRequestInput,
    signal?: AbortSignal,
    rewrite?: CondensedWithCost,
  ): Promise<TracedAnswer> {
    const started = performance.now();
    const base = this.baseTrace(ctx, 'answer', typeof input?.question === 'string' ? input.question : '');
    const record = (trace: Trace) => this.record(withRewrite(trace, rewrite));
    try {
      const { request, collection, key, cached, overrides } = await this.prepare(ctx, collectionRef, input, base);
      if (cached) {
        record(this.answerTrace(base, cached, { cacheHit: true, totalMs: performance.now() - started }));
        this.answered(ctx, collection, request, cached);
        return { ...cached, requestId: ctx.requestId, cache: 'hit' };
      }
      const response = await this.answers.answer(collection, request, signal, overrides);
      if (key && !response.fallback) await this.cache!.set(key, response);
      record(this.answerTrace(base, response, { cacheHit: false, embedCostUsd: await this.embedCost(request.question, request.mode) }));
      this.answered(ctx, collection, request, response);
      return { ...response, requestId: ctx.requestId, cache: key ? 'miss' : 'off' };
    } catch (err) {
      this.recordError(base, err, started, rewrite);
      throw err;
    }
  }

  /** The answer service's events, from the cache when the answer is there; `done` carries requestId and cache. */
  async *stream(
    ctx: RequestContext,
    collectionRef: CollectionSource,
    input: AnswerRequestInput,
    signal?: AbortSignal,
    rewrite?: CondensedWithCost,
  ): AsyncGenerator<AnswerEvent> {
    const started = performance.now();
    const base = this.baseTrace(ctx, 'answer', typeof input?.question === 'string' ? input.question : '');
    const record = (trace: Trace) => this.record(withRewrite(trace, rewrite));
    let finished = false;
    try {
      const { request, collection, key, cached, overrides } = await this.prepare(ctx, collectionRef, input, base);
      if (cached) {
        const { chunks, ...done } = cached;
        yield {
          event: 'retrieval',
          data: { chunks, confidence: cached.confidence, suspiciousChunks: cached.suspiciousChunks, questionFlag: cached.questionFlag },
        };
        yield { event: 'token', data: { delta: cached.answer } };
        record(this.answerTrace(base, cached, { cacheHit: true, totalMs: performance.now() - started }));
        this.answered(ctx, collection, request, cached);
        finished = true;
        yield { event: 'done', data: Object.assign(done, { requestId: ctx.requestId, cache: 'hit' as CacheStatus }) };
        return;
      }
      let chunks: AnswerResponse['chunks'] = [];
      let firstTokenMs: number | undefined;
      for await (const event of this.answers.stream(collection, request, signal, overrides)) {
        if (event.event === 'retrieval') chunks = event.data.chunks;
        if (event.event === 'token') firstTokenMs ??= performance.now() - started;
        if (event.event !== 'done') {
          yield event;
          continue;
        }
        const response: AnswerResponse = { ...event.data, chunks };
        if (key && !response.fallback) await this.cache!.set(key, response);
        record(
          this.answerTrace(base, response, {
            cacheHit: false,
            firstTokenMs,
            embedCostUsd: await this.embedCost(request.question, request.mode),
          }),
        );
        this.answered(ctx, collection, request, response);
        finished = true;
        yield {
          event: 'done',
          data: Object.assign({}, event.data, { requestId: ctx.requestId, cache: (key ? 'miss' : 'off') as CacheStatus }),
        };
      }
    } catch (err) {
      if (!finished) this.recordError(base, err, started, rewrite);
      throw err;
    }
  }

  /** Validates, resolves the collection (filling the trace) and looks the answer up in the cache. */
  private resolve(source: CollectionSource): Promise<Collection> {
    return typeof source === 'function' ? source() : this.ragline.collection(source);
  }

  private async prepare(ctx: RequestContext, collectionRef: CollectionSource, input: AnswerRequestInput, base: Trace) {
    this.answers.parse(input); // a bad request is a 400 before the collection is looked up
    const collection = await this.resolve(collectionRef);
    const configured = await this.configure(ctx, collection, input, 'answer');
    const request = this.answers.parse(configured.input);
    Object.assign(base, collectionFields(collection), configured.applied, { settings: this.settingsOf(request) });
    const key = this.cacheKey(ctx, collection, request, configured);
    const cached = key ? await this.cache!.get(key) : undefined;
    return { request, collection, key, cached, overrides: configured.overrides };
  }

  /** The request with the collection config it runs under (named, experiment variant or active) folded in. */
  private configure<T>(
    ctx: RequestContext,
    collection: Collection,
    input: T,
    kind: 'search' | 'answer',
  ): Promise<ConfiguredRequest<T>> | ConfiguredRequest<T> {
    if (!this.configs) return { input, overrides: {} as AnswerOverrides, applied: NO_CONFIG };
    return this.configs.forRequest(collection, input, ctx.keyId, kind);
  }

  private cacheKey(
    ctx: RequestContext,
    collection: Collection,
    request: AnswerRequest,
    configured: { applied: AppliedConfig; overrides: AnswerOverrides },
  ): string | undefined {
    if (!this.cache) return undefined;
    // The end user only picks the variant; the variant's settings are what shape the answer.
    const { question, stream: _s, user: _u, ...settings } = request;
    return answerCacheKey({
      tenantId: ctx.tenantId ?? '',
      collectionId: collection.id,
      collectionVersion: collection.version,
      question,
      settings: {
        ...settings,
        ...this.answers.identity,
        config: configured.applied.configName,
        configVersion: configured.applied.configVersion,
        overrides: configured.overrides,
      },
      promptVersion: configured.overrides.generation?.promptVersion ?? this.answers.identity.promptVersion,
    });
  }

  private settingsOf(request: AnswerRequest): Record<string, unknown> {
    const { question: _q, stream, ...settings } = request;
    return { ...settings, stream };
  }

  private baseTrace(ctx: RequestContext, kind: Trace['kind'], question: string): Trace {
    return {
      id: ctx.requestId,
      createdAt: new Date().toISOString(),
      kind,
      tenantId: ctx.tenantId,
      keyId: ctx.keyId,
      collectionId: null,
      collectionName: null,
      collectionVersion: null,
      question: question.slice(0, 20_000),
      settings: {},
      retrieved: [],
      promptVersion: null,
      promptHash: null,
      model: null,
      tokensIn: 0,
      tokensOut: 0,
      costUsd: null,
      embedCostUsd: null,
      stages: {},
      totalMs: 0,
      outcome: 'answered',
      cacheHit: false,
    };
  }

  private answerTrace(
    base: Trace,
    r: AnswerResponse,
    extra: { cacheHit: boolean; totalMs?: number; firstTokenMs?: number; embedCostUsd?: number | null },
  ): Trace {
    const search = r.timings.search;
    // The service embeds the question before searching (search.embedMs is then ~0): the rest of
    // the retrieval time outside the search is that embedding.
    const embedMs = search ? r.timings.retrievalMs - search.totalMs + search.embedMs : r.timings.retrievalMs;
    const stages: TraceStages = extra.cacheHit
      ? {}
      : {
          ...(search ? searchStages(search) : {}),
          embedMs: round(Math.max(0, embedMs)),
          generateMs: round(r.timings.generationMs),
          ...(extra.firstTokenMs !== undefined ? { firstTokenMs: round(extra.firstTokenMs) } : {}),
        };
    return {
      ...base,
      retrieved: r.chunks.map((c) => ({
        chunkId: c.chunkId,
        denseRank: c.denseRank,
        denseScore: c.denseScore,
        bm25Rank: c.bm25Rank,
        bm25Score: c.bm25Score,
        fusedScore: c.score,
      })),
      promptVersion: r.promptVersion,
      promptHash: promptHash(r.promptVersion),
      model: r.model,
      // A cache hit spent nothing.
      tokensIn: extra.cacheHit ? 0 : r.usage.promptTokens,
      tokensOut: extra.cacheHit ? 0 : r.usage.completionTokens,
      costUsd: extra.cacheHit ? 0 : r.usage.costUsd,
      embedCostUsd: extra.cacheHit ? 0 : (extra.embedCostUsd ?? null),
      stages,
      totalMs: round(extra.totalMs ?? r.timings.totalMs),
      outcome: answerOutcome(r),
      cacheHit: extra.cacheHit,
      routing: r.routing && !extra.cacheHit ? { ...r.routing } : null,
    };
  }

  /** USD for embedding the query: zero for the local model, from the price table for a remote one. */
  private async embedCost(question: string, mode: string): Promise<number | null> {
    if (mode === 'bm25') return 0;
    const { config } = this.ragline;
    if (config.embedding.provider === 'local') return 0;
    const embedder = await this.ragline.embedder();
    const tokens = embedder.tokenizer.count(question);
    return costUsd(embedder.modelId, { promptTokens: tokens, completionTokens: 0 }, config.answer.prices);
  }

  /**
   * A request refused before it reached search or answer (malformed or invalid body). Its trace is
   * bounded whatever was sent: the question (or query) cut short, the first few issues, no body.
   */
  recordRejected(ctx: RequestContext, kind: Trace['kind'], err: unknown, refused: { body: unknown; collection: string }): void {
    const field = kind === 'search' ? 'query' : 'question';
    const sent = (refused.body as Record<string, unknown> | null | undefined)?.[field];
    const base = this.baseTrace(ctx, kind, typeof sent === 'string' ? sent.slice(0, REJECTED_QUESTION_CHARS) : '');
    base.settings = { collection: refused.collection.slice(0, REJECTED_FIELD_CHARS), issues: rejectionIssues(err) };
    this.recordError(base, err, performance.now());
  }

  private recordError(base: Trace, err: unknown, started: number, rewrite?: CondensedWithCost): void {
    const code = err instanceof RaglineError ? err.code : 'internal';
    // A structured answer that failed validation twice still spent the tokens of both calls.
    const spent = err instanceof StructuredOutputError ? { tokensIn: err.usage.promptTokens, tokensOut: err.usage.completionTokens } : {};
    this.record(withRewrite({ ...base, ...spent, totalMs: round(performance.now() - started), outcome: `error:${code}` }, rewrite));
  }

  private record(trace: Trace): void {
    try {
      this.ledger?.record(trace);
      for (const listener of this.listeners) listener(trace);
    } catch (err) {
      logger.warn({ err: errorMessage(err), requestId: trace.id }, 'trace not recorded');
    }
  }
}

/**
 * A chat completion's question rewrite (answer/condense.ts) is part of the request: its tokens and
 * cost are added to the trace's, and `settings.condense` says how the question was made standalone
 * and what that call alone spent. Without a rewrite the trace is left as it is.
 */
function withRewrite(trace: Trace, rewrite: CondensedWithCost | undefined): Trace {
  if (!rewrite) return trace;
  const { promptTokens, completionTokens } = rewrite.usage;
  // A trace that spent nothing itself (a failure before generation) costs what the rewrite cost.
  const ownCost = trace.tokensIn + trace.tokensOut > 0 ? trace.costUsd : 0;
  const rewroteWithTokens = promptTokens + completionTokens > 0;
  const costUsd = !rewroteWithTokens
    ? trace.costUsd
    : ownCost === null || rewrite.costUsd === null
      ? null
      : round8(ownCost + rewrite.costUsd);
  return {
    ...trace,
    tokensIn: trace.tokensIn + promptTokens,
    tokensOut: trace.tokensOut + completionTokens,
    costUsd,
    settings: {
      ...trace.settings,
      condense: { method: rewrite.method, model: rewrite.model, promptTokens, completionTokens, costUsd: rewrite.costUsd },
    },
  };
}

const round8 = (n: number) => Math.round(n * 1e8) / 1e8;

/** What a refused request's trace keeps of it: enough to see why, bounded whatever the body was. */
const REJECTED_QUESTION_CHARS = 2_000;
const REJECTED_FIELD_CHARS = 200;
const REJECTED_MAX_ISSUES = 10;

function rejectionIssues(err: unknown): { path: string; message: string }[] {
  const issues = err instanceof RaglineError ? err.details?.issues : undefined;
  if (!Array.isArray(issues)) return [{ path: '', message: errorMessage(err).slice(0, REJECTED_FIELD_CHARS) }];
  return issues.slice(0, REJECTED_MAX_ISSUES).map((issue: { path?: unknown; message?: unknown }) => ({
    path: String(issue.path ?? '').slice(0, REJECTED_FIELD_CHARS),
    message: String(issue.message ?? '').slice(0, REJECTED_FIELD_CHARS),
  }));
}

function collectionFields(c: Collection): Pick<Trace, 'collectionId' | 'collectionName' | 'collectionVersion'> {
  return { collectionId: c.id, collectionName: c.name, collectionVersion: c.version };
}
