-- Issue #10 (bounded work under hostile input).

-- Uploads are deleted once processed (or when their retention ends); their jobs outlive them.
ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_upload_id_fkey;
ALTER TABLE ingest_jobs ALTER COLUMN upload_id DROP NOT NULL;
ALTER TABLE ingest_jobs ADD CONSTRAINT ingest_jobs_upload_id_fkey FOREIGN KEY (upload_id) REFERENCES uploads(id) ON DELETE SET NULL;
-- Set when the upload's job finished; NULL while it may still be needed.
ALTER TABLE uploads ADD COLUMN expires_at timestamptz;
CREATE INDEX uploads_expires_idx ON uploads (expires_at) WHERE expires_at IS NOT NULL;

-- Last upload wins: every upload draws a number, every document remembers the number it was
-- built from, and an older upload can no longer replace a document built from a newer one.
CREATE SEQUENCE upload_seq;
ALTER TABLE uploads ADD COLUMN seq bigint NOT NULL DEFAULT nextval('upload_seq');
ALTER TABLE documents ADD COLUMN upload_seq bigint;
