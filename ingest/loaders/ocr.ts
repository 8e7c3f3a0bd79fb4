import { createRequire } from 'node:module';
import path from 'node:path';
import { OEM, PSM, createWorker } from 'tesseract.js';
import { DocumentError } from '../../core/errors.ts';
import type { LoaderLimits } from './limits.ts';

/**
 * The English LSTM model shipped in the @tesseract.js-data/eng package. tesseract.js reads a
 * langPath that is a local folder from disk; cacheMethod 'none' stops it writing a copy to the
 * working directory. Nothing is fetched at run time.
 */
const require = createRequire(import.meta.url);
export const ENGLISH_DATA_DIR = path.join(path.dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');

export interface OcrPage {
  text: string;
  /** tesseract's mean word confidence, 0–100. */
  confidence: number;
}

/**
 * One tesseract worker for one document's pages, within the document's OCR time budget. The
 * worker is a thread that would keep the process alive, so `close` must always run (finally).
 */
export class OcrSession {
  private readonly deadline: number;
  private worker: Awaited<ReturnType<typeof createWorker>> | undefined;

  constructor(
    private readonly source: string,
    private readonly limits: Pick<LoaderLimits, 'ocrTimeoutMs'>,
  ) {
    this.deadline = Date.now() + limits.ocrTimeoutMs;
  }

  /** Reads the text of a PNG or JPEG image; `dpi`, when known (rendered pages), spares tesseract a guess. */
  async recognize(image: Uint8Array, dpi?: number): Promise<OcrPage> {
    const worker = await this.withinBudget(this.ensureWorker());
    if (dpi !== undefined) await worker.setParameters({ user_defined_dpi: String(dpi) });
    const { data } = await this.withinBudget(worker.recognize(Buffer.from(image)));
    return { text: data.text, confidence: Math.round(data.confidence) };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private async ensureWorker() {
    if (!this.worker) {
      this.worker = await createWorker('eng', OEM.LSTM_ONLY, { langPath: ENGLISH_DATA_DIR, cacheMethod: 'none', gzip: true });
      // tesseract.js reads a page as one uniform block by default, which loses table rows of a
      // scanned page; automatic page segmentation finds each row.
      await this.worker.setParameters({ tessedit_pageseg_mode: PSM.AUTO });
    }
    return this.worker;
  }

  /** Rejects once the document's OCR time is spent; the caller's close() then stops the worker mid-page. */
  private withinBudget<T>(work: Promise<T>): Promise<T> {
    const left = this.deadline - Date.now();
    const timeout = () =>
      new DocumentError(this.source, `OCR took longer than ${this.limits.ocrTimeoutMs / 1000} s and was abandoned`, {
        limit: this.limits.ocrTimeoutMs,
      });
    if (left <= 0) return Promise.reject(timeout());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout()), left);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }
}

/** OCR output as prose: tesseract ends every line with a newline and pages with blank lines. */
export function tidyOcrText(text: string): string {
  return text
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
