/** The job queue's records, as the API and workers see them. */

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

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
  /** Null once the upload was deleted (after processing, or with its document). */
  uploadId: string | null;
  collectionId: string;
  source: string;
  state: JobState;
  progress: JobProgress;
  attempts: number;
  maxAttempts: number;
  lastError: JobError | null;
  result: JobResult | null;
  lockedBy: string | null;
  heartbeatAt: string | null;
  runAfter: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
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
