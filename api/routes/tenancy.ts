import { Hono } from 'hono';
import { z } from 'zod';
import { RaglineError } from '../../core/errors.ts';
import { TENANT_ID_PATTERN } from '../../core/api-keys.ts';
import type { Tenancy } from '../../facade/tenancy.ts';
import { actorOf, isSuperAdmin, principalOf, requireRole, requireSuperAdmin } from '../access.ts';
import { readJson, readQuery } from '../http-errors.ts';
import type { Principal } from '../principal.ts';

const collectionName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'not a collection name');
const tenantId = z.string().regex(TENANT_ID_PATTERN, 'tenant ids are 1–63 lowercase letters, digits, "_" or "-"');

export const createKeySchema = z
  .object({
    role: z.enum(['admin', 'writer', 'reader']),
    collections: z.array(collectionName).min(1).max(100).optional(),
    label: z.string().trim().min(1).max(200).optional(),
    /** Only bootstrap keys may issue keys for another tenant. */
    tenant: tenantId.optional(),
  })
  .strict();

export const tenantScopeSchema = z.object({ tenant: tenantId.optional() }).strict();
export const createTenantSchema = z.object({ id: tenantId, name: z.string().trim().min(1).max(200).optional() }).strict();
export const settingsSchema = z.object({ requireDeleteApproval: z.boolean() }).strict();
export const auditQuerySchema = z
  .object({
    action: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export const deletionQuerySchema = z.object({ state: z.enum(['pending', 'approved', 'rejected']).optional() }).strict();

/** The tenant an admin acts on: their own, or any one for a bootstrap key that names it. */
function targetTenant(principal: Principal, requested: string | undefined): string {
  if (!requested || requested === principal.tenantId) return principal.tenantId;
  if (!isSuperAdmin(principal)) {
    throw new RaglineError('forbidden', 'only bootstrap keys may act on another tenant', { tenant: requested });
  }
  return requested;
}

/** /v1/keys, /v1/tenant(s), /v1/audit, /v1/deleted-collections, /v1/deletions: tenant administration. */
export function tenancyRoutes(tenancy: Tenancy): Hono {
  const app = new Hono();

  app.post('/keys', requireRole('admin'), async (c) => {
    const body = await readJson(c, createKeySchema);
    const tenant = (await tenancy.tenant(targetTenant(principalOf(c), body.tenant))).id;
    const { record, key } = await tenancy.createKey(actorOf(c), {
      tenantId: tenant,
      role: body.role,
      collections: body.collections ?? null,
      label: body.label ?? null,
    });
    return c.json({ ...record, key, tenant }, 201);
  });

  app.get('/keys', requireRole('admin'), async (c) => {
    const q = readQuery(c, tenantScopeSchema);
    return c.json({ keys: await tenancy.store.listKeys(targetTenant(principalOf(c), q.tenant)) });
  });

  app.delete('/keys/:keyId', requireRole('admin'), async (c) => {
    const q = readQuery(c, tenantScopeSchema);
    const revoked = await tenancy.revokeKey(actorOf(c), targetTenant(principalOf(c), q.tenant), c.req.param('keyId'));
    return c.json({ revoked: true, key: revoked });
  });

  app.post('/tenants', requireSuperAdmin, async (c) => {
    const body = await readJson(c, createTenantSchema);
    return c.json(await tenancy.createTenant(actorOf(c), body.id, body.name), 201);
  });

  app.get('/tenants', requireSuperAdmin, async (c) => c.json({ tenants: await tenancy.store.listTenants() }));

  app.get('/tenant', async (c) => c.json(await tenancy.tenant(principalOf(c).tenantId)));

  app.patch('/tenant', requireRole('admin'), async (c) => {
    const body = await readJson(c, settingsSchema);
    return c.json(await tenancy.updateSettings(actorOf(c), principalOf(c).tenantId, body));
  });

  app.get('/audit', requireRole('admin'), async (c) => {
    const q = readQuery(c, auditQuerySchema);
    return c.json({ entries: await tenancy.audit({ tenantId: principalOf(c).tenantId, ...q }), limit: q.limit, offset: q.offset });
  });

  app.get('/deleted-collections', requireRole('admin'), async (c) =>
    c.json({ collections: await tenancy.deletedCollections(principalOf(c).tenantId), restoreWindowDays: tenancy.restoreWindowDays }),
  );

  app.get('/deletions', requireRole('admin'), async (c) => {
    const q = readQuery(c, deletionQuerySchema);
    return c.json({ requests: await tenancy.store.listDeletionRequests(principalOf(c).tenantId, q.state) });
  });

  for (const [verb, approve] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    app.post(`/deletions/:requestId/${verb}`, requireRole('admin'), async (c) =>
      c.json(await tenancy.decideDeletion(actorOf(c), principalOf(c).tenantId, c.req.param('requestId'), approve)),
    );
  }

  return app;
}
