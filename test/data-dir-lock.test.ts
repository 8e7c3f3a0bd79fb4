import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openPgliteStore } from '../store/pglite.ts';
import { type CliRun, runCli, waitForOutput } from './helpers/cli-process.ts';
import { describeShared } from './helpers/shared.ts';

describeShared('exclusive lock on the PGlite data dir (real child processes)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-lock-'));
  const file = path.join(dataDir, '..', `${path.basename(dataDir)}-note.txt`);
  fs.writeFileSync(file, 'Glaciers carve valleys slowly over many thousands of years.');
  const env = { RAGLINE_DATA_DIR: dataDir };
  let server: CliRun | undefined;

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  });

  it('refuses `ragline ingest` with exit 2 while `ragline serve` holds the dir, and works once the server stopped', async () => {
    server = runCli(['serve', '--port', '0'], env);
    await waitForOutput(server, /listening on http:\/\/\S+/);

    const refused = runCli(['ingest', file, '--collection', 'notes'], env);
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toMatch(/data dir .* is in use by another Ragline process/);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const accepted = runCli(['ingest', file, '--collection', 'notes'], env);
    expect(await accepted.exited).toBe(0);
    // The collection survives: nothing else wrote a diverging copy of the database.
    const store = await openPgliteStore(path.join(dataDir, 'pglite'));
    try {
      const notes = await store.getCollection('notes');
      expect(notes).not.toBeNull();
      expect(await store.countChunks(notes!.id)).toBe(1);
    } finally {
      await store.close();
    }
  }, 400_000); // three CLI processes start one after another, on a shared machine
});
