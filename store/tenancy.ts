import { UUID_PATTERN as UUID, issueKey } from '../core/api-keys.ts';
import { RaglineError, notFound } from '../core/errors.ts';
import type { LocalCollectionChanges } from './collection-changes.ts';
import { SqlStore } from './sql-store.ts';
import type { SqlExecutor } from './sql.ts';
import type { Store } from './types.ts';

export type KeyRole = 'admin' | 'writer' | 'reader';

export interface TenantSettings {
  /** Deleting a document with a writer key waits for an admin's approval. */
  requireDeleteApproval: boolean;
}

export interface Tenant {
  id: string;
  name: string;
  settings: TenantSettings;
  createdAt: string;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  role: KeyRole;
  collections: string[] | null;
  label: string | null;
  createdBy: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface AuditEntry {
  tenantId: string;
  actor: string;
  client: string;
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEntry> {
  id: number;
  at: string;
}

export interface DeletedCollection {
  id: string;
  name: string;
  tenantId: string;
  deletedAt: string;
}

export interface DeletionRequest {
  id: string;
  tenantId: string;
  kind: 'document';
  collectionId: string;
  targetId: string;
  requestedBy: string;
  state: 'pending' | 'approved' | 'rejected';
  decidedBy: string | null;
  createdAt: string;
  decidedAt: string | null;
}

const iso = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

function toTenant(r: Record<string, unknown>): Tenant {
  const settings = (r.settings as Partial<TenantSettings> | null) ?? {};
  return {
    id: String(r.id),
    name: String(r.name),
    settings: { requireDeleteApproval: settings.requireDeleteApproval === true },
    createdAt: iso(r.created_at)!,
  };
}

function toKey(r: Record<string, unknown>): ApiKeyRecord {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    role: r.role as KeyRole,
    collections: (r.collections as string[] | null) ?? null,
    label: (r.label as string | null) ?? null,
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: iso(r.created_at)!,
    revokedAt: iso(r.revoked_at),
  };
}

function toAudit(r: Record<string, unknown>): AuditRecord {
  return {
    id: Number(r.id),
    at: iso(r.at)!,
    tenantId: String(r.tenant_id),
    actor: String(r.actor),
    client: String(r.client),
    action: String(r.action),
    target: String(r.target),
    details: (r.details as Record<string, unknown>) ?? {},
  };
}

function toDeletionRequest(r: Record<string, unknown>): DeletionRequest {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    kind: 'document',
    collectionId: String(r.collection_id),
    targetId: String(r.target_id),
    requestedBy: String(r.requested_by),
    state: r.state as DeletionRequest['state'],
    decidedBy: (r.decided_by as string | null) ?? null,
    createdAt: iso(r.created_at)!,
    decidedAt: iso(r.decided_at),
  };
}

/**
 * Tenants, API keys (hashes only), the audit log, soft-deleted collections and deletion requests,
 * in the store's database. Every read and write of a tenant's rows names the tenant in SQL.
 */
export class TenancyStore {
  constructor(
    private readonly db: SqlExecutor,
    /** Where soft deletes and restores are announced to this process's caches. */
    private readonly localChanges?: LocalCollectionChanges,
  ) {}

  static forStore(store: Store): TenancyStore {
    if (!(store instanceof SqlStore)) throw new RaglineError('invalid_config', `tenancy needs a SQL store, not ${store.kind}`);
    return new TenancyStore(store.db, store.localChanges);
  }

