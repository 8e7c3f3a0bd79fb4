import type { SqlExecutor } from './sql.ts';
import type { FrequencyDelta, FrequencyField, FrequencyTotals } from './types.ts';

export type { FrequencyDelta, FrequencyField, FrequencyTotals };

/** A collection's statistics for the terms asked for (frequencies of other terms read as 0). */
export interface LoadedFrequencies {
  chunkCount: number;
  averageLength: Record<FrequencyField, number>;
  frequency(field: FrequencyField, term: string): number;
}

/** At most this many terms per statement; a large document's delta is applied in several. */
const TERMS_PER_STATEMENT = 5000;

/**
 * Document frequencies kept in SQL per collection, for the query side of sparse BM25: replicas
 * share them, and no replica holds an index. Deltas are added in one transaction with the row
 * counts clamped at zero, and terms no chunk contains any more are deleted.
 */
export class SqlSparseFrequencies {
  constructor(private readonly db: SqlExecutor) {}

  async apply(collectionId: string, delta: FrequencyDelta): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO sparse_collection_stats AS s (collection_id, chunks, title_terms, text_terms)
         VALUES ($1, GREATEST($2::int, 0), GREATEST($3::bigint, 0), GREATEST($4::bigint, 0))
         ON CONFLICT (collection_id) DO UPDATE SET
           chunks = GREATEST(s.chunks + $2::int, 0),
           title_terms = GREATEST(s.title_terms + $3::bigint, 0),
           text_terms = GREATEST(s.text_terms + $4::bigint, 0)`,
        [collectionId, delta.chunks, delta.termCount.title, delta.termCount.text],
      );
      const changes = delta.terms.filter((t) => t.chunks !== 0);
      for (let i = 0; i < changes.length; i += TERMS_PER_STATEMENT) {
        const batch = changes.slice(i, i + TERMS_PER_STATEMENT);
        const added = batch.filter((t) => t.chunks > 0);
        const removed = batch.filter((t) => t.chunks < 0);
        if (added.length) {
          await tx.query(
            `INSERT INTO sparse_term_frequencies AS f (collection_id, field, term, chunks)
             SELECT $1, d.field, d.term, d.chunks FROM unnest($2::text[], $3::text[], $4::int[]) AS d(field, term, chunks)
             ON CONFLICT (collection_id, field, term) DO UPDATE SET chunks = f.chunks + EXCLUDED.chunks`,
            [collectionId, added.map((t) => t.field), added.map((t) => t.term), added.map((t) => t.chunks)],
          );
        }
        if (removed.length) {
          const params = [collectionId, removed.map((t) => t.field), removed.map((t) => t.term), removed.map((t) => t.chunks)];
          const removals = 'unnest($2::text[], $3::text[], $4::int[]) AS d(field, term, chunks)';
          // Terms no chunk holds any more go first; the others are then decremented.
          await tx.query(
            `DELETE FROM sparse_term_frequencies f USING ${removals}
             WHERE f.collection_id = $1 AND f.field = d.field AND f.term = d.term AND f.chunks + d.chunks <= 0`,
            params,
          );
          await tx.query(
            `UPDATE sparse_term_frequencies f SET chunks = f.chunks + d.chunks FROM ${removals}
             WHERE f.collection_id = $1 AND f.field = d.field AND f.term = d.term`,
            params,
          );
        }
      }
    });
  }

  /** Removes the collection's statistics (before a rebuild, inside its transaction). */
  async clear(collectionId: string): Promise<void> {
    await this.db.query('DELETE FROM sparse_term_frequencies WHERE collection_id = $1', [collectionId]);
    await this.db.query('DELETE FROM sparse_collection_stats WHERE collection_id = $1', [collectionId]);
  }

  /** Aggregates that tell whether the statistics still count every chunk (reconcile compares them). */
  async totals(collectionId: string): Promise<FrequencyTotals> {
    const stats = (
      await this.db.query<{ chunks: number; title_terms: string | number; text_terms: string | number }>(
        'SELECT chunks, title_terms, text_terms FROM sparse_collection_stats WHERE collection_id = $1',
        [collectionId],
      )
    ).rows[0];
    const terms = (
      await this.db.query<{ terms: number; postings: string | number | null }>(
        'SELECT count(*)::int AS terms, sum(chunks)::bigint AS postings FROM sparse_term_frequencies WHERE collection_id = $1',
        [collectionId],
      )
    ).rows[0];
    return {
      chunks: Number(stats?.chunks ?? 0),
      termCount: { title: Number(stats?.title_terms ?? 0), text: Number(stats?.text_terms ?? 0) },
      terms: Number(terms?.terms ?? 0),
      postings: Number(terms?.postings ?? 0),
    };
  }

  /** The collection's counts and the frequencies of `terms` (a query's analyzed terms). */
  async load(collectionId: string, terms: string[]): Promise<LoadedFrequencies> {
    const stats = (
      await this.db.query<{ chunks: number; title_terms: string | number; text_terms: string | number }>(
        'SELECT chunks, title_terms, text_terms FROM sparse_collection_stats WHERE collection_id = $1',
        [collectionId],
      )
    ).rows[0];
    const unique = [...new Set(terms)];
    const rows = unique.length
      ? (
          await this.db.query<{ field: FrequencyField; term: string; chunks: number }>(
            'SELECT field, term, chunks FROM sparse_term_frequencies WHERE collection_id = $1 AND term = ANY($2::text[])',
            [collectionId, unique],
          )
        ).rows
      : [];
    const counts = new Map(rows.map((r) => [`${r.field}\u0000${r.term}`, Number(r.chunks)]));
    const chunkCount = Number(stats?.chunks ?? 0);
    const per = Math.max(1, chunkCount);
    return {
      chunkCount,
      averageLength: { title: Number(stats?.title_terms ?? 0) / per, text: Number(stats?.text_terms ?? 0) / per },
      frequency: (field, term) => counts.get(`${field}\u0000${term}`) ?? 0,
    };
  }
}
