import type { Context, MiddlewareHandler } from 'hono';
import { RaglineError } from '../../core/errors.ts';
import { errorResponse } from '../http-errors.ts';
import { type EventLoopDelay, processEventLoopDelay } from './event-loop-delay.ts';

/** Routes whose work is bounded together: each class has its own count of requests in flight. */
export type RouteClass = 'search' | 'answer' | 'upload';

export interface LoadSheddingOptions {
  /** Most requests of each class in flight at once; 0 leaves the class unbounded. */
  maxInFlight: Record<RouteClass, number>;
  retryAfterSeconds: number;
  /**
   * Shed a bounded class's new requests while it has requests in flight and the event loop has
   * recently been this many ms late; 0 turns the rule off. See loadShedding().
   */
  maxEventLoopDelayMs?: number;
  /** Where the delay is read; the process's own monitor unless a test passes another. */
  eventLoopDelay?: EventLoopDelay;
}

/** Why a request was shed, in the 503's details. */
export type ShedReason = 'in_flight' | 'event_loop_delay';

const CLASS_BY_ROUTE: [RegExp, RouteClass][] = [
  [/^\/v1\/collections\/[^/]+\/search\/?$/, 'search'],
  [/^\/v1\/collections\/[^/]+\/answer\/?$/, 'answer'],
  [/^\/v1\/chat\/completions\/?$/, 'answer'],
  [/^\/v1\/collections\/[^/]+\/documents\/?$/, 'upload'],
];

export function routeClassOf(method: string, path: string): RouteClass | undefined {
  if (method !== 'POST') return undefined;
  return CLASS_BY_ROUTE.find(([pattern]) => pattern.test(path))?.[1];
}

export interface LoadShedding {
  /**
   * The first /v1 middleware: a request of a class that is already full is answered 503 here,
   * before auth and the rate limit, whose key lookups and counters wait on the database or Redis
   * — behind the very requests that filled the class. The answer names only the route class and
   * its bound, the same for every tenant and client, so nothing is revealed before auth runs.
   */
  early: MiddlewareHandler;
  /**
   * After auth and the rate limit: takes a slot (shedding after all if the class filled up while
   * the request was authenticated) and holds it until the response, or its event stream, ends.
   */
  reserve: MiddlewareHandler;
}

/**
 * Answers 503 with Retry-After at once when a route class already has its maximum of requests in
 * flight, instead of queueing them: a saturated replica stays fast for the requests it accepted,
 * and clients (or the load balancer) retry elsewhere or later. A streamed answer stays in flight
 * until its event stream ends.
 */
export function loadShedding(options: LoadSheddingOptions): LoadShedding {
  const inFlight: Record<RouteClass, number> = { search: 0, answer: 0, upload: 0 };
  const maxDelayMs = options.maxEventLoopDelayMs ?? 0;
  const delay = maxDelayMs > 0 ? (options.eventLoopDelay ?? processEventLoopDelay()) : undefined;
  const bounded = (c: Context): { routeClass: RouteClass; limit: number } | undefined => {
    const routeClass = routeClassOf(c.req.method, c.req.path);
    const limit = routeClass ? options.maxInFlight[routeClass] : 0;
    return routeClass && limit ? { routeClass, limit } : undefined;
  };
  /**
   * A late event loop means everything queued behind it, 503s included, waits: past the delay
   * bound a class stops taking new work until the loop catches up. Only while the class has
   * requests in flight, so a replica whose loop is slowed by something else (another process,
   * a snapshot being written) still serves one request at a time rather than none.
   */
  const refusal = (routeClass: RouteClass, limit: number): { reason: ShedReason; delayMs?: number } | undefined => {
    if (inFlight[routeClass] >= limit) return { reason: 'in_flight' };
    if (!delay || inFlight[routeClass] === 0) return undefined;
    const delayMs = delay.recentMs();
    return delayMs > maxDelayMs ? { reason: 'event_loop_delay', delayMs } : undefined;
  };
  const shed = (c: Context, routeClass: RouteClass, limit: number, why: { reason: ShedReason; delayMs?: number }) => {
    c.header('Retry-After', String(options.retryAfterSeconds));
    const cause =
      why.reason === 'in_flight'
        ? `too many ${routeClass} requests in flight (at most ${limit})`
        : `the server is ${Math.round(why.delayMs ?? 0)} ms behind (at most ${maxDelayMs}) with ${routeClass} requests in flight`;
    return errorResponse(
      c,
      new RaglineError('overloaded', `${cause}; retry after ${options.retryAfterSeconds} s`, {
        routeClass,
        reason: why.reason,
        maxInFlight: limit,
        ...(why.reason === 'event_loop_delay' ? { maxEventLoopDelayMs: maxDelayMs } : {}),
        retryAfterSeconds: options.retryAfterSeconds,
      }),
    );
  };
  const early: MiddlewareHandler = (c, next) => {
    const route = bounded(c);
    const why = route && refusal(route.routeClass, route.limit);
    if (route && why) return Promise.resolve(shed(c, route.routeClass, route.limit, why));
    return next();
  };
  const reserve: MiddlewareHandler = async (c, next) => {
    const route = bounded(c);
    if (!route) return next();
    const { routeClass, limit } = route;
    const why = refusal(routeClass, limit);
    if (why) return shed(c, routeClass, limit, why);
    inFlight[routeClass] += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight[routeClass] -= 1;
    };
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
    if (!releaseWithStream(c, release)) release();
  };
  return { early, reserve };
}

/** For an event stream, moves the release to the end of the body (finished, failed or cancelled). */
function releaseWithStream(c: Context, release: () => void): boolean {
  const res = c.res;
  if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return false;
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  c.res = undefined;
  c.res = new Response(body, res);
  return true;
}
