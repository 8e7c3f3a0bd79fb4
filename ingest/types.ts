import type { LoaderLimits } from './loaders/limits.ts';

/**
 * The contracts of the ingestion stages: load → split → embed → store.
 * Each stage has one interface here and several implementations beside it.
 */

/** A run of text that belongs to one place in the document: one heading path, one page. */
export interface Section {
  text: string;
  /** Headings from the outermost to the innermost that this section sits under, e.g. ['Guide', 'Install']. */
  headingPath: string[];
  /** 1-based page number: the PDF page, slide or sheet. */
  page?: number;
  /** Tables and code are kept whole by chunkers where they fit. */
  kind: 'text' | 'table' | 'code';
  /** Offset of `text` inside LoadedDocument.text. */
  charStart: number;
  /**
   * Tables only: how many of the first lines are the header that the chunker repeats in front of
   * every piece of a table it splits. When not given: the first line (two with a Markdown delimiter row).
   */
  headerRows?: number;
}

export interface LoadedDocument {
  source: string;
  title: string;
  mime: string;
  /** The whole extracted text; sections index into it. */
  text: string;
  sections: Section[];
  pageCount?: number;
  metadata: Record<string, unknown>;
  /** Files carried inside this one (an email's attachments), ingested as documents of their own. */
  attachments?: Attachment[];
  /**
   * When the content itself was written (an email's Date header), ISO 8601, never in the future.
   * It becomes the document's updatedAt, which the recency boost and date filters read.
   */
  contentDate?: string;
}

export interface Attachment {
  /** The attachment's own file name; the pipeline makes it unique under the parent's source. */
  fileName: string;
  bytes: Uint8Array;
  mime?: string;
}

/** What a loader may be told besides the bytes. */
export interface LoadContext {
  limits: LoaderLimits;
  /** The document limits the loader should stop at while extracting (the pipeline re-checks its output). */
  budget?: LoadBudget;
  /** Aborted when the job is cancelled or overdue: loaders that work off the main thread stop that work. */
  signal?: AbortSignal;
}

/** What a loader is told about the bounds it must keep while extracting. */
export interface LoadBudget {
  /** Stop and throw (DocumentLimitError) once more characters than this were extracted. */
  maxChars: number;
}

export interface Loader {
  /** MIME types this loader accepts (after detection). */
  readonly mimes: readonly string[];
  /**
   * Throws DocumentError naming the source and the reason for files it cannot read. Loaders that
   * can, check `context.budget` while extracting; the pipeline checks every loader's output afterwards.
   */
  load(bytes: Uint8Array, source: string, context?: LoadContext): Promise<LoadedDocument>;
}

export type ChunkStrategy = 'semantic' | 'late' | 'sentence' | 'fixed';

export interface ChunkDraft {
  ordinal: number;
  text: string;
  /** Word-pieces counted with the embedding model's own tokenizer. */
  tokenCount: number;
  headingPath: string[];
  pageStart: number | null;
  pageEnd: number | null;
  /** Offsets into LoadedDocument.text. */
  charStart: number;
  charEnd: number;
  kind: 'text' | 'table' | 'code' | 'mixed';
}

export interface ChunkerOptions {
  /** Hard maximum in model tokens; no chunk is ever larger. */
  maxTokens: number;
  /** Chunks smaller than this are merged with a neighbour in the same section where possible. */
  minTokens: number;
  /** What the packers aim for. */
  targetTokens: number;
  /** Late chunking: weight of each frame token against a chunk token in the pooled vector (default 1). */
  lateFrameWeight?: number;
}

export interface Chunker {
  readonly strategy: ChunkStrategy;
  chunk(doc: LoadedDocument): Promise<ChunkDraft[]>;
  /** The same chunks, with the vectors the chunker already computed (late chunking) so they need no second pass. */
  chunkWithVectors(doc: LoadedDocument, options?: ChunkOptions): Promise<ChunkedDocument>;
}

export interface ChunkOptions {
  /** A cancelled or overdue job: the chunker's own model pass stops instead of finishing the document. */
  signal?: AbortSignal;
}

export interface ChunkedDocument {
  drafts: ChunkDraft[];
  /**
   * vectors[i]: unit-length vector of drafts[i] embedded with its context prefix, pooled from the
   * chunker's own model pass; undefined where the chunk still has to be embedded.
   */
  vectors: Array<Float32Array | undefined>;
}
