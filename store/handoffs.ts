import type { SqlExecutor } from './sql.ts';

export const HANDOFF_STATES = ['open', 'resolved'] as const;
export type HandoffState = (typeof HANDOFF_STATES)[number];
export type HandoffReason = 'not_covered' | 'low_confidence';
export const WEBHOOK_STATES = ['none', 'pending', 'delivered', 'failed', 'dropped'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

export interface Handoff {
  id: string;
  tenantId: string;
  collectionId: string;
  collectionName: string;
  /** Trace of the first request that raised it, and of the latest repeat. */
  requestId: string;
  lastRequestId: string;
  occurrences: number;
  question: string;
  reason: HandoffReason;
  confidence: number | null;
  answer: string;
  state: HandoffState;
  resolution: { note: string; answer: string | null; by: string | null; at: string } | null;
  webhook: { state: WebhookState; attempts: number; lastError: string | null; deliveredAt: string | null };
  createdAt: string;
  updatedAt: string;
}

export interface NewHandoff {
  tenantId: string;
  collectionId: string;
  collectionName: string;
  requestId: string;
  question: string;
  reason: HandoffReason;
  confidence: number | null;
  answer: string;
  /** `pending` when a webhook will deliver it, `none` otherwise. */
  webhookState: 'none' | 'pending';
}

/** Repeats of a question match on this: case and runs of whitespace folded. */
export const questionKey = (question: string) => question.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const isoOrNull = (v: unknown) => (v === null || v === undefined ? null : iso(v));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toHandoff(r: Record<string, unknown>): Handoff {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    collectionId: String(r.collection_id),
    collectionName: String(r.collection_name),
    requestId: String(r.request_id),
    lastRequestId: String(r.last_request_id),
    occurrences: Number(r.occurrences),
    question: String(r.question),
    reason: r.reason as HandoffReason,
    confidence: r.confidence === null || r.confidence === undefined ? null : Number(r.confidence),
    answer: String(r.answer),
    state: r.state as HandoffState,
    resolution:
      r.state === 'resolved'
        ? {
            note: String(r.resolution_note ?? ''),
            answer: (r.resolution_answer as string | null) ?? null,
            by: (r.resolved_by as string | null) ?? null,
            at: iso(r.resolved_at),
          }
        : null,
    webhook: {
      state: r.webhook_state as WebhookState,
      attempts: Number(r.webhook_attempts),
      lastError: (r.webhook_last_error as string | null) ?? null,
      deliveredAt: isoOrNull(r.webhook_delivered_at),
    },
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** The handoff queue's SQL; every read and write that a caller can aim is scoped to one tenant. */
export class HandoffStore {
  constructor(private readonly db: SqlExecutor) {}

  /**
   * Opens a handoff, or counts a repeat on the open one for the same question (then `created` is
   * false and nothing needs delivering again).
   */
  async record(h: NewHandoff): Promise<{ handoff: Handoff; created: boolean }> {
    const { rows } = await this.db.query(
      `INSERT INTO handoffs (tenant_id, collection_id, collection_name, request_id, last_request_id, question, question_key,
                             reason, confidence, answer, webhook_state)
       VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (tenant_id, collection_id, question_key) WHERE state = 'open'
       DO UPDATE SET occurrences = handoffs.occurrences + 1, last_request_id = EXCLUDED.last_request_id, updated_at = now()
       RETURNING *, (xmax = 0) AS created`,
      [
        h.tenantId,
        h.collectionId,
        h.collectionName,
        h.requestId,
        h.question,
        questionKey(h.question),
        h.reason,
        h.confidence,
        h.answer,
        h.webhookState,
      ],
    );
    const row = rows[0]!;
    return { handoff: toHandoff(row), created: Boolean(row.created) };
  }

  async get(id: string, tenantId: string): Promise<Handoff | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query('SELECT * FROM handoffs WHERE id = $1 AND tenant_id = $2', [id, tenantId]);
    return rows[0] ? toHandoff(rows[0]) : null;
  }

  /** Newest first; `collectionIds` narrows to those collections (a key limited to some). */
  async list(filter: {
    tenantId: string;
    state?: HandoffState;
    collectionId?: string;
    collectionIds?: string[] | null;
    limit: number;
    offset: number;
  }): Promise<Handoff[]> {
    const { rows } = await this.db.query(
      `SELECT * FROM handoffs
       WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::uuid IS NULL OR collection_id = $3)
         AND ($4::uuid[] IS NULL OR collection_id = ANY($4::uuid[]))
       ORDER BY created_at DESC, id LIMIT $5 OFFSET $6`,
      [filter.tenantId, filter.state ?? null, filter.collectionId ?? null, filter.collectionIds ?? null, filter.limit, filter.offset],
    );
    return rows.map(toHandoff);
  }

  /** Resolves an open handoff; null when there is none of that id in the tenant. Resolving twice keeps the first. */
  async resolve(
    id: string,
    tenantId: string,
    resolution: { note: string; answer: string | null; by: string },
  ): Promise<{ handoff: Handoff; changed: boolean } | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query(
      `UPDATE handoffs SET state = 'resolved', resolution_note = $3, resolution_answer = $4, resolved_by = $5,
         resolved_at = now(), updated_at = now()
       WHERE id = $1 AND tenant_id = $2 AND state = 'open' RETURNING *`,
      [id, tenantId, resolution.note, resolution.answer, resolution.by],
    );
    if (rows[0]) return { handoff: toHandoff(rows[0]), changed: true };
    const existing = await this.get(id, tenantId);
    return existing ? { handoff: existing, changed: false } : null;
  }

  /** Records one delivery attempt's outcome (internal: the id comes from a row this process created). */
  async setWebhookState(id: string, state: WebhookState, attempts: number, lastError: string | null): Promise<void> {
    await this.db.query(
      `UPDATE handoffs SET webhook_state = $2, webhook_attempts = $3, webhook_last_error = $4,
         webhook_delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE webhook_delivered_at END
       WHERE id = $1`,
      [id, state, attempts, lastError],
    );
  }
}