  async createTenant(id: string, name: string): Promise<Tenant> {
    const { rows } = await this.db.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING *', [
      id,
      name,
    ]);
    if (!rows[0]) throw new RaglineError('conflict', `tenant "${id}" already exists`, { tenant: id });
    return toTenant(rows[0]);
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.db.query('SELECT * FROM tenants ORDER BY id')).rows.map(toTenant);
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const { rows } = await this.db.query('SELECT * FROM tenants WHERE id = $1', [id]);
    return rows[0] ? toTenant(rows[0]) : null;
  }

  async updateTenantSettings(id: string, settings: Partial<TenantSettings>): Promise<Tenant> {
    const { rows } = await this.db.query('UPDATE tenants SET settings = settings || $2::jsonb WHERE id = $1 RETURNING *', [
      id,
      JSON.stringify(settings),
    ]);
    if (!rows[0]) throw notFound(`tenant "${id}" not found`, { tenant: id });
    return toTenant(rows[0]);
  }

  /** Issues a key; the returned `key` is the only time the secret exists outside the caller. */
  async createKey(input: {
    tenantId: string;
    role: KeyRole;
    collections?: string[] | null;
    label?: string | null;
    createdBy?: string | null;
  }): Promise<{ record: ApiKeyRecord; key: string }> {
    if (!(await this.getTenant(input.tenantId))) throw notFound(`tenant "${input.tenantId}" not found`, { tenant: input.tenantId });
    const issued = issueKey();
    const { rows } = await this.db.query(
      `INSERT INTO api_keys (id, key_hash, tenant_id, role, collections, label, created_by)
       VALUES ($1, $2, $3, $4, $5::text[], $6, $7) RETURNING *`,
      [issued.id, issued.hash, input.tenantId, input.role, input.collections ?? null, input.label ?? null, input.createdBy ?? null],
    );
    return { record: toKey(rows[0]!), key: issued.key };
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    return (await this.db.query('SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id', [tenantId])).rows.map(toKey);
  }

  /** Revokes one of the tenant's keys; null when the tenant has no such key. Revoking twice keeps the first time. */
  async revokeKey(tenantId: string, id: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.db.query(
      'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = $1 AND id = $2 RETURNING *',
      [tenantId, id],
    );
    return rows[0] ? toKey(rows[0]) : null;
  }

  /** For the operator's CLI, which names a key by id alone. */
  async findKeyById(id: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.db.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  /** The key whose SHA-256 is `hash`, revoked or not (the caller refuses revoked ones). */
  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.db.query('SELECT * FROM api_keys WHERE key_hash = $1', [hash]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  async hasActiveKeys(): Promise<boolean> {
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL');
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.db.query(
      'INSERT INTO audit_log (tenant_id, actor, client, action, target, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)',
      [entry.tenantId, entry.actor, entry.client, entry.action, entry.target, JSON.stringify(entry.details ?? {})],
    );
  }

  /** Newest first; `tenantId` null lists every tenant's entries (the CLI's operator view). */
  async listAudit(filter: { tenantId: string | null; action?: string; limit?: number; offset?: number }): Promise<AuditRecord[]> {
    const { rows } = await this.db.query(
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR action = $2)
       ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4`,
      [filter.tenantId, filter.action ?? null, filter.limit ?? 100, filter.offset ?? 0],
    );
    return rows.map(toAudit);
  }

  /** Marks the tenant's live collection deleted; false when it has none with that id. */
  async softDeleteCollection(tenantId: string, id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const { rows } = await this.db.query(
      'UPDATE collections SET deleted_at = now() WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id',
      [tenantId, id],
    );
    if (rows.length) this.localChanges?.announce({ collectionId: id, deleted: true });
    return rows.length > 0;
  }

  /** The tenant's soft-deleted collections still inside the restore window, newest first. */
  async listDeletedCollections(tenantId: string, windowDays: number): Promise<DeletedCollection[]> {
    const { rows } = await this.db.query(
      `SELECT id, name, tenant_id, deleted_at FROM collections
       WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND deleted_at > now() - make_interval(days => $2)
       ORDER BY deleted_at DESC`,
      [tenantId, windowDays],
    );
    return rows.map((r) => ({ id: String(r.id), name: String(r.name), tenantId: String(r.tenant_id), deletedAt: iso(r.deleted_at)! }));
  }

  /**
   * Brings back a soft-deleted collection (by id, or the most recently deleted one of that name)
   * while the window lasts. 404 when there is none, 409 when a live collection took its name.
   */
  async restoreCollection(tenantId: string, idOrName: string, windowDays: number): Promise<DeletedCollection> {
    const candidates = await this.listDeletedCollections(tenantId, windowDays);
    const found = UUID.test(idOrName)
      ? candidates.find((c) => c.id === idOrName.toLowerCase())
      : candidates.find((c) => c.name === idOrName);
    if (!found) {
      throw notFound(`no deleted collection "${idOrName}" to restore (the restore window is ${windowDays} days)`, {
        collection: idOrName,
        restoreWindowDays: windowDays,
      });
    }
    try {
      await this.db.query('UPDATE collections SET deleted_at = NULL WHERE tenant_id = $1 AND id = $2', [tenantId, found.id]);
      this.localChanges?.announce({ collectionId: found.id, deleted: false });
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') {
        throw new RaglineError('conflict', `a collection named "${found.name}" exists again; delete or rename it before restoring`, {
          collection: found.name,
        });
      }
      throw err;
    }
    return found;
  }

  /** Soft-deleted collections whose restore window has passed: what the purge job removes for good. */
  async expiredDeletedCollections(windowDays: number): Promise<DeletedCollection[]> {
    const { rows } = await this.db.query(
      `SELECT id, name, tenant_id, deleted_at FROM collections
       WHERE deleted_at IS NOT NULL AND deleted_at <= now() - make_interval(days => $1) ORDER BY deleted_at`,
      [windowDays],
    );
    return rows.map((r) => ({ id: String(r.id), name: String(r.name), tenantId: String(r.tenant_id), deletedAt: iso(r.deleted_at)! }));
  }

  async requestDeletion(input: {
    tenantId: string;
    collectionId: string;
    targetId: string;
    requestedBy: string;
  }): Promise<DeletionRequest> {
    const { rows } = await this.db.query(
      `INSERT INTO deletion_requests (tenant_id, kind, collection_id, target_id, requested_by)
       VALUES ($1, 'document', $2, $3, $4) RETURNING *`,
      [input.tenantId, input.collectionId, input.targetId, input.requestedBy],
    );
    return toDeletionRequest(rows[0]!);
  }

  async listDeletionRequests(tenantId: string, state?: DeletionRequest['state']): Promise<DeletionRequest[]> {
    const { rows } = await this.db.query(
      `SELECT * FROM deletion_requests WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) ORDER BY created_at DESC LIMIT 500`,
      [tenantId, state ?? null],
    );
    return rows.map(toDeletionRequest);
  }

  /** Decides a pending request of the tenant: 404 for another tenant's or an unknown one, 409 when already decided. */
  async decideDeletion(tenantId: string, id: string, approve: boolean, decidedBy: string): Promise<DeletionRequest> {
    const { rows } = UUID.test(id)
      ? await this.db.query(
          `UPDATE deletion_requests SET state = $3, decided_by = $4, decided_at = now()
           WHERE tenant_id = $1 AND id = $2 AND state = 'pending' RETURNING *`,
          [tenantId, id, approve ? 'approved' : 'rejected', decidedBy],
        )
      : { rows: [] };
    if (rows[0]) return toDeletionRequest(rows[0]);
    const existing = UUID.test(id)
      ? await this.db.query('SELECT state FROM deletion_requests WHERE tenant_id = $1 AND id = $2', [tenantId, id])
      : { rows: [] };
    if (!existing.rows[0]) throw notFound(`deletion request "${id}" not found`, { request: id });
    throw new RaglineError('conflict', `deletion request "${id}" is already ${String(existing.rows[0].state)}`, { request: id });
  }
}
