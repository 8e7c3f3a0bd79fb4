import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlExecutor } from './sql.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations');

/** Splits a migration into statements; our migrations keep `;` out of strings and bodies. */
function statements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}

/**
 * Applies migrations/NNN_*.sql in name order, each in its own transaction, recording each in
 * ragline_migrations. An advisory lock serialises concurrent starters (API + workers).
 */
export async function migrate(db: SqlExecutor): Promise<string[]> {
  const files = fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort();
  const applied: string[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(727271)');
    await tx.query('CREATE TABLE IF NOT EXISTS ragline_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM ragline_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      for (const statement of statements(fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8'))) {
        await tx.query(statement);
      }
      await tx.query('INSERT INTO ragline_migrations (name) VALUES ($1)', [file]);
      applied.push(file);
    }
  });
  return applied;
}
