import { createHmac } from 'node:crypto';
import pRetry from 'p-retry';
import type { AnswerRequest, AnswerResponse } from '../answer/service.ts';
import type { Config } from '../core/config.ts';
import { RaglineError, errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { type Handoff, type HandoffReason, HandoffStore } from '../store/handoffs.ts';
import { SqlStore } from '../store/sql-store.ts';
import type { Collection, Store } from '../store/types.ts';
import type { RequestContext, TracedQueries } from './traced-queries.ts';

export type HandoffOptions = Config['handoffs'];

export const SIGNATURE_HEADER = 'X-Ragline-Signature';
export const TIMESTAMP_HEADER = 'X-Ragline-Timestamp';
export const DELIVERY_HEADER = 'X-Ragline-Handoff-Id';

/**
 * `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<raw body>`: signing the timestamp with the body
 * lets a receiver refuse old deliveries (replays) without trusting an unsigned header.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Why an answer goes to a person, or null when it does not. */
export function handoffReason(response: Pick<AnswerResponse, 'kind' | 'confidence'>, minConfidence: number): HandoffReason | null {
  if (response.kind === 'not_covered') return 'not_covered';
  if (response.kind === 'refused') return null;
  const best = response.confidence.bestDenseSimilarity;
  return best !== null && best < minConfidence ? 'low_confidence' : null;
}

export function handoffStoreFor(store: Store): HandoffStore {
  if (!(store instanceof SqlStore)) {
    throw new RaglineError('invalid_config', `the handoff queue needs a SQL store (PGlite or Postgres), not ${store.kind}`);
  }
  return new HandoffStore(store.db);
}

export interface HandoffDeps {
  /** Applied to the question before it is stored (the ledger's redaction hook). */
  redact?: (text: string) => string;
  /** The webhook's HTTP client; global fetch by default. */
  fetch?: typeof fetch;
}

/**
 * The human handoff queue: watches answers, records the ones a person should look at, and POSTs new
 * ones to the webhook with retries. Nothing here ever delays or fails the answer that raised it.
 */
export class Handoffs {
  private readonly pending = new Set<Promise<void>>();
  private deliveries = 0;
  private readonly redact: (text: string) => string;
  private readonly fetch: typeof fetch;

  constructor(
    readonly store: HandoffStore,
    readonly options: HandoffOptions,
    deps: HandoffDeps = {},
  ) {
    this.redact = deps.redact ?? ((text) => text);
    this.fetch = deps.fetch ?? fetch;
  }

  /** Hooks the queue onto every answer the traced queries give. */
  attach(queries: TracedQueries): this {
    if (this.options.enabled) queries.onAnswer((ctx, collection, request, response) => this.observe(ctx, collection, request, response));
    return this;
  }

  /** Records the answer in the background when it needs a person; returns at once. */
  observe(ctx: RequestContext, collection: Collection, request: AnswerRequest, response: AnswerResponse): void {
    const reason = handoffReason(response, this.options.minConfidence);
    if (!reason) return;
    this.track(
      this.raise(ctx, collection, request, response, reason).catch((err: unknown) =>
        logger.warn({ err: errorMessage(err), requestId: ctx.requestId }, 'handoff not recorded'),
      ),
    );
  }

  /** Resolves once every recording and delivery started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** Waits for work in flight, at most `graceMs`: a webhook still retrying keeps its row `pending`. */
  async close(graceMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([this.settled(), grace]);
    clearTimeout(timer);
  }

  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private async raise(
    ctx: RequestContext,
    collection: Collection,
    request: AnswerRequest,
    response: AnswerResponse,
    reason: HandoffReason,
  ): Promise<void> {
    let question: string;
    try {
      question = this.redact(request.question);
    } catch {
      question = '[redaction failed]';
    }
    const { handoff, created } = await this.store.record({
      tenantId: collection.tenantId,
      collectionId: collection.id,
      collectionName: collection.name,
      requestId: ctx.requestId,
      question,
      reason,
      confidence: response.confidence.bestDenseSimilarity,
      answer: response.answer.slice(0, 20_000),
      webhookState: this.options.webhookUrl ? 'pending' : 'none',
    });
    if (created && this.options.webhookUrl) await this.deliver(handoff);
  }

  /** POSTs the handoff, retrying with exponential backoff; the row records how it went. */
  private async deliver(handoff: Handoff): Promise<void> {
    const { webhookUrl, webhookSecret, webhookMaxAttempts, webhookRetryBaseMs, webhookTimeoutMs, webhookMaxPending } = this.options;
    if (this.deliveries >= webhookMaxPending) {
      await this.store.setWebhookState(handoff.id, 'dropped', 0, `more than ${webhookMaxPending} deliveries were in flight`);
      return;
    }
    this.deliveries++;
    const body = JSON.stringify({ type: 'handoff.created', handoff });
    let attempts = 0;
    try {
      await pRetry(
        async () => {
          attempts++;
          const timestamp = String(Math.floor(Date.now() / 1000));
          let res: Response;
          try {
            res = await this.fetch(webhookUrl!, {
              method: 'POST',
              headers: {
                'Content-Type': 'application/json',
                [TIMESTAMP_HEADER]: timestamp,
                [SIGNATURE_HEADER]: webhookSignature(webhookSecret!, timestamp, body),
                [DELIVERY_HEADER]: handoff.id,
              },
              body,
              redirect: 'error',
              signal: AbortSignal.timeout(webhookTimeoutMs),
            });
          } catch (err) {
            // A plain Error: p-retry gives up at once on TypeErrors it does not know as network errors.
            throw new Error(`webhook unreachable: ${errorMessage(err)}`);
          }
          await res.body?.cancel();
          if (!res.ok) throw new Error(`webhook answered ${res.status}`);
        },
        {
          retries: webhookMaxAttempts - 1,
          minTimeout: webhookRetryBaseMs,
          factor: 2,
          randomize: true,
          onFailedAttempt: ({ error, retriesLeft }) =>
            this.store.setWebhookState(handoff.id, retriesLeft > 0 ? 'pending' : 'failed', attempts, error.message),
        },
      );
      await this.store.setWebhookState(handoff.id, 'delivered', attempts, null);
    } catch (err) {
      logger.warn({ err: errorMessage(err), handoff: handoff.id, attempts }, 'handoff webhook gave up');
      await this.store.setWebhookState(handoff.id, 'failed', attempts, errorMessage(err));
    } finally {
      this.deliveries--;
    }
  }
}

/** The handoff queue in the store's database, as configured in `handoffs`, watching `queries`. */
export function openHandoffs(config: Config, store: Store, queries: TracedQueries, deps: HandoffDeps = {}): Handoffs {
  return new Handoffs(handoffStoreFor(store), config.handoffs, deps).attach(queries);
}
