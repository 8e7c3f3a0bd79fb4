import pg from 'pg';
import pRetry from 'p-retry';
import { RaglineError, errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { DenseIndex } from './dense-index.ts';
import { SqlStore } from './sql-store.ts';
import { listenOnDedicatedConnection } from './pg-listener.ts';
import type { SqlExecutor } from './sql.ts';

/*
 * A Postgres server (with pgvector >= 0.8, see scripts/install-pgvector.sh) behind the same SqlStore
 * as PGlite.
 *
 * Bulk loads: inserting into a table that already has an HNSW index updates the graph row by row.
 * For a large initial load it is much faster to load first and build the index afterwards, with a
 * generous `SET maintenance_work_mem` (e.g. '1GB', so the graph fits in memory) and
 * `max_parallel_maintenance_workers` for a parallel build. bench/store.ts measures both paths.
 */

export interface PostgresStoreOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Retries of a query or transaction after a connection error (default 8: about 9 s of backoff, enough for a restart). */
  retries?: number;
  /** Dense search in this index (Pinecone) instead of pgvector. */
  denseIndex?: DenseIndex;
  /** See SqlStoreOptions. */
  prefilterMaxChunks?: number;
  /** See SqlStoreOptions. */
  filteredEfSearch?: number;
}

/** SQLSTATE classes and socket errors that mean "the connection is gone", not "the query is wrong". */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);
const CONNECTION_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect/i;

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  return CONNECTION_MESSAGES.test(err.message);
}

/**
 * Thrown when the connection drops during COMMIT: the transaction may or may not have been
 * applied, so it is not retried.
 */
class CommitOutcomeUnknown extends RaglineError {
  constructor(cause: unknown) {
    super(
      'upstream_unavailable',
      `The database connection was lost while committing; the change may or may not have been saved: ${errorMessage(cause)}`,
      undefined,
      { cause },
    );
  }
}

/** The URL as it may be shown: without the password. */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable)';
  }
}

function parseDatabaseUrl(databaseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new RaglineError(
      'invalid_config',
      'Invalid configuration: DATABASE_URL is not a URL (expected postgres://user@host:5432/database)',
      {
        variable: 'DATABASE_URL',
      },
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new RaglineError(
      'invalid_config',
      `Invalid configuration: DATABASE_URL must start with postgres:// or postgresql://, not ${url.protocol}//`,
      { variable: 'DATABASE_URL', url: redactDatabaseUrl(databaseUrl) },
    );
  }
  return url;
}

/** Turns a failure to connect at startup into an error naming DATABASE_URL and what to fix. */
function connectError(databaseUrl: string, err: unknown): RaglineError {
  const shown = redactDatabaseUrl(databaseUrl);
  const code = (err as { code?: unknown }).code;
  const reason =
    code === '3D000'
      ? `the database does not exist (${errorMessage(err)}); create it or fix the name`
      : code === '28P01' || code === '28000'
        ? `authentication failed (${errorMessage(err)})`
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `the host name does not resolve (${errorMessage(err)})`
          : `cannot connect (${errorMessage(err) || String(code)}); is the server running and reachable?`;
  return new RaglineError(
    'invalid_config',
    `Invalid configuration: DATABASE_URL=${shown}: ${reason}`,
    { variable: 'DATABASE_URL', url: shown, code: typeof code === 'string' ? code : null },
    { cause: err },
  );
}

/** The first migration creates the vector extension: say what to do when that is impossible. */
function migrationError(databaseUrl: string, err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  const shown = redactDatabaseUrl(databaseUrl);
  const details = { variable: 'DATABASE_URL', url: shown, code: typeof code === 'string' ? code : null };
  if (code === '58P01' || /extension "vector" is not available|control file/.test(errorMessage(err))) {
    return new RaglineError(
      'invalid_config',
      `Invalid configuration: DATABASE_URL=${shown}: the server has no pgvector extension (${errorMessage(err)}). ` +
        'Install pgvector >= 0.8 on the database host (scripts/install-pgvector.sh does it on Debian).',
      details,
      { cause: err },
    );
  }
  if (code === '42501') {
    return new RaglineError(
      'invalid_config',
      `Invalid configuration: DATABASE_URL=${shown}: the role may not set up the database (${errorMessage(err)}). ` +
        'Have a superuser run CREATE EXTENSION vector in it once, or connect as its owner.',
      details,
      { cause: err },
    );
  }
  return err;
}

