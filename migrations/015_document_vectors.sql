-- One vector per document beside its chunk vectors: document-level similarity supports the chunks
-- of a document at query time (a short document split in two loses to being embedded whole).
-- Deleted with its document (replaced documents drop theirs in the same transaction) and with
-- its collection: a soft-deleted collection is not searched, so its vectors are invisible too.
CREATE TABLE document_vectors (
  document_id   uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  -- How the vector was made: 'mean' (normalised mean of the chunk vectors) or 'first-window'.
  pooling       text NOT NULL CHECK (pooling IN ('mean', 'first-window')),
  -- Untyped like chunks.embedding: each collection gets a partial HNSW index on a typed cast.
  embedding     vector NOT NULL
);

CREATE INDEX document_vectors_collection_idx ON document_vectors (collection_id);
