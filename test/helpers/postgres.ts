import { describe, it } from 'vitest';
import type { ChunkInput } from '../../store/types.ts';
import { chunkInput } from '../../testkit/scifact-fixture.ts';
import { PG_ADMIN_URL, postgresUnavailable, unreachableReason } from '../../testkit/scratch-database.ts';

export * from '../../testkit/scratch-database.ts';

type Describe = (name: string, fn: () => void) => void;

/**
 * A describe() that runs when `why` is null. Otherwise it skips with the reason in its name, except under CI, where a
 * server the tests need and cannot use is a failure.
 */
function describeUnless(why: string | null): Describe {
  return (name, fn) => {
    if (!why) return describe(name, fn);
    if (process.env.CI) {
      return describe(name, () => {
        it('needs a usable Postgres server', () => {
          throw new Error(why);
        });
      });
    }
    console.warn(`[ragline tests] ${name}: skipped: ${why}`);
    return describe.skip(`${name} [skipped: ${why}]`, fn);
  };
}

/**
 * A describe() for tests that need the Postgres server (PG_ADMIN_URL). Async so that merely
 * importing this module (bench/store.ts does) opens no connection.
 */
export async function describePostgres(): Promise<Describe> {
  const reason = await unreachableReason();
  return describeUnless(reason && `Postgres unreachable at ${PG_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')}: ${reason}`);
}

/** A describe() for tests of the Postgres store itself, which need the store test server with pgvector >= 0.8 (TEST_SERVER_URL). */
export async function describeStoreServer(): Promise<Describe> {
  return describeUnless(await postgresUnavailable());
}

/** A 3-d vector on a circle, so that nearby seeds are nearby vectors: what the store-server tests search for. */
export const seededVector = (seed: number): number[] => [Math.cos(seed), Math.sin(seed), 0.5];

/** A one-token chunk with the seededVector of `seed`, for a collection of 3 dimensions. */
export const seededChunk = (ordinal: number, text: string, seed: number): ChunkInput =>
  chunkInput(ordinal, text, seededVector(seed), { tokenCount: 1 });
