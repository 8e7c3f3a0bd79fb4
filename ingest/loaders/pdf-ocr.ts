import { DocumentError } from '../../core/errors.ts';
import type { LoaderLimits } from './limits.ts';
import { type OcrPage, OcrSession, tidyOcrText } from './ocr.ts';
import { renderPdfPageInThread } from './pdf-thread.ts';

/** Heap ceiling of a page-rendering thread unless the caller says otherwise. */
const RENDER_HEAP_MB = 1024;

/** Pages are drawn at twice PDF's 72 dpi: small table text is read reliably, and it stays quick. */
export const OCR_RENDER_SCALE = 2;
const PDF_POINTS_PER_INCH = 72;

export interface PdfOcrResult {
  pages: Map<number, OcrPage>;
  /** Pages without a text layer that were left unread because of ocrMaxPages. */
  skipped: number[];
}

/**
 * Renders the given 1-based pages with @napi-rs/canvas and reads them with tesseract. A
 * document with no text at all and more such pages than ocrMaxPages is refused before any
 * page is drawn; otherwise pages beyond the limit are skipped and listed.
 */
export async function ocrPdfPages(
  bytes: Uint8Array,
  pageNumbers: number[],
  hasTextLayer: boolean,
  source: string,
  limits: Pick<LoaderLimits, 'ocrMaxPages' | 'ocrTimeoutMs'>,
  thread: { maxHeapMb?: number; signal?: AbortSignal } = {},
): Promise<PdfOcrResult> {
  if (!hasTextLayer && pageNumbers.length > limits.ocrMaxPages) {
    throw new DocumentError(
      source,
      `has ${pageNumbers.length} pages without a text layer, more than the OCR limit of ${limits.ocrMaxPages}`,
      {
        pages: pageNumbers.length,
        limit: limits.ocrMaxPages,
      },
    );
  }
  const wanted = pageNumbers.slice(0, limits.ocrMaxPages);
  const session = new OcrSession(source, limits);
  const pages = new Map<number, OcrPage>();
  try {
    for (const number of wanted) {
      // Drawn in a worker thread (pdf.js parses the page there); tesseract recognises in its own worker.
      const png = await renderPage(bytes, number, source, limits.ocrTimeoutMs, thread);
      const page = await session.recognize(png, PDF_POINTS_PER_INCH * OCR_RENDER_SCALE);
      pages.set(number, { text: tidyOcrText(page.text), confidence: page.confidence });
    }
  } finally {
    await session.close();
  }
  return { pages, skipped: pageNumbers.slice(wanted.length) };
}

async function renderPage(
  bytes: Uint8Array,
  page: number,
  source: string,
  timeoutMs: number,
  { maxHeapMb = RENDER_HEAP_MB, signal }: { maxHeapMb?: number; signal?: AbortSignal },
): Promise<Uint8Array> {
  const outcome = await renderPdfPageInThread(bytes, page, OCR_RENDER_SCALE, { timeoutMs, maxHeapMb, signal });
  switch (outcome.kind) {
    case 'rendered':
      return outcome.png;
    case 'aborted':
      throw outcome.reason instanceof Error ? outcome.reason : new Error('PDF page rendering was aborted');
    case 'timeout':
      throw new DocumentError(source, `page ${page} took longer than ${timeoutMs / 1000} s to draw for OCR and was abandoned`, { page });
    case 'crashed':
    case 'failed':
      throw new DocumentError(source, `page ${page} could not be drawn for OCR: ${outcome.message}`, { page });
  }
}
