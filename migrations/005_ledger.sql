-- The request ledger: one row per /search, /answer or CLI ask, written in batches off the hot path.
-- collections.version (001) is already bumped by every ingest and delete: traces record it, the answer cache keys on it.

CREATE TABLE request_traces (
  id                 text PRIMARY KEY,
  created_at         timestamptz NOT NULL DEFAULT now(),
  kind               text NOT NULL CHECK (kind IN ('search', 'answer')),
  -- Who asked; null for the CLI.
  tenant_id          text,
  key_id             text,
  -- No foreign key: a trace outlives the collection it was asked about.
  collection_id      text,
  collection_name    text,
  collection_version bigint,
  -- After the redaction hook.
  question           text NOT NULL,
  settings           jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- [{chunkId, denseRank, denseScore, bm25Rank, bm25Score, fusedScore}]
  retrieved          jsonb NOT NULL DEFAULT '[]'::jsonb,
  prompt_version     text,
  prompt_hash        text,
  model              text,
  tokens_in          integer NOT NULL DEFAULT 0,
  tokens_out         integer NOT NULL DEFAULT 0,
  cost_usd           double precision,
  embed_cost_usd     double precision,
  -- {embedMs, denseMs, bm25Ms, fuseMs, loadMs, generateMs, firstTokenMs, totalMs}
  stages             jsonb NOT NULL DEFAULT '{}'::jsonb,
  total_ms           double precision NOT NULL DEFAULT 0,
  -- answered | not_covered | fallback:<reason> | error:<code>
  outcome            text NOT NULL,
  cache_hit          boolean NOT NULL DEFAULT false
);

CREATE INDEX request_traces_created_idx ON request_traces (created_at);
CREATE INDEX request_traces_tenant_created_idx ON request_traces (tenant_id, created_at);

-- One rating per request: new feedback for the same request replaces the old one.
CREATE TABLE request_feedback (
  request_id  text PRIMARY KEY REFERENCES request_traces(id) ON DELETE CASCADE,
  -- up = 5, down = 1, or 1..5 as given.
  rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment     text,
  expected    text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
