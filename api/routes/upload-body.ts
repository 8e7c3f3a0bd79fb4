import type { Context } from 'hono';
import { z } from 'zod';
import { DocumentError, DocumentLimitError, RaglineError, badRequest } from '../../core/errors.ts';
import type { UploadInput } from '../../ingest/jobs/types.ts';
import { TEXT_MIMES, canonicalMime, detectType } from '../../ingest/loaders/detect.ts';
import { validationError } from '../../core/errors.ts';
import type { Config, Limits } from '../../core/config.ts';
import { assertValidMetadata, assertValidSource, hasNul } from '../../ingest/metadata.ts';
import { isJsonContentType, readJson, unsupportedMediaType } from '../http-errors.ts';
import { type StreamedForm, parseMultipartStream } from './multipart-stream.ts';
import { createSpoolDir } from './upload-spool.ts';

const metadataSchema = z.record(z.string(), z.unknown());
const MAX_SOURCE_LENGTH = 1024;

const textUploadSchema = z
  .object({
    source: z.string().trim().min(1, 'source must not be empty').max(MAX_SOURCE_LENGTH),
    text: z.string().refine((t) => t.trim().length > 0, 'text must not be empty'),
    title: z
      .string()
      .trim()
      .min(1)
      .max(1000)
      .refine((t) => !hasNul(t), 'title must not contain NUL characters')
      .optional(),
    mime: z.enum(TEXT_MIMES).optional(),
    metadata: metadataSchema.optional(),
  })
  .strict();

const MULTIPART_FIELDS = new Set(['file', 'metadata']);
/** Text fields a form may carry before it is refused; only "metadata" is used, the rest are named in the 400. */
const MAX_FORM_FIELDS = 32;

type UploadConfig = Pick<Config, 'limits' | 'dataDir'> & { server: Pick<Config['server'], 'maxUploadBytes'> };

/** The documents of one request; `discard` removes the request's spooled files (call it once stored or refused). */
export interface UploadBatch {
  uploads: UploadInput[];
  discard(): Promise<void>;
}

/**
 * The documents of an upload request: multipart (one or more `file` parts, optional `metadata`
 * JSON applied to each) or JSON `{ source, text, title?, mime?, metadata? }`. Multipart files
 * stream to temporary files under `<dataDir>/spool` and are never held whole in memory. Every file
 * is checked for a supported type before anything is stored, so a bad file rejects the request.
 */
export async function readUploads(c: Context, config: UploadConfig): Promise<UploadBatch> {
  const { limits } = config;
  const contentType = c.req.header('content-type');
  if (/^multipart\/form-data/i.test(contentType ?? '')) return readMultipart(c, contentType!, config);
  if (!isJsonContentType(contentType)) throw unsupportedMediaType(contentType, ['multipart/form-data', 'application/json']);
  const body = await readJson(c, textUploadSchema);
  if (body.text.length > limits.maxDocumentChars) {
    throw new DocumentLimitError(body.source, 'maxDocumentChars', 'RAGLINE_MAX_DOCUMENT_CHARS', limits.maxDocumentChars, body.text.length);
  }
  const upload: UploadInput = {
    source: body.source,
    bytes: new TextEncoder().encode(body.text),
    mimeHint: body.mime,
    title: body.title,
    metadata: body.metadata,
  };
  assertValidUpload(upload, limits);
  const bytes = upload.bytes!;
  await assertSupported(upload.source, bytes.byteLength, () => detectType(bytes, upload.source, upload.mimeHint));
  return { uploads: [upload], discard: async () => {} };
}

