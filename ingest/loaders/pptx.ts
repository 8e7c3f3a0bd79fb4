import type { CheerioAPI } from 'cheerio';
import { DocumentError } from '../../core/errors.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { PPTX_MIME } from './detect.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { coreProperties, parseXml, relationships } from './office-xml.ts';
import { GuardedZip } from './zip.ts';

const NOTES_REL = /\/notesSlide$/;
const TITLE_PLACEHOLDERS = new Set(['title', 'ctrTitle']);
/** Marks speaker notes in the heading path and in the text, so answers can tell them from the slide. */
export const SPEAKER_NOTES = 'Speaker notes';

/**
 * PowerPoint from its slide XML: one unit per slide, the slide number as the page, the title
 * placeholder as the heading, other text boxes as prose, tables as table sections, and the
 * slide's speaker notes after it under [title, 'Speaker notes'].
 */
export const pptxLoader: Loader = {
  mimes: [PPTX_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const zip = await GuardedZip.open(bytes, source, limits);
    const slides = await slideOrder(zip);
    if (!slides.length) throw new DocumentError(source, 'is a zip container without slides (not a PowerPoint presentation)');
    const builder = new DocumentBuilder();
    const titles: string[] = [];
    let notesCount = 0;
    for (const [index, slidePath] of slides.entries()) {
      const page = index + 1;
      const $ = parseXml((await zip.text(slidePath)) ?? '');
      const title = slideTitle($) ?? `Slide ${page}`;
      titles.push(title);
      const place = { headingPath: [title], page };
      $('p\\:sp').each((_, shape) => {
        if (TITLE_PLACEHOLDERS.has($(shape).find('p\\:ph').attr('type') ?? '')) return;
        builder.addText(paragraphs($, shape).join('\n'), place);
      });
      $('a\\:tbl').each((_, table) => {
        const rows = $(table)
          .find('a\\:tr')
          .toArray()
          .map((row) =>
            $(row)
              .find('a\\:tc')
              .toArray()
              .map((cell) => paragraphs($, cell).join(' ')),
          );
        builder.addTable(rows, place);
      });
      const notes = await notesText(zip, slidePath);
      if (notes) {
        notesCount++;
        builder.addText(`${SPEAKER_NOTES}: ${notes}`, { headingPath: [title, SPEAKER_NOTES], page });
      }
    }
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');
    const core = await coreProperties(zip);
    return builder.build({
      source,
      title: core.title ?? tidyTitle(titles[0]) ?? fileNameOf(source),
      mime: PPTX_MIME,
      pageCount: slides.length,
      metadata: {
        bytes: bytes.length,
        slideCount: slides.length,
        slidesWithNotes: notesCount,
        ...(core.author ? { author: core.author } : {}),
      },
    });
  },
};

/** Slides in presentation order (presentation.xml's list), falling back to their file numbers. */
async function slideOrder(zip: GuardedZip): Promise<string[]> {
  const presentation = await zip.text('ppt/presentation.xml');
  if (presentation) {
    const rels = await relationships(zip, 'ppt/presentation.xml');
    const $ = parseXml(presentation);
    const ordered = $('p\\:sldId')
      .toArray()
      .map((el) => rels.get($(el).attr('r:id') ?? '')?.target)
      .filter((path): path is string => path !== undefined && zip.has(path));
    if (ordered.length) return ordered;
  }
  const number = (path: string) => Number(/(\d+)\.xml$/.exec(path)?.[1] ?? 0);
  return zip.names(/^ppt\/slides\/slide\d+\.xml$/).sort((a, b) => number(a) - number(b));
}

function slideTitle($: CheerioAPI): string | undefined {
  const shape = $('p\\:sp')
    .toArray()
    .find((sp) => TITLE_PLACEHOLDERS.has($(sp).find('p\\:ph').attr('type') ?? ''));
  return shape ? tidyTitle(paragraphs($, shape).join(' ')) : undefined;
}

/** The text paragraphs (a:p) under a node, each its runs joined. */
function paragraphs($: CheerioAPI, node: Parameters<CheerioAPI>[0]): string[] {
  return $(node)
    .find('a\\:p')
    .toArray()
    .map((p) =>
      $(p)
        .find('a\\:t')
        .toArray()
        .map((t) => $(t).text())
        .join(''),
    )
    .filter((text) => text.trim() !== '');
}

async function notesText(zip: GuardedZip, slidePath: string): Promise<string | undefined> {
  const rels = await relationships(zip, slidePath);
  const notesPath = [...rels.values()].find((rel) => NOTES_REL.test(rel.type))?.target;
  const xml = notesPath ? await zip.text(notesPath) : undefined;
  if (!xml) return undefined;
  const $ = parseXml(xml);
  // The notes page also holds the slide image and a slide-number field; only the body placeholder is notes.
  const body = $('p\\:sp')
    .toArray()
    .filter((sp) => $(sp).find('p\\:ph').attr('type') === 'body');
  const text = body.flatMap((sp) => paragraphs($, sp)).join('\n');
  return text.trim() === '' ? undefined : text;
}
