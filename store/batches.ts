import type { SqlExecutor } from './sql.ts';

export type BatchState = 'queued' | 'running' | 'completed';
export type BatchItemState = 'queued' | 'succeeded' | 'failed';

export interface Batch {
  id: string;
  tenantId: string;
  keyId: string | null;
  collectionId: string;
  collectionName: string;
  settings: Record<string, unknown>;
  total: number;
  createdAt: string;
}

export interface BatchProgress extends Batch {
  state: BatchState;
  queued: number;
  succeeded: number;
  failed: number;
  /** When the last question finished; null until all have. */
  finishedAt: string | null;
}

/** What one answered (or failed) question keeps: the line of the results file, less its question. */
export interface BatchItemResult {
  id?: string;
  answer?: string;
  kind?: string;
  citations?: unknown[];
  model?: string | null;
  grounded?: boolean;
  error?: { code: string; message: string };
}

export interface BatchItem {
  id: string;
  batchId: string;
  position: number;
  question: string;
  /** The client's own label for the question, when it sent one. */
  label: string | null;
  state: BatchItemState;
  requestId: string | null;
  result: BatchItemResult | null;
}

export interface NewBatch {
  tenantId: string;
  keyId: string | null;
  collectionId: string;
  collectionName: string;
  settings: Record<string, unknown>;
  questions: { question: string; id?: string }[];
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toBatch(r: Record<string, unknown>): Batch {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    keyId: (r.key_id as string | null) ?? null,
    collectionId: String(r.collection_id),
    collectionName: String(r.collection_name),
    settings: (r.settings as Record<string, unknown>) ?? {},
    total: Number(r.total),
    createdAt: iso(r.created_at),
  };
}

function toItem(r: Record<string, unknown>): BatchItem {
  const stored = (r.result as (BatchItemResult & { label?: string }) | null) ?? null;
  return {
    id: String(r.id),
    batchId: String(r.batch_id),
    position: Number(r.position),
    question: String(r.question),
    label: (r.label as string | null) ?? null,
    state: r.state as BatchItemState,
    requestId: (r.request_id as string | null) ?? null,
    result: stored,
  };
}

const ITEM_COLUMNS = "id, batch_id, position, question, state, request_id, result, (result->>'label') AS label";

/** Batches and their questions. Reads a caller can aim take the tenant and collection they must belong to. */
export class BatchStore {
  constructor(private readonly db: SqlExecutor) {}

  /** The batch row and one item per question, in `db` (a transaction the caller also enqueues in). */
  async create(b: NewBatch, db: SqlExecutor = this.db): Promise<{ batch: Batch; itemIds: string[] }> {
    const { rows } = await db.query(
      `INSERT INTO batches (tenant_id, key_id, collection_id, collection_name, settings, total)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *`,
      [b.tenantId, b.keyId, b.collectionId, b.collectionName, JSON.stringify(b.settings), b.questions.length],
    );
    const batch = toBatch(rows[0]!);
    // The client's label rides in `result` until the answer replaces it (and keeps it).
    const items = await db.query<{ id: string; position: number }>(
      `INSERT INTO batch_items (batch_id, position, question, result)
       SELECT $1, q.ordinality - 1, q.value->>'question',
              CASE WHEN q.value ? 'id' THEN jsonb_build_object('label', q.value->>'id') ELSE NULL END
       FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY q
       ORDER BY q.ordinality
       RETURNING id, position`,
      [batch.id, JSON.stringify(b.questions)],
    );
    const ordered = items.rows.sort((x, y) => Number(x.position) - Number(y.position));
    return { batch, itemIds: ordered.map((r) => String(r.id)) };
  }

  /**
   * Questions whose job ended `failed` without the processor recording it (cancelled, or the
   * worker died on the last attempt) are failed with the job's error, so the batch can complete.
   */
  async reconcile(batchId: string): Promise<void> {
    await this.db.query(
      `UPDATE batch_items i SET state = 'failed', finished_at = coalesce(j.finished_at, now()),
         result = jsonb_build_object('error', coalesce(j.last_error, '{"code":"failed","message":"the job failed"}'::jsonb))
                  || CASE WHEN i.result ? 'label' THEN jsonb_build_object('label', i.result->>'label') ELSE '{}'::jsonb END
       FROM ingest_jobs j
       WHERE i.batch_id = $1 AND i.state = 'queued' AND j.kind = 'batch_question'
         AND j.payload->>'batchItemId' = i.id::text AND j.state = 'failed'`,
      [batchId],
    );
  }

  /** The batch with its counts, if it belongs to that tenant and collection. */
  async progress(id: string, tenantId: string, collectionId: string): Promise<BatchProgress | null> {
    if (!UUID.test(id)) return null;
    await this.reconcile(id);
    const { rows } = await this.db.query(
      `SELECT b.*,
         count(*) FILTER (WHERE i.state = 'queued')::int AS queued,
         count(*) FILTER (WHERE i.state = 'succeeded')::int AS succeeded,
         count(*) FILTER (WHERE i.state = 'failed')::int AS failed,
         max(i.finished_at) AS last_finished
       FROM batches b LEFT JOIN batch_items i ON i.batch_id = b.id
       WHERE b.id = $1 AND b.tenant_id = $2 AND b.collection_id = $3
       GROUP BY b.id`,
      [id, tenantId, collectionId],
    );
    const r = rows[0];
    if (!r) return null;
    const [queued, succeeded, failed] = [Number(r.queued), Number(r.succeeded), Number(r.failed)];
    const state: BatchState = queued === 0 ? 'completed' : succeeded + failed > 0 ? 'running' : 'queued';
    return {
      ...toBatch(r),
      state,
      queued,
      succeeded,
      failed,
      finishedAt: state === 'completed' && r.last_finished ? iso(r.last_finished) : null,
    };
  }

  /** Internal (workers): by id alone. */
  async batch(id: string): Promise<Batch | null> {
    const { rows } = await this.db.query('SELECT * FROM batches WHERE id = $1', [id]);
    return rows[0] ? toBatch(rows[0]) : null;
  }

  async item(id: string): Promise<BatchItem | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query(`SELECT ${ITEM_COLUMNS} FROM batch_items WHERE id = $1`, [id]);
    return rows[0] ? toItem(rows[0]) : null;
  }

  /** Records a question's outcome once: a late duplicate (a worker that lost its lease) changes nothing. */
  async finishItem(id: string, state: 'succeeded' | 'failed', requestId: string | null, result: BatchItemResult): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE batch_items SET state = $2, request_id = $3,
         result = $4::jsonb || CASE WHEN result ? 'label' THEN jsonb_build_object('label', result->>'label') ELSE '{}'::jsonb END,
         finished_at = now()
       WHERE id = $1 AND state = 'queued' RETURNING id`,
      [id, state, requestId, JSON.stringify(result)],
    );
    return rows.length > 0;
  }

  /** Items after `afterPosition` in order, `limit` at a time: the results file is written page by page. */
  async items(batchId: string, afterPosition: number, limit: number): Promise<BatchItem[]> {
    const { rows } = await this.db.query(
      `SELECT ${ITEM_COLUMNS} FROM batch_items WHERE batch_id = $1 AND position > $2 ORDER BY position LIMIT $3`,
      [batchId, afterPosition, limit],
    );
    return rows.map(toItem);
  }
}
