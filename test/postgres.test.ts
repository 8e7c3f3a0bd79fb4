import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaglineError } from '../core/errors.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import {
  type ScratchStore,
  TEST_SERVER_URL,
  createScratchDatabase,
  describeStoreServer,
  openScratchStore,
  seededChunk,
} from './helpers/postgres.ts';

/**
 * The Postgres server store's own behaviour: a bad DATABASE_URL is a clear configuration error,
 * and lost connections (killed backends, an unreachable server) are ridden out by the same store object.
 * The server restart is in postgres-restart.exclusive.test.ts, which runs after every other file.
 */

const SECRET = 's3cret-pw-do-not-print';

async function openError(url: string): Promise<RaglineError> {
  const err = await openPostgresStore(url).then(
    async (store) => {
      await store.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RaglineError);
  return err as RaglineError;
}

function expectConfigError(err: RaglineError, mentions: RegExp) {
  expect(err.code).toBe('invalid_config');
  expect(err.message).toContain('DATABASE_URL');
  expect(err.message).toMatch(mentions);
  expect(err.message).not.toContain(SECRET);
  expect(JSON.stringify(err.toJSON())).not.toContain(SECRET);
}

const describeServer = await describeStoreServer();

describe('openPostgresStore: a bad DATABASE_URL is a clear configuration error', () => {
  it('not a URL', async () => {
    expectConfigError(await openError(`postgres://ragline:${SECRET}@localhost:notaport/db`), /not a URL/);
    expectConfigError(await openError('just some words'), /not a URL/);
  });

  it('not a postgres URL', async () => {
    expectConfigError(await openError(`mysql://ragline:${SECRET}@127.0.0.1:3306/db`), /postgres:\/\//);
  });

  it('nothing listening', async () => {
    // Port 1 on the loopback: refused at once.
    const err = await openError(`postgres://ragline:${SECRET}@127.0.0.1:1/ragline`);
    expectConfigError(err, /cannot connect/);
    expect(err.message).toContain('127.0.0.1:1');
  });

  it('a host name that does not resolve', async () => {
    expectConfigError(await openError(`postgres://ragline:${SECRET}@no-such-host.invalid:5432/ragline`), /does not resolve/);
  });
});

describeServer('postgres store: connection loss', () => {
  let own: ScratchStore;
  let store: SqlStore;
  let collectionId: string;

  beforeAll(async () => {
    own = await openScratchStore('pgstore');
    store = own.store;
    collectionId = (await store.createCollection({ name: 'c', embeddingModel: 'test/3d', dimensions: 3 })).id;
    await store.db.query('CREATE TABLE attempts (attempt int NOT NULL)');
  });

  afterAll(async () => {
    await own?.close();
  });

  it('a missing database names DATABASE_URL, without the password', async () => {
    const url = new URL(own.database.url);
    url.password = SECRET;
    url.pathname = '/ragline_no_such_database';
    const err = await openError(url.toString());
    expectConfigError(err, /does not exist/);
    expect(err.message).toContain('ragline_no_such_database');
  });

  it('a role that may not create the vector extension gets a configuration error saying what to do', async () => {
    const role = `ragline_plain_${process.pid}`;
    const scratch = await createScratchDatabase('plainrole');
    const admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      const url = new URL(scratch.url);
      url.username = role;
      url.password = SECRET;
      const err = await openError(url.toString());
      expectConfigError(err, /CREATE EXTENSION vector/);

      // Once a superuser has created the extension, the same role can open the store.
      await admin.query('CREATE EXTENSION vector');
      const store = await openPostgresStore(url.toString());
      expect(await store.listCollections()).toEqual([]);
      await store.close();
    } finally {
      await admin.end();
      await scratch.drop();
      // Roles are cluster-wide: drop it once the database holding its objects is gone.
      const cleanup = new pg.Client({ connectionString: own.database.url });
      await cleanup.connect();
      await cleanup.query(`DROP ROLE IF EXISTS ${role}`).finally(() => cleanup.end());
    }
  });

  it('a transaction whose connection dies is run again whole, never half', async () => {
    let calls = 0;
    const result = await store.db.transaction(async (tx) => {
      calls++;
      await tx.query('INSERT INTO attempts VALUES ($1)', [calls]);
      // The server ends this very session mid-transaction, as a restart or failover would.
      if (calls === 1) await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      return calls;
    });
    expect(result).toBe(2);
    const { rows } = await store.db.query<{ attempt: number }>('SELECT attempt FROM attempts');
    expect(rows).toEqual([{ attempt: 2 }]);
  });

  it('a SQL error is not retried and rolls back', async () => {
    let calls = 0;
    await expect(
      store.db.transaction(async (tx) => {
        calls++;
        await tx.query('INSERT INTO attempts VALUES (99)');
        await tx.query('SELECT * FROM no_such_table');
      }),
    ).rejects.toThrow(/no_such_table/);
    expect(calls).toBe(1);
    const { rows } = await store.db.query('SELECT attempt FROM attempts WHERE attempt = 99');
    expect(rows).toEqual([]);
  });

  it('idle connections killed by the server are replaced on the next request', async () => {
    // Several pooled connections, then all of them terminated from outside.
    await Promise.all(Array.from({ length: 5 }, () => store.db.query('SELECT pg_sleep(0.05)')));
    const admin = new pg.Client({ connectionString: own.database.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'ragline' AND pid <> pg_backend_pid()`,
      );
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await store.replaceDocument({
      collectionId,
      source: 'after-kill.txt',
      title: 'after kill',
      mime: 'text/plain',
      contentHash: 'h1',
      metadata: {},
      pageCount: null,
      chunks: [seededChunk(0, 'first', 0.1), seededChunk(1, 'second', 1.2)],
    });
    expect(await store.countChunks(collectionId)).toBe(2);
  });

  it('while the database is unreachable requests fail as upstream_unavailable; the same store recovers after', async () => {
    // A TCP proxy in front of the server stands in for the network: closing it makes the server unreachable.
    const server = new URL(own.database.url);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(server.port || 5432), server.hostname);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        sockets.add(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          sockets.delete(a);
          b.destroy();
        });
      }
    });
    const listen = (port: number) => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', () => resolve()));
    const stop = () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => proxy.close(() => resolve()));
    };
    await listen(0);
    const port = (proxy.address() as net.AddressInfo).port;
    const viaProxy = new URL(own.database.url);
    viaProxy.port = String(port);
    const proxied = await openPostgresStore(viaProxy.toString(), { retries: 2 });
    const chunks = await store.countChunks(collectionId);
    try {
      expect(await proxied.countChunks(collectionId)).toBe(chunks);
      await stop();
      const err = await proxied.countChunks(collectionId).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RaglineError);
      expect((err as RaglineError).code).toBe('upstream_unavailable');
      await listen(port);
      expect(await proxied.countChunks(collectionId)).toBe(chunks);
    } finally {
      await proxied.close();
      await stop();
    }
  });
});

describeServer('openScratchStore: a store on a database of its own', () => {
  const databaseExists = async (name: string) => {
    const admin = new pg.Client({ connectionString: TEST_SERVER_URL });
    await admin.connect();
    try {
      return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    } finally {
      await admin.end();
    }
  };

  it('opens a migrated store on a new database, and close() drops that database', async () => {
    const first = await openScratchStore('scratch_check');
    const second = await openScratchStore('scratch_check');
    try {
      expect(first.database.name).not.toBe(second.database.name);
      expect(await databaseExists(first.database.name)).toBe(true);
      await first.store.createCollection({ name: 'c', embeddingModel: 'test/3d', dimensions: 3 });
      expect((await first.store.listCollections()).map((c) => c.name)).toEqual(['c']);
      expect(await second.store.listCollections()).toEqual([]);
    } finally {
      await first.close();
      await second.close();
    }
    expect(await databaseExists(first.database.name)).toBe(false);
    expect(await databaseExists(second.database.name)).toBe(false);
  });
});
