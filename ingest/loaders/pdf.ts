import { getResolvedPDFJS } from 'unpdf';
import { z } from 'zod';
import { DocumentError, DocumentLimitError, RaglineError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { type PdfOcrResult, ocrPdfPages } from './pdf-ocr.ts';
import { pageText, type PdfTextItem } from './pdf-text.ts';

export const PDF_LIMITS = { timeoutMs: 120_000, maxPages: 2000 } as const;

const pdfLoaderOptions = z.object({
  /** The whole document must be read within this time, or it is abandoned. */
  timeoutMs: z.number().int().positive().default(PDF_LIMITS.timeoutMs),
  /** Documents with more pages are refused before any page is read. */
  maxPages: z.number().int().positive().default(PDF_LIMITS.maxPages),
});
export type PdfLoaderOptions = z.input<typeof pdfLoaderOptions>;

/**
 * The part of pdf.js this loader uses. unpdf ships pdf.js typings with extensionless imports
 * that do not resolve under NodeNext (they silently become `any`), so the surface is stated here.
 */
interface PdfJs {
  getDocument(params: { data: Uint8Array; isEvalSupported: boolean; useSystemFonts: boolean; verbosity: number }): {
    promise: Promise<PdfDocument>;
    destroy(): Promise<void>;
  };
}
interface PdfDocument {
  numPages: number;
  getPage(pageNumber: number): Promise<PdfPage>;
  getMetadata(): Promise<{ info?: unknown }>;
}
type PdfTextChunk = { items: (PdfTextItem | { type: string })[] };
interface PdfPage {
  /** The page's text content in pieces as pdf.js parses it; items are text runs and marked-content markers. */
  streamTextContent(): ReadableStream<PdfTextChunk>;
  cleanup(): unknown;
}

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
  const { timeoutMs, maxPages } = parsed.data;
  return {
    mimes: ['application/pdf'],
    async load(bytes: Uint8Array, source: string, { limits, budget }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
      if (bytes.length === 0) throw new DocumentError(source, 'is empty (0 bytes)');
      const pdfjs: PdfJs = await getResolvedPDFJS();
      // pdf.js refuses Node Buffers and may take ownership of its input: give it a plain copy.
      const task = pdfjs.getDocument({ data: new Uint8Array(bytes), isEvalSupported: false, useSystemFonts: true, verbosity: 0 });
      try {
        const extracted = await withDeadline(
          readPages(task.promise, source, maxPages, budget?.maxChars ?? Number.POSITIVE_INFINITY),
          timeoutMs,
          () => new DocumentError(source, `took longer than ${timeoutMs / 1000} s to read and was abandoned (damaged or hostile PDF?)`),
        );
        const blank = extracted.pages.flatMap((text, i) => (text.trim() === '' ? [i + 1] : []));
        const hasTextLayer = blank.length < extracted.pages.length;
        const ocr =
          blank.length && limits.ocr === 'on'
            ? await ocrPdfPages(bytes, blank, hasTextLayer, source, limits)
            : { pages: new Map(), skipped: [] };
        return buildDocument(
          extracted,
          ocr,
          bytes.length,
          source,
          hasTextLayer || limits.ocr === 'off' ? NO_TEXT_REASON : OCR_FOUND_NOTHING,
        );
      } catch (err) {
        throw asDocumentError(err, source);
      } finally {
        // Stops any parsing still under way after a timeout and frees pdf.js's memory.
        await task.destroy();
      }
    },
  };
}

export const pdfLoader: Loader = createPdfLoader();

interface ExtractedPdf {
  pages: string[];
  info: Record<string, unknown>;
}

async function readPages(opening: Promise<PdfDocument>, source: string, maxPages: number, maxChars: number): Promise<ExtractedPdf> {
  const pdf = await opening;
  if (pdf.numPages > maxPages) {
    throw new DocumentError(source, `has ${pdf.numPages} pages, more than the limit of ${maxPages}`, { pages: pdf.numPages, maxPages });
  }
  const pages: string[] = [];
  let chars = 0;
  for (let number = 1; number <= pdf.numPages; number++) {
    const page = await pdf.getPage(number);
    const items: PdfTextItem[] = [];
    // Streamed, so one hostile page (a small compressed stream that expands to millions of
    // characters) is abandoned as soon as the budget is spent, not after it was all extracted.
    const reader = page.streamTextContent().getReader();
    for (let piece = await reader.read(); !piece.done; piece = await reader.read()) {
      for (const item of piece.value.items) {
        if (!('str' in item)) continue;
        chars += item.str.length;
        items.push(item);
      }
      if (chars > maxChars) {
        await reader.cancel(new Error('text budget spent')).catch(() => {});
        throw new DocumentLimitError(
          source,
          'maxDocumentChars',
          'RAGLINE_MAX_DOCUMENT_CHARS',
          maxChars,
          `more than ${maxChars} characters by page ${number}`,
        );
      }
    }
    pages.push(pageText(items));
    page.cleanup();
  }
  // Metadata is a nicety: a broken info dictionary must not fail a readable document.
  const meta = await pdf.getMetadata().catch(() => undefined);
  return { pages, info: (meta?.info ?? {}) as Record<string, unknown> };
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

/**
 * Rejects when `work` is not done within `ms`. pdf.js yields to the event loop between parsing
 * steps, so the timer fires even while a slow file is being read; the caller then destroys the
 * loading task, which stops pdf.js.
 */
function withDeadline<T>(work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
