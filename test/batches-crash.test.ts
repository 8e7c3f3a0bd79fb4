import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AnswerService } from '../answer/service.ts';
import { configSchema } from '../core/config.ts';
import { BATCH_JOB_KIND, Batches } from '../facade/batches.ts';
import { pipelineProcessor } from '../facade/job-processor.ts';
import { type Operations, openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobWorker } from '../ingest/jobs/worker.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { pollUntil } from './helpers/poll.ts';
import { type TempDatabase, createTempDatabase, describePostgres } from './helpers/postgres.ts';
import { killGroup, spawnRagline } from './helpers/processes.ts';
import { SHARED_AVAILABLE, describeShared } from './helpers/shared.ts';

const FAQ = fs.readFileSync(new URL('../fixtures/faq.txt', import.meta.url));
const ASKED = [
  'Can Ragline read password-protected PDFs?',
  'Why was my scanned PDF rejected?',
  'Which file types can I upload?',
  'What does a citation contain?',
  'Does ingesting the same file twice create duplicates?',
  'Why did Ragline answer "I don\'t know"?',
];
// Enough questions that the worker is still busy when it is killed (the answer cache is off, so repeats are answered again).
const QUESTIONS = [...ASKED, ...ASKED, ...ASKED];
const describeCrash = SHARED_AVAILABLE ? await describePostgres() : describeShared;

describeCrash('a batch survives its worker process being SIGKILLed (Postgres server, child process)', () => {
  let db: TempDatabase;
  let store: SqlStore;
  let ragline: Ragline;
  let operations: Operations;
  let child: ChildProcess | undefined;
  let rescuer: JobWorker | undefined;

  beforeAll(async () => {
    db = await createTempDatabase('ragline_batch_crash');
    store = await openPostgresStore(db.url);
    const config = configSchema.parse({ answer: { generator: 'extractive' }, operations: { answerCacheSize: 0 } });
    ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    operations = openOperations(ragline, AnswerService.fromConfig(ragline));
  });

  afterAll(async () => {
    if (child) await killGroup(child);
    await rescuer?.stop();
    await operations?.close();
    await store?.close();
    await db?.drop();
  });

  it('questions answered before the kill keep their answers; another worker takes over and finishes the rest', {
    timeout: 600_000,
  }, async () => {
    const guide = await ragline.createCollection('guide');
    await ragline.ingest(guide, [{ source: 'faq.txt', bytes: FAQ, mime: 'text/plain' }]);
    const batches = Batches.fromOperations(ragline, operations.queries);
    const batch = await batches.submit({ requestId: 'submit', tenantId: 'default', keyId: null }, guide, {
      questions: QUESTIONS,
      settings: {},
    });

    const worker = spawnRagline(['worker', '--poll-ms', '100', '--heartbeat-ms', '500', '--stale-ms', '2000'], db.url, {
      RAGLINE_ANSWER_GENERATOR: 'extractive',
      RAGLINE_ANSWER_CACHE_SIZE: '0',
      RAGLINE_LOG_LEVEL: 'info',
    });
    child = worker.child;
    await pollUntil(
      async () => {
        if (child!.exitCode !== null) throw new Error(`the worker exited early (${child!.exitCode}):\n${worker.output()}`);
        return ((await batches.progress(batch.id, guide))?.succeeded ?? 0) >= 2;
      },
      'the worker process answered two questions',
      300_000,
      50,
    );
    await killGroup(child);
    child = undefined;
    const before = (await batches.store.items(batch.id, -1, 100)).filter((i) => i.state === 'succeeded');
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.length).toBeLessThan(QUESTIONS.length);

    rescuer = new JobWorker(JobQueue.forStore(store), pipelineProcessor(ragline), {
      pollMs: 50,
      staleMs: 2000,
      workerId: 'rescuer',
      tasks: { [BATCH_JOB_KIND]: batches.processor() },
    }).start();
    await pollUntil(async () => (await batches.progress(batch.id, guide))?.state === 'completed', 'the batch completed', 300_000, 100);
    // The killed process may have recorded its last answer but not finished that job: the batch is
    // complete already, and the rescuer claims the job once its heartbeat is stale and closes it.
    const jobStates = async () =>
      (await store.db.query<{ state: string; locked_by: string }>("SELECT state, locked_by FROM ingest_jobs WHERE kind = 'batch_question'"))
        .rows;
    await pollUntil(async () => (await jobStates()).every((r) => r.state === 'succeeded'), 'every question job succeeded', 60_000, 100);
    await rescuer.stop();

    const lines: { position: number; state: string; kind: string; requestId: string }[] = [];
    for await (const line of batches.results(batch.id)) lines.push(JSON.parse(line));
    expect(lines.map((l) => [l.position, l.state, l.kind])).toEqual(QUESTIONS.map((_, i) => [i, 'succeeded', 'extractive']));
    for (const done of before) expect(lines[done.position]?.requestId).toBe(done.requestId);
    // The rescuer ran every question the dead process had not answered, and at most the one job it
    // was in the middle of closing (its answer kept: the requestIds above did not change).
    const rescued = (await jobStates()).filter((r) => r.locked_by === 'rescuer').length;
    expect(rescued).toBeGreaterThanOrEqual(QUESTIONS.length - before.length);
    expect(rescued).toBeLessThanOrEqual(QUESTIONS.length - before.length + 1);
  });
});
