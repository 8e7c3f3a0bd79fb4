-- Issue #12, parts 4 and 5: the human handoff queue, question batches, and job priorities.

-- A question a person should answer: not covered, or answered with weak grounding. Repeats of an
-- open handoff's question (same tenant, collection, folded text) count on that row instead of adding rows.
CREATE TABLE handoffs (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id            text NOT NULL,
  collection_id        uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  collection_name      text NOT NULL,
  -- The trace (request_traces.id) of the first and the latest request; no foreign key, traces are purged.
  request_id           text NOT NULL,
  last_request_id      text NOT NULL,
  occurrences          integer NOT NULL DEFAULT 1,
  -- After the ledger's redaction hook.
  question             text NOT NULL,
  -- Lower-cased, whitespace-folded question: what repeats are matched on.
  question_key         text NOT NULL,
  reason               text NOT NULL CHECK (reason IN ('not_covered', 'low_confidence')),
  -- The answer's best dense similarity (null when dense retrieval did not run).
  confidence           double precision,
  -- What the caller was told.
  answer               text NOT NULL DEFAULT '',
  state                text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
  resolution_note      text,
  resolution_answer    text,
  resolved_by          text,
  resolved_at          timestamptz,
  webhook_state        text NOT NULL DEFAULT 'none' CHECK (webhook_state IN ('none', 'pending', 'delivered', 'failed', 'dropped')),
  webhook_attempts     integer NOT NULL DEFAULT 0,
  webhook_last_error   text,
  webhook_delivered_at timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX handoffs_open_question_idx ON handoffs (tenant_id, collection_id, question_key) WHERE state = 'open';
CREATE INDEX handoffs_tenant_state_idx ON handoffs (tenant_id, state, created_at DESC);

-- A batch of questions about one collection, answered by low-priority jobs (one per question).
CREATE TABLE batches (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id       text NOT NULL,
  key_id          text,
  collection_id   uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  collection_name text NOT NULL,
  -- Answer settings shared by every question (mode, topK, filter, ...).
  settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
  total           integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batches_tenant_idx ON batches (tenant_id, created_at DESC);

CREATE TABLE batch_items (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  batch_id    uuid NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
  position    integer NOT NULL,
  question    text NOT NULL,
  state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'succeeded', 'failed')),
  -- The trace of the attempt that answered it.
  request_id  text,
  -- {answer, kind, citations, model, grounded} or, when failed, {error: {code, message}}
  result      jsonb,
  finished_at timestamptz,
  UNIQUE (batch_id, position)
);
CREATE INDEX batch_items_state_idx ON batch_items (batch_id, state);

-- Jobs of several kinds share the queue; higher priority is claimed first (ingestion 0, batches below).
ALTER TABLE ingest_jobs ADD COLUMN kind text NOT NULL DEFAULT 'ingest' CHECK (kind IN ('ingest', 'batch_question'));
ALTER TABLE ingest_jobs ADD COLUMN priority integer NOT NULL DEFAULT 0;
-- What a non-ingest job works on, e.g. {"batchItemId": "..."}.
ALTER TABLE ingest_jobs ADD COLUMN payload jsonb NOT NULL DEFAULT '{}'::jsonb;
DROP INDEX ingest_jobs_open_idx;
CREATE INDEX ingest_jobs_open_idx ON ingest_jobs (priority DESC, created_at) WHERE state IN ('queued', 'running');
-- Finds a batch question's job: a question whose job failed for good outside the processor (cancelled,
-- or its worker died on the last attempt) is marked failed from it.
CREATE INDEX ingest_jobs_batch_item_idx ON ingest_jobs ((payload->>'batchItemId')) WHERE kind = 'batch_question';
