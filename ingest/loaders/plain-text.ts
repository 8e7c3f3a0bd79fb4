import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, cleanControlChars, decodeUtf8, fileNameOf, tidyTitle } from './document-builder.ts';

/** Plain text: blank lines separate paragraphs; the first line is the title. */
export const plainTextLoader: Loader = {
  mimes: ['text/plain'],
  async load(bytes: Uint8Array, source: string): Promise<LoadedDocument> {
    const text = cleanControlChars(decodeUtf8(bytes, source));
    const builder = new DocumentBuilder();
    for (const paragraph of text.split(/\n\s*\n/)) builder.addText(paragraph, { headingPath: [] });
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');

    const firstLine = text.split('\n').find((line) => line.trim() !== '');
    return builder.build({
      source,
      title: tidyTitle(firstLine) ?? fileNameOf(source),
      mime: 'text/plain',
      metadata: { bytes: bytes.length },
    });
  },
};
