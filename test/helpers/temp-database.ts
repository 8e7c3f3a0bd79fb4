import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';

/** The server the Postgres tests use; a fresh database is created on it per test file. */
export const PG_ADMIN_URL = process.env.RAGLINE_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

async function unreachableReason(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message || String((err as { code?: unknown }).code);
  } finally {
    await client.end().catch(() => {});
  }
}

const reason = await unreachableReason();

/**
 * describe() for tests that need the Postgres server: skipped with the reason in its name when the
 * server is unreachable, except under CI, where that is a failure.
 */
export function describePostgres(name: string, fn: () => void) {
  if (!reason) return describe(name, fn);
  const why = `Postgres unreachable at ${PG_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')}: ${reason}`;
  if (process.env.CI) {
    return describe(name, () => {
      it('needs a reachable Postgres server', () => {
        throw new Error(why);
      });
    });
  }
  console.warn(`[ragline tests] ${name}: skipped: ${why}`);
  return describe.skip(`${name} [skipped: ${why}]`, fn);
}

export interface TempDatabase {
  url: string;
  name: string;
  /** Drops the database, disconnecting any client still attached. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A uniquely named, empty database (migrations run when a store opens it). */
export async function createTempDatabase(prefix: string): Promise<TempDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
