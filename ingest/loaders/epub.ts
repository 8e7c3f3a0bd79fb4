import { DocumentError } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { EPUB_MIME } from './detect.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { addHtmlBody } from './html.ts';
import { parseXml, resolvePartPath } from './office-xml.ts';
import { GuardedZip } from './zip.ts';

const XHTML_TYPES = new Set(['application/xhtml+xml', 'text/html']);

/**
 * EPUB from its package document: META-INF/container.xml names the OPF, whose spine gives the
 * chapters in reading order; each chapter's XHTML goes through the HTML loader's walker, so its
 * headings become the heading path.
 */
export const epubLoader: Loader = {
  mimes: [EPUB_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const zip = await GuardedZip.open(bytes, source, limits);
    const container = await zip.text('META-INF/container.xml');
    const opfPath = container ? parseXml(container)('rootfile').first().attr('full-path') : undefined;
    const opf = opfPath ? await zip.text(opfPath) : undefined;
    if (!opfPath || !opf) throw new DocumentError(source, 'is an EPUB without a readable package document (META-INF/container.xml → .opf)');

    const $ = parseXml(opf);
    const folder = opfPath.slice(0, opfPath.lastIndexOf('/') + 1);
    const manifest = new Map<string, { href: string; type: string }>();
    $('manifest > item').each((_, item) => {
      const id = $(item).attr('id');
      const href = $(item).attr('href');
      if (id && href) manifest.set(id, { href: resolvePartPath(folder, decodeURIComponent(href)), type: $(item).attr('media-type') ?? '' });
    });
    const chapters = $('spine > itemref')
      .toArray()
      .map((ref) => manifest.get($(ref).attr('idref') ?? ''))
      .filter((item): item is { href: string; type: string } => item !== undefined && XHTML_TYPES.has(item.type));

    const builder = new DocumentBuilder();
    for (const chapter of chapters) {
      const xhtml = await zip.text(chapter.href);
      if (xhtml) addHtmlBody(xhtml, builder);
    }
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');
    const title = tidyTitle($('dc\\:title').first().text());
    const author = tidyTitle($('dc\\:creator').first().text());
    const language = tidyTitle($('dc\\:language').first().text());
    return builder.build({
      source,
      title: title ?? fileNameOf(source),
      mime: EPUB_MIME,
      metadata: { bytes: bytes.length, chapters: chapters.length, ...(author ? { author } : {}), ...(language ? { language } : {}) },
    });
  },
};
