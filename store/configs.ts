import type { LocalCollectionChanges } from './collection-changes.ts';
import type { SqlExecutor } from './sql.ts';

/** One immutable version of a named configuration of a collection. */
export interface ConfigVersion {
  collectionId: string;
  name: string;
  version: number;
  settings: Record<string, unknown>;
  note: string | null;
  createdBy: string | null;
  createdAt: string;
}

export interface ExperimentVariant {
  config: string;
  percent: number;
}

export interface Experiment {
  collectionId: string;
  name: string;
  variants: ExperimentVariant[];
  state: 'running' | 'stopped';
  winner: string | null;
  startedBy: string | null;
  startedAt: string;
  stoppedAt: string | null;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const stringOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

function toVersion(r: Record<string, unknown>): ConfigVersion {
  return {
    collectionId: String(r.collection_id),
    name: String(r.name),
    version: Number(r.version),
    settings: (r.settings as Record<string, unknown>) ?? {},
    note: stringOrNull(r.note),
    createdBy: stringOrNull(r.created_by),
    createdAt: iso(r.created_at),
  };
}

function toExperiment(r: Record<string, unknown>): Experiment {
  return {
    collectionId: String(r.collection_id),
    name: String(r.name),
    variants: r.variants as ExperimentVariant[],
    state: r.state as Experiment['state'],
    winner: stringOrNull(r.winner),
    startedBy: stringOrNull(r.started_by),
    startedAt: iso(r.started_at),
    stoppedAt: r.stopped_at === null || r.stopped_at === undefined ? null : iso(r.stopped_at),
  };
}

/** Rows a history or list returns at most: a config with thousands of versions is paged. */
export const MAX_LIST_ROWS = 500;

/**
 * Collection configurations and experiments (migrations/011_experiments.sql). Every write also
 * moves the collection's version, as a document write does: what a collection answers depends on
 * its configs, so caches keyed by the version (answers, resolved configs) never serve the old
 * behaviour, and other replicas hear of the change through the collection NOTIFY.
 */
export class ConfigStore {
  constructor(
    private readonly db: SqlExecutor,
    private readonly localChanges?: LocalCollectionChanges,
  ) {}

  /** Runs `write` with the collection's version moved in the same transaction, then tells this process's caches. */
  private async changing<T>(collectionId: string, write: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const result = await this.db.transaction(async (tx) => {
      const written = await write(tx);
      await tx.query('UPDATE collections SET version = version + 1 WHERE id = $1', [collectionId]);
      return written;
    });
    this.localChanges?.announce({ collectionId, deleted: false });
    return result;
  }

  /** Appends the next version of `name` (1 for a new name); the version number is taken under a row lock. */
  async addVersion(input: {
    collectionId: string;
    name: string;
    settings: Record<string, unknown>;
    note: string | null;
    createdBy: string | null;
  }): Promise<ConfigVersion> {
    return this.changing(input.collectionId, async (tx) => {
      // Serialises concurrent writers of one collection's configs, so two never take the same number.
      await tx.query('SELECT id FROM collections WHERE id = $1 FOR UPDATE', [input.collectionId]);
      const { rows } = await tx.query<{ next: number }>(
        'SELECT coalesce(max(version), 0)::int + 1 AS next FROM collection_configs WHERE collection_id = $1 AND name = $2',
        [input.collectionId, input.name],
      );
      const inserted = await tx.query(
        `INSERT INTO collection_configs (collection_id, name, version, settings, note, created_by)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING *`,
        [input.collectionId, input.name, rows[0]!.next, JSON.stringify(input.settings), input.note, input.createdBy],
      );
      return toVersion(inserted.rows[0]!);
    });
  }

  /** The newest version of `name`, or the given one; null when there is none. */
  async getVersion(collectionId: string, name: string, version?: number): Promise<ConfigVersion | null> {
    const { rows } =
      version === undefined
        ? await this.db.query('SELECT * FROM collection_configs WHERE collection_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1', [
            collectionId,
            name,
          ])
        : await this.db.query('SELECT * FROM collection_configs WHERE collection_id = $1 AND name = $2 AND version = $3', [
            collectionId,
            name,
            version,
          ]);
    return rows[0] ? toVersion(rows[0]) : null;
  }

