import fs from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { DenseIndex } from './dense-index.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { SqlStore } from './sql-store.ts';
import type { SqlExecutor } from './sql.ts';

type Queryable = Pick<PGlite, 'query'> | Transaction;

function executor(db: PGlite, q: Queryable = db, release: () => Promise<void> = async () => {}): SqlExecutor {
  return {
    query: async <T>(sql: string, params?: unknown[]) => {
      const result = await q.query<T>(sql, params);
      return { rows: result.rows };
    },
    transaction: (fn) => (q === db ? db.transaction((tx) => fn(executor(db, tx))) : fn(executor(db, q))), // nested: reuse the open transaction
    close: async () => {
      try {
        await db.close();
      } finally {
        await release();
      }
    },
    listen: async (channel, onNotice) => {
      const unlisten = await db.listen(channel, onNotice);
      return () => unlisten();
    },
  };
}

export interface PgliteOptions {
  /** Dense search in this index (Pinecone) instead of pgvector. */
  denseIndex?: DenseIndex;
  /** See SqlStoreOptions. */
  prefilterMaxChunks?: number;
  /** See SqlStoreOptions. */
  filteredEfSearch?: number;
  /** See SqlStoreOptions. */
  int8Scan?: boolean;
  /** See SqlStoreOptions. */
  int8MemoryMb?: number;
}

/** Embedded Postgres (WASM) persisted in `dataDir`, or in memory when dataDir is undefined. */
export async function openPgliteStore(dataDir?: string, options: PgliteOptions = {}): Promise<SqlStore> {
  if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
  const release = dataDir ? await lockDataDir(dataDir) : async () => {};
  try {
    const db = await PGlite.create({ dataDir, extensions: { vector } });
    const store = new SqlStore('pglite', executor(db, db, release), options.denseIndex, {
      prefilterMaxChunks: options.prefilterMaxChunks,
      filteredEfSearch: options.filteredEfSearch,
      int8Scan: options.int8Scan,
      int8MemoryMb: options.int8MemoryMb,
    });
    await store.migrate();
    return store;
  } catch (err) {
    await release();
    throw err;
  }
}
