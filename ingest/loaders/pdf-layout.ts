import { HeadingTrail } from './heading-trail.ts';
import { isContentsPage, isDotLeaderLine, runningFurniture } from './pdf-furniture.ts';
import {
  headingsFromFonts,
  headingsFromOutline,
  LABEL_REPEATS,
  labelKey,
  type PdfOutlineEntry,
  type PlacedHeading,
  readsLikeATitle,
  usableOutline,
} from './pdf-headings.ts';
import { lineText, pageLines, type PdfLine, type PdfPageItems } from './pdf-lines.ts';

export type PdfBlock =
  | { kind: 'text'; page: number; headingPath: string[]; text: string }
  | {
      kind: 'table';
      page: number;
      headingPath: string[];
      rows: string[][];
      /** Whether the first row is a header (set in another font than the row below it). */
      header: boolean;
    };

export interface PdfLayout {
  blocks: PdfBlock[];
  /** Per page: whether pdf.js found any text on it at all (before furniture was taken out). */
  hasText: boolean[];
  /** The page's content lines as plain text, for picking a title. */
  pageTexts: string[];
  /** Pages read as a table of contents / list of figures and left out. */
  contentsPages: number[];
  /** Running header, footer and page-number lines left out. */
  furnitureLines: number;
  headingSource: 'outline' | 'fonts';
}

/** A vertical gap this many font sizes wide between two lines starts a new paragraph. */
const PARAGRAPH_GAP = 1.5;
/** This many consecutive lines of two or more cells are read as a table. */
const MIN_TABLE_ROWS = 3;

/**
 * A PDF read like a document: lines in reading order, running headers/footers and contents pages
 * left out, headings from the outline (or the fonts) giving every block a heading path, paragraphs
 * re-joined with hyphenation repaired, and runs of aligned cells kept as tables. `ocr` holds the
 * text of pages read by OCR, which replaces their (empty) text layer.
 */
export function layoutPdf(pages: PdfPageItems[], outline: PdfOutlineEntry[], ocr: ReadonlyMap<number, string> = new Map()): PdfLayout {
  const lines = pages.map(pageLines);
  const furniture = runningFurniture(pages.map((p, i) => ({ lines: lines[i]!, height: p.height })));
  const contentsPages: number[] = [];
  const content = lines.map((pageLines, i) => {
    const kept = pageLines.filter((l) => !furniture.has(l));
    if (isContentsPage(kept)) {
      contentsPages.push(i + 1);
      return [];
    }
    return kept.filter((l) => !isDotLeaderLine(lineText(l)));
  });
  const vocabulary = wordsOf(content);
  const bookmarks = usableOutline(outline);
  const useOutline = bookmarks.length > 0;
  const headings = useOutline ? headingsFromOutline(bookmarks, content) : headingsFromFonts(content);

  const blocks: PdfBlock[] = [];
  const trail = new HeadingTrail();
  const bodyFont = mostUsedFont(content);
  const labels = repeatedLeads(content);
  content.forEach((pageLines, i) => {
    const page = i + 1;
    const ocrText = ocr.get(page);
    const starts = headings.filter((h) => h.page === page).sort((a, b) => a.before - b.before);
    if (ocrText !== undefined) {
      for (const h of starts) trail.enter(h.depth, h.text);
      blocks.push({ kind: 'text', page, headingPath: trail.path, text: ocrText });
      return;
    }
    blocks.push(...pageBlocks({ page, lines: pageLines, starts, trail, vocabulary, bodyFont, labels }, blocks.at(-1)));
  });
  return {
    blocks,
    hasText: lines.map((l) => l.length > 0),
    pageTexts: content.map((l) => l.map(lineText).join('\n')),
    contentsPages,
    furnitureLines: furniture.size,
    headingSource: useOutline ? 'outline' : 'fonts',
  };
}

interface PageInput {
  page: number;
  lines: PdfLine[];
  starts: PlacedHeading[];
  trail: HeadingTrail;
  vocabulary: Set<string>;
  /** The font most of the document's text is set in. */
  bodyFont: string;
  /** Openings in a font of their own that recur (see repeatedLeads). */
  labels: Set<string>;
}

