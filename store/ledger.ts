import type { SqlExecutor } from './sql.ts';

/** One retrieved chunk as the ledger keeps it: where each retriever ranked it and what fusion made of it. */
export interface TracedChunk {
  chunkId: string;
  denseRank: number | null;
  denseScore: number | null;
  bm25Rank: number | null;
  bm25Score: number | null;
  fusedScore: number;
}

/** Milliseconds per stage; a stage that did not run is absent. */
export interface TraceStages {
  embedMs?: number;
  denseMs?: number;
  bm25Ms?: number;
  fuseMs?: number;
  loadMs?: number;
  generateMs?: number;
  firstTokenMs?: number;
}

export const TRACE_STAGES = ['embedMs', 'denseMs', 'bm25Ms', 'fuseMs', 'loadMs', 'generateMs', 'firstTokenMs'] as const;

export interface Trace {
  id: string;
  createdAt: string;
  kind: 'search' | 'answer';
  tenantId: string | null;
  keyId: string | null;
  collectionId: string | null;
  collectionName: string | null;
  collectionVersion: number | null;
  question: string;
  settings: Record<string, unknown>;
  retrieved: TracedChunk[];
  promptVersion: string | null;
  promptHash: string | null;
  model: string | null;
  tokensIn: number;
  tokensOut: number;
  costUsd: number | null;
  embedCostUsd: number | null;
  stages: TraceStages;
  totalMs: number;
  /** `answered`, `not_covered`, `fallback:<reason>` or `error:<code>`. */
  outcome: string;
  cacheHit: boolean;
  /** The collection config that served the request, and its experiment and variant (migrations/011). */
  configName?: string | null;
  configVersion?: number | null;
  experiment?: string | null;
  variant?: string | null;
  /** Model routing's choice: tier, reason, signals, and the strong model's cost of the same tokens. */
  routing?: Record<string, unknown> | null;
}

export interface Feedback {
  requestId: string;
  /** 1–5; thumbs up is stored as 5, thumbs down as 1. */
  rating: number;
  comment: string | null;
  expected: string | null;
  createdAt: string;
}

const COLUMNS = [
  'id',
  'created_at',
  'kind',
  'tenant_id',
  'key_id',
  'collection_id',
  'collection_name',
  'collection_version',
  'question',
  'settings',
  'retrieved',
  'prompt_version',
  'prompt_hash',
  'model',
  'tokens_in',
  'tokens_out',
  'cost_usd',
  'embed_cost_usd',
  'stages',
  'total_ms',
  'outcome',
  'cache_hit',
  'config_name',
  'config_version',
  'experiment',
  'variant',
  'routing',
] as const;
const JSON_COLUMNS = new Set(['settings', 'retrieved', 'stages', 'routing']);

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const numberOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const stringOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

function toTrace(r: Record<string, unknown>): Trace {
  return {
    id: String(r.id),
    createdAt: iso(r.created_at),
    kind: r.kind as Trace['kind'],
    tenantId: stringOrNull(r.tenant_id),
    keyId: stringOrNull(r.key_id),
    collectionId: stringOrNull(r.collection_id),
    collectionName: stringOrNull(r.collection_name),
    collectionVersion: numberOrNull(r.collection_version),
    question: String(r.question),
    settings: (r.settings as Record<string, unknown>) ?? {},
    retrieved: (r.retrieved as TracedChunk[]) ?? [],
    promptVersion: stringOrNull(r.prompt_version),
    promptHash: stringOrNull(r.prompt_hash),
    model: stringOrNull(r.model),
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costUsd: numberOrNull(r.cost_usd),
    embedCostUsd: numberOrNull(r.embed_cost_usd),
    stages: (r.stages as TraceStages) ?? {},
    totalMs: Number(r.total_ms),
    outcome: String(r.outcome),
    cacheHit: Boolean(r.cache_hit),
    configName: stringOrNull(r.config_name),
    configVersion: numberOrNull(r.config_version),
    experiment: stringOrNull(r.experiment),
    variant: stringOrNull(r.variant),
    routing: (r.routing as Record<string, unknown> | null) ?? null,
  };
}

