import { z } from 'zod';
import { DocumentError, DocumentLimitError, RaglineError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { type PdfOcrResult, ocrPdfPages } from './pdf-ocr.ts';
import type { PdfOutlineEntry } from './pdf-headings.ts';
import { layoutPdf } from './pdf-layout.ts';
import type { PdfPageItems } from './pdf-lines.ts';
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

/**
 * A PDF table's cells are guessed from the gaps between words, and a guess can fall inside a phrase
 * ("Up to $3,790 | Up to $10,505" for one wrapped cell, "4e(vii) | PS.3.2" for a row a reader
 * quotes as one): a tab keeps the cells apart and still reads as a space to anything that
 * compares text with whitespace collapsed.
 */
const PDF_CELL_SEPARATOR = '\t';

const PASSWORD_REASON = 'is password-protected; remove the password and retry';
const NO_TEXT_REASON = 'has no text layer (scanned/image-only pages) and OCR is turned off (RAGLINE_OCR=off)';
const OCR_FOUND_NOTHING = 'has no text layer, and OCR found no text on its pages';

/**
 * PDFs via unpdf's build of pdf.js, read by their layout (pdf-layout.ts: headings, no running
 * headers or contents pages, tables) unless limits.pdfLayout is off, then as flat text per page.
 * Every section carries its 1-based page number.
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
      const layout = limits.pdfLayout === 'on';
      const outcome = await extractPdfTextInThread({ bytes, maxPages, maxChars, layout, timeoutMs, maxHeapMb, signal });
      const extracted = extractedOrThrow(outcome, source, { maxPages, maxChars, timeoutMs });
      const blank = extracted.flatPages.flatMap((text, i) => (text.trim() === '' ? [i + 1] : []));
      const hasTextLayer = blank.length < extracted.flatPages.length;
      const ocr =
        blank.length && limits.ocr === 'on'
          ? await ocrPdfPages(bytes, blank, hasTextLayer, source, limits, { maxHeapMb, signal }).catch((err: unknown) => {
              throw signal?.aborted ? err : asDocumentError(err, source); // a cancelled job keeps its own reason
            })
          : { pages: new Map(), skipped: [] };
      const emptyReason = hasTextLayer || limits.ocr === 'off' ? NO_TEXT_REASON : OCR_FOUND_NOTHING;
      return buildDocument(extracted, ocr, bytes.length, source, emptyReason, layout);
    },
  };
}

export const pdfLoader: Loader = createPdfLoader();

interface ExtractedPdf {
  pages: PdfPageItems[];
  /** Each page as flat text (the reading before layout), which also tells blank pages apart. */
  flatPages: string[];
  outline: PdfOutlineEntry[];
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
      return {
        pages: outcome.pages,
        flatPages: outcome.pages.map((page) => pageText(page.items)),
        outline: outcome.outline,
        info: outcome.info,
      };
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
  extracted: ExtractedPdf,
  ocr: PdfOcrResult,
  byteCount: number,
  source: string,
  emptyReason: string,
  layout: boolean,
): LoadedDocument {
  const builder = new DocumentBuilder();
  const ocrTexts = new Map([...ocr.pages].map(([page, { text }]) => [page, text]));
  const pages = extracted.flatPages.map((text, i) => ocrTexts.get(i + 1) ?? text);
  const emptyPages = pages.flatMap((text, i) => (text.trim() === '' ? [i + 1] : []));
  let titleLines = pages;
  let layoutMetadata: Record<string, unknown> = {};
  if (layout) {
    const read = layoutPdf(extracted.pages, extracted.outline, ocrTexts);
    for (const block of read.blocks) {
      const place = { headingPath: block.headingPath, page: block.page };
      if (block.kind === 'table') builder.addTable(block.rows, place, PDF_CELL_SEPARATOR, block.header ? 1 : 0);
      else builder.addText(block.text, place);
    }
    titleLines = read.pageTexts.map((text, i) => ocrTexts.get(i + 1) ?? text);
    layoutMetadata = {
      layout: { headings: read.headingSource, furnitureLines: read.furnitureLines },
      ...(read.contentsPages.length ? { contentsPages: read.contentsPages } : {}),
    };
  } else {
    pages.forEach((text, i) => {
      if (text.trim() !== '') builder.addText(text, { headingPath: [], page: i + 1 });
    });
  }
  if (builder.isEmpty) throw new DocumentError(source, emptyReason, { pageCount: pages.length });
  const ocrPages = [...ocr.pages].map(([page, { confidence }]) => ({ page, confidence }));

  const { info } = extracted;
  const author = typeof info.Author === 'string' ? tidyTitle(info.Author) : undefined;
  return builder.build({
    source,
    title: usableMetadataTitle(info.Title) ?? tidyTitle(firstWordyLine(titleLines)) ?? fileNameOf(source),
    mime: 'application/pdf',
    pageCount: pages.length,
    metadata: {
      bytes: byteCount,
      pageCount: pages.length,
      emptyPages,
      ...layoutMetadata,
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
