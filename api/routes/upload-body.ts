import type { Context } from 'hono';
import { z } from 'zod';
import { DocumentError, DocumentLimitError, RaglineError, badRequest } from '../../core/errors.ts';
import type { UploadInput } from '../../ingest/jobs/types.ts';
import { TEXT_MIMES, canonicalMime, detectType } from '../../ingest/loaders/detect.ts';
import { validationError } from '../../core/errors.ts';
import type { Limits } from '../../core/config.ts';
import { assertValidMetadata, assertValidSource, hasNul } from '../../ingest/metadata.ts';
import { isJsonContentType, readJson, unsupportedMediaType } from '../http-errors.ts';

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

/**
 * The documents of an upload request: multipart (one or more `file` parts, optional `metadata`
 * JSON applied to each) or JSON `{ source, text, title?, mime?, metadata? }`. Every file is
 * checked for a supported type before anything is stored, so a bad file rejects the request.
 */
export async function readUploads(c: Context, limits: Limits): Promise<UploadInput[]> {
  const contentType = c.req.header('content-type');
  let uploads: UploadInput[];
  if (/^multipart\/form-data/i.test(contentType ?? '')) uploads = await readMultipart(c, limits);
  else if (isJsonContentType(contentType)) {
    const body = await readJson(c, textUploadSchema);
    if (body.text.length > limits.maxDocumentChars) {
      throw new DocumentLimitError(
        body.source,
        'maxDocumentChars',
        'RAGLINE_MAX_DOCUMENT_CHARS',
        limits.maxDocumentChars,
        body.text.length,
      );
    }
    uploads = [
      { source: body.source, bytes: new TextEncoder().encode(body.text), mimeHint: body.mime, title: body.title, metadata: body.metadata },
    ];
  } else throw unsupportedMediaType(contentType, ['multipart/form-data', 'application/json']);
  for (const upload of uploads) {
    assertValidSource(upload.source);
    if (upload.metadata) assertValidMetadata(upload.metadata, limits);
    await assertSupported(upload);
  }
  return uploads;
}

async function readMultipart(c: Context, limits: Limits): Promise<UploadInput[]> {
  let form: Record<string, string | File | (string | File)[]>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch (err) {
    throw badRequest(`malformed multipart body: ${(err as Error).message}`);
  }
  const unknown = Object.keys(form).filter((k) => !MULTIPART_FIELDS.has(k));
  if (unknown.length) {
    throw badRequest(
      `unknown form field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected "file" and optionally "metadata"`,
      {
        fields: unknown,
      },
    );
  }
  const metadata = parseMetadataField(form.metadata);
  const files = [form.file ?? []].flat();
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
    if (typeof file === 'string') throw badRequest('"file" must be a file part, not a text field', { field: 'file' });
    const source = file.name.trim();
    if (!source) throw badRequest('every file needs a file name (it becomes the document source)', { field: 'file' });
    if (source.length > MAX_SOURCE_LENGTH) throw badRequest(`file name longer than ${MAX_SOURCE_LENGTH} characters`, { source });
    if (seen.has(source)) throw badRequest(`file "${source}" is attached more than once`, { source });
    seen.add(source);
    uploads.push({ source, bytes: new Uint8Array(await file.arrayBuffer()), mimeHint: canonicalMime(file.type), metadata });
  }
  return uploads;
}

function parseMetadataField(value: string | File | (string | File)[] | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest('"metadata" must be a single text field holding a JSON object', { field: 'metadata' });
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
async function assertSupported(upload: UploadInput): Promise<void> {
  if (upload.bytes.byteLength === 0) {
    throw new RaglineError('unprocessable_document', `${upload.source}: the file is empty`, {
      source: upload.source,
      reason: 'empty file',
    });
  }
  try {
    await detectType(upload.bytes, upload.source, upload.mimeHint);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new RaglineError('unsupported_media_type', err.message, { ...err.details, source: upload.source });
  }
}
