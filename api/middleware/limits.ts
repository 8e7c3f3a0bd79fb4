import type { Context, MiddlewareHandler } from 'hono';
import { RaglineError } from '../../core/errors.ts';
import type { TokenUsage } from '../../answer/types.ts';
import type { LimitState, RequestLimits } from '../limits/request-limits.ts';
import { clientAddress } from '../access.ts';
import { DEFAULT_TENANT_ID } from '../../core/api-keys.ts';
import type { Principal } from '../principal.ts';
import { ANONYMOUS } from './auth.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** Set on /answer by the token budget: the route calls it with the usage of each answer it completes. */
    chargeAnswerTokens: (usage: TokenUsage) => Promise<void>;
  }
}

/**
 * Who a limit counts against: the principal auth set. Keyless (open) servers call everyone
 * anonymous, so those callers are told apart by their socket address instead.
 */
export function limitIdentity(c: Context): Pick<Principal, 'keyId' | 'tenantId'> {
  const principal = c.get('principal');
  if (principal && principal.keyId !== ANONYMOUS.keyId) return { keyId: principal.keyId, tenantId: principal.tenantId };
  return { keyId: `ip:${clientAddress(c)}`, tenantId: principal?.tenantId ?? DEFAULT_TENANT_ID };
}

/** The IETF draft's separate fields (draft-ietf-httpapi-ratelimit-headers-06): limit, remaining, seconds to reset. */
function setRateLimitHeaders(c: Context, state: LimitState) {
  c.header('RateLimit-Limit', String(state.limit));
  c.header('RateLimit-Remaining', String(state.remaining));
  c.header('RateLimit-Reset', String(state.resetSeconds));
}

function refuse(c: Context, state: LimitState, message: string, unit: 'requests' | 'tokens' | 'failed authentications') {
  setRateLimitHeaders(c, state);
  c.header('Retry-After', String(state.resetSeconds));
  return c.json(
    new RaglineError('rate_limited', message, {
      scope: state.scope,
      unit,
      limit: state.limit,
      retryAfterSeconds: state.resetSeconds,
    }).toJSON(),
    429,
  );
}

const PER_SCOPE: Record<LimitState['scope'], string> = {
  key: 'this API key',
  tenant: 'this tenant',
  global: 'the server',
  address: 'this address',
};

/** Requests per key, per tenant and global; place after authentication. */
export function requestLimit(limits: RequestLimits): MiddlewareHandler {
  return async (c, next) => {
    const outcome = await limits.request(limitIdentity(c));
    if (!outcome.allowed) {
      const { state } = outcome;
      return refuse(c, state, `rate limit exceeded: at most ${state.limit} requests per minute for ${PER_SCOPE[state.scope]}`, 'requests');
    }
    setRateLimitHeaders(c, outcome.state);
    await next();
  };
}

/**
 * LLM tokens per minute on /answer, per key and per tenant: refuses a new answer once the window's
 * budget is spent, and lets the route charge what each answer used.
 */
export function answerTokenBudget(limits: RequestLimits): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const identity = limitIdentity(c);
    const budget = await limits.tokenBudget(identity);
    if (!budget.allowed) {
      const { state } = budget;
      return refuse(c, state, `LLM token budget spent: at most ${state.limit} tokens per minute for ${PER_SCOPE[state.scope]}`, 'tokens');
    }
    c.set('chargeAnswerTokens', (usage) => limits.chargeTokens(identity, usage.promptTokens + usage.completionTokens));
    await next();
  };
}

/**
 * Failed authentication per client address: place BEFORE the auth middleware. An address with too
 * many recent 401s is refused with 429 without reaching auth; each 401 that auth answers is counted.
 */
export function authFailureLimit(limits: RequestLimits): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c);
    const outcome = await limits.authFailuresExceeded(address);
    if (!outcome.allowed) {
      const { state } = outcome;
      return refuse(
        c,
        state,
        `too many failed authentications from ${PER_SCOPE.address}: try again in ${state.resetSeconds} s`,
        'failed authentications',
      );
    }
    await next();
    if (c.res.status === 401) await limits.recordAuthFailure(address);
  };
}