function traceValues(t: Trace): unknown[] {
  const byColumn: Record<(typeof COLUMNS)[number], unknown> = {
    id: t.id,
    created_at: t.createdAt,
    kind: t.kind,
    tenant_id: t.tenantId,
    key_id: t.keyId,
    collection_id: t.collectionId,
    collection_name: t.collectionName,
    collection_version: t.collectionVersion,
    question: t.question,
    settings: JSON.stringify(t.settings),
    retrieved: JSON.stringify(t.retrieved),
    prompt_version: t.promptVersion,
    prompt_hash: t.promptHash,
    model: t.model,
    tokens_in: t.tokensIn,
    tokens_out: t.tokensOut,
    cost_usd: t.costUsd,
    embed_cost_usd: t.embedCostUsd,
    stages: JSON.stringify(t.stages),
    total_ms: t.totalMs,
    outcome: t.outcome,
    cache_hit: t.cacheHit,
    config_name: t.configName ?? null,
    config_version: t.configVersion ?? null,
    experiment: t.experiment ?? null,
    variant: t.variant ?? null,
    routing: t.routing ? JSON.stringify(t.routing) : null,
  };
  return COLUMNS.map((c) => byColumn[c]);
}

/** Rows per INSERT: 27 parameters each stays far below Postgres's 65,535-parameter limit. */
const INSERT_ROWS = 200;

/** The ledger's tables (migrations/005_ledger.sql), in the store's own database. */
export class LedgerStore {
  constructor(private readonly db: SqlExecutor) {}

  /** Inserts traces; a trace id already present is left as it was (a retried flush writes nothing twice). */
  async insertTraces(traces: Trace[]): Promise<void> {
    for (let i = 0; i < traces.length; i += INSERT_ROWS) {
      const batch = traces.slice(i, i + INSERT_ROWS);
      const params: unknown[] = [];
      const rows = batch.map((t) => {
        const placeholders = traceValues(t).map((v, j) => {
          params.push(v);
          return `$${params.length}${JSON_COLUMNS.has(COLUMNS[j]!) ? '::jsonb' : ''}`;
        });
        return `(${placeholders.join(', ')})`;
      });
      await this.db.query(
        `INSERT INTO request_traces (${COLUMNS.join(', ')}) VALUES ${rows.join(', ')} ON CONFLICT (id) DO NOTHING`,
        params,
      );
    }
  }

  /** The trace, or null when it does not exist or belongs to another tenant (when `tenantId` is given). */
  async getTrace(id: string, tenantId?: string): Promise<Trace | null> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS.join(', ')} FROM request_traces WHERE id = $1`, [id]);
    const trace = rows[0] ? toTrace(rows[0]) : null;
    if (!trace || (tenantId !== undefined && trace.tenantId !== tenantId)) return null;
    return trace;
  }

  /** Stores feedback for a trace, replacing earlier feedback for it. */
  async putFeedback(input: Omit<Feedback, 'createdAt'>): Promise<Feedback> {
    const { rows } = await this.db.query(
      `INSERT INTO request_feedback (request_id, rating, comment, expected) VALUES ($1, $2, $3, $4)
       ON CONFLICT (request_id) DO UPDATE SET rating = EXCLUDED.rating, comment = EXCLUDED.comment,
         expected = EXCLUDED.expected, created_at = now()
       RETURNING request_id, rating, comment, expected, created_at`,
      [input.requestId, input.rating, input.comment, input.expected],
    );
    return toFeedback(rows[0]!);
  }

  async getFeedback(requestId: string): Promise<Feedback | null> {
    const { rows } = await this.db.query(
      'SELECT request_id, rating, comment, expected, created_at FROM request_feedback WHERE request_id = $1',
      [requestId],
    );
    return rows[0] ? toFeedback(rows[0]) : null;
  }

  /** Deletes traces (and their feedback) older than `before`; returns how many. */
  async purgeBefore(before: Date): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      'WITH gone AS (DELETE FROM request_traces WHERE created_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone',
      [before.toISOString()],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Runs a read-only aggregate for reports over the ledger tables. */
  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<{ rows: T[] }> {
    return this.db.query<T>(sql, params);
  }
}

function toFeedback(r: Record<string, unknown>): Feedback {
  return {
    requestId: String(r.request_id),
    rating: Number(r.rating),
    comment: stringOrNull(r.comment),
    expected: stringOrNull(r.expected),
    createdAt: iso(r.created_at),
  };
}
