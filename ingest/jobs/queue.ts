import { createReadStream } from 'node:fs';
import type { Limits } from '../../core/config.ts';
import { RaglineError, notFound } from '../../core/errors.ts';
import { SqlStore } from '../../store/sql-store.ts';
import type { SqlExecutor } from '../../store/sql.ts';
import type { Store } from '../../store/types.ts';
import {
  isTerminal,
  type Job,
  type JobError,
  type JobKind,
  type JobProgress,
  type JobResult,
  type JobState,
  type TaskInput,
  type SpooledFile,
  type Upload,
  type UploadInput,
} from './types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_STALE_MS = 30_000;

export interface QueueOptions {
  /** Attempts before a job ends `failed` (default 3). */
  maxAttempts?: number;
  /** Delay before attempt n+1 after a transient failure of attempt n (default 2 s · 2^(n-1), at most 5 min). */
  retryDelayMs?: (attempt: number) => number;
  /** Days a succeeded job's upload is kept; 0 (the default) deletes it as soon as the job succeeded. */
  uploadRetentionDays?: number;
  /** Days a failed job's upload is kept so the job can be retried (default 7). */
  failedUploadRetentionDays?: number;
}

/** The queue settings that come from the configuration. */
export function queueOptionsFromLimits(limits: Pick<Limits, 'uploadRetentionDays' | 'failedUploadRetentionDays'>): QueueOptions {
  return { uploadRetentionDays: limits.uploadRetentionDays, failedUploadRetentionDays: limits.failedUploadRetentionDays };
}

/** A deleted document's finished jobs keep their id and state, not what they said about it. */
export const DELETED_SOURCE = '[deleted]';

/** Identifies one attempt: a worker that lost its job to a reclaim can no longer write to it. */
export interface Lease {
  jobId: string;
  workerId: string;
  attempt: number;
}

const iso = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

