/** The little a SQL store needs from a driver; PGlite and node-postgres both fit behind it. */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Subscribes to NOTIFY on `channel` (PGlite: in process; Postgres: a dedicated connection).
   * `onResubscribed` runs after the subscription was lost and restored: notices sent in between
   * are gone, so the caller re-checks what it caches. Resolves to an unsubscribe function.
   */
  listen?(channel: string, onNotice: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>>;
}

/** pgvector's text form; both drivers send it as a parameter cast to ::vector. */
export function toVectorLiteral(vector: Float32Array | number[]): string {
  let out = '[';
  for (let i = 0; i < vector.length; i++) {
    const v = vector[i]!;
    if (!Number.isFinite(v)) throw new Error(`embedding has a non-finite value at ${i}`);
    out += (i ? ',' : '') + v;
  }
  return `${out}]`;
}
