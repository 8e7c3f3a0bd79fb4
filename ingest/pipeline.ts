import { createHash } from 'node:crypto';
import { DEFAULT_DOCUMENT_LIMITS, type Config, type DocumentLimits } from '../core/config.ts';
import { DocumentLimitError, RaglineError, errorMessage } from '../core/errors.ts';
import { assertValidMetadata } from './metadata.ts';
import type { Collection, DocumentRecord, Store } from '../store/types.ts';
import { CHUNKER_VERSION, PDF_CHUNKER_VERSION, createChunker, contextualText } from './chunkers/index.ts';
import { loadDocument } from './loaders/index.ts';
import { resolveLoaderLimits, type LoaderLimitsInput } from './loaders/limits.ts';
import { attachmentInputs } from './attachments.ts';
import type { ChunkDraft, LoadedDocument } from './types.ts';
import type { Embedder } from '../models/types.ts';
import { type RedactOptions, redact, redactDeep } from '../core/redact.ts';
import { redactForIngest } from './redaction.ts';
import { firstWindowText, storeDocumentVector, type DocumentPoolingSetting } from './document-vectors.ts';
import { logger } from '../core/logger.ts';

export interface IngestInput {
  /** Stable identity of the document inside its collection: a path, URL or any caller key. */
  source: string;
  bytes: Uint8Array;
  /** Overrides magic-byte detection. */
  mime?: string;
  title?: string;
  metadata?: Record<string, unknown>;
  /** The stored upload's sequence number (jobs): an older upload never replaces a newer one. */
  uploadSeq?: number;
  /** When the content was written, if the loader cannot tell (an attachment gets its message's date). */
  contentDate?: string;
}

export interface IngestTimings {
  loadMs: number;
  chunkMs: number;
  embedMs: number;
  storeMs: number;
  /** The document vector step (an embedding only for first-window pooling of several chunks). */
  documentVectorMs: number;
}

export type IngestOutcome =
  | {
      status: 'ingested' | 'updated';
      source: string;
      document: DocumentRecord;
      chunks: number;
      pages: number | null;
      timings: IngestTimings;
      /** Texts embedded beside the chunks: the document's first window (0 or 1). */
      extraEmbedded: number;
      /** Outcomes of the files the document carried (an email's attachments), each its own document. */
      attachments?: IngestOutcome[];
    }
  | { status: 'skipped'; source: string; document: DocumentRecord; reason: 'unchanged' }
  | { status: 'failed'; source: string; error: { code: string; message: string; details?: Record<string, unknown> } };

export interface IngestProgress {
  source: string;
  stage: 'load' | 'chunk' | 'embed' | 'store';
  pages?: number;
  chunksDone?: number;
  chunksTotal?: number;
}

/** Chunks per embed call: small enough for honest progress, large enough to keep the model busy. */
const EMBED_SLICE = 64;

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Bump when the layout reading of PDFs changes what a PDF's chunks are, so stored PDFs are read again. */
export const PDF_LAYOUT_READING = 'layout-1';

// pdf.js accepts a "%PDF-" header anywhere in the first kilobyte.
const isPdf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 1024)).includes('%PDF-');

/**
 * load → split → embed → store for one document at a time. A document is identified by
 * (collection, source); its content hash covers the bytes, the caller's title and metadata and
 * the chunking settings, so an unchanged document is a no-op and a changed one is replaced in
 * one transaction (the store keeps the old version if anything fails before the commit).
 */
export interface PipelineOptions {
  /** Parsing bounds for the loaders; unset fields keep the defaults of ingest/loaders/limits.ts. */
  loaderLimits?: LoaderLimitsInput;
  /** PII redaction of what is embedded and stored (RAGLINE_REDACT_INGEST); none by default. */
  redaction?: RedactOptions;
  /** Characters and chunks one document may produce. */
  documentLimits?: DocumentLimits;
  /** How each document's vector is made after its chunks are stored (core/config.ts documentVectors); 'off' by default here. */
  documentPooling?: DocumentPoolingSetting;
}

export class IngestionPipeline {
  private readonly loaderLimits: LoaderLimitsInput;
  /** Whether PDFs are read by their layout; part of a PDF's content hash. */
  private readonly pdfLayout: boolean;
  private readonly redaction: RedactOptions | undefined;
  private readonly limits: DocumentLimits;
  private readonly documentPooling: DocumentPoolingSetting;

