import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { errorMessage } from '../../core/errors.ts';
import { redactDatabaseUrl } from '../../retrieval/store/postgres.ts';

/**
 * The Postgres server the store tests use: RAGLINE_TEST_DATABASE_URL, or the database that
 * scripts/install-pgvector.sh creates (RAGLINE_TEST_DB, default ragline_test) on the local server.
 * Each suite works in a scratch database of its own, created here and dropped afterwards.
 */
export const TEST_SERVER_URL =
  process.env.RAGLINE_TEST_DATABASE_URL ??
  `postgres://${encodeURIComponent(os.userInfo().username)}@127.0.0.1:5432/${process.env.RAGLINE_TEST_DB ?? 'ragline_test'}`;

const SETUP_HINT = 'run scripts/install-pgvector.sh as root, or set RAGLINE_TEST_DATABASE_URL';

/** Why the test server cannot be used (unreachable, no pgvector >= 0.8), or null when it can. */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(
      "SELECT default_version AS v FROM pg_available_extensions WHERE name = 'vector'",
    );
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

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, uniquely named database on the test server. */
export async function createScratchDatabase(label: string): Promise<ScratchDatabase> {
  const name = `ragline_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // FORCE disconnects sessions the test may have left open.
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
