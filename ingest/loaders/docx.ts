import * as cheerio from 'cheerio';
import mammoth from 'mammoth';
import { DocumentError } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { DOCX_MIME } from './detect.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { addHtmlBody } from './html.ts';
import { coreProperties } from './office-xml.ts';
import { GuardedZip } from './zip.ts';

/**
 * Word via mammoth, which maps paragraph styles to HTML (Heading 1–6 → h1–h6, lists, tables);
 * that HTML then goes through the HTML loader's walker, so headings become the heading path and
 * tables become table sections with their header row first.
 * Tracked changes are read as if accepted (insertions kept, deletions dropped) and comments are
 * left out: the index should hold what the document says now, not its review history.
 */
export const docxLoader: Loader = {
  mimes: [DOCX_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const zip = await GuardedZip.open(bytes, source, limits);
    if (!zip.has('word/document.xml'))
      throw new DocumentError(source, 'is a zip container without word/document.xml (not a Word document)');
    await zip.verifySizes();
    const { value: html, messages } = await mammoth.convertToHtml({ buffer: Buffer.from(bytes) });
    const builder = new DocumentBuilder();
    addHtmlBody(html, builder);
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');
    const core = await coreProperties(zip);
    const firstHeading = tidyTitle(cheerio.load(html)('h1, h2, h3').first().text());
    return builder.build({
      source,
      title: core.title ?? firstHeading ?? fileNameOf(source),
      mime: DOCX_MIME,
      metadata: {
        bytes: bytes.length,
        ...(core.author ? { author: core.author } : {}),
        trackedChanges: 'accepted',
        comments: 'omitted',
        ...(messages.length ? { conversionWarnings: messages.length } : {}),
      },
    });
  },
};
