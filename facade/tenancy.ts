import { RaglineError, notFound } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import {
  TenancyStore,
  type ApiKeyRecord,
  type AuditRecord,
  type DeletedCollection,
  type DeletionRequest,
  type KeyRole,
  type Tenant,
  type TenantSettings,
} from '../store/tenancy.ts';
import type { Collection } from '../store/types.ts';
import type { Ragline } from './ragline.ts';

/** Who does something and from where: what every audit entry records. */
export interface Actor {
  keyId: string;
  tenantId: string;
  /** The client address, or "cli". */
  client: string;
}

export type DocumentDeletion = { deleted: true } | { deleted: false; pending: DeletionRequest };

/**
 * Tenant administration with its audit trail: tenants, keys, tenant settings, soft deletion and
 * restore of collections, approved deletions and the purge job. The HTTP routes and the CLI share it.
 */
export class Tenancy {
  constructor(
    readonly ragline: Ragline,
    readonly store: TenancyStore,
  ) {}

  static for(ragline: Ragline): Tenancy {
    return new Tenancy(ragline, TenancyStore.forStore(ragline.store));
  }

  get restoreWindowDays(): number {
    return this.ragline.config.tenancy.restoreWindowDays;
  }

  private async record(actor: Actor, tenantId: string, action: string, target: string, details: Record<string, unknown> = {}) {
    await this.store.audit({ tenantId, actor: actor.keyId, client: actor.client, action, target, details });
  }

  async tenant(id: string): Promise<Tenant> {
    const tenant = await this.store.getTenant(id);
    if (!tenant) throw notFound(`tenant "${id}" not found`, { tenant: id });
    return tenant;
  }

  async createTenant(actor: Actor, id: string, name?: string): Promise<Tenant> {
    const tenant = await this.store.createTenant(id, name ?? id);
    await this.record(actor, tenant.id, 'tenant.create', tenant.id, { name: tenant.name });
    return tenant;
  }

  async updateSettings(actor: Actor, tenantId: string, settings: Partial<TenantSettings>): Promise<Tenant> {
    const tenant = await this.store.updateTenantSettings(tenantId, settings);
    await this.record(actor, tenantId, 'tenant.settings', tenantId, settings);
    return tenant;
  }

  async createKey(
    actor: Actor,
    input: { tenantId: string; role: KeyRole; collections?: string[] | null; label?: string | null },
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    const created = await this.store.createKey({ ...input, createdBy: actor.keyId });
    await this.record(actor, input.tenantId, 'key.create', created.record.id, { role: input.role, collections: input.collections ?? null });
    return created;
  }

  async revokeKey(actor: Actor, tenantId: string, id: string): Promise<ApiKeyRecord> {
    const revoked = await this.store.revokeKey(tenantId, id);
    if (!revoked) throw notFound(`key "${id}" not found`, { key: id });
    await this.record(actor, tenantId, 'key.revoke', id);
    return revoked;
  }

  async createCollection(actor: Actor, name: string, metadata: Record<string, unknown>): Promise<Collection> {
    const collection = await this.ragline.createCollection(name, metadata, actor.tenantId);
    await this.record(actor, actor.tenantId, 'collection.create', collection.id, { name });
    return collection;
  }

  /** Soft delete: searches and listings stop seeing it at once; the purge job removes it after the restore window. */
  async deleteCollection(actor: Actor, collection: Collection): Promise<void> {
    if (!(await this.store.softDeleteCollection(collection.tenantId, collection.id))) {
      throw notFound(`collection "${collection.name}" not found`, { collection: collection.name });
    }
    this.ragline.bm25.drop(collection.id);
    await this.record(actor, collection.tenantId, 'collection.delete', collection.id, {
      name: collection.name,
      restoreWindowDays: this.restoreWindowDays,
    });
  }

  async restoreCollection(actor: Actor, tenantId: string, idOrName: string): Promise<DeletedCollection> {
    const restored = await this.store.restoreCollection(tenantId, idOrName, this.restoreWindowDays);
    await this.record(actor, tenantId, 'collection.restore', restored.id, { name: restored.name });
    return restored;
  }

  deletedCollections(tenantId: string): Promise<DeletedCollection[]> {
    return this.store.listDeletedCollections(tenantId, this.restoreWindowDays);
  }

  /**
   * Deletes a document now, or, when `needsApproval`, files a request an admin of the tenant
   * approves (which deletes it) or rejects. 404 when the collection has no such document.
   */
  async deleteDocument(actor: Actor, collection: Collection, documentId: string, needsApproval: boolean): Promise<DocumentDeletion> {
    const document = await this.ragline.store.getDocument(collection.id, documentId);
    if (!document) throw documentNotFound(documentId, collection.name);
    if (needsApproval) {
      const pending = await this.store.requestDeletion({
        tenantId: collection.tenantId,
        collectionId: collection.id,
        targetId: document.id,
        requestedBy: actor.keyId,
      });
      await this.record(actor, collection.tenantId, 'document.delete.request', document.id, {
        request: pending.id,
        source: document.source,
      });
      return { deleted: false, pending };
    }
    if (!(await this.ragline.deleteDocument(collection, document.id))) throw documentNotFound(documentId, collection.name);
    await this.record(actor, collection.tenantId, 'document.delete', document.id, { collection: collection.name, source: document.source });
    return { deleted: true };
  }

  async decideDeletion(actor: Actor, tenantId: string, id: string, approve: boolean): Promise<DeletionRequest> {
    const request = await this.store.decideDeletion(tenantId, id, approve, actor.keyId);
    await this.record(actor, tenantId, approve ? 'document.delete.approve' : 'document.delete.reject', request.targetId, { request: id });
    if (!approve) return request;
    const collection = await this.ragline.store.getCollection(request.collectionId, tenantId);
    const deleted = collection ? await this.ragline.deleteDocument(collection, request.targetId) : false;
    if (deleted) await this.record(actor, tenantId, 'document.delete', request.targetId, { request: id, approvedBy: actor.keyId });
    return request;
  }

  audit(filter: { tenantId: string | null; action?: string; limit?: number; offset?: number }): Promise<AuditRecord[]> {
    return this.store.listAudit(filter);
  }

  /** Removes, for good, every collection deleted longer ago than the restore window. */
  async purgeExpired(): Promise<number> {
    const expired = await this.store.expiredDeletedCollections(this.restoreWindowDays);
    for (const collection of expired) {
      this.ragline.bm25.drop(collection.id);
      await this.ragline.store.deleteCollection(collection.id);
      await this.store.audit({
        tenantId: collection.tenantId,
        actor: 'system:purge',
        client: 'server',
        action: 'collection.purge',
        target: collection.id,
        details: { name: collection.name, deletedAt: collection.deletedAt },
      });
    }
    if (expired.length) logger.info({ purged: expired.length }, 'purged deleted collections past their restore window');
    return expired.length;
  }
}

export const documentNotFound = (documentId: string, collection: string) =>
  new RaglineError('not_found', `document "${documentId}" not found in collection "${collection}"`, {
    document: documentId,
    collection,
  });