function toJob(r: Record<string, unknown>): Job {
  return {
    id: String(r.id),
    kind: (r.kind as JobKind | undefined) ?? 'ingest',
    priority: Number(r.priority ?? 0),
    payload: (r.payload as Record<string, unknown> | null) ?? {},
    uploadId: r.upload_id === null || r.upload_id === undefined ? null : String(r.upload_id),
    collectionId: String(r.collection_id),
    source: String(r.source),
    state: r.state as JobState,
    progress: (r.progress as JobProgress) ?? {},
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    lastError: (r.last_error as JobError | null) ?? null,
    result: (r.result as JobResult | null) ?? null,
    lockedBy: (r.locked_by as string | null) ?? null,
    heartbeatAt: iso(r.heartbeat_at),
    runAfter: iso(r.run_after)!,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

const COLUMN_NAMES = [
  'id',
  'kind',
  'priority',
  'payload',
  'upload_id',
  'collection_id',
  'source',
  'state',
  'progress',
  'attempts',
  'max_attempts',
  'last_error',
  'result',
  'locked_by',
  'heartbeat_at',
  'run_after',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
];
const columns = (prefix = '') => COLUMN_NAMES.map((c) => prefix + c).join(', ');
const JOB_COLUMNS = columns();

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const EMPTY = Buffer.alloc(0);

/** Size of one stored part of a spooled upload: small enough to keep the copy's memory flat. */
export const UPLOAD_PART_BYTES = 1024 * 1024;

/** Copies a spooled file into upload_parts one part at a time (never the whole file in memory). */
async function storeParts(tx: SqlExecutor, uploadId: string, file: SpooledFile): Promise<void> {
  let part = 0;
  let stored = 0;
  for await (const chunk of createReadStream(file.path, { highWaterMark: UPLOAD_PART_BYTES })) {
    const bytes = chunk as Buffer;
    await tx.query('INSERT INTO upload_parts (upload_id, part, bytes) VALUES ($1, $2, $3)', [uploadId, part, bytes]);
    part += 1;
    stored += bytes.byteLength;
  }
  // The spool file is ours alone; a size that moved means it was touched, and storing it would lie.
  if (stored !== file.sizeBytes) throw new Error(`spooled upload changed size while stored (${stored} of ${file.sizeBytes} bytes)`);
  await tx.query('UPDATE uploads SET parts = $2 WHERE id = $1', [uploadId, part]);
}

/** The bytes of an upload stored in parts, assembled into one buffer of the recorded size. */
async function readParts(db: SqlExecutor, uploadId: string, parts: number, sizeBytes: number): Promise<Uint8Array> {
  const whole = Buffer.alloc(sizeBytes);
  let offset = 0;
  for (let part = 0; part < parts; part++) {
    const { rows } = await db.query<{ bytes: Uint8Array }>('SELECT bytes FROM upload_parts WHERE upload_id = $1 AND part = $2', [
      uploadId,
      part,
    ]);
    const bytes = rows[0]?.bytes;
    if (!bytes || offset + bytes.byteLength > sizeBytes)
      throw new Error(`upload ${uploadId} is missing part ${part} or has too many bytes`);
    whole.set(bytes, offset);
    offset += bytes.byteLength;
  }
  if (offset !== sizeBytes) throw new Error(`upload ${uploadId} holds ${offset} of its ${sizeBytes} bytes`);
  return whole;
}

/**
 * The durable ingestion queue, in the same database as the documents. Every state change is one
 * statement (or one short transaction), so any number of workers can share the table.
 */
/** Jobs resolve through their collection's tenant; a null tenant parameter (internal callers) matches every job. */
const IN_TENANT = (param: string) =>
  `(${param}::text IS NULL OR collection_id IN (SELECT id FROM collections WHERE tenant_id = ${param} AND deleted_at IS NULL))`;

export class JobQueue {
  private readonly maxAttempts: number;
  private readonly retryDelayMs: (attempt: number) => number;
  private readonly uploadRetentionDays: number;
  private readonly failedUploadRetentionDays: number;

  constructor(
    private readonly db: SqlExecutor,
    options: QueueOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.retryDelayMs = options.retryDelayMs ?? ((n) => Math.min(300_000, 2000 * 2 ** (n - 1)));
    this.uploadRetentionDays = options.uploadRetentionDays ?? 0;
    this.failedUploadRetentionDays = Math.max(this.uploadRetentionDays, options.failedUploadRetentionDays ?? 7);
  }

  /** The queue in the store's database; only SQL stores can hold one. */
  static forStore(store: Store, options?: QueueOptions): JobQueue {
    if (!(store instanceof SqlStore)) {
      throw new RaglineError('invalid_config', `ingestion jobs need a SQL store (PGlite or Postgres), not ${store.kind}`);
    }
    return new JobQueue(store.db, options);
  }

  /** Stores the uploads' bytes and one queued job per upload, all or nothing. */
  async enqueue(collectionId: string, uploads: UploadInput[], options: { maxAttempts?: number } = {}): Promise<Job[]> {
    const maxAttempts = options.maxAttempts ?? this.maxAttempts;
    return this.db.transaction(async (tx) => {
      const jobs: Job[] = [];
      for (const u of uploads) {
        const { rows } = await tx.query<{ id: string }>(
          `INSERT INTO uploads (collection_id, source, mime_hint, title, metadata, bytes, size_bytes)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) RETURNING id`,
          [
            collectionId,
            u.source,
            u.mimeHint ?? null,
            u.title ?? null,
            JSON.stringify(u.metadata ?? {}),
            u.file ? EMPTY : asBuffer(u.bytes),
            u.file ? u.file.sizeBytes : u.bytes.byteLength,
          ],
        );
        if (u.file) await storeParts(tx, rows[0]!.id, u.file);
        const job = await tx.query(
          `INSERT INTO ingest_jobs (upload_id, collection_id, source, max_attempts, progress)
           VALUES ($1, $2, $3, $4, '{"stage":"queued"}'::jsonb) RETURNING ${JOB_COLUMNS}`,
          [rows[0]!.id, collectionId, u.source, maxAttempts],
        );
        jobs.push(toJob(job.rows[0]!));
      }
      return jobs;
    });
  }

  /**
   * Queues jobs of another kind than ingestion (no upload), in one statement; `db` lets a caller
   * enqueue inside its own transaction.
   */
  async enqueueTasks(
    collectionId: string,
    kind: Exclude<JobKind, 'ingest'>,
    tasks: TaskInput[],
    options: { priority: number; maxAttempts?: number },
    db: SqlExecutor = this.db,
  ): Promise<number> {
    if (!tasks.length) return 0;
    const { rows } = await db.query<{ n: number }>(
      `WITH inserted AS (
         INSERT INTO ingest_jobs (collection_id, kind, priority, source, payload, max_attempts, progress, created_at)
         SELECT $1, $2, $3, t.value->>'source', t.value->'payload', $4, '{"stage":"queued"}'::jsonb,
                -- one microsecond apart, so claims follow the order given (now() is one value per transaction)
                now() + t.ordinality * interval '1 microsecond'
         FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY t
         RETURNING 1)
       SELECT count(*)::int AS n FROM inserted`,
      [collectionId, kind, options.priority, options.maxAttempts ?? this.maxAttempts, JSON.stringify(tasks)],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** With `tenantId`, only a job whose collection belongs to that tenant (and is not deleted) is found. */
  async get(id: string, tenantId?: string): Promise<Job | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query(`SELECT ${JOB_COLUMNS} FROM ingest_jobs WHERE id = $1 AND ${IN_TENANT('$2')}`, [
      id,
      tenantId ?? null,
    ]);
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** `collectionIds` narrows to those collections (an empty list matches nothing). */
  async list(
    filter: {
      state?: JobState;
      collectionId?: string;
      collectionIds?: string[];
      tenantId?: string;
      limit?: number;
      offset?: number;
      /** Ingestion jobs unless told otherwise: a batch's per-question jobs would drown them. */
      kind?: JobKind;
    } = {},
  ): Promise<Job[]> {
    const { rows } = await this.db.query(
      `SELECT ${JOB_COLUMNS} FROM ingest_jobs
       WHERE ($1::text IS NULL OR state = $1) AND ($2::uuid IS NULL OR collection_id = $2) AND ${IN_TENANT('$5')}
         AND ($6::uuid[] IS NULL OR collection_id = ANY($6::uuid[])) AND kind = $7
       ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`,
      [
        filter.state ?? null,
        filter.collectionId ?? null,
        filter.limit ?? 50,
        filter.offset ?? 0,
        filter.tenantId ?? null,
        filter.collectionIds ?? null,
        filter.kind ?? 'ingest',
      ],
    );
    return rows.map(toJob);
  }

  async getUpload(id: string): Promise<Upload | null> {
    const { rows } = await this.db.query('SELECT * FROM uploads WHERE id = $1', [id]);
    const r = rows[0];
    if (!r) return null;
    return {
      id: String(r.id),
      collectionId: String(r.collection_id),
      source: String(r.source),
      mimeHint: (r.mime_hint as string | null) ?? null,
      title: (r.title as string | null) ?? null,
      metadata: (r.metadata as Record<string, unknown>) ?? {},
      bytes: Number(r.parts) > 0 ? await readParts(this.db, String(r.id), Number(r.parts), Number(r.size_bytes)) : (r.bytes as Uint8Array),
      seq: Number(r.seq),
    };
  }

  /**
   * Takes the runnable job of highest priority, oldest first: queued (and past its backoff), or
   * running with a heartbeat older than `staleMs` (its worker died). Jobs that died on their last
   * attempt end `failed`.
   */
  async claim(workerId: string, staleMs = DEFAULT_STALE_MS): Promise<Job | null> {
    await this.db.query(
      `UPDATE ingest_jobs SET state = 'failed', finished_at = now(), updated_at = now(),
         last_error = jsonb_build_object('code', 'worker_lost', 'message',
           'worker ' || coalesce(locked_by, '?') || ' stopped sending heartbeats during attempt ' || attempts || ' of ' || max_attempts)
       WHERE state = 'running' AND heartbeat_at < now() - $1::int * interval '1 millisecond' AND attempts >= max_attempts`,
      [staleMs],
    );
    const { rows } = await this.db.query(
      `WITH next AS (
         SELECT id FROM ingest_jobs
         WHERE (state = 'queued' AND run_after <= now())
            OR (state = 'running' AND heartbeat_at < now() - $2::int * interval '1 millisecond' AND attempts < max_attempts)
         ORDER BY priority DESC, created_at, id
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
       UPDATE ingest_jobs j SET
         state = 'running', locked_by = $1, heartbeat_at = now(), attempts = j.attempts + 1,
         last_error = CASE WHEN j.state = 'running' THEN jsonb_build_object('code', 'worker_lost', 'message',
           'worker ' || coalesce(j.locked_by, '?') || ' stopped sending heartbeats during attempt ' || j.attempts)
           ELSE j.last_error END,
         progress = '{"stage":"queued"}'::jsonb, started_at = now(), finished_at = NULL, updated_at = now()
       FROM next WHERE j.id = next.id
       RETURNING ${columns('j.')}`,
      [workerId, staleMs],
    );
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** Proves the worker is alive and records progress. False when the lease was lost (reclaimed). */
  async heartbeat(lease: Lease, progress?: JobProgress): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE ingest_jobs SET heartbeat_at = now(), updated_at = now(), progress = coalesce($4::jsonb, progress)
       WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' RETURNING id`,
      [lease.jobId, lease.workerId, lease.attempt, progress ? JSON.stringify(progress) : null],
    );
    return rows.length > 0;
  }

  async complete(lease: Lease, result: JobResult | null, progress: JobProgress): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE ingest_jobs SET state = 'succeeded', result = $4::jsonb, progress = $5::jsonb, last_error = NULL,
         heartbeat_at = now(), finished_at = now(), updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' RETURNING id`,
      [lease.jobId, lease.workerId, lease.attempt, JSON.stringify(result), JSON.stringify(progress)],
    );
    return rows.length > 0;
  }

  /**
   * Records a failed attempt: back to `queued` after a delay while attempts remain and the error
   * may be transient, otherwise `failed` with the error. Returns the new state (null: lease lost).
   */
  async fail(lease: Lease, error: JobError, options: { permanent?: boolean } = {}): Promise<JobState | null> {
    const delayMs = Math.max(0, Math.round(this.retryDelayMs(lease.attempt)));
    const { rows } = await this.db.query<{ state: JobState }>(
      `UPDATE ingest_jobs SET last_error = $4::jsonb, updated_at = now(), heartbeat_at = now(),
         state = CASE WHEN $5::boolean OR attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
         finished_at = CASE WHEN $5::boolean OR attempts >= max_attempts THEN now() ELSE NULL END,
         run_after = now() + $6::int * interval '1 millisecond'
       WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' RETURNING state`,
      [lease.jobId, lease.workerId, lease.attempt, JSON.stringify(error), options.permanent ?? false, delayMs],
    );
    return rows[0]?.state ?? null;
  }

  /**
   * Gives a running job back to the queue without counting the attempt: the worker stopped (shutdown),
   * or the job must wait (a spent token budget) — it did nothing wrong, so it keeps all its attempts
   * and is claimable again after `delayMs`.
   */
  async requeue(lease: Lease, error: JobError, delayMs = 0): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE ingest_jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), last_error = $4::jsonb,
         locked_by = NULL, heartbeat_at = NULL, progress = '{"stage":"queued"}'::jsonb,
         run_after = now() + $5::int * interval '1 millisecond',
         started_at = NULL, finished_at = NULL, updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' RETURNING id`,
      [lease.jobId, lease.workerId, lease.attempt, JSON.stringify(error), Math.max(0, Math.round(delayMs))],
    );
    return rows.length > 0;
  }

  /** Puts a failed job back in the queue with a fresh set of attempts. */
  async retry(id: string, tenantId?: string): Promise<Job> {
    const { rows } = UUID.test(id)
      ? await this.db.query(
          `UPDATE ingest_jobs SET state = 'queued', attempts = 0, result = NULL, locked_by = NULL, heartbeat_at = NULL,
             progress = '{"stage":"queued"}'::jsonb, run_after = now(), started_at = NULL, finished_at = NULL, updated_at = now()
           WHERE id = $1 AND state = 'failed' AND upload_id IS NOT NULL AND ${IN_TENANT('$2')} RETURNING ${JOB_COLUMNS}`,
          [id, tenantId ?? null],
        )
      : { rows: [] };
    if (rows[0]) {
      const retried = toJob(rows[0]);
      await this.keepUpload(retried.uploadId!);
      return retried;
    }
    const job = await this.get(id, tenantId);
    if (!job) throw notFound(`job "${id}" not found`, { job: id });
    if (job.state === 'failed') {
      throw new RaglineError('conflict', `job "${id}" cannot be retried: its upload was deleted; upload the file again`, { job: id });
    }
    throw new RaglineError('conflict', `job "${id}" is ${job.state}; only failed jobs can be retried`, { job: id, state: job.state });
  }

  /**
   * Called when a job reached its final state: the upload is deleted now, or marked to expire
   * after the retention period; expired uploads of finished jobs are purged on the way.
   */
  async releaseUpload(uploadId: string | null, outcome: 'succeeded' | 'failed'): Promise<void> {
    if (uploadId) {
      const days = outcome === 'succeeded' ? this.uploadRetentionDays : this.failedUploadRetentionDays;
      await this.db.query(`UPDATE uploads SET expires_at = now() + $2::float8 * interval '1 day' WHERE id = $1`, [uploadId, days]);
    }
    await this.db.query(
      `DELETE FROM uploads u WHERE u.expires_at <= now()
         AND NOT EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.upload_id = u.id AND j.state IN ('queued', 'running'))`,
    );
  }

  /** A retried job needs its upload again: it no longer expires. */
  private async keepUpload(uploadId: string): Promise<void> {
    await this.db.query('UPDATE uploads SET expires_at = NULL WHERE id = $1', [uploadId]);
  }

  /**
   * After a document was deleted: its stored uploads go (except those a queued or running job
   * still needs), and its finished jobs forget the source, the result and the error text.
   */
  async forgetDocument(collectionId: string, source: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `DELETE FROM uploads u WHERE u.collection_id = $1 AND u.source = $2
           AND NOT EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.upload_id = u.id AND j.state IN ('queued', 'running'))`,
        [collectionId, source],
      );
      await tx.query(
        `UPDATE ingest_jobs SET source = $3, result = NULL, updated_at = now(),
           last_error = CASE WHEN last_error IS NULL THEN NULL
             ELSE jsonb_build_object('code', last_error->>'code', 'message', 'removed with the deleted document') END
         WHERE collection_id = $1 AND source = $2 AND state IN ('succeeded', 'failed')`,
        [collectionId, source, DELETED_SOURCE],
      );
    });
  }

  /**
   * Ends a queued or running job as `failed` with code `cancelled`. A worker running it sees the
   * row leave `running` at its next heartbeat and abandons the work (at once when in this process).
   */
  async cancel(id: string): Promise<Job> {
    const { rows } = UUID.test(id)
      ? await this.db.query(
          `UPDATE ingest_jobs SET state = 'failed', finished_at = now(), updated_at = now(),
             last_error = jsonb_build_object('code', 'cancelled', 'message', 'the job was cancelled')
           WHERE id = $1 AND state IN ('queued', 'running') RETURNING ${JOB_COLUMNS}`,
          [id],
        )
      : { rows: [] };
    if (rows[0]) {
      const job = toJob(rows[0]);
      await this.releaseUpload(job.uploadId, 'failed');
      return job;
    }
    const job = await this.get(id);
    if (!job) throw notFound(`job "${id}" not found`, { job: id });
    throw new RaglineError('conflict', `job "${id}" is ${job.state}; only queued or running jobs can be cancelled`, {
      job: id,
      state: job.state,
    });
  }

  /** Polls until every job has finished, `timeoutMs` passed or `signal` aborted; returns their latest rows. */
  async waitFor(ids: string[], timeoutMs: number, pollMs = 250, signal?: AbortSignal): Promise<Job[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.db.query(`SELECT ${JOB_COLUMNS} FROM ingest_jobs WHERE id = ANY($1::uuid[])`, [ids]);
      const jobs = rows.map(toJob).sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
      if (jobs.every((j) => isTerminal(j.state)) || Date.now() >= deadline || signal?.aborted) return jobs;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  /** Cheapest proof that the database answers. */
  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async counts(): Promise<Record<JobState, number>> {
    const { rows } = await this.db.query<{ state: JobState; n: number }>(
      "SELECT state, count(*)::int AS n FROM ingest_jobs WHERE kind = 'ingest' GROUP BY state",
    );
    const counts: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of rows) counts[r.state] = Number(r.n);
    return counts;
  }

  /** Seconds the oldest queued job has waited (0 when none waits): how far behind the workers are. */
  async oldestQueuedAgeSeconds(): Promise<number> {
    const { rows } = await this.db.query<{ age: number | null }>(
      "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM ingest_jobs WHERE state = 'queued' AND kind = 'ingest'",
    );
    return Math.max(0, Number(rows[0]?.age ?? 0));
  }
}
