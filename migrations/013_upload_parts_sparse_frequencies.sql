-- Streamed uploads: a multipart file is stored as numbered parts of at most 1 MiB instead of one
-- bytea value, so neither the API process nor the database client ever holds the whole file in
-- one buffer while storing it. Small uploads (JSON bodies, the CLI) keep using uploads.bytes;
-- parts = 0 says the bytes are there, parts > 0 that they are in upload_parts.
ALTER TABLE uploads ADD COLUMN parts integer NOT NULL DEFAULT 0 CHECK (parts >= 0);

CREATE TABLE upload_parts (
  upload_id uuid NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  part      integer NOT NULL CHECK (part >= 0),
  bytes     bytea NOT NULL,
  PRIMARY KEY (upload_id, part)
);

-- Keyword search in a sparse index (RAGLINE_SPARSE=pinecone): the query side of BM25 needs each
-- term's document frequency per field and the collection's chunk count and field lengths, kept
-- here and changed by the same amounts as the chunks a write adds or removes.
CREATE TABLE sparse_term_frequencies (
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  field         text NOT NULL CHECK (field IN ('title', 'text')),
  term          text NOT NULL,
  chunks        integer NOT NULL CHECK (chunks > 0),
  PRIMARY KEY (collection_id, field, term)
);

CREATE TABLE sparse_collection_stats (
  collection_id uuid PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
  chunks        integer NOT NULL DEFAULT 0 CHECK (chunks >= 0),
  title_terms   bigint NOT NULL DEFAULT 0 CHECK (title_terms >= 0),
  text_terms    bigint NOT NULL DEFAULT 0 CHECK (text_terms >= 0)
);
