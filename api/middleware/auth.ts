import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { DEFAULT_TENANT_ID, hashKey } from '../../core/api-keys.ts';
import { RaglineError } from '../../core/errors.ts';
import type { TenancyStore } from '../../store/tenancy.ts';
import type { Principal } from '../principal.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** The API key the request authenticated with (absent when auth is off). */
    apiKey: string;
  }
}

/** Everyone is this when no key exists at all (the server then listens on loopback only). */
export const ANONYMOUS: Principal = { keyId: 'anonymous', tenantId: DEFAULT_TENANT_ID, role: 'admin', collections: null };

export interface KeyResolverOptions {
  /** RAGLINE_API_KEYS: admins of the default tenant, and the only keys that may manage tenants. */
  bootstrapKeys: string[];
  tenancy: TenancyStore;
}

type Resolution = { principal: Principal } | { error: string };

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Turns bearer tokens into principals: bootstrap keys by constant-time comparison of digests,
 * issued keys by their SHA-256 in SQL. Auth is on once any key exists; it never switches back off
 * while the process runs (revoking the last key does not open the server).
 */
export class KeyResolver {
  private readonly bootstrap: Buffer[];
  private keysSeen: boolean;

  constructor(private readonly options: KeyResolverOptions) {
    this.bootstrap = options.bootstrapKeys.map(digest);
    this.keysSeen = options.bootstrapKeys.length > 0;
  }

  async authRequired(): Promise<boolean> {
    if (!this.keysSeen) this.keysSeen = await this.options.tenancy.hasActiveKeys();
    return this.keysSeen;
  }

  async resolve(token: string): Promise<Resolution> {
    const presented = digest(token);
    const index = this.bootstrap.findIndex((known) => timingSafeEqual(known, presented));
    if (index >= 0)
      return { principal: { keyId: `bootstrap:${index + 1}`, tenantId: DEFAULT_TENANT_ID, role: 'admin', collections: null } };
    const record = await this.options.tenancy.findKeyByHash(hashKey(token));
    if (!record) return { error: 'invalid API key' };
    if (record.revokedAt) return { error: 'API key revoked' };
    return { principal: { keyId: record.id, tenantId: record.tenantId, role: record.role, collections: record.collections } };
  }
}

export function unauthorized(c: Context, message: string): Response {
  c.header('WWW-Authenticate', 'Bearer realm="ragline"');
  return c.json(new RaglineError('unauthorized', message, { header: 'Authorization' }).toJSON(), 401);
}

/** The bearer token of the request, undefined when there is no Authorization header, null when it is malformed. */
export function bearerToken(c: Context): string | undefined | null {
  const header = c.req.header('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * `Authorization: Bearer <key>` on /v1: sets `principal` (tenant, role, collections) for the
 * routes. Every failure is a 401 JSON error; with no key configured anywhere, callers are ANONYMOUS.
 */
export function apiKeyAuth(resolver: KeyResolver): MiddlewareHandler {
  return async (c, next) => {
    const token = bearerToken(c);
    if (token === undefined) {
      if (await resolver.authRequired()) return unauthorized(c, 'missing API key: send "Authorization: Bearer <key>"');
      // An embedding app (or a test) may already have narrowed who the caller is; open mode only fills the gap.
      if (!c.get('principal')) c.set('principal', ANONYMOUS);
      return next();
    }
    if (token === null) return unauthorized(c, 'malformed Authorization header: expected "Bearer <key>"');
    const resolved = await resolver.resolve(token);
    if ('error' in resolved) return unauthorized(c, resolved.error);
    c.set('principal', resolved.principal);
    c.set('apiKey', token);
    return next();
  };
}

/**
 * GET /metrics: open while no key exists (loopback-only server); otherwise the metrics token or
 * any admin key.
 */
export function metricsAuth(resolver: KeyResolver, metricsToken: string | undefined): MiddlewareHandler {
  const tokenDigest = metricsToken ? digest(metricsToken) : undefined;
  return async (c, next) => {
    if (!tokenDigest && !(await resolver.authRequired())) return next();
    const token = bearerToken(c);
    if (!token) return unauthorized(c, 'metrics need "Authorization: Bearer <metrics token or admin key>"');
    if (tokenDigest && timingSafeEqual(tokenDigest, digest(token))) return next();
    const resolved = await resolver.resolve(token);
    if ('principal' in resolved && resolved.principal.role === 'admin') return next();
    return unauthorized(c, 'invalid metrics token');
  };
}
