/**
 * Who is calling: set on the context by the auth middleware for every /v1 request, read by routes
 * (tenant scoping, roles), rate limits and the request ledger.
 */
export type Role = 'admin' | 'writer' | 'reader';

export interface Principal {
  /** The key's public id (never the secret); `bootstrap:<n>` for RAGLINE_API_KEYS, `anonymous` when auth is off. */
  keyId: string;
  tenantId: string;
  role: Role;
  /** Collection names this key may use; null means every collection of its tenant. */
  collections: string[] | null;
}

declare module 'hono' {
  interface ContextVariableMap {
    principal: Principal;
  }
}