function pageBlocks(
  { page, lines, starts, trail, vocabulary, bodyFont, labels }: PageInput,
  previousBlock: PdfBlock | undefined,
): PdfBlock[] {
  const blocks: PdfBlock[] = [];
  let paragraph: PdfLine[] = [];
  let table: Array<{ line: PdfLine; index: number }> = [];
  const flushParagraph = () => {
    if (paragraph.length) blocks.push({ kind: 'text', page, headingPath: trail.path, text: joinLines(paragraph, vocabulary) });
    paragraph = [];
  };
  const flushTable = () => {
    if (table.length >= MIN_TABLE_ROWS) {
      const rows = table.map(({ line }) => line.cells.map((c) => c.text));
      // A first row in the font of the rows below is data: repeating it in every piece of the table
      // would spread one row's values ("4e(i)(A) PO.5.1") over all of them.
      const header = table[0]!.line.font !== table[1]!.line.font;
      blocks.push({ kind: 'table', page, headingPath: trail.path, rows, header });
    } else {
      for (const { line, index } of table) addToParagraph(line, index);
    }
    table = [];
  };
  const addToParagraph = (line: PdfLine, index: number) => {
    const previous = paragraph.at(-1);
    if (previous && startsParagraph(previous, line)) flushParagraph();
    if (paragraph.length === 0) {
      const heading = runInHeading(lines, index, bodyFont, labels);
      if (heading) trail.enter(RUN_IN_DEPTH, heading);
    }
    paragraph.push(line);
  };

  let skipUntil = -1;
  lines.forEach((line, index) => {
    for (const heading of starts.filter((h) => h.before === index)) {
      flushTable();
      flushParagraph();
      trail.enter(heading.depth, heading.text);
      skipUntil = Math.max(skipUntil, index + heading.skip);
    }
    if (index < skipUntil) return;
    if (line.cells.length >= 2) {
      table.push({ line, index });
      return;
    }
    if (table.length) flushTable();
    addToParagraph(line, index);
  });
  flushTable();
  flushParagraph();
  for (const h of starts.filter((s) => s.before >= lines.length)) trail.enter(h.depth, h.text);
  return repeatTableHeader(blocks, previousBlock);
}

/**
 * A table continued from the previous page gets the header row of its first part back, so the
 * rows on this page still say what their columns are.
 */
function repeatTableHeader(blocks: PdfBlock[], previous: PdfBlock | undefined): PdfBlock[] {
  const first = blocks[0];
  if (first?.kind !== 'table' || previous?.kind !== 'table' || !previous.header) return blocks;
  const header = previous.rows[0]!;
  const sameShape = header.length === first.rows[0]!.length && previous.headingPath.join('\u0000') === first.headingPath.join('\u0000');
  const alreadyThere = first.rows[0]!.join('|') === header.join('|');
  if (!sameShape || alreadyThere || header.every((cell) => /^[\d\s,.$%()-]*$/.test(cell))) return blocks;
  return [{ ...first, rows: [header, ...first.rows], header: true }, ...blocks.slice(1)];
}

/**
 * Run-in headings sit below every heading of the outline or the fonts, and replace each other: a
 * paragraph opening with one starts a new run-in section until the next one or the next heading.
 */
const RUN_IN_DEPTH = 10;
const MAX_RUN_IN_WORDS = 16;
/** A narrow table column can wrap a practice name over four lines. */
const MAX_RUN_IN_LINES = 5;

/**
 * A paragraph that opens in a font of its own, not the body's, before going on in its body font
 * ("Encoders Although in principle…", "Define Security Requirements for Software Development
 * (PO.1): Ensure that…", the bold part possibly taking a whole line first): the bold opening names
 * what the paragraph is about, so it becomes a heading. The text keeps it, as it is part of the
 * sentence. Lines in the body font that go on in italics are not this, nor are list items.
 */
