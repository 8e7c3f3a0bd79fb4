-- Collections, documents and chunks. The same file runs on PGlite and on a Postgres server.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE collections (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name            text NOT NULL UNIQUE,
  embedding_model text NOT NULL,
  dimensions      integer NOT NULL CHECK (dimensions > 0 AND dimensions <= 2000),
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Bumped on every change to the collection's documents: caches and the BM25 index key on it.
  version         bigint NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  source        text NOT NULL,
  title         text NOT NULL,
  mime          text NOT NULL,
  content_hash  text NOT NULL,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Incremented each time the content changes and the chunks are replaced.
  version       integer NOT NULL DEFAULT 1,
  chunk_count   integer NOT NULL DEFAULT 0,
  page_count    integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (collection_id, source)
);

CREATE TABLE chunks (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  document_id   uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  ordinal       integer NOT NULL,
  text          text NOT NULL,
  token_count   integer NOT NULL,
  page_start    integer,
  page_end      integer,
  heading_path  text[] NOT NULL DEFAULT '{}',
  char_start    integer NOT NULL,
  char_end      integer NOT NULL,
  kind          text NOT NULL DEFAULT 'text',
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Untyped so collections may use models of different dimensions; each collection gets a
  -- partial HNSW index on a typed cast (embedding::vector(N)) WHERE collection_id = its id.
  embedding     vector NOT NULL,
  UNIQUE (document_id, ordinal)
);

CREATE INDEX chunks_collection_idx ON chunks (collection_id);
CREATE INDEX documents_collection_updated_idx ON documents (collection_id, updated_at);
