import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlStore } from '../store/sql-store.ts';
import {
  type ScratchStore,
  TEST_SERVER_URL,
  describeStoreServer,
  openScratchStore,
  seededChunk,
  seededVector,
} from './helpers/postgres.ts';

/**
 * The Postgres store rides out a restart of the server it talks to. Restarting the cluster breaks
 * every other connection to it, so this file is "exclusive": vitest.config.ts runs it in its own
 * project after every other test file of the run has finished. Other processes may still be using
 * the same cluster (another checkout's tests, a bench): outside CI the restart waits for them to
 * disconnect, and skips if they do not.
 */

/** The local cluster serving the test database, when this process may restart it (root, Debian tools). */
function localCluster(): { version: string; name: string } | null {
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/pg_ctlcluster')) return null;
  const url = new URL(TEST_SERVER_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return null;
  try {
    for (const line of execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' }).split('\n')) {
      const [version, name, port] = line.trim().split(/\s+/);
      if (version && name && port === (url.port || '5432')) return { version, name };
    }
  } catch {
    // no pg_lsclusters: not a Debian PostgreSQL install
  }
  return null;
}

/** Client sessions on the cluster that are not this test's own database: someone else's work a restart would break. */
async function otherClients(ownDatabase: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: TEST_SERVER_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string; n: number }>(
      `SELECT datname, count(*)::int AS n FROM pg_stat_activity
       WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname IS DISTINCT FROM $1
       GROUP BY datname`,
      [ownDatabase],
    );
    return rows.map((r) => `${r.datname ?? '(none)'}: ${r.n}`);
  } finally {
    await admin.end();
  }
}

const OTHERS_WAIT_MS = 60_000;

const cluster = localCluster();
const describeRestart = cluster
  ? await describeStoreServer()
  : (name: string, fn: () => void) => describe.skip(`${name} [skipped: no local Debian cluster this process may restart]`, fn);

describeRestart('postgres store: server restart', () => {
  let own: ScratchStore;
  let store: SqlStore;
  let collectionId: string;

  beforeAll(async () => {
    own = await openScratchStore('pgrestart');
    store = own.store;
    collectionId = (await store.createCollection({ name: 'c', embeddingModel: 'test/3d', dimensions: 3 })).id;
    await store.replaceDocument({
      collectionId,
      source: 'before.txt',
      title: 'before',
      mime: 'text/plain',
      contentHash: 'h1',
      metadata: {},
      pageCount: null,
      chunks: [seededChunk(0, 'first', 0.1), seededChunk(1, 'second', 1.2)],
    });
  });

  afterAll(async () => {
    await own?.close();
  });

  it('survives a server restart between requests, and requests made during it', { timeout: OTHERS_WAIT_MS + 60_000 }, async (ctx) => {
    const ownDatabase = own.database.name;
    if (!process.env.CI) {
      const deadline = Date.now() + OTHERS_WAIT_MS;
      let others = await otherClients(ownDatabase);
      while (others.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        others = await otherClients(ownDatabase);
      }
      if (others.length) {
        console.warn(`[ragline tests] server restart skipped: other sessions use the cluster (${others.join(', ')})`);
        ctx.skip();
      }
    }
    const restart = promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', cluster!.version, cluster!.name, 'restart']);
    let finished = false;
    void restart.finally(() => (finished = true)).catch(() => {});
    const chunks = await store.countChunks(collectionId);
    // Requests keep coming while the server goes down and comes back: each must succeed.
    let during = 0;
    try {
      while (!finished) {
        expect(await store.countChunks(collectionId)).toBe(chunks);
        during++;
      }
    } finally {
      // Even when a request failed, let the restart finish before afterAll drops the database.
      await restart.catch(() => {});
    }
    await restart;
    console.log(`${during} requests completed while the server restarted`);

    // The same store object, after the restart: reads, a transaction, and a vector search.
    expect((await store.getCollection(collectionId))?.name).toBe('c');
    const doc = await store.replaceDocument({
      collectionId,
      source: 'after-restart.txt',
      title: 'after restart',
      mime: 'text/plain',
      contentHash: 'h2',
      metadata: {},
      pageCount: null,
      chunks: [seededChunk(0, 'third', 2.5)],
    });
    expect(doc.version).toBe(1);
    const hits = await store.denseSearch({ collectionId, vector: seededVector(2.5), limit: 1 });
    expect(hits[0]?.chunk.text).toBe('third');
  });
});
