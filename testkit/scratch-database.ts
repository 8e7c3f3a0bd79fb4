import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { errorMessage } from '../core/errors.ts';
import { type PostgresStoreOptions, openPostgresStore, redactDatabaseUrl } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * Scratch databases on the local Postgres server, for tests and benches alike: every suite that needs the server works in a
 * database of its own, created here and dropped afterwards. Two connection settings, one server
 * in practice:
 * - PG_ADMIN_URL (RAGLINE_TEST_PG_URL): the job queue tests, which need a reachable server.
 * - TEST_SERVER_URL (RAGLINE_TEST_DATABASE_URL): the store tests and bench/store.ts, which also
 *   need pgvector >= 0.8; by default the database scripts/install-pgvector.sh creates
 *   (RAGLINE_TEST_DB, default ragline_test).
 */
export const PG_ADMIN_URL = process.env.RAGLINE_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

export const TEST_SERVER_URL =
  process.env.RAGLINE_TEST_DATABASE_URL ??
  `postgres://${encodeURIComponent(os.userInfo().username)}@127.0.0.1:5432/${process.env.RAGLINE_TEST_DB ?? 'ragline_test'}`;

const SETUP_HINT = 'run scripts/install-pgvector.sh as root, or set RAGLINE_TEST_DATABASE_URL';

/** Why the job-queue server (PG_ADMIN_URL) cannot be reached, or null when it can. */
export async function unreachableReason(): Promise<string | null> {
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

/** Why the store test server cannot be used (unreachable, no pgvector >= 0.8), or null when it can. */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT default_version AS v FROM pg_available_extensions WHERE name = 'vector'");
    const version = rows[0]?.v;
    if (!version) return `pgvector is not installed on ${redactDatabaseUrl(TEST_SERVER_URL)}; ${SETUP_HINT}`;
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major === 0 && minor < 8) return `pgvector ${version} is older than 0.8 on the test server; ${SETUP_HINT}`;
    return null;
  } catch (err) {
    return `Postgres at ${redactDatabaseUrl(TEST_SERVER_URL)} is unreachable (${errorMessage(err)}); ${SETUP_HINT}`;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TempDatabase {
  url: string;
  name: string;
  /** Drops the database, disconnecting any client still attached. */
  drop(): Promise<void>;
}

async function admin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates the empty database `name` on the server of `serverUrl` (migrations run when a store opens it). */
async function createDatabase(serverUrl: string, name: string): Promise<TempDatabase> {
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // FORCE disconnects sessions the test may have left open.
    drop: () => admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** A uniquely named, empty database on PG_ADMIN_URL's server. */
export function createTempDatabase(prefix: string): Promise<TempDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return createDatabase(PG_ADMIN_URL, name);
}

/** A uniquely named, empty database on the store test server (TEST_SERVER_URL). */
export function createScratchDatabase(label: string): Promise<TempDatabase> {
  return createDatabase(TEST_SERVER_URL, `ragline_${label}_${process.pid}_${randomBytes(4).toString('hex')}`);
}

/** A Postgres store on a scratch database of its own. */
export interface ScratchStore {
  store: SqlStore;
  database: TempDatabase;
  /** Closes the store, then drops its database (even when closing failed). */
  close(): Promise<void>;
}

/** Opens a store on a new scratch database (see createScratchDatabase); the database is dropped again if the store cannot open. */
export async function openScratchStore(label: string, options?: PostgresStoreOptions): Promise<ScratchStore> {
  const database = await createScratchDatabase(label);
  try {
    const store = await openPostgresStore(database.url, options);
    return { store, database, close: () => store.close().finally(() => database.drop()) };
  } catch (err) {
    await database.drop();
    throw err;
  }
}
