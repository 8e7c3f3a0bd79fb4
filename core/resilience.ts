import { setTimeout as sleep } from 'node:timers/promises';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import CircuitBreaker from 'opossum';
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import { logger } from './logger.ts';

/**
 * The one place that decides how calls to an OpenAI-compatible provider are timed out, retried
 * and short-circuited. The SDK's own retries are disabled (maxRetries: 0) wherever this is used,
 * so a request is never retried by two layers at once.
 */

export interface ResiliencePolicy {
  /** Per attempt: the request is aborted after this long. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** First retry delay; each later one doubles, times a random factor in [1, 2) (jitter). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the call fails now (and the caller falls back). */
  maxRetryAfterMs: number;
}

/** Why a provider call failed; the answer endpoint reports it as `fallback.reason` (why the extractive answer replaced the LLM's). */
export type FallbackReason =
  | 'circuit_open'
  | 'timeout'
  | 'rate_limited'
  | 'upstream_error'
  | 'connection_error'
  | 'bad_response'
  | 'rejected';

/** A failed provider call, classified. `reason` is what the answer endpoint reports as `fallback.reason`. */
export class ProviderError extends Error {
  constructor(
    readonly reason: FallbackReason,
    message: string,
    readonly details: { status?: number; retryAfterMs?: number; retryable: boolean },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

/** Raised when the caller's own signal aborted the call (e.g. the HTTP client went away). */
export class CallAbortedError extends Error {
  constructor(cause?: unknown) {
    super('the request was cancelled', { cause });
    this.name = 'CallAbortedError';
  }
}

/** Retry-After as milliseconds: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers?.get('retry-after');
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Maps whatever the SDK threw to a ProviderError (or CallAbortedError when the caller cancelled). */
export function classify(err: unknown, context: { timedOut: boolean; callerAborted: boolean }): Error {
  if (err instanceof ProviderError || err instanceof CallAbortedError) return err;
  if (context.callerAborted) return new CallAbortedError(err);
  if (context.timedOut || err instanceof APIConnectionTimeoutError) {
    return new ProviderError('timeout', 'the provider did not answer in time', { retryable: false }, { cause: err });
  }
  if (err instanceof APIUserAbortError) {
    return new ProviderError('timeout', 'the provider call was aborted', { retryable: false }, { cause: err });
  }
  if (err instanceof APIConnectionError) {
    return new ProviderError('connection_error', `cannot reach the provider: ${err.message}`, { retryable: true }, { cause: err });
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const wait = retryAfterMs(err.headers);
    if (status === 429) {
      return new ProviderError(
        'rate_limited',
        `rate limited (429): ${err.message}`,
        { status, retryAfterMs: wait, retryable: true },
        { cause: err },
      );
    }
    if (status === 408 || status === 409 || status >= 500) {
      return new ProviderError(
        'upstream_error',
        `provider error ${status}: ${err.message}`,
        { status, retryAfterMs: wait, retryable: true },
        { cause: err },
      );
    }
    return new ProviderError(
      'rejected',
      `provider refused the request (${status}): ${err.message}`,
      { status, retryable: false },
      { cause: err },
    );
  }
  // undici reports a connection lost while reading the body as "TypeError: terminated".
  if (err instanceof TypeError && /terminated|fetch failed|socket/i.test(`${err.message} ${String(err.cause ?? '')}`)) {
    return new ProviderError('connection_error', `connection to the provider lost: ${err.message}`, { retryable: true }, { cause: err });
  }
  // A 200 whose body is not the JSON we expect (SyntaxError from the SDK, or our own shape checks).
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError('bad_response', `unusable response from the provider: ${message}`, { retryable: false }, { cause: err });
}

/** An AbortSignal that fires on the caller's signal or after `ms`, and says which one it was. */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private expired = false;
  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);

  constructor(
    private readonly ms: number,
    private readonly caller?: AbortSignal,
  ) {
    if (caller?.aborted) this.controller.abort(caller.reason);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.restart();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get timedOut(): boolean {
    return this.expired;
  }

  get callerAborted(): boolean {
    return this.caller?.aborted ?? false;
  }

  /** Starts the clock again: used as an idle timeout between streamed chunks. */
  restart(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new Error(`timed out after ${this.ms} ms`));
    }, this.ms);
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

