-- Keep each chunk's embedding inside its row instead of moving it to the TOAST table. pgvector's
-- type defaults to EXTERNAL storage, so a chunk row over ~2 KB (text plus a 384-d vector) had its
-- vector stored out of line, and every distance a search computes from the row (an exact or
-- pre-filtered scan, the candidates of an HNSW scan) paid a TOAST lookup for it. With MAIN the
-- chunk's text is moved out of line first and the vector stays in the row. Rows written before
-- this migration keep their layout until their document is re-ingested.
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE MAIN;