  /** Versions of `name`, newest first. */
  async history(collectionId: string, name: string, limit = MAX_LIST_ROWS): Promise<ConfigVersion[]> {
    const { rows } = await this.db.query(
      'SELECT * FROM collection_configs WHERE collection_id = $1 AND name = $2 ORDER BY version DESC LIMIT $3',
      [collectionId, name, Math.min(limit, MAX_LIST_ROWS)],
    );
    return rows.map(toVersion);
  }

  /** The newest version of every name of the collection. */
  async latestVersions(collectionId: string): Promise<ConfigVersion[]> {
    const { rows } = await this.db.query(
      `SELECT DISTINCT ON (name) * FROM collection_configs WHERE collection_id = $1 ORDER BY name, version DESC LIMIT ${MAX_LIST_ROWS}`,
      [collectionId],
    );
    return rows.map(toVersion);
  }

  /**
   * The config names of several collections at once (for the OpenAI model list), each with the time
   * of its first version, at most `limit` rows, ordered by collection and name.
   */
  async namesOf(collectionIds: string[], limit: number): Promise<{ collectionId: string; name: string; createdAt: string }[]> {
    if (collectionIds.length === 0) return [];
    const { rows } = await this.db.query(
      `SELECT collection_id, name, min(created_at) AS created_at FROM collection_configs
       WHERE collection_id = ANY($1::uuid[]) GROUP BY collection_id, name ORDER BY collection_id, name LIMIT $2`,
      [collectionIds, limit],
    );
    return rows.map((r) => ({ collectionId: String(r.collection_id), name: String(r.name), createdAt: iso(r.created_at) }));
  }

  async activeName(collectionId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ name: string }>('SELECT name FROM collection_active_configs WHERE collection_id = $1', [
      collectionId,
    ]);
    return rows[0]?.name ?? null;
  }

  async setActive(collectionId: string, name: string): Promise<void> {
    await this.changing(collectionId, (tx) =>
      tx.query(
        `INSERT INTO collection_active_configs (collection_id, name) VALUES ($1, $2)
         ON CONFLICT (collection_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()`,
        [collectionId, name],
      ),
    );
  }

  async runningExperiment(collectionId: string): Promise<Experiment | null> {
    const { rows } = await this.db.query("SELECT * FROM experiments WHERE collection_id = $1 AND state = 'running'", [collectionId]);
    return rows[0] ? toExperiment(rows[0]) : null;
  }

  async getExperiment(collectionId: string, name: string): Promise<Experiment | null> {
    const { rows } = await this.db.query('SELECT * FROM experiments WHERE collection_id = $1 AND name = $2', [collectionId, name]);
    return rows[0] ? toExperiment(rows[0]) : null;
  }

  async listExperiments(collectionId: string): Promise<Experiment[]> {
    const { rows } = await this.db.query(
      `SELECT * FROM experiments WHERE collection_id = $1 ORDER BY started_at DESC LIMIT ${MAX_LIST_ROWS}`,
      [collectionId],
    );
    return rows.map(toExperiment);
  }

  /** Inserts a running experiment; null when the name is taken or another experiment is running. */
  async startExperiment(input: {
    collectionId: string;
    name: string;
    variants: ExperimentVariant[];
    startedBy: string | null;
  }): Promise<Experiment | null> {
    const { rows } = await this.changing(input.collectionId, (tx) =>
      tx.query(
        `INSERT INTO experiments (collection_id, name, variants, state, started_by) VALUES ($1, $2, $3::jsonb, 'running', $4)
         ON CONFLICT DO NOTHING RETURNING *`,
        [input.collectionId, input.name, JSON.stringify(input.variants), input.startedBy],
      ),
    );
    return rows[0] ? toExperiment(rows[0]) : null;
  }

  /** Stops the running experiment `name`, making `winner` the active config in the same transaction. */
  async stopExperiment(collectionId: string, name: string, winner: string): Promise<Experiment | null> {
    return this.changing(collectionId, async (tx) => {
      const { rows } = await tx.query(
        `UPDATE experiments SET state = 'stopped', winner = $3, stopped_at = now()
         WHERE collection_id = $1 AND name = $2 AND state = 'running' RETURNING *`,
        [collectionId, name, winner],
      );
      if (!rows[0]) return null;
      await tx.query(
        `INSERT INTO collection_active_configs (collection_id, name) VALUES ($1, $2)
         ON CONFLICT (collection_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()`,
        [collectionId, winner],
      );
      return toExperiment(rows[0]);
    });
  }
}