  constructor(
    private readonly store: Store,
    private readonly embedder: Embedder,
    private readonly chunking: Config['chunking'],
    options: PipelineOptions = {},
  ) {
    this.loaderLimits = options.loaderLimits ?? {};
    this.pdfLayout = resolveLoaderLimits(this.loaderLimits).pdfLayout === 'on';
    this.redaction = options.redaction;
    this.limits = options.documentLimits ?? DEFAULT_DOCUMENT_LIMITS;
    this.documentPooling = options.documentPooling ?? 'off';
  }

  contentHash(input: IngestInput): string {
    const fingerprint = stableJson({
      title: input.title ?? null,
      metadata: input.metadata ?? {},
      chunking: this.chunking,
      chunker: CHUNKER_VERSION,
      model: this.embedder.modelId,
      // Switching redaction on re-ingests unchanged documents (absent when off, so older hashes still match).
      ...(this.redaction ? { redaction: this.redaction.kinds ?? 'all' } : {}),
      // A PDF read by its layout has other chunks than the flat reading: switching the reading (or
      // changing the layout reader) replaces it. Absent for the flat reading and for other formats.
      ...(this.pdfLayout && isPdf(input.bytes) ? { pdfReading: PDF_LAYOUT_READING } : {}),
      // The chunker's rules for PDF text only (absent for other formats, whose hashes stay as they were).
      ...(isPdf(input.bytes) ? { pdfChunker: PDF_CHUNKER_VERSION } : {}),
    });
    return createHash('sha256').update(input.bytes).update('\0').update(fingerprint).digest('hex');
  }

  /** `signal` stops the work at the next stage or embedding slice (a cancelled or overdue job). */
  async ingest(
    collection: Collection,
    input: IngestInput,
    onProgress?: (p: IngestProgress) => void,
    signal?: AbortSignal,
  ): Promise<IngestOutcome> {
    return this.ingestOne(collection, input, onProgress, signal, true);
  }

  /** Attachments are ingested one level deep: an attachment's own attachments are not. */
  private async ingestOne(
    collection: Collection,
    input: IngestInput,
    onProgress: ((p: IngestProgress) => void) | undefined,
    signal: AbortSignal | undefined,
    withAttachments: boolean,
  ): Promise<IngestOutcome> {
    try {
      assertModelMatches(collection, this.embedder);
      if (input.metadata) assertValidMetadata(input.metadata, this.limits);
      const contentHash = this.contentHash(input);
      const existing = await this.store.getDocumentBySource(collection.id, input.source);
      if (existing && existing.contentHash === contentHash) {
        return { status: 'skipped', source: input.source, document: existing, reason: 'unchanged' };
      }
      const t0 = performance.now();
      onProgress?.({ source: input.source, stage: 'load' });
      const { maxDocumentChars, maxChunksPerDocument } = this.limits;
      const loaded = await loadDocument(input.bytes, input.source, {
        mime: input.mime,
        limits: this.loaderLimits,
        budget: { maxChars: maxDocumentChars },
        signal,
      });
      // Every loader's output is checked here, whether or not it kept the budget while extracting.
      if (loaded.text.length > maxDocumentChars) {
        throw new DocumentLimitError(input.source, 'maxDocumentChars', 'RAGLINE_MAX_DOCUMENT_CHARS', maxDocumentChars, loaded.text.length);
      }
      const t1 = performance.now();
      signal?.throwIfAborted();
      onProgress?.({ source: input.source, stage: 'chunk', pages: loaded.pageCount });
      const chunked = await createChunker(this.chunking.strategy, this.embedder, this.chunking).chunkWithVectors(loaded, { signal });
      const { doc, drafts } = this.redaction
        ? redactForIngest(loaded, chunked.drafts, this.redaction)
        : { doc: loaded, drafts: chunked.drafts };
      // Vectors pooled by the chunker were read from the unredacted text: with redaction on, the redacted text is embedded.
      const pooled = this.redaction ? [] : chunked.vectors;
      if (!drafts.length) throw new RaglineError('unprocessable_document', `${input.source}: no text to index`, { source: input.source });
      if (drafts.length > maxChunksPerDocument) {
        throw new DocumentLimitError(
          input.source,
          'maxChunksPerDocument',
          'RAGLINE_MAX_CHUNKS_PER_DOCUMENT',
          maxChunksPerDocument,
          drafts.length,
        );
      }
      const t2 = performance.now();
      const embeddings = await this.embedChunks(
        doc,
        drafts,
        pooled,
        (done) => {
          signal?.throwIfAborted();
          onProgress?.({ source: input.source, stage: 'embed', chunksDone: done, chunksTotal: drafts.length });
        },
        signal,
      );
      signal?.throwIfAborted();
      const t3 = performance.now();
      onProgress?.({ source: input.source, stage: 'store', chunksDone: drafts.length, chunksTotal: drafts.length });
      const document = await this.store.replaceDocument({
        collectionId: collection.id,
        source: input.source,
        title: input.title !== undefined && this.redaction ? redact(input.title, this.redaction) : (input.title ?? doc.title),
        mime: doc.mime,
        contentHash,
        metadata: this.redaction
          ? redactDeep({ ...doc.metadata, ...input.metadata }, this.redaction)
          : { ...doc.metadata, ...input.metadata },
        pageCount: doc.pageCount ?? null,
        chunks: drafts.map((d, i) => ({ ...d, embedding: embeddings[i]! })),
        uploadSeq: input.uploadSeq,
        updatedAt: doc.contentDate ?? input.contentDate,
      });
      const t4 = performance.now();
      const extraEmbedded = await this.storeDocumentVector(collection.id, document, embeddings, doc.text);
      const t5 = performance.now();
      const attachments: IngestOutcome[] = [];
      if (withAttachments) {
        for (const attachment of attachmentInputs(input, doc)) {
          attachments.push(await this.ingestOne(collection, attachment, onProgress, signal, false));
        }
      }
      return {
        status: existing ? 'updated' : 'ingested',
        source: input.source,
        document,
        chunks: drafts.length,
        pages: doc.pageCount ?? null,
        timings: { loadMs: t1 - t0, chunkMs: t2 - t1, embedMs: t3 - t2, storeMs: t4 - t3, documentVectorMs: t5 - t4 },
        extraEmbedded,
        ...(attachments.length ? { attachments } : {}),
      };
    } catch (err) {
      const code = err instanceof RaglineError ? err.code : 'internal';
      const details = err instanceof DocumentLimitError ? err.details : undefined;
      return { status: 'failed', source: input.source, error: { code, message: errorMessage(err), ...(details ? { details } : {}) } };
    }
  }

