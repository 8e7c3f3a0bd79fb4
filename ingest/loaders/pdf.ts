import { z } from 'zod';
import { DocumentError, DocumentLimitError, RaglineError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { type PdfOcrResult, ocrPdfPages } from './pdf-ocr.ts';
import { pageText } from './pdf-text.ts';
import { extractPdfTextInThread, type PdfThreadOutcome } from './pdf-thread.ts';

export const PDF_LIMITS = { timeoutMs: 120_000, maxPages: 2000, maxHeapMb: 1024 } as const;

const pdfLoaderOptions = z.object({
  /** The whole document must be read within this time, or it is abandoned. */
  timeoutMs: z.number().int().positive().default(PDF_LIMITS.timeoutMs),
  /** Documents with more pages are refused before any page is read. */
  maxPages: z.number().int().positive().default(PDF_LIMITS.maxPages),
  /** Heap ceiling of each worker thread that parses the text layer or draws a page for OCR. */
  maxHeapMb: z.number().int().min(64).default(PDF_LIMITS.maxHeapMb),
});
export type PdfLoaderOptions = z.input<typeof pdfLoaderOptions>;

const PASSWORD_REASON = 'is password-protected; remove the password and retry';
const NO_TEXT_REASON = 'has no text layer (scanned/image-only pages) and OCR is turned off (RAGLINE_OCR=off)';
const OCR_FOUND_NOTHING = 'has no text layer, and OCR found no text on its pages';

/**
 * PDFs via unpdf's build of pdf.js: one section per page with its 1-based page number.
 * Pages without a text layer are read with OCR (unless limits.ocr is off) and listed in
 * metadata.ocrPages with tesseract's confidence; pages still empty are listed in metadata.emptyPages.
 */
export function createPdfLoader(options: PdfLoaderOptions = {}): Loader {
  const parsed = pdfLoaderOptions.safeParse(options);
  if (!parsed.success) {
    throw new RaglineError('invalid_config', `Invalid PDF loader options: ${z.prettifyError(parsed.error)}`, { options });
  }
  const { timeoutMs, maxPages, maxHeapMb } = parsed.data;
  return {
    mimes: ['application/pdf'],
    async load(bytes: Uint8Array, source: string, context: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
      const { limits, budget, signal } = context;
      if (bytes.length === 0) throw new DocumentError(source, 'is empty (0 bytes)');
      const maxChars = budget?.maxChars ?? Number.POSITIVE_INFINITY;
      // pdf.js runs in a worker thread: a hostile file costs that thread's time, not the server's event loop.
      const outcome = await extractPdfTextInThread({ bytes, maxPages, maxChars, timeoutMs, maxHeapMb, signal });
      const extracted = extractedOrThrow(outcome, source, { maxPages, maxChars, timeoutMs });
      const blank = extracted.pages.flatMap((text, i) => (text.trim() === '' ? [i + 1] : []));
      const hasTextLayer = blank.length < extracted.pages.length;
      const ocr =
        blank.length && limits.ocr === 'on'
          ? await ocrPdfPages(bytes, blank, hasTextLayer, source, limits, { maxHeapMb, signal }).catch((err: unknown) => {
              throw signal?.aborted ? err : asDocumentError(err, source); // a cancelled job keeps its own reason
            })
          : { pages: new Map(), skipped: [] };
      return buildDocument(extracted, ocr, bytes.length, source, hasTextLayer || limits.ocr === 'off' ? NO_TEXT_REASON : OCR_FOUND_NOTHING);
    },
  };
}

export const pdfLoader: Loader = createPdfLoader();

interface ExtractedPdf {
  pages: string[];
  info: Record<string, unknown>;
}

/** The thread's answer as pages of text, or the error the loader reports for it. */
function extractedOrThrow(
  outcome: PdfThreadOutcome,
  source: string,
  bounds: { maxPages: number; maxChars: number; timeoutMs: number },
): ExtractedPdf {
  switch (outcome.kind) {
    case 'extracted':
      return { pages: outcome.pages.map(pageText), info: outcome.info };
    case 'too_many_pages':
      throw new DocumentError(source, `has ${outcome.pages} pages, more than the limit of ${bounds.maxPages}`, {
        pages: outcome.pages,
        maxPages: bounds.maxPages,
      });
    case 'over_budget':
      throw new DocumentLimitError(
        source,
        'maxDocumentChars',
        'RAGLINE_MAX_DOCUMENT_CHARS',
        bounds.maxChars,
        `more than ${bounds.maxChars} characters by page ${outcome.page}`,
      );
    case 'timeout':
      throw new DocumentError(source, `took longer than ${bounds.timeoutMs / 1000} s to read and was abandoned (damaged or hostile PDF?)`);
    case 'aborted':
      // The job was cancelled or ran past its deadline: its own reason says which.
      throw outcome.reason instanceof Error ? outcome.reason : new Error('PDF reading was aborted');
    case 'crashed':
      throw new DocumentError(source, `could not be parsed as a PDF: ${outcome.message}`);
    case 'failed': {
      const err = Object.assign(new Error(outcome.message), { name: outcome.name });
      throw asDocumentError(err, source);
    }
  }
}

function buildDocument(
  { pages: layerPages, info }: ExtractedPdf,
  ocr: PdfOcrResult,
  byteCount: number,
  source: string,
  emptyReason: string,
): LoadedDocument {
  const builder = new DocumentBuilder();
  const emptyPages: number[] = [];
  const pages = layerPages.map((text, i) => ocr.pages.get(i + 1)?.text ?? text);
  pages.forEach((text, i) => {
    if (text.trim() === '') emptyPages.push(i + 1);
    else builder.addText(text, { headingPath: [], page: i + 1 });
  });
  if (builder.isEmpty) throw new DocumentError(source, emptyReason, { pageCount: pages.length });
  const ocrPages = [...ocr.pages].map(([page, { confidence }]) => ({ page, confidence }));

  const author = typeof info.Author === 'string' ? tidyTitle(info.Author) : undefined;
  return builder.build({
    source,
    title: usableMetadataTitle(info.Title) ?? tidyTitle(firstWordyLine(pages)) ?? fileNameOf(source),
    mime: 'application/pdf',
    pageCount: pages.length,
    metadata: {
      bytes: byteCount,
      pageCount: pages.length,
      emptyPages,
      ...(ocrPages.length ? { ocrPages } : {}),
      ...(ocr.skipped.length ? { ocrSkippedPages: ocr.skipped } : {}),
      ...(author ? { author } : {}),
    },
  });
}

/** Authoring tools often leave a file name ("10811.exe", "Microsoft Word - draft.doc") as the title. */
function usableMetadataTitle(title: unknown): string | undefined {
  if (typeof title !== 'string') return undefined;
  const tidy = tidyTitle(title.replace(/^Microsoft (Word|PowerPoint) - /, ''));
  if (!tidy || /\.(exe|docx?|pdf|indd|qxd|rtf|tex|dvi|tmp|pptx?)$/i.test(tidy)) return undefined;
  return tidy;
}

/** The first line with a real word in it, skipping page furniture such as a lone line number. */
function firstWordyLine(pages: string[]): string | undefined {
  for (const page of pages) {
    const line = page.split('\n').find((candidate) => /\p{L}{3}/u.test(candidate));
    if (line) return line;
  }
  return undefined;
}

/** pdf.js names its failures; each becomes a DocumentError saying what to do about it. */
function asDocumentError(err: unknown, source: string): DocumentError {
  if (err instanceof DocumentError) return err;
  const name = err instanceof Error ? err.name : '';
  if (name === 'PasswordException') return new DocumentError(source, PASSWORD_REASON, {}, { cause: err });
  if (name === 'InvalidPDFException') {
    return new DocumentError(source, `is not a valid PDF (corrupt or truncated): ${errorMessage(err)}`, {}, { cause: err });
  }
  return new DocumentError(source, `could not be parsed as a PDF: ${errorMessage(err)}`, {}, { cause: err });
}
