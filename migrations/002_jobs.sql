-- Durable ingestion jobs. An upload is stored first (the original bytes), then a job that a worker
-- claims with SELECT ... FOR UPDATE SKIP LOCKED. Works on PGlite (one in-process worker) and on a
-- Postgres server shared by many worker processes.

CREATE TABLE uploads (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  source        text NOT NULL,
  -- What the client declared (multipart part type or JSON "mime"); detection may override it.
  mime_hint     text,
  title         text,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  bytes         bytea NOT NULL,
  size_bytes    integer NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest_jobs (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Kept after success so a job can be re-run; deleted with its collection.
  upload_id     uuid NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  source        text NOT NULL,
  state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  -- {stage, pages, chunksDone, chunksTotal}
  progress      jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempts      integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
  -- {code, message} of the most recent failed attempt
  last_error    jsonb,
  -- {documentId, status, chunks}
  result        jsonb,
  locked_by     text,
  heartbeat_at  timestamptz,
  -- Backoff: a queued job is not claimed before this time.
  run_after     timestamptz NOT NULL DEFAULT now(),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);

-- What claim() scans: queued jobs in arrival order, and running ones whose heartbeat went stale.
CREATE INDEX ingest_jobs_open_idx ON ingest_jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX ingest_jobs_collection_idx ON ingest_jobs (collection_id, created_at);
CREATE INDEX uploads_collection_idx ON uploads (collection_id);
