import fs from 'node:fs/promises';
import { DocumentError, RaglineError, errorMessage } from '../../core/errors.ts';
import type { LoadBudget, LoadedDocument, Loader } from '../types.ts';
import { compoundFileLoader } from './compound-file.ts';
import { detectType, type SupportedMime } from './detect.ts';
import { docxLoader } from './docx.ts';
import { emailLoader } from './email.ts';
import { epubLoader } from './epub.ts';
import { htmlLoader } from './html.ts';
import { imageLoader } from './image.ts';
import { type LoaderLimitsInput, resolveLoaderLimits } from './limits.ts';
import { markdownLoader } from './markdown.ts';
import { pdfLoader } from './pdf.ts';
import { plainTextLoader } from './plain-text.ts';
import { pptxLoader } from './pptx.ts';
import { csvLoader, xlsxLoader } from './spreadsheet.ts';

export { detectType, canonicalMime, type Detection, type SupportedMime } from './detect.ts';
export { createPdfLoader, PDF_LIMITS, type PdfLoaderOptions } from './pdf.ts';
export { LOADER_LIMITS, resolveLoaderLimits, type LoaderLimits, type LoaderLimitsInput } from './limits.ts';

/** Every loader, keyed by the MIME type detection hands out. */
export const LOADERS: Readonly<Record<SupportedMime, Loader>> = {
  'text/plain': plainTextLoader,
  'text/markdown': markdownLoader,
  'text/html': htmlLoader,
  'application/pdf': pdfLoader,
  'text/csv': csvLoader,
  'message/rfc822': emailLoader,
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': docxLoader,
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': pptxLoader,
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': xlsxLoader,
  'application/epub+zip': epubLoader,
  'application/x-cfb': compoundFileLoader,
  'image/png': imageLoader,
  'image/jpeg': imageLoader,
};

export interface LoadOptions {
  /** A declared MIME type (e.g. an upload's Content-Type). It picks the text flavour; magic bytes still win for binaries. */
  mime?: string;
  /** Parsing bounds (zip, sheet, attachment and OCR limits); unset fields keep the defaults of limits.ts. */
  limits?: LoaderLimitsInput;
  /** Passed to the loader, which stops extracting once it is spent. */
  budget?: LoadBudget;
  /** Stops a loader's off-thread work (the PDF text layer) when a job is cancelled or overdue. */
  signal?: AbortSignal;
}

/**
 * Reads any supported document into text and sections. Unreadable input (empty, unsupported,
 * corrupt, encrypted, image-only) is a DocumentError naming the source and the reason.
 */
export async function loadDocument(bytes: Uint8Array, source: string, opts: LoadOptions = {}): Promise<LoadedDocument> {
  if (bytes.length === 0) throw new DocumentError(source, 'is empty (0 bytes)');
  const detection = await detectType(bytes, source, opts.mime);
  try {
    const doc = await LOADERS[detection.mime].load(bytes, source, {
      limits: resolveLoaderLimits(opts.limits),
      budget: opts.budget,
      signal: opts.signal,
    });
    return { ...doc, metadata: { ...doc.metadata, detectedBy: detection.via } };
  } catch (err) {
    if (err instanceof RaglineError) throw err;
    // A cancelled or overdue job: its own reason, not a complaint about the document.
    if (opts.signal?.aborted && err === opts.signal.reason) throw err;
    // A parser bug on odd input is still the document's problem to report, not a crash.
    throw new DocumentError(source, `could not be read as ${detection.mime}: ${errorMessage(err)}`, {}, { cause: err });
  }
}

/** loadDocument for a file on disk; the path is the source. */
export async function loadFile(path: string, opts: LoadOptions = {}): Promise<LoadedDocument> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RaglineError('not_found', `File not found: ${path}`, { path });
    throw new DocumentError(path, `cannot be read: ${errorMessage(err)}`, { code });
  }
  return loadDocument(bytes, path, opts);
}
