import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { killGroup, spawnRagline, type RaglineProcess } from './helpers/processes.ts';
import { pollUntil } from './helpers/poll.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

interface Replica extends RaglineProcess {
  url: string;
}

/** `ragline serve` on a free port; resolves with its URL once it listens. */
async function startReplica(databaseUrl: string, worker: boolean): Promise<Replica> {
  const replica = spawnRagline(['serve', '--port', '0', ...(worker ? ['--worker'] : [])], databaseUrl, {
    RAGLINE_LOG_LEVEL: 'warn',
    RAGLINE_BM25_CATCH_UP_DELAY_MS: '20',
  });
  const url = await pollUntil(
    async () => {
      if (replica.child.exitCode !== null) throw new Error(`replica exited with ${replica.child.exitCode}:\n${replica.output()}`);
      return /listening on (http:\/\/\S+)/.exec(replica.output())?.[1];
    },
    'the replica to listen',
    120_000,
  );
  return { ...replica, url };
}

const stopReplica = (replica: Replica | undefined) => (replica ? killGroup(replica.child, 'SIGTERM') : Promise.resolve());

const call = async (url: string, method: string, body?: unknown): Promise<{ status: number; body: Json }> => {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
};

const readyz = async (replica: Replica) => (await call(`${replica.url}/readyz`, 'GET')).body;
const loadedEntry = async (replica: Replica, collectionId: string) =>
  ((await readyz(replica)).checks.bm25.collections as Json[]).find((c) => c.id === collectionId);

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeBoth('two `ragline serve` processes on one Postgres database', () => {
  let db: TempDatabase;
  let writer: Replica | undefined;
  let reader: Replica | undefined;
  let late: Replica | undefined;

  beforeAll(async () => {
    db = await createScratchDatabase('bm25_processes');
    // Both at once: the migration runner's advisory lock lets one apply the migrations.
    [writer, reader] = await Promise.all([startReplica(db.url, true), startReplica(db.url, false)]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([stopReplica(writer), stopReplica(reader), stopReplica(late)]);
    await db?.drop();
  });

  const ingest = async (source: string, text: string) => {
    const res = await call(`${writer!.url}/v1/collections/kb/documents?wait=60`, 'POST', { source, text });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    // The upload is queued; the writer's worker ingests it. Wait for the job to finish.
    const jobId = res.body.jobs?.[0]?.id as string | undefined;
    if (jobId) {
      await pollUntil(
        async () => {
          const job = (await call(`${writer!.url}/v1/jobs/${jobId}`, 'GET')).body;
          if (job.state === 'failed') throw new Error(`ingest failed: ${JSON.stringify(job)}`);
          return job.state === 'succeeded' ? job : undefined;
        },
        `job ${jobId}`,
        120_000,
      );
    }
    return (await call(`${writer!.url}/v1/collections/kb`, 'GET')).body as Json;
  };
  const searchReader = async (query: string) => call(`${reader!.url}/v1/collections/kb/search`, 'POST', { query, mode: 'bm25', topK: 5 });

  it('an ingest through one is searchable through the other; a late replica loads from the snapshot; a delete leaves both', async () => {
    expect((await call(`${writer!.url}/v1/collections`, 'POST', { name: 'kb' })).status).toBe(201);
    await ingest('zebrafish.txt', 'The zebrafish heart regenerates after injury because cardiomyocytes proliferate.');
    const first = await searchReader('zebrafish heart');
    expect(first.status).toBe(200);
    const collectionId = (await call(`${writer!.url}/v1/collections/kb`, 'GET')).body.id as string;
    expect(await loadedEntry(reader!, collectionId)).toBeDefined();

    // The reader runs no query now: the notice alone must bring its index to the new version.
    const after = await ingest('tides.txt', 'Ocean tides follow the moon; the tide rises twice a day.');
    await pollUntil(async () => (await loadedEntry(reader!, collectionId))?.syncedVersion >= after.version, 'notice', 1_000);
    const found = await searchReader('moon tide');
    expect(found.body.hits.map((h: Json) => h.chunk.source)).toEqual(['tides.txt']);

    // A replica started now finds a stored snapshot and reports that it loaded from it.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await pollUntil(
        async () => Number((await admin.query('SELECT count(*)::int AS n FROM bm25_snapshots')).rows[0].n) > 0,
        'a stored snapshot',
        10_000,
      );
    } finally {
      await admin.end();
    }
    late = await startReplica(db.url, false);
    const lateReady = await pollUntil(
      async () => {
        const body = await readyz(late!);
        return body.status === 'ready' ? body : undefined;
      },
      'the late replica to be ready',
      120_000,
    );
    expect(lateReady.checks.bm25.collections).toEqual([
      expect.objectContaining({ id: collectionId, source: 'snapshot', status: 'ready', chunks: 2, syncedVersion: after.version }),
    ]);

    // Deleted through the writer: the other replicas drop the index on the notice, and answer 404.
    expect((await call(`${writer!.url}/v1/collections/kb`, 'DELETE')).status).toBe(200);
    await pollUntil(async () => (await loadedEntry(reader!, collectionId)) === undefined, 'reader drop', 1_000);
    await pollUntil(async () => (await loadedEntry(late!, collectionId)) === undefined, 'late replica drop', 1_000);
    const gone = await searchReader('moon tide');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
  }, 600_000);
});
