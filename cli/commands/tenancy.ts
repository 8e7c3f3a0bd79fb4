import os from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_TENANT_ID, TENANT_ID_PATTERN } from '../../core/api-keys.ts';
import { badRequest, notFound } from '../../core/errors.ts';
import { Tenancy, type Actor } from '../../facade/tenancy.ts';
import type { Ragline } from '../../facade/ragline.ts';
import { printJson, withRagline } from '../context.ts';

const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function tenantId(value: string): string {
  if (!TENANT_ID_PATTERN.test(value)) throw new InvalidArgumentError('tenant ids are 1–63 lowercase letters, digits, "_" or "-"');
  return value;
}

export const tenantOption = () => new Option('--tenant <id>', 'tenant id').default('default').argParser(tenantId);

/** `--tenant` on the commands that read or write a tenant's collections: an id or a display name. */
export const tenantScopeOption = () =>
  new Option('--tenant <id|name>', 'work inside this tenant (id or display name)').default(DEFAULT_TENANT_ID);

/**
 * The tenant id for `--tenant`: an id first, otherwise a unique display name. Unknown or ambiguous is
 * bad usage (exit 2), so a typo never silently falls back to the default tenant.
 */
export async function resolveTenant(ragline: Ragline, ref: string): Promise<string> {
  const tenancy = Tenancy.for(ragline);
  if (TENANT_ID_PATTERN.test(ref) && (await tenancy.store.getTenant(ref))) return ref;
  const named = (await tenancy.store.listTenants()).filter((t) => t.name === ref);
  if (named.length === 1) return named[0]!.id;
  if (named.length > 1) {
    throw badRequest(`--tenant "${ref}" names ${named.length} tenants (${named.map((t) => t.id).join(', ')}); pass the id`, {
      tenant: ref,
    });
  }
  throw badRequest(`unknown tenant "${ref}": "ragline tenants list" shows the tenants`, { tenant: ref });
}

function collectionList(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !COLLECTION_NAME.test(n));
  if (!names.length || bad.length)
    throw new InvalidArgumentError(
      `--collections takes collection names separated by commas${bad.length ? `; not names: ${bad.join(', ')}` : ''}`,
    );
  return names;
}

/** The operator at the terminal: who the audit log names for CLI changes. */
export function cliActor(tenantId: string): Actor {
  return { keyId: `cli:${os.userInfo().username}`, tenantId, client: 'cli' };
}

const withTenancy = <T>(fn: (tenancy: Tenancy, ragline: Ragline) => Promise<T>) =>
  withRagline((ragline) => fn(Tenancy.for(ragline), ragline));

