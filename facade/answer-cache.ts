import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { AnswerResponse } from '../answer/service.ts';
import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { normalizeText } from '../core/normalize.ts';

/** Everything an answer depends on; two requests with equal parts get the same answer. */
export interface AnswerKeyParts {
  tenantId: string;
  collectionId: string;
  collectionVersion: number;
  question: string;
  /** Retrieval and generation settings (request fields, generator, model, thresholds). */
  settings: Record<string, unknown>;
  promptVersion: string;
}

/** Sorted keys, so two equal settings objects serialize identically. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** tenant:collection:version:hash — readable enough to find a collection's entries in Redis. */
export function answerCacheKey(p: AnswerKeyParts): string {
  const digest = createHash('sha256')
    .update(canonical({ q: normalizeText(p.question).toLowerCase(), s: p.settings, p: p.promptVersion }))
    .digest('hex')
    .slice(0, 32);
  return `${p.tenantId}:${p.collectionId}:${p.collectionVersion}:${digest}`;
}

/** Cached answers; failures of the backing store read as misses and never fail a request. */
export interface AnswerCache {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<AnswerResponse | undefined>;
  set(key: string, value: AnswerResponse): Promise<void>;
  close(): Promise<void>;
}

export class MemoryAnswerCache implements AnswerCache {
  readonly kind = 'memory';
  private readonly entries: LRUCache<string, AnswerResponse>;

  constructor(maxEntries: number, ttlSeconds: number) {
    this.entries = new LRUCache({ max: maxEntries, ttl: ttlSeconds * 1000 });
  }

  async get(key: string) {
    return this.entries.get(key);
  }

  async set(key: string, value: AnswerResponse) {
    this.entries.set(key, value);
  }

  async close() {
    this.entries.clear();
  }
}

/**
 * Answers in Redis, shared by every server process: one string per answer with a TTL. Stale
 * entries are never read, because the key carries the collection version; the TTL reclaims them.
 */
export class RedisAnswerCache implements AnswerCache {
  readonly kind = 'redis';
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {
    // While Redis is down a command fails after one reconnect attempt and the request goes on uncached.
    this.redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
    this.redis.on('error', (err: unknown) => logger.warn({ err: errorMessage(err) }, 'answer cache: Redis error'));
  }

  async get(key: string) {
    try {
      const raw = await this.redis.get(this.prefix + key);
      return raw ? (JSON.parse(raw) as AnswerResponse) : undefined;
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'answer cache read failed; answering uncached');
      return undefined;
    }
  }

  async set(key: string, value: AnswerResponse) {
    try {
      await this.redis.set(this.prefix + key, JSON.stringify(value), 'EX', this.ttlSeconds);
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'answer cache write failed');
    }
  }

  async close() {
    this.redis.disconnect();
  }
}

export function createAnswerCache(o: {
  answerCacheSize: number;
  answerCacheTtlSeconds: number;
  redisUrl?: string;
  redisKeyPrefix: string;
}): AnswerCache | undefined {
  if (!o.answerCacheSize) return undefined; // 0 turns the answer cache off, in Redis too
  if (o.redisUrl) return new RedisAnswerCache(o.redisUrl, `${o.redisKeyPrefix}answer:`, o.answerCacheTtlSeconds);
  return new MemoryAnswerCache(o.answerCacheSize, o.answerCacheTtlSeconds);
}
