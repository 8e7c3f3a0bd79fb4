import './array-buffer-transfer.ts';
import { renderPageAsImage } from 'unpdf';
import { DocumentError } from '../../core/errors.ts';
import type { LoaderLimits } from './limits.ts';
import { type OcrPage, OcrSession, tidyOcrText } from './ocr.ts';

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
      // pdf.js may take ownership of its input: every render gets its own copy.
      const png = await renderPageAsImage(new Uint8Array(bytes), number, {
        canvasImport: () => import('@napi-rs/canvas'),
        scale: OCR_RENDER_SCALE,
      });
      const page = await session.recognize(new Uint8Array(png), PDF_POINTS_PER_INCH * OCR_RENDER_SCALE);
      pages.set(number, { text: tidyOcrText(page.text), confidence: page.confidence });
    }
  } finally {
    await session.close();
  }
  return { pages, skipped: pageNumbers.slice(wanted.length) };
}
