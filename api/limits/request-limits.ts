import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../../core/config.ts';
import { logger } from '../../core/logger.ts';
import type { Principal } from '../principal.ts';

/**
 * Every rate limit of the API, as rate-limiter-flexible counters: in Redis when REDIS_URL is set
 * (shared by every server process), in process otherwise. When Redis is unreachable each counter
 * falls back to an in-process one (the library's insurance limiter) rather than refusing or
 * letting everything through.
 */
export type LimitScope = 'key' | 'tenant' | 'global' | 'address';

export interface LimitState {
  scope: LimitScope;
  limit: number;
  remaining: number;
  /** Seconds until the window of this counter resets. */
  resetSeconds: number;
}

export interface LimitOutcome {
  allowed: boolean;
  /** The counter closest to its limit (or the one that refused): what the RateLimit-* headers report. */
  state: LimitState;
}

interface Counter {
  scope: LimitScope;
  points: number;
  limiter: RateLimiterAbstract;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function stateOf(counter: Counter, res: RateLimiterRes | null): LimitState {
  const consumed = res?.consumedPoints ?? 0;
  return {
    scope: counter.scope,
    limit: counter.points,
    remaining: Math.max(0, counter.points - consumed),
    resetSeconds: res ? seconds(res.msBeforeNext) : seconds(counter.limiter.duration * 1000),
  };
}

export interface RequestLimitsSettings {
  keyRequestsPerMinute: number;
  limits: Config['rateLimits'];
}

export class RequestLimits {
  private readonly requests: Counter[];
  private readonly tokens: Counter[];
  private readonly authFailures: Counter;

  private constructor(
    settings: RequestLimitsSettings,
    private readonly redis: Redis | undefined,
  ) {
    const { limits } = settings;
    const counter = (scope: LimitScope, name: string, points: number, duration: number): Counter => {
      const options = { keyPrefix: `${limits.redisPrefix}:${name}`, points, duration };
      const limiter = redis
        ? new RateLimiterRedis({
            ...options,
            storeClient: redis,
            rejectIfRedisNotReady: true,
            insuranceLimiter: new RateLimiterMemory(options),
          })
        : new RateLimiterMemory(options);
      return { scope, points, limiter };
    };
    this.requests = [
      counter('key', 'req:key', settings.keyRequestsPerMinute, 60),
      counter('tenant', 'req:tenant', limits.tenantRequestsPerMinute, 60),
      counter('global', 'req:global', limits.globalRequestsPerMinute, 60),
    ];
    this.tokens = [
      counter('key', 'tok:key', limits.keyTokensPerMinute, 60),
      counter('tenant', 'tok:tenant', limits.tenantTokensPerMinute, 60),
    ];
    this.authFailures = counter('address', 'authfail', limits.authFailuresPerWindow, limits.authFailureWindowSeconds);
  }

  static fromConfig(config: Config): RequestLimits {
    const settings = { keyRequestsPerMinute: config.server.rateLimitPerMinute, limits: config.rateLimits };
    if (!config.redisUrl) return new RequestLimits(settings, undefined);
    // Fail fast while Redis is down (no offline queue, one try per command): the insurance limiter answers instead.
    const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'rate-limit Redis unavailable: counting in process'));
    return new RequestLimits(settings, redis);
  }

  /** Resolves once the Redis connection is ready (at once for in-process counters). */
  async ready(): Promise<void> {
    if (!this.redis || this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      this.redis!.once('ready', resolve);
      this.redis!.once('end', () => reject(new Error('Redis connection closed')));
    });
  }

  /**
   * One request: counts against the key, then the tenant, then the global limit, stopping at the
   * first that refuses (so a key over its own limit does not use up its tenant's).
   */
  async request(identity: { keyId: string; tenantId: string }): Promise<LimitOutcome> {
    const keys = [identity.keyId, identity.tenantId, 'all'];
    let closest: LimitState | undefined;
    for (const [i, counter] of this.requests.entries()) {
      try {
        const state = stateOf(counter, await counter.limiter.consume(keys[i]!));
        if (!closest || state.remaining / state.limit < closest.remaining / closest.limit) closest = state;
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, state: { ...stateOf(counter, err), remaining: 0 } };
        throw err;
      }
    }
    return { allowed: true, state: closest! };
  }

  /** Whether the key and its tenant still have LLM tokens left in this window (nothing is counted). */
  async tokenBudget(principal: Pick<Principal, 'keyId' | 'tenantId'>): Promise<LimitOutcome> {
    const keys = [principal.keyId, principal.tenantId];
    let closest: LimitState | undefined;
    for (const [i, counter] of this.tokens.entries()) {
      const state = stateOf(counter, await counter.limiter.get(keys[i]!));
      if (state.remaining <= 0) return { allowed: false, state };
      if (!closest || state.remaining / state.limit < closest.remaining / closest.limit) closest = state;
    }
    return { allowed: true, state: closest! };
  }

  /** Charges the tokens an answer used (prompt + completion) to the key and its tenant. */
  async chargeTokens(principal: Pick<Principal, 'keyId' | 'tenantId'>, tokens: number): Promise<void> {
    if (tokens <= 0) return;
    await Promise.all([
      this.tokens[0]!.limiter.penalty(principal.keyId, tokens),
      this.tokens[1]!.limiter.penalty(principal.tenantId, tokens),
    ]);
  }

  /** Whether this client address has had too many failed authentications in the window. */
  async authFailuresExceeded(address: string): Promise<LimitOutcome> {
    const state = stateOf(this.authFailures, await this.authFailures.limiter.get(address));
    return { allowed: state.remaining > 0, state };
  }

  async recordAuthFailure(address: string): Promise<void> {
    await this.authFailures.limiter.penalty(address, 1);
  }

  async close(): Promise<void> {
    if (this.redis && this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}
