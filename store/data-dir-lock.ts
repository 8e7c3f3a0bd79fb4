import path from 'node:path';
import lockfile from 'proper-lockfile';
import { RaglineError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';

/** The lock is refreshed this often; a lock not refreshed for `STALE_MS` belonged to a dead process. */
const UPDATE_MS = 5_000;
const STALE_MS = 20_000;

/**
 * An exclusive, inter-process lock on an embedded database's folder. PGlite is one process's
 * database: a second process opening the same folder writes a diverging copy that one of them
 * later overwrites. So the second process is refused, and told to talk to the running server.
 * Returns the function that releases the lock.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dataDir, '.ragline.lock');
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: lockPath,
      update: UPDATE_MS,
      stale: STALE_MS,
      realpath: false,
      // A missed refresh (a long stall) must not crash the process holding the database.
      onCompromised: (err) => logger.warn({ err: err.message, dataDir }, 'data dir lock could not be refreshed'),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    throw new RaglineError(
      'invalid_config',
      `the data dir ${dataDir} is in use by another Ragline process (e.g. \`ragline serve\`). ` +
        'Stop it first, or send the work to the running server over HTTP (POST /v1/collections/:id/documents); ' +
        'to run several processes at once, use a Postgres server (DATABASE_URL).',
      { dataDir, lock: lockPath },
    );
  }
}
