import type { MiddlewareHandler } from 'hono';

/** Sets the principal from X-Test-Key / X-Test-Tenant, standing in for the auth middleware in limit tests. */
export function testPrincipal(): MiddlewareHandler {
  return async (c, next) => {
    const keyId = c.req.header('x-test-key');
    if (keyId) c.set('principal', { keyId, tenantId: c.req.header('x-test-tenant') ?? 'default', role: 'admin', collections: null });
    await next();
  };
}
