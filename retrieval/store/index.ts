import path from 'node:path';
import type { Config } from '../../core/config.ts';
import { openPgliteStore } from './pglite.ts';
import { openPostgresStore } from './postgres.ts';
import type { SqlStore } from './sql-store.ts';

/** The Postgres server named by DATABASE_URL when set; otherwise embedded PGlite under the data directory. */
export function openStore(config: Config): Promise<SqlStore> {
  if (config.databaseUrl) return openPostgresStore(config.databaseUrl);
  return openPgliteStore(path.join(config.dataDir, 'pglite'));
}