function runInHeading(lines: PdfLine[], index: number, bodyFont: string, labels: Set<string>): string | undefined {
  const opening = lines[index]!;
  const openingFont = opening.lead?.font ?? opening.font;
  if (openingFont === bodyFont) return undefined;
  let text = '';
  const last = Math.min(lines.length, index + MAX_RUN_IN_LINES);
  for (let i = index; i < last; i++) {
    const line = lines[i]!;
    const continues = i > index && !startsParagraph(lines[i - 1]!, line);
    if (i > index && !continues) return undefined;
    if (line.lead) {
      // A label is a short opening that recurs; the end of a wrapped heading may look like one.
      if (line.lead.font !== openingFont || (i === index && labels.has(labelKey(line.lead.text)))) return undefined;
      text = `${text} ${line.lead.text}`;
      break;
    }
    // The opening font took whole lines and the paragraph goes on in another on the next line:
    // "Implement Roles and Responsibilities (PO.2):" above its text.
    if (i > index && line.font !== openingFont) {
      if (!/:$/.test(text.trim()) || labels.has(labelKey(text))) return undefined;
      break;
    }
    if (line.cells.length > 1 || i === last - 1) return undefined;
    text = `${text} ${lineText(line)}`;
  }
  const heading = text.replace(/[\s:.\u2013\u2014-]+$/u, '').trim();
  const words = heading.split(/\s+/).length;
  if (!/^\p{Lu}/u.test(heading) || !/\p{L}{3}/u.test(heading) || words > MAX_RUN_IN_WORDS) return undefined;
  // A sentence ending inside it: prose that merely changes font, not a heading.
  if (/[.!?]\s+\p{Lu}/u.test(heading) || !readsLikeATitle(text.trim().replace(/:$/, ''))) return undefined;
  return heading;
}

/** Openings in a font of their own that recur across the document (digits masked). */
function repeatedLeads(pages: PdfLine[][]): Set<string> {
  const counts = new Map<string, number>();
  for (const line of pages.flat()) {
    if (line.lead) counts.set(labelKey(line.lead.text), (counts.get(labelKey(line.lead.text)) ?? 0) + 1);
  }
  return new Set([...counts].filter(([, n]) => n >= LABEL_REPEATS).map(([key]) => key));
}

/** The font most characters are set in. */
function mostUsedFont(pages: PdfLine[][]): string {
  const chars = new Map<string, number>();
  for (const line of pages.flat()) chars.set(line.font, (chars.get(line.font) ?? 0) + lineText(line).length);
  return [...chars].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
}

function startsParagraph(previous: PdfLine, line: PdfLine): boolean {
  const size = Math.max(previous.size, line.size) || 1;
  const drop = previous.y - line.y;
  return drop > PARAGRAPH_GAP * size || drop < -size || Math.abs(previous.size - line.size) > 0.15 * size || !line.horizontal;
}

/**
 * A paragraph's lines as one line of text. A word broken with a hyphen at a line end is joined
 * again ("subop-" + "timal"), unless the document spells it with the hyphen elsewhere and never
 * without ("micro-" + "segmentation" stays "micro-segmentation").
 */
function joinLines(lines: PdfLine[], vocabulary: Set<string>): string {
  let text = '';
  for (const line of lines) {
    const next = lineText(line);
    // Only the end of the text so far matters; matching the whole of it would be quadratic.
    const tail = text.slice(-80);
    const broken = /(\p{L}+)-$/u.exec(tail);
    const continued = /^(\p{Ll}+)/u.exec(next);
    if (broken && continued) {
      const joined = `${broken[1]}${continued[1]}`.toLowerCase();
      const hyphenated = `${broken[1]}-${continued[1]}`.toLowerCase();
      // "end-to-" + "end": the break sits inside a compound, whose hyphens stay.
      const inCompound = /-\p{L}+-$/u.test(tail);
      const keepHyphen = (vocabulary.has(hyphenated) || inCompound) && !vocabulary.has(joined);
      text = keepHyphen ? text + next : text.slice(0, -1) + next;
    } else {
      text = text ? `${text} ${next}` : next;
    }
  }
  return text.replace(/\u00AD/g, '');
}

/** Every word of the document as written on one line (lower case, hyphenated compounds whole). */
function wordsOf(pages: PdfLine[][]): Set<string> {
  const words = new Set<string>();
  for (const line of pages.flat()) {
    for (const word of lineText(line)
      .toLowerCase()
      .match(/\p{L}+(?:-\p{L}+)*/gu) ?? []) {
      words.add(word);
      for (const part of word.split('-')) words.add(part);
    }
  }
  return words;
}
