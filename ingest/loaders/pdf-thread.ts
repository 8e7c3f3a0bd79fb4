import { Worker } from 'node:worker_threads';
import { z } from 'zod';

/**
 * What the worker thread (pdf-worker.mjs) answers. Validated here because it crosses a thread
 * boundary: a worker that crashed half-way or a changed pdf.js must not hand the loader garbage.
 */
const textItem = z.object({
  str: z.string(),
  transform: z.array(z.number()),
  // Sent only when the PDF is read by its layout.
  width: z.number().optional(),
  fontName: z.string().optional(),
  hasEOL: z.boolean(),
});
const page = z.object({ items: z.array(textItem), width: z.number(), height: z.number() });
const outlineEntry = z.object({
  title: z.string(),
  depth: z.number().int().min(0),
  page: z.number().int().positive(),
  top: z.number().optional(),
});
const failed = z.object({ kind: z.literal('failed'), name: z.string(), message: z.string() });
const textAnswer = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('extracted'),
    pages: z.array(page),
    info: z.record(z.string(), z.string()),
    outline: z.array(outlineEntry),
  }),
  z.object({ kind: z.literal('too_many_pages'), pages: z.number().int() }),
  z.object({ kind: z.literal('over_budget'), page: z.number().int() }),
  failed,
]);
const renderAnswer = z.discriminatedUnion('kind', [z.object({ kind: z.literal('rendered'), png: z.instanceof(Uint8Array) }), failed]);
export type PdfTextAnswer = z.infer<typeof textAnswer>;
export type PdfRenderAnswer = z.infer<typeof renderAnswer>;

/** Why the thread gave no answer: its deadline passed, the caller aborted, or it died. */
export type PdfThreadFailure = { kind: 'timeout' } | { kind: 'aborted'; reason: unknown } | { kind: 'crashed'; message: string };
export type PdfThreadOutcome = PdfTextAnswer | PdfThreadFailure;

export interface PdfThreadBounds {
  timeoutMs: number;
  /** Heap ceiling of the thread; a file that needs more kills only the thread. */
  maxHeapMb: number;
  signal?: AbortSignal;
}

export interface PdfThreadRequest extends PdfThreadBounds {
  bytes: Uint8Array;
  maxPages: number;
  maxChars: number;
  /** Read by layout: the thread then also sends item widths, font names and the outline. */
  layout: boolean;
}

const WORKER_FILE = new URL('./pdf-worker.mjs', import.meta.url);

/**
 * Reads a PDF's text layer in a fresh worker thread. One thread per task: it is terminated as soon
 * as it answered, on the deadline or on abort, which stops pdf.js wherever it is and frees all its
 * memory (a pooled thread could not be interrupted without being thrown away anyway).
 */
export function extractPdfTextInThread(request: PdfThreadRequest): Promise<PdfThreadOutcome> {
  const { bytes, maxPages, maxChars, layout, ...bounds } = request;
  return runInThread({ task: 'text', maxPages, maxChars, layout }, bytes, textAnswer, bounds);
}

/** One page drawn as a PNG for OCR, in a thread of its own with the same bounds. */
export function renderPdfPageInThread(
  bytes: Uint8Array,
  page: number,
  scale: number,
  bounds: PdfThreadBounds,
): Promise<PdfRenderAnswer | PdfThreadFailure> {
  return runInThread({ task: 'render', page, scale }, bytes, renderAnswer, bounds);
}

function runInThread<T>(
  data: Record<string, unknown>,
  input: Uint8Array,
  schema: z.ZodType<T>,
  { timeoutMs, maxHeapMb, signal }: PdfThreadBounds,
): Promise<T | PdfThreadFailure> {
  if (signal?.aborted) return Promise.resolve({ kind: 'aborted', reason: signal.reason });
  // A copy the thread owns outright: pdf.js may detach its input, and the caller keeps its bytes.
  const bytes = new Uint8Array(input);
  const worker = new Worker(WORKER_FILE, {
    workerData: { ...data, bytes },
    transferList: [bytes.buffer as ArrayBuffer],
    // The thread imports plain JavaScript only; it must not inherit a TypeScript loader's flags.
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
  });
  return new Promise<T | PdfThreadFailure>((resolve) => {
    let settled = false;
    const finish = (outcome: T | PdfThreadFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted', reason: signal?.reason });
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: unknown) => {
      const parsed = schema.safeParse(message);
      finish(
        parsed.success
          ? parsed.data
          : { kind: 'crashed', message: `unexpected answer from the PDF thread: ${z.prettifyError(parsed.error)}` },
      );
    });
    worker.once('error', (err) => finish({ kind: 'crashed', message: err.message }));
    worker.once('exit', (code) => finish({ kind: 'crashed', message: `the PDF thread exited (code ${code}) without an answer` }));
  });
}
