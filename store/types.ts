import type { Filter, FilterableChunk } from './filters.ts';

/** The persistence contract. PGlite (embedded) and a Postgres server share one SQL implementation. */

export interface Collection {
  id: string;
  name: string;
  /** The tenant that owns it; names are unique per tenant. */
  tenantId: string;
  embeddingModel: string;
  dimensions: number;
  metadata: Record<string, unknown>;
  version: number;
  createdAt: string;
}

/** A collection already resolved within its tenant, or an id or name to resolve (in the default tenant). */
export type CollectionRef = string | Collection;

export interface DocumentRecord {
  id: string;
  collectionId: string;
  source: string;
  title: string;
  mime: string;
  contentHash: string;
  metadata: Record<string, unknown>;
  version: number;
  chunkCount: number;
  pageCount: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface ChunkInput {
  ordinal: number;
  text: string;
  tokenCount: number;
  pageStart: number | null;
  pageEnd: number | null;
  headingPath: string[];
  charStart: number;
  charEnd: number;
  kind: string;
  metadata?: Record<string, unknown>;
  embedding: Float32Array | number[];
}

export interface ChunkRecord extends FilterableChunk {
  id: string;
  collectionId: string;
  ordinal: number;
  text: string;
  tokenCount: number;
  pageEnd: number | null;
  headingPath: string[];
  charStart: number;
  charEnd: number;
  kind: string;
  metadata: Record<string, unknown>;
  documentVersion: number;
}

export interface DenseHit {
  chunk: ChunkRecord;
  /** Cosine similarity in [-1, 1]. */
  similarity: number;
}

/** A dense hit before its chunk is loaded: what fusion needs, for a fraction of the row cost. */
export interface DenseCandidate {
  id: string;
  documentId: string;
  similarity: number;
  /** The document's updatedAt, for the recency boost. */
  updatedAt: string;
}

export interface DocumentReplacement {
  collectionId: string;
  source: string;
  title: string;
  mime: string;
  contentHash: string;
  metadata: Record<string, unknown>;
  pageCount: number | null;
  chunks: ChunkInput[];
  /**
   * The upload's sequence number; the replacement is refused (conflict) when the document was
   * built from a later upload. Omitted (CLI, library): the write counts as the latest upload.
   */
  uploadSeq?: number;
  /** The document's updatedAt when its content carries its own date (an email's); omitted = now. */
  updatedAt?: string;
}

export interface DenseQuery {
  collectionId: string;
  vector: Float32Array | number[];
  limit: number;
  filter?: Filter;
  /** HNSW candidate list size; raised to at least `limit`. */
  efSearch?: number;
  /** Bypass the index (exact k-NN over the embeddings in SQL, whatever the dense backend), for recall measurements. */
  exact?: boolean;
}

export type DocumentPooling = 'mean' | 'first-window';

export interface DocumentVectorHit {
  documentId: string;
  similarity: number;
}

/** A chunk of a given document with its similarity to the query. */
export interface DocumentChunkCandidate {
  id: string;
  documentId: string;
  similarity: number;
  updatedAt: string;
}

export interface Store {
  readonly kind: 'pglite' | 'postgres';
  /** Where denseSearch runs: pgvector in the same database, or Pinecone (the SQL database still holds everything). */
  readonly denseBackend: 'pgvector' | 'pinecone';
  migrate(): Promise<void>;
  close(): Promise<void>;

  createCollection(input: {
    name: string;
    embeddingModel: string;
    dimensions: number;
    metadata?: Record<string, unknown>;
    /** Defaults to the default tenant. */
    tenantId?: string;
  }): Promise<Collection>;
  /** By id or by name, within one tenant (the default tenant when omitted); soft-deleted ones are not found. */
  getCollection(idOrName: string, tenantId?: string): Promise<Collection | null>;
  /** By id in any tenant: for internal callers holding an id that was resolved within its tenant (workers). */
  getCollectionById(id: string): Promise<Collection | null>;
  /** One tenant's live collections (the default tenant when omitted). */
  listCollections(tenantId?: string): Promise<Collection[]>;
  /** Every tenant's live collections (warm-up). */
  listAllCollections(): Promise<Collection[]>;
  /** Removes the collection and everything in it for good (the purge after a soft delete). */
  deleteCollection(id: string): Promise<boolean>;