export interface BreakerOptions {
  name: string;
  /** Calls in the rolling window before the error rate is looked at. */
  minRequests: number;
  resetMs: number;
  /**
   * Also open after this many failed calls in a row, however far apart: the error-rate rule alone
   * never fires under slow sequential traffic (each call against a hanging provider takes a timeout).
   */
  consecutiveFailures?: number;
}

type Action = () => Promise<unknown>;

/**
 * One breaker per provider. Request-specific refusals (400, 404, 422) and cancellations by the
 * caller say nothing about the provider's health, so they do not count as failures.
 */
export function createBreaker(options: BreakerOptions): CircuitBreaker<[Action], unknown> {
  const breaker = new CircuitBreaker<[Action], unknown>((action) => action(), {
    name: options.name,
    timeout: false, // each attempt has its own Deadline, which also aborts the socket
    errorThresholdPercentage: 50,
    volumeThreshold: options.minRequests,
    resetTimeout: options.resetMs,
    rollingCountTimeout: 10_000,
    enableSnapshots: false,
    errorFilter: (err: unknown) =>
      err instanceof CallAbortedError ||
      (err instanceof ProviderError && err.reason === 'rejected' && [400, 404, 422].includes(err.details.status ?? 0)),
  });
  if (options.consecutiveFailures) openAfterConsecutiveFailures(breaker, options.consecutiveFailures);
  breaker.on('open', () => logger.warn({ provider: options.name }, 'circuit opened: provider calls fail fast'));
  breaker.on('halfOpen', () => logger.info({ provider: options.name }, 'circuit half-open: trying the provider again'));
  breaker.on('close', () => logger.info({ provider: options.name }, 'circuit closed'));
  return breaker;
}

function openAfterConsecutiveFailures(breaker: CircuitBreaker<[Action], unknown>, limit: number): void {
  let inARow = 0;
  breaker.on('success', () => {
    inARow = 0;
  });
  breaker.on('open', () => {
    inARow = 0;
  });
  breaker.on('failure', () => {
    inARow += 1;
    if (inARow >= limit && !breaker.opened) breaker.open();
  });
}

function isOpenCircuit(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'EOPENBREAKER';
}

/**
 * Runs `attempt` with a per-attempt deadline, through the breaker, retrying retryable failures with
 * exponential backoff and jitter. A Retry-After header is honoured: the wait before the next attempt
 * is at least what the provider asked for.
 */
export async function callProvider<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  options: { policy: ResiliencePolicy; breaker: CircuitBreaker<[Action], unknown>; signal?: AbortSignal; label: string },
): Promise<T> {
  const { policy, breaker, signal, label } = options;
  const once = async (): Promise<T> => {
    const deadline = new Deadline(policy.timeoutMs, signal);
    try {
      return await attempt(deadline.signal);
    } catch (err) {
      throw classify(err, { timedOut: deadline.timedOut, callerAborted: deadline.callerAborted });
    } finally {
      deadline.clear();
    }
  };

  try {
    return await pRetry(
      async () => {
        try {
          return (await breaker.fire(once)) as T;
        } catch (err) {
          if (isOpenCircuit(err)) {
            throw new StopRetrying(
              new ProviderError('circuit_open', `${breaker.name}: circuit open, not calling the provider`, { retryable: false }),
            );
          }
          if (err instanceof CallAbortedError) throw new StopRetrying(err);
          throw err;
        }
      },
      {
        retries: policy.retries,
        minTimeout: policy.baseDelayMs,
        maxTimeout: policy.maxDelayMs,
        factor: 2,
        randomize: true,
        signal,
        shouldRetry: async ({ error, retriesConsumed }) => {
          if (!(error instanceof ProviderError) || !error.details.retryable) return false;
          const asked = error.details.retryAfterMs;
          if (asked !== undefined) {
            if (asked > policy.maxRetryAfterMs) return false;
            // p-retry is about to wait at least this long; sleep the difference so the total honours Retry-After.
            const backoffFloor = Math.min(policy.baseDelayMs * 2 ** retriesConsumed, policy.maxDelayMs);
            if (asked > backoffFloor) await sleep(asked - backoffFloor, undefined, { signal });
          }
          logger.info({ call: label, reason: error.reason, status: error.details.status, retryAfterMs: asked }, 'retrying provider call');
          return true;
        },
      },
    );
  } catch (err) {
    // p-retry rethrows the caller's abort reason as is when the signal fires between attempts.
    if (signal?.aborted && !(err instanceof CallAbortedError)) throw new CallAbortedError(err);
    throw err;
  }
}