/** Statements on one checked-out client, inside a transaction the caller opened. */
function clientExecutor(client: pg.PoolClient): SqlExecutor {
  const executor: SqlExecutor = {
    query: async <T>(sql: string, params?: unknown[]) => {
      const result = await client.query(sql, params);
      return { rows: result.rows as T[] };
    },
    // Nested: reuse the open transaction.
    transaction: (fn) => fn(executor),
    close: async () => {
      throw new RaglineError('internal', 'close() called on a transaction');
    },
  };
  return executor;
}

function poolExecutor(pool: pg.Pool, retries: number): SqlExecutor {
  const retry = <T>(run: () => Promise<T>, what: string) =>
    pRetry(run, {
      retries,
      minTimeout: 100,
      maxTimeout: 2000,
      randomize: true,
      shouldRetry: ({ error }) => isConnectionError(error) && !(error instanceof CommitOutcomeUnknown),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (isConnectionError(error) && retriesLeft > 0) {
          logger.warn({ err: errorMessage(error), attempt: attemptNumber }, `postgres connection lost; retrying the ${what}`);
        }
      },
    }).catch((err: unknown) => {
      // Out of retries: the database is down, which callers (the API) report as 503, not a bug.
      if (isConnectionError(err) && !(err instanceof RaglineError)) {
        throw new RaglineError('upstream_unavailable', `The database is unavailable: ${errorMessage(err)}`, undefined, { cause: err });
      }
      throw err;
    });

  return {
    // A lone statement runs in its own implicit transaction, so retrying it repeats it whole.
    query: <T>(sql: string, params?: unknown[]) =>
      retry(async () => {
        const result = await pool.query(sql, params);
        return { rows: result.rows as T[] };
      }, 'query'),

    // On a connection error the whole function is run again from BEGIN on a fresh connection;
    // the statements already sent died with the old connection's transaction.
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
      retry(async () => {
        const client = await pool.connect();
        let connectionError: Error | undefined;
        // A checked-out client whose socket dies emits 'error'; without a listener that crashes the process.
        const onError = (err: Error) => {
          connectionError = err;
        };
        client.on('error', onError);
        try {
          await client.query('BEGIN');
          const result = await fn(clientExecutor(client));
          try {
            await client.query('COMMIT');
          } catch (err) {
            if (isConnectionError(err)) throw new CommitOutcomeUnknown(err);
            throw err;
          }
          return result;
        } catch (err) {
          if (isConnectionError(err) || err instanceof CommitOutcomeUnknown) {
            connectionError ??= err as Error;
          } else if (!connectionError) {
            await client.query('ROLLBACK').catch((rollbackError: Error) => {
              connectionError = rollbackError;
            });
          }
          throw err;
        } finally {
          client.removeListener('error', onError);
          // Releasing with an error discards the client instead of returning a broken one to the pool.
          client.release(connectionError);
        }
      }, 'transaction'),

    close: () => pool.end(),
  };
}

/** Connects to DATABASE_URL, checks the connection and applies migrations. */
export async function openPostgresStore(databaseUrl: string, options: PostgresStoreOptions = {}): Promise<SqlStore> {
  parseDatabaseUrl(databaseUrl);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'ragline',
  });
  // An idle client whose server went away (restart, failover) is reported here and dropped by the
  // pool; without this listener the 'error' event would crash the process.
  pool.on('error', (err) => logger.warn({ err: errorMessage(err) }, 'idle postgres connection lost; it will be replaced'));

  try {
    // Fail fast on a bad URL, but ride out a server that is still starting up (57P03).
    await pRetry(
      async () => {
        const client = await pool.connect();
        client.release();
      },
      { retries: 3, minTimeout: 200, shouldRetry: ({ error }) => (error as { code?: unknown }).code === '57P03' },
    );
  } catch (err) {
    await pool.end().catch(() => {});
    throw connectError(databaseUrl, err);
  }

  const executor = poolExecutor(pool, options.retries ?? 8);
  executor.listen = (channel, onNotice, onResubscribed) => listenOnDedicatedConnection(databaseUrl, channel, onNotice, onResubscribed);
  const store = new SqlStore('postgres', executor, options.denseIndex, {
    prefilterMaxChunks: options.prefilterMaxChunks,
    filteredEfSearch: options.filteredEfSearch,
  });
  try {
    await store.migrate();
  } catch (err) {
    await pool.end().catch(() => {});
    throw migrationError(databaseUrl, err);
  }
  return store;
}
