import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { RaglineError, badRequest } from '../../core/errors.ts';

/** Bytes of each file kept in memory for type detection; the rest only goes to disk. */
export const HEAD_BYTES = 1024 * 1024;

/** One file part, written to `path` as it arrived. */
export interface StreamedFile {
  field: string;
  filename: string;
  mimeType: string;
  path: string;
  sizeBytes: number;
  /** The first HEAD_BYTES bytes (the whole file when it is smaller). */
  head: Uint8Array;
  /** The whole file is UTF-8 without NULs, checked chunk by chunk while it streamed. */
  isText: boolean;
}

export interface StreamedForm {
  /** Text fields by name, in arrival order. */
  fields: Map<string, string[]>;
  files: StreamedFile[];
}

export interface MultipartLimits {
  /** The whole request body, counted as it arrives (RAGLINE_MAX_UPLOAD_BYTES). */
  maxBodyBytes: number;
  /** File parts per request (RAGLINE_MAX_FILES_PER_REQUEST). */
  maxFiles: number;
  /** The longest text field accepted; longer ones are refused rather than truncated. */
  maxFieldBytes: number;
  /** Text fields per request. */
  maxFields: number;
}

/**
 * Parses a multipart body while it streams in, writing every file part to its own file in `dir`
 * (which the caller creates and removes). busboy does the parsing: it is the streaming parser
 * the Node ecosystem relies on (multer and others build on it), with limits on files, fields and
 * field sizes, while Hono's `parseBody` reads the whole body into memory first. The limits are
 * enforced while the bytes arrive: the request is refused as soon as one is crossed, without
 * reading the rest of the body. Memory stays bounded by the stream buffers and one head per file.
 */
export async function parseMultipartStream(
  body: ReadableStream<Uint8Array> | null,
  contentType: string,
  dir: string,
  limits: MultipartLimits,
): Promise<StreamedForm> {
  if (!body) throw badRequest('the multipart body is empty');
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      limits: { files: limits.maxFiles, fields: limits.maxFields, fieldSize: limits.maxFieldBytes },
    });
  } catch (err) {
    throw badRequest(`malformed multipart body: ${(err as Error).message}`);
  }

  const form: StreamedForm = { fields: new Map(), files: [] };
  const writes: Promise<void>[] = [];
  const streams: (Readable | Writable)[] = [];
  let failure: Error | undefined;
  // Every wait below ends when a limit is crossed. An AbortSignal rather than a shared "failed"
  // promise raced on each chunk: each race would hang a reaction holding its chunk on that promise.
  const stop = new AbortController();
  const stopped = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  const reader = body.getReader();
  const fail = (err: Error) => {
    if (failure) return;
    failure = err;
    stop.abort();
    // Ends a pending read at once; the client's remaining bytes are never read.
    reader.cancel().catch(() => {});
  };

  parser.on('file', (field, stream, info) => {
    if (failure) {
      stream.resume();
      return;
    }
    const file: StreamedFile = {
      field,
      filename: info.filename ?? '',
      mimeType: info.mimeType,
      path: path.join(dir, `part-${form.files.length}`),
      sizeBytes: 0,
      head: new Uint8Array(0),
      isText: true,
    };
    form.files.push(file);
    const inspector = inspect(file);
    const out = createWriteStream(file.path);
    streams.push(stream, inspector, out);
    writes.push(pipeline(stream, inspector, out).catch((err: Error) => fail(err)));
  });
  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) {
      fail(
        badRequest(`form field "${name}" is longer than ${limits.maxFieldBytes} bytes`, {
          field: name,
          limit: 'maxFieldBytes',
          max: limits.maxFieldBytes,
        }),
      );
      return;
    }
    form.fields.set(name, [...(form.fields.get(name) ?? []), value]);
  });
  parser.on('filesLimit', () =>
    fail(
      new RaglineError(
        'payload_too_large',
        `more than ${limits.maxFiles} files in one request; the limit is ${limits.maxFiles} (RAGLINE_MAX_FILES_PER_REQUEST)`,
        // The request stops at the first file over the limit, so that is how many were seen.
        { field: 'file', limit: 'maxFilesPerRequest', max: limits.maxFiles, actual: limits.maxFiles + 1 },
      ),
    ),
  );
  parser.on('fieldsLimit', () =>
    fail(badRequest(`more than ${limits.maxFields} text fields in one request`, { limit: 'maxFields', max: limits.maxFields })),
  );
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('close', resolve);
    parser.on('error', reject);
  }).catch((err: Error) => fail(badRequest(`malformed multipart body: ${err.message}`)));

  let received = 0;
  try {
    while (!failure) {
      const { done, value } = await reader.read();
      if (done || failure || !value) break;
      received += value.byteLength;
      if (received > limits.maxBodyBytes) {
        fail(
          new RaglineError(
            'payload_too_large',
            `request body exceeds the limit of ${limits.maxBodyBytes} bytes (RAGLINE_MAX_UPLOAD_BYTES)`,
            {
              limit: 'maxUploadBytes',
              maxBytes: limits.maxBodyBytes,
            },
          ),
        );
        break;
      }
      if (!parser.write(value)) await once(parser, 'drain', { signal: stop.signal }).catch(() => {});
    }
    if (failure) parser.destroy();
    else {
      parser.end();
      await Promise.race([parsed, stopped]);
    }
  } catch (err) {
    // The client went away or its stream broke: stop the parser; the caller removes the files.
    parser.destroy();
    fail(err instanceof RaglineError ? err : badRequest(`the request body could not be read: ${(err as Error).message}`));
  }
  // Files still being written are abandoned: their streams end, so every write settles.
  if (failure) for (const stream of streams) stream.destroy();
  await Promise.allSettled(writes);
  if (failure) throw failure;
  return form;
}

/** Counts a file's bytes, keeps its head, and checks it is UTF-8 without NULs, chunk by chunk. */
function inspect(file: StreamedFile): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const head: Buffer[] = [];
  let headBytes = 0;
  const checkText = (chunk?: Buffer) => {
    if (!file.isText) return;
    try {
      if (chunk) {
        if (chunk.includes(0)) file.isText = false;
        else decoder.decode(chunk, { stream: true });
      } else decoder.decode();
    } catch {
      file.isText = false;
    }
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      file.sizeBytes += chunk.byteLength;
      if (headBytes < HEAD_BYTES) {
        const take = chunk.subarray(0, HEAD_BYTES - headBytes);
        head.push(Buffer.from(take));
        headBytes += take.byteLength;
      }
      checkText(chunk);
      done(null, chunk);
    },
    flush(done) {
      checkText();
      file.head = Buffer.concat(head);
      done();
    },
  });
}
