import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { type CliRun, runCli, waitForOutput } from './helpers/cli-process.ts';
import { describeShared } from './helpers/shared.ts';

const GRACE_MS = 1500;
/**
 * After the grace: closing the store, the ledger and the limiters, and the SIGTERM handler's own wait
 * for the event loop (the semantic chunker holds it up to ~1 s at a time on an idle machine). Measured
 * 2.2–3.4 s in all; generous because this 2-core machine is shared and often loaded 10×.
 */
const MARGIN_MS = 15_000;

/** About 1.2 M characters of distinct sentences: hundreds of chunks, far more work than the grace allows. */
function longText(): string {
  const topics = ['glaciers', 'tides', 'volcanoes', 'deserts', 'rivers', 'forests', 'reefs', 'storms'];
  return Array.from(
    { length: 16_000 },
    (_, i) => `Paragraph ${i} notes that ${topics[i % topics.length]} change slowly over ${i + 3} thousand years of record.`,
  ).join('\n\n');
}

describeShared('SIGTERM to `ragline serve` while a job runs (real child process, PGlite in a temp dir)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-sigterm-'));
  let server: CliRun | undefined;

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 0 within the shutdown grace plus a margin, and leaves the running job queued with its upload', async () => {
    server = runCli(['serve', '--port', '0'], {
      RAGLINE_DATA_DIR: dataDir,
      RAGLINE_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      // Embedded PGlite whatever this test process inherited (an empty value counts as unset).
      DATABASE_URL: '',
      REDIS_URL: '',
    });
    const url = await waitForOutput(server, /http:\/\/[^\s)]+/);
    const post = (route: string, body: unknown) =>
      fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    expect((await post('/v1/collections', { name: 'long' })).status).toBe(201);
    const upload = await post('/v1/collections/long/documents', { source: 'long.txt', text: longText() });
    expect(upload.status).toBe(202);
    const id = ((await upload.json()) as { jobs: { id: string }[] }).jobs[0]!.id;

    // SIGTERM only once the job is really running.
    for (let state = 'queued'; state !== 'running'; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const job = (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { state: string };
      expect(['queued', 'running'], JSON.stringify(job)).toContain(job.state);
      state = job.state;
    }
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const tookMs = performance.now() - signalled;
    console.info(`[sigterm] serve exited ${code} after ${Math.round(tookMs)} ms (grace ${GRACE_MS} ms)`);
    const diagnostics = `exit ${code} after ${Math.round(tookMs)} ms; stderr: ${server.stderr().slice(-2000)}`;
    expect(code, diagnostics).toBe(0);
    expect(tookMs, diagnostics).toBeLessThan(GRACE_MS + MARGIN_MS);

    // Not lost: queued again for the next start, its upload still stored.
    const store = await openPgliteStore(path.join(dataDir, 'pglite'));
    try {
      const queue = JobQueue.forStore(store);
      const job = await queue.get(id);
      // The attempt is given back: shutdowns must not use up a job's retries until it fails for good.
      expect(job, server.stderr().slice(-2000)).toMatchObject({ state: 'queued', attempts: 0, lastError: { code: 'worker_stopped' } });
      expect(job!.uploadId).not.toBeNull();
      expect(await queue.getUpload(job!.uploadId!)).not.toBeNull();
    } finally {
      await store.close();
    }
  }, 400_000);
});
