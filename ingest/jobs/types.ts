/** The job queue's records, as the API and workers see them. */

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** `ingest` turns an upload into a document; other kinds are run by the processor registered for them. */
export const JOB_KINDS = ['ingest', 'batch_question'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Ingestion's priority; a higher one is claimed first, batches run below it. */
export const DEFAULT_JOB_PRIORITY = 0;

export interface JobProgress {
  stage?: 'queued' | 'load' | 'chunk' | 'embed' | 'store' | 'done';
  pages?: number | null;
  chunksDone?: number;
  chunksTotal?: number;
}

export interface JobError {
  code: string;
  message: string;
  /** For a document over a limit: which limit, its variable, the maximum and what was found. */
  details?: Record<string, unknown>;
}

export interface JobResult {
  documentId: string;
  status: 'ingested' | 'updated' | 'skipped';
  chunks: number;
  pages: number | null;
}

export interface Job {
  id: string;
  kind: JobKind;
  priority: number;
  /** What a non-ingest job works on (e.g. `{batchItemId}`); empty for ingestion. */
  payload: Record<string, unknown>;
  /** Null once the upload was deleted (after processing, or with its document). */
  uploadId: string | null;
  collectionId: string;
  source: string;
  state: JobState;
  progress: JobProgress;
  attempts: number;
  maxAttempts: number;
  lastError: JobError | null;
  /** Set by ingestion jobs; other kinds keep their results in their own tables. */
  result: JobResult | null;
  lockedBy: string | null;
  heartbeatAt: string | null;
  runAfter: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A job of a kind other than ingestion: a label for listings and what it works on. */
export interface TaskInput {
  source: string;
  payload: Record<string, unknown>;
}

/** A file the API wrote to a temporary file while the request streamed in (never held whole in memory). */
export interface SpooledFile {
  path: string;
  sizeBytes: number;
}

interface UploadFields {
  source: string;
  mimeHint?: string;
  title?: string;
  metadata?: Record<string, unknown>;
}

/**
 * What a client sends to be ingested; stored before any processing starts. Either the bytes
 * themselves (JSON bodies, the CLI) or a spooled file, which the queue copies into SQL in parts.
 */
export type UploadInput = UploadFields & ({ bytes: Uint8Array; file?: never } | { file: SpooledFile; bytes?: never });

export interface Upload {
  id: string;
  collectionId: string;
  source: string;
  bytes: Uint8Array;
  mimeHint: string | null;
  title: string | null;
  metadata: Record<string, unknown>;
  /** Upload order: a document built from a later upload is never replaced by an earlier one. */
  seq: number;
}

export const isTerminal = (state: JobState) => state === 'succeeded' || state === 'failed';
