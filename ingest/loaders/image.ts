import { DocumentError } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { IMAGE_MIMES } from './detect.ts';
import { DocumentBuilder, fileNameOf } from './document-builder.ts';
import { OcrSession, tidyOcrText } from './ocr.ts';

/** PNG and JPEG uploads, read with OCR as one page. RAGLINE_OCR=off refuses them. */
export const imageLoader: Loader = {
  mimes: IMAGE_MIMES,
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    if (limits.ocr === 'off') throw new DocumentError(source, 'is an image, and OCR is turned off (RAGLINE_OCR=off)');
    const session = new OcrSession(source, limits);
    let page: Awaited<ReturnType<OcrSession['recognize']>>;
    try {
      page = await session.recognize(bytes);
    } finally {
      await session.close();
    }
    const builder = new DocumentBuilder();
    builder.addText(tidyOcrText(page.text), { headingPath: [], page: 1 });
    if (builder.isEmpty) throw new DocumentError(source, 'is an image in which OCR found no text', { confidence: page.confidence });
    return builder.build({
      source,
      title: fileNameOf(source),
      mime: bytes[0] === 0x89 ? 'image/png' : 'image/jpeg',
      pageCount: 1,
      metadata: { bytes: bytes.length, ocrPages: [{ page: 1, confidence: page.confidence }] },
    });
  },
};
