import { describe, it } from 'vitest';
import { PG_ADMIN_URL, unreachableReason } from '../../testkit/scratch-database.ts';

export * from '../../testkit/scratch-database.ts';

/**
 * A describe() for tests that need the Postgres server: it skips with the reason in its name when
 * the server is unreachable, except under CI, where that is a failure. Async so that merely
 * importing this module (bench/store.ts does) opens no connection.
 */
export async function describePostgres(): Promise<(name: string, fn: () => void) => void> {
  const reason = await unreachableReason();
  return (name, fn) => {
    if (!reason) return describe(name, fn);
    const why = `Postgres unreachable at ${PG_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')}: ${reason}`;
    if (process.env.CI) {
      return describe(name, () => {
        it('needs a reachable Postgres server', () => {
          throw new Error(why);
        });
      });
    }
    console.warn(`[ragline tests] ${name}: skipped: ${why}`);
    return describe.skip(`${name} [skipped: ${why}]`, fn);
  };
}