  getDocumentBySource(collectionId: string, source: string): Promise<DocumentRecord | null>;
  getDocument(collectionId: string, documentId: string): Promise<DocumentRecord | null>;
  listDocuments(collectionId: string, options?: { limit?: number; offset?: number }): Promise<DocumentRecord[]>;
  /** Inserts the document or replaces all its chunks, atomically: on failure the old version stays. */
  replaceDocument(input: DocumentReplacement): Promise<DocumentRecord>;
  deleteDocument(collectionId: string, documentId: string): Promise<boolean>;

  /** (id, version) of every document: what the BM25 index diffs against to catch up. */
  documentVersions(collectionId: string): Promise<Map<string, number>>;
  chunksOfDocuments(collectionId: string, documentIds: string[]): Promise<ChunkRecord[]>;
  getChunks(ids: string[]): Promise<ChunkRecord[]>;
  /** The stored embeddings of the documents' chunks, by chunk id (what an external dense index is rebuilt from). */
  chunkEmbeddings(collectionId: string, documentIds: string[]): Promise<Map<string, Float32Array>>;
  countChunks(collectionId: string): Promise<number>;
  /**
   * Recounts the keyword statistics kept beside the chunks (RAGLINE_SPARSE=pinecone) from the chunk
   * rows, holding the collection's lock as writers do so no write is counted twice or missed;
   * `count` turns the chunks into the statistics (the analyzer lives above the store). Returns the chunks counted.
   */
  rebuildKeywordFrequencies(collectionId: string, count: (chunks: KeywordChunk[]) => FrequencyDelta): Promise<number>;
  /** Aggregates of those statistics, to tell whether they count every chunk. */
  keywordFrequencyTotals(collectionId: string): Promise<FrequencyTotals>;

  denseSearch(query: DenseQuery): Promise<DenseHit[]>;
  /** denseSearch without loading the chunks: searches fuse candidates, then load only the winners. */
  denseCandidates(query: DenseQuery): Promise<DenseCandidate[]>;

  /** Writes a document's vector (replacing it); false when the document no longer exists. */
  putDocumentVector(input: {
    collectionId: string;
    documentId: string;
    pooling: DocumentPooling;
    vector: Float32Array | number[];
  }): Promise<boolean>;
  /** Gives every document without a 'mean' vector the normalised mean of its chunk vectors; returns how many. */
  poolMissingDocumentVectors(collectionId: string): Promise<number>;
  /** Documents without a vector made by `pooling` (none, or one made the other way). */
  documentsWithoutVector(collectionId: string, pooling: DocumentPooling, limit: number): Promise<string[]>;
  countDocumentVectors(collectionId: string): Promise<{ mean: number; firstWindow: number }>;
  /** The documents whose vectors are nearest the query (filters are not applied: callers check chunks). */
  nearestDocuments(query: DenseQuery): Promise<DocumentVectorHit[]>;
  documentSimilarities(query: Omit<DenseQuery, 'limit'>, documentIds: string[]): Promise<Map<string, number>>;
  /** Every chunk of the documents that passes the filter, with its exact similarity to the query. */
  chunksOfDocumentsBySimilarity(
    query: Omit<DenseQuery, 'limit'>,
    documentIds: string[],
    filter?: Filter,
  ): Promise<DocumentChunkCandidate[]>;
}

/** A chunk as the keyword analyzer sees it: the document title and heading path, and the text. */
export interface KeywordChunk {
  id: string;
  title: string;
  headingPath: string[];
  text: string;
}

/** The fields BM25 scores separately (retrieval/sparse-bm25.ts). */
export type FrequencyField = 'title' | 'text';

/** How one write changes a collection's statistics: chunks and terms added (+) or removed (−). */
export interface FrequencyDelta {
  chunks: number;
  termCount: Record<FrequencyField, number>;
  /** Per field and term, the change in the number of chunks containing it. */
  terms: { field: FrequencyField; term: string; chunks: number }[];
}

/** A collection's statistics in aggregate: chunks, terms per field, distinct (field, term) rows and their summed counts. */
export interface FrequencyTotals {
  chunks: number;
  termCount: Record<FrequencyField, number>;
  terms: number;
  postings: number;
}
