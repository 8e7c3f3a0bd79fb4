import type { Context, MiddlewareHandler } from 'hono';
import { NO_TRUSTED_PROXIES, type TrustedProxies, resolveClientAddress } from '../core/client-address.ts';
import { RaglineError, notFound } from '../core/errors.ts';
import type { Actor } from '../facade/tenancy.ts';
import type { Ragline } from '../facade/ragline.ts';
import type { Collection } from '../store/types.ts';
import { ANONYMOUS } from './middleware/auth.ts';
import type { Principal, Role } from './principal.ts';

const RANK: Record<Role, number> = { reader: 0, writer: 1, admin: 2 };

/** The caller; ANONYMOUS (admin of the default tenant) when auth is off and nothing set one. */
export function principalOf(c: Context): Principal {
  return c.get('principal') ?? ANONYMOUS;
}

/** Bootstrap keys (RAGLINE_API_KEYS) and the keyless local server may manage tenants; issued keys never can. */
export function isSuperAdmin(principal: Principal): boolean {
  return principal.keyId === ANONYMOUS.keyId || principal.keyId.startsWith('bootstrap:');
}

declare module 'hono' {
  interface ContextVariableMap {
    /** The client's address, resolved once per request through the trusted proxies (see clientAddressResolver). */
    clientAddress: string;
  }
}

/** The socket's peer address; in-process requests (tests, app.request) have none and are 'local'. */
function peerAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}

/**
 * Resolves the client's address for the rest of the request: X-Forwarded-For is believed only
 * from a trusted proxy (RAGLINE_TRUSTED_PROXIES), and then its right-most untrusted address wins.
 * Everything that asks "from where" (rate limits, audit, the keyless loopback guard) reads this.
 */
export function clientAddressResolver(trusted: TrustedProxies): MiddlewareHandler {
  return async (c, next) => {
    c.set('clientAddress', resolveClientAddress(peerAddress(c), c.req.header('x-forwarded-for'), trusted));
    await next();
  };
}

/** The client address clientAddressResolver set (the bare peer address where it did not run). */
export function clientAddress(c: Context): string {
  return c.get('clientAddress') ?? resolveClientAddress(peerAddress(c), undefined, NO_TRUSTED_PROXIES);
}

export function actorOf(c: Context): Actor {
  const principal = principalOf(c);
  return { keyId: principal.keyId, tenantId: principal.tenantId, client: clientAddress(c) };
}

const forbidden = (message: string, details: Record<string, unknown>) => new RaglineError('forbidden', message, details);

/** 403 unless the caller's role is at least `min` (reader < writer < admin). */
export function requireRole(min: Role): MiddlewareHandler {
  return async (c, next) => {
    const { role } = principalOf(c);
    if (RANK[role] < RANK[min]) throw forbidden(`this needs the ${min} role; the key is a ${role}`, { required: min, role });
    await next();
  };
}

export const requireSuperAdmin: MiddlewareHandler = async (c, next) => {
  if (!isSuperAdmin(principalOf(c))) {
    throw forbidden('managing tenants needs a bootstrap key (RAGLINE_API_KEYS)', { required: 'bootstrap', role: principalOf(c).role });
  }
  await next();
};

/** Whether a key limited to some collections may use this one. */
export function mayUse(principal: Principal, collection: Pick<Collection, 'name'>): boolean {
  return principal.collections === null || principal.collections.includes(collection.name);
}

/**
 * The collection within the caller's tenant; a collection outside the key's collections list is
 * "not found" exactly like one that does not exist, so a key learns nothing about the others.
 */
export async function scopedCollection(c: Context, ragline: Ragline, idOrName: string): Promise<Collection> {
  const principal = principalOf(c);
  const collection = await ragline.store.getCollection(idOrName, principal.tenantId);
  if (!collection || !mayUse(principal, collection)) throw notFound(`collection "${idOrName}" not found`, { collection: idOrName });
  return collection;
}

/**
 * scopedCollection for searches and answers: resolved from the in-memory directory, so a cached
 * answer costs no SQL round trip. Writes evict the directory, so the version is never older than
 * the last write this process saw.
 */
export async function scopedQueryCollection(c: Context, ragline: Ragline, idOrName: string): Promise<Collection> {
  const principal = principalOf(c);
  const collection = await ragline.collections.resolve(idOrName, principal.tenantId);
  if (!collection || !mayUse(principal, collection)) throw notFound(`collection "${idOrName}" not found`, { collection: idOrName });
  return collection;
}