async function readMultipart(c: Context, contentType: string, config: UploadConfig): Promise<UploadBatch> {
  const declared = Number(c.req.header('content-length'));
  if (declared > config.server.maxUploadBytes) {
    throw new RaglineError(
      'payload_too_large',
      `request body exceeds the limit of ${config.server.maxUploadBytes} bytes (RAGLINE_MAX_UPLOAD_BYTES)`,
      { limit: 'maxUploadBytes', maxBytes: config.server.maxUploadBytes },
    );
  }
  const { dir, discard } = await createSpoolDir(config.dataDir);
  try {
    const form = await parseMultipartStream(c.req.raw.body, contentType, dir, {
      maxBodyBytes: config.server.maxUploadBytes,
      maxFiles: config.limits.maxFilesPerRequest,
      // Room for whitespace around metadata JSON; its real limit is checked once it is parsed.
      maxFieldBytes: 4 * config.limits.maxMetadataBytes + 1024,
      maxFields: MAX_FORM_FIELDS,
    });
    const uploads = uploadsOfForm(form, config.limits);
    for (const [i, upload] of uploads.entries()) {
      assertValidUpload(upload, config.limits);
      const file = form.files.filter((f) => f.field === 'file')[i]!;
      await assertSupported(upload.source, file.sizeBytes, () =>
        detectType(file.head, upload.source, upload.mimeHint, { isText: file.isText }),
      );
    }
    return { uploads, discard };
  } catch (err) {
    await discard();
    throw err;
  }
}

function uploadsOfForm(form: StreamedForm, limits: Limits): UploadInput[] {
  const names = new Set([...form.fields.keys(), ...form.files.map((f) => f.field)]);
  const unknown = [...names].filter((k) => !MULTIPART_FIELDS.has(k));
  if (unknown.length) {
    throw badRequest(
      `unknown form field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected "file" and optionally "metadata"`,
      { fields: unknown },
    );
  }
  if (form.files.some((f) => f.field === 'metadata') || (form.fields.get('metadata')?.length ?? 0) > 1) {
    throw badRequest('"metadata" must be a single text field holding a JSON object', { field: 'metadata' });
  }
  const metadata = parseMetadataField(form.fields.get('metadata')?.[0]);
  if (form.fields.has('file')) throw badRequest('"file" must be a file part, not a text field', { field: 'file' });
  const files = form.files.filter((f) => f.field === 'file');
  if (!files.length) throw badRequest('no "file" field in the form; attach one or more files as "file"', { field: 'file' });
  if (files.length > limits.maxFilesPerRequest) {
    throw new RaglineError(
      'payload_too_large',
      `${files.length} files in one request; the limit is ${limits.maxFilesPerRequest} (RAGLINE_MAX_FILES_PER_REQUEST)`,
      { field: 'file', limit: 'maxFilesPerRequest', max: limits.maxFilesPerRequest, actual: files.length },
    );
  }

  const uploads: UploadInput[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const source = file.filename.trim();
    if (!source) throw badRequest('every file needs a file name (it becomes the document source)', { field: 'file' });
    if (source.length > MAX_SOURCE_LENGTH) throw badRequest(`file name longer than ${MAX_SOURCE_LENGTH} characters`, { source });
    if (seen.has(source)) throw badRequest(`file "${source}" is attached more than once`, { source });
    seen.add(source);
    uploads.push({ source, file: { path: file.path, sizeBytes: file.sizeBytes }, mimeHint: canonicalMime(file.mimeType), metadata });
  }
  return uploads;
}

function assertValidUpload(upload: UploadInput, limits: Limits): void {
  assertValidSource(upload.source);
  if (upload.metadata) assertValidMetadata(upload.metadata, limits);
}

function parseMetadataField(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (err) {
    throw badRequest(`"metadata" is not valid JSON: ${(err as Error).message}`, { field: 'metadata' });
  }
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) throw validationError('metadata (expected a JSON object)', parsed.error);
  return parsed.data;
}

/** 415 for file types no loader reads, 422 for an empty file; the reason names the file. */
async function assertSupported(source: string, sizeBytes: number, detect: () => Promise<unknown>): Promise<void> {
  if (sizeBytes === 0) {
    throw new RaglineError('unprocessable_document', `${source}: the file is empty`, { source, reason: 'empty file' });
  }
  try {
    await detect();
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new RaglineError('unsupported_media_type', err.message, { ...err.details, source });
  }
}