export function registerTenancyCommands(program: Command) {
  const keys = program.command('keys').description('API keys: create (shown once), list, revoke. Works on the store directly.');
  keys
    .command('create')
    .description('Issue a key; the key is printed once and only its SHA-256 is stored.')
    .addOption(tenantOption().makeOptionMandatory())
    .addOption(new Option('--role <role>', 'admin, writer or reader').choices(['admin', 'writer', 'reader']).makeOptionMandatory())
    .option('--collections <names>', 'limit the key to these collections (comma-separated)', collectionList)
    .option('--label <text>', 'a note to recognise the key by')
    .option('--json', 'print {"id","key","tenant","role"}')
    .action(
      async (opts: { tenant: string; role: 'admin' | 'writer' | 'reader'; collections?: string[]; label?: string; json?: boolean }) => {
        await withTenancy(async (tenancy) => {
          const { record, key } = await tenancy.createKey(cliActor(opts.tenant), {
            tenantId: opts.tenant,
            role: opts.role,
            collections: opts.collections ?? null,
            label: opts.label ?? null,
          });
          if (opts.json) return console.log(JSON.stringify({ id: record.id, key, tenant: record.tenantId, role: record.role }));
          console.log(key);
          console.error(`key ${record.id} (${record.role} of ${record.tenantId}): store it now, it is not shown again`);
        });
      },
    );
  keys
    .command('list')
    .description("List a tenant's keys (ids and prefixes only, never secrets).")
    .addOption(tenantOption())
    .option('--json', 'print JSON')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      await withTenancy(async (tenancy) => {
        const rows = await tenancy.store.listKeys(opts.tenant);
        if (opts.json) return printJson(rows);
        if (!rows.length) console.log(`no keys in tenant ${opts.tenant}`);
        else console.table(rows.map((k) => ({ ...k, collections: k.collections?.join(',') ?? '(all)' })));
      });
    });
  keys
    .command('revoke')
    .description('Revoke a key by its id (rk_…): requests with it get 401 from then on.')
    .argument('<id>', 'key id')
    .action(async (id: string) => {
      await withTenancy(async (tenancy) => {
        const record = await tenancy.store.findKeyById(id);
        if (!record) throw notFound(`no key "${id}"`, { key: id });
        await tenancy.revokeKey(cliActor(record.tenantId), record.tenantId, id);
        console.log(`revoked ${id}`);
      });
    });

  const tenants = program.command('tenants').description('Tenants: create, list, settings.');
  tenants
    .command('create')
    .argument('<id>', 'tenant id (lowercase letters, digits, "_", "-")', tenantId)
    .option('--name <name>', 'display name')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { name?: string; json?: boolean }) => {
      await withTenancy(async (tenancy) => {
        const tenant = await tenancy.createTenant(cliActor(id), id, opts.name);
        if (opts.json) return printJson(tenant);
        console.log(`created tenant ${tenant.id}`);
      });
    });
  tenants
    .command('list')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withTenancy(async (tenancy) => {
        const rows = await tenancy.store.listTenants();
        if (opts.json) return printJson(rows);
        console.table(
          rows.map((t) => ({ id: t.id, name: t.name, requireDeleteApproval: t.settings.requireDeleteApproval, createdAt: t.createdAt })),
        );
      });
    });
  tenants
    .command('set')
    .description("Change a tenant's settings.")
    .argument('<id>', 'tenant id')
    .addOption(
      new Option('--require-delete-approval <on>', "writers' deletions wait for an admin").choices(['true', 'false']).makeOptionMandatory(),
    )
    .action(async (id: string, opts: { requireDeleteApproval: 'true' | 'false' }) => {
      await withTenancy(async (tenancy) => {
        const tenant = await tenancy.updateSettings(cliActor(id), id, { requireDeleteApproval: opts.requireDeleteApproval === 'true' });
        printJson(tenant);
      });
    });

  program
    .command('audit')
    .description('The audit log, newest first: key, tenant, collection and settings changes, and every deletion.')
    .option('--tenant <id>', 'only this tenant (default: all)')
    .option('--action <name>', 'only this action, e.g. key.create')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--json', 'print JSON')
    .action(async (opts: { tenant?: string; action?: string; limit: number; json?: boolean }) => {
      await withTenancy(async (tenancy) => {
        const rows = await tenancy.audit({ tenantId: opts.tenant ?? null, action: opts.action, limit: opts.limit });
        if (opts.json) return printJson(rows);
        if (!rows.length) console.log('the audit log is empty');
        else console.table(rows.map((r) => ({ ...r, details: JSON.stringify(r.details) })));
      });
    });
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('expected an integer from 1 to 10000');
  return n;
}

/** `ragline collections restore|deleted|purge`, added to the existing `collections` command. */
export function registerCollectionLifecycleCommands(collections: Command) {
  collections
    .command('restore')
    .description('Restore a deleted collection (by id or name) within the restore window.')
    .argument('<collection>', 'collection id or name')
    .addOption(tenantScopeOption())
    .action(async (ref: string, opts: { tenant: string }) => {
      await withTenancy(async (tenancy, ragline) => {
        const tenant = await resolveTenant(ragline, opts.tenant);
        const restored = await tenancy.restoreCollection(cliActor(tenant), tenant, ref);
        console.log(`restored collection ${restored.name} (${restored.id})`);
      });
    });
  collections
    .command('deleted')
    .description('Deleted collections that can still be restored.')
    .addOption(tenantScopeOption())
    .option('--json', 'print JSON')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      await withTenancy(async (tenancy, ragline) => {
        const rows = await tenancy.deletedCollections(await resolveTenant(ragline, opts.tenant));
        if (opts.json) return printJson(rows);
        if (!rows.length) console.log('no deleted collections to restore');
        else console.table(rows);
      });
    });
  collections
    .command('purge')
    .description('Remove for good the collections deleted longer ago than the restore window (the server does this hourly).')
    .action(async () => {
      await withTenancy(async (tenancy) => console.log(`purged ${await tenancy.purgeExpired()} collection(s)`));
    });
}