  /**
   * After the chunks are stored. A failure here leaves the document searchable by its chunks
   * alone (a missing document vector counts as neutral), so it is logged, not failed; a backfill
   * (ingest/document-vectors.ts) writes it later.
   */
  private async storeDocumentVector(collectionId: string, document: DocumentRecord, embeddings: Float32Array[], text: string) {
    try {
      return await storeDocumentVector(this.store, this.embedder, {
        collectionId,
        documentId: document.id,
        pooling: this.documentPooling,
        chunkVectors: embeddings,
        wholeText: () => firstWindowText(document.title, text),
      });
    } catch (err) {
      logger.warn(
        { documentId: document.id, err: errorMessage(err) },
        'storing the document vector failed; its chunks are searchable without it',
      );
      return 0;
    }
  }

  /**
   * Embeds each chunk with its document title and heading path, which carry meaning the chunk
   * text lacks; chunks whose vector the chunker already pooled (late chunking, same context) are
   * not embedded again. Texts are sorted by length before slicing so every slice pads little.
   */
  private async embedChunks(
    doc: LoadedDocument,
    drafts: ChunkDraft[],
    pooled: ReadonlyArray<Float32Array | undefined>,
    onDone: (n: number) => void,
    signal: AbortSignal | undefined,
  ) {
    const texts = drafts.map((d) => contextualText(d, doc));
    const out = new Array<Float32Array>(texts.length);
    const order = texts
      .map((_, i) => i)
      .filter((i) => {
        if (pooled[i]) out[i] = pooled[i]!;
        return !pooled[i];
      })
      .sort((a, b) => texts[a]!.length - texts[b]!.length);
    if (order.length < texts.length) onDone(texts.length - order.length);
    for (let i = 0; i < order.length; i += EMBED_SLICE) {
      const slice = order.slice(i, i + EMBED_SLICE);
      const vectors = await this.embedder.embed(
        slice.map((j) => texts[j]!),
        'passage',
        { signal },
      );
      slice.forEach((j, k) => (out[j] = vectors[k]!));
      onDone(texts.length - order.length + Math.min(order.length, i + EMBED_SLICE));
    }
    return out;
  }
}

export function assertModelMatches(collection: Collection, embedder: Embedder): void {
  if (collection.embeddingModel !== embedder.modelId || collection.dimensions !== embedder.dimensions) {
    throw new RaglineError(
      'model_mismatch',
      `collection "${collection.name}" was built with ${collection.embeddingModel} (${collection.dimensions}-d); ` +
        `the configured embedder is ${embedder.modelId} (${embedder.dimensions}-d). Use the same model, or ingest into a new collection.`,
      { collection: collection.name, collectionModel: collection.embeddingModel, configuredModel: embedder.modelId },
    );
  }
}
