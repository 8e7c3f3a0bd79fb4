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
