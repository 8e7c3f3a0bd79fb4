import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** A request's spool directory older than this was left by a process that died mid-upload. */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;
const PREFIX = 'upload-';

const swept = new Set<string>();

/**
 * Creates one request's spool directory under `<dataDir>/spool` and returns it with its removal.
 * The first call per spool folder in a process also removes directories left by crashed processes.
 */
export async function createSpoolDir(dataDir: string): Promise<{ dir: string; discard: () => Promise<void> }> {
  const root = path.join(dataDir, 'spool');
  await mkdir(root, { recursive: true });
  if (!swept.has(root)) {
    swept.add(root);
    await removeStale(root);
  }
  const dir = await mkdtemp(path.join(root, PREFIX));
  return { dir, discard: () => rm(dir, { recursive: true, force: true }) };
}

async function removeStale(root: string): Promise<void> {
  const cutoff = Date.now() - STALE_AFTER_MS;
  for (const name of await readdir(root)) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(root, name);
    const info = await stat(dir).catch(() => null);
    if (info && info.mtimeMs < cutoff) await rm(dir, { recursive: true, force: true });
  }
}
