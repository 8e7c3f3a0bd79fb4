import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import type { Job } from '../ingest/jobs/types.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { DATASETS_DIR, SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';
import { killGroup, spawnRagline, type RaglineProcess } from './helpers/processes.ts';
import { createTempDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';

const PDF = path.join(DATASETS_DIR, 'pdfs', 'nist-fips-199.pdf');
// The chunker is irrelevant to crash safety; the sentence chunker keeps this test short on a busy machine.
const CHUNKING = { strategy: 'sentence' as const };
const config = configSchema.parse({ chunking: CHUNKING });

const describeCrash = SHARED_AVAILABLE ? await describePostgres() : describeShared;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function spawnWorker(databaseUrl: string): RaglineProcess {
  return spawnRagline(['worker', '--poll-ms', '200', '--heartbeat-ms', '1000', '--stale-ms', '3000'], databaseUrl, {
    RAGLINE_CHUNK_STRATEGY: CHUNKING.strategy,
    RAGLINE_LOG_LEVEL: 'info',
  });
}

describeCrash('ingestion survives a worker killed mid-document (Postgres server, child process)', () => {
  let db: TempDatabase;
  let store: SqlStore;
  let ragline: Ragline;
  let queue: JobQueue;
  let child: ChildProcess | undefined;
  let rescuer: JobWorker | undefined;

  beforeAll(async () => {
    db = await createTempDatabase('ragline_crash');
    store = await openPostgresStore(db.url);
    ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    queue = JobQueue.forStore(store);
  });

  afterAll(async () => {
    if (child) await killGroup(child);
    await rescuer?.stop();
    await store?.close();
    await db?.drop();
  });

  const countRows = async (sql: string, params: unknown[]) => Number((await store.db.query<{ n: number }>(sql, params)).rows[0]!.n);

  it("a SIGKILLed worker leaves nothing half-stored; another worker completes the job with a clean run's chunks", {
    timeout: 900_000,
  }, async () => {
    const crashed = await ragline.createCollection('crashed');
    const clean = await ragline.createCollection('clean');
    const bytes = new Uint8Array(fs.readFileSync(PDF));
    const [job] = await queue.enqueue(crashed.id, [{ source: 'nist-fips-199.pdf', bytes, mimeHint: 'application/pdf' }]);

    const worker = spawnWorker(db.url);
    child = worker.child;
    // Kill once the document is loaded and being chunked/embedded, before anything is stored.
    // (The pipeline reports embedding progress per 256 chunks, so a partial chunksDone is taken when it shows.)
    let seen: Job | null = null;
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(100)) {
      if (child.exitCode !== null) throw new Error(`the worker exited early (${child.exitCode}):\n${worker.output()}`);
      seen = await queue.get(job!.id);
      const p = seen?.progress;
      const partial = p?.chunksDone !== undefined && p.chunksTotal !== undefined && p.chunksDone > 0 && p.chunksDone < p.chunksTotal;
      if (seen?.state === 'running' && (p?.stage === 'chunk' || (p?.stage === 'embed' && partial))) break;
      expect(seen?.state, worker.output()).not.toMatch(/succeeded|failed/);
    }
    expect(seen?.state, worker.output()).toBe('running');
    await killGroup(child);

    // Killed mid-way: the job is still `running` under the dead worker, and no document or chunk exists.
    const orphaned = await queue.get(job!.id);
    expect(orphaned).toMatchObject({ state: 'running', attempts: 1, lockedBy: seen!.lockedBy });
    expect(await countRows('SELECT count(*)::int AS n FROM documents WHERE collection_id = $1', [crashed.id])).toBe(0);
    expect(await countRows('SELECT count(*)::int AS n FROM chunks WHERE collection_id = $1', [crashed.id])).toBe(0);

    // Another worker takes the job over once the dead one's heartbeat is stale, and completes it.
    rescuer = new JobWorker(queue, pipelineProcessor(ragline), {
      staleMs: 3000,
      heartbeatMs: 1000,
      pollMs: 200,
      workerId: 'rescuer',
    }).start();
    const [done] = await queue.waitFor([job!.id], 600_000, 200);
    await rescuer.stop();
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2, lockedBy: 'rescuer', result: { status: 'ingested' } });

    // The same document ingested cleanly into another collection gives the same chunks.
    const [reference] = await ragline.ingest(clean.id, [{ source: 'nist-fips-199.pdf', bytes, mime: 'application/pdf' }]);
    expect(reference?.status).toBe('ingested');
    const cleanChunks = reference!.status === 'ingested' ? reference!.chunks : -1;
    expect(cleanChunks).toBeGreaterThan(10);
    expect(done!.result!.chunks).toBe(cleanChunks);
    expect(await countRows('SELECT count(*)::int AS n FROM chunks WHERE collection_id = $1', [crashed.id])).toBe(cleanChunks);
    const texts = async (collectionId: string) =>
      (
        await store.db.query<{ text: string }>('SELECT text FROM chunks WHERE collection_id = $1 ORDER BY ordinal', [collectionId])
      ).rows.map((r) => r.text);
    expect(await texts(crashed.id)).toEqual(await texts(clean.id));

    // No duplicates anywhere.
    expect(await countRows('SELECT count(*)::int AS n FROM documents WHERE collection_id = $1', [crashed.id])).toBe(1);
    const dupChunks = await store.db.query('SELECT document_id, ordinal FROM chunks GROUP BY document_id, ordinal HAVING count(*) > 1');
    expect(dupChunks.rows).toEqual([]);
    const dupDocs = await store.db.query('SELECT collection_id, source FROM documents GROUP BY collection_id, source HAVING count(*) > 1');
    expect(dupDocs.rows).toEqual([]);
  });
});
