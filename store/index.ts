import path from 'node:path';
import type { Config } from '../core/config.ts';
import { PineconeDenseIndex } from './pinecone.ts';
import { openPgliteStore } from './pglite.ts';
import { openPostgresStore } from './postgres.ts';
import type { SqlStore } from './sql-store.ts';

/**
 * The Postgres server named by DATABASE_URL when set; otherwise embedded PGlite under the data
 * directory. With Pinecone settings, dense search runs in Pinecone; everything else stays in SQL.
 */
export function openStore(config: Config): Promise<SqlStore> {
  const denseIndex = config.pinecone ? new PineconeDenseIndex(config.pinecone) : undefined;
  const { prefilterMaxChunks, filteredEfSearch } = config.denseSearch;
  if (config.databaseUrl) return openPostgresStore(config.databaseUrl, { denseIndex, prefilterMaxChunks, filteredEfSearch });
  const { int8Scan, int8MemoryMb } = config.denseSearch;
  return openPgliteStore(path.join(config.dataDir, 'pglite'), { denseIndex, prefilterMaxChunks, filteredEfSearch, int8Scan, int8MemoryMb });
}
