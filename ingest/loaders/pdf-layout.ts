import { HeadingTrail } from './heading-trail.ts';
import { isContentsPage, isDotLeaderLine, runningFurniture } from './pdf-furniture.ts';
import { headingsFromFonts, headingsFromOutline, type PdfOutlineEntry, type PlacedHeading, usableOutline } from './pdf-headings.ts';
import { lineText, pageLines, type PdfLine, type PdfPageItems } from './pdf-lines.ts';

export type PdfBlock =
  | { kind: 'text'; page: number; headingPath: string[]; text: string }
  | { kind: 'table'; page: number; headingPath: string[]; rows: string[][] };

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
  content.forEach((pageLines, i) => {
    const page = i + 1;
    const ocrText = ocr.get(page);
    const starts = headings.filter((h) => h.page === page).sort((a, b) => a.before - b.before);
    if (ocrText !== undefined) {
      for (const h of starts) trail.enter(h.depth, h.text);
      blocks.push({ kind: 'text', page, headingPath: trail.path, text: ocrText });
      return;
    }
    blocks.push(...pageBlocks(page, pageLines, starts, trail, vocabulary, blocks.at(-1)));
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

function pageBlocks(
  page: number,
  lines: PdfLine[],
  starts: PlacedHeading[],
  trail: HeadingTrail,
  vocabulary: Set<string>,
  previousBlock: PdfBlock | undefined,
): PdfBlock[] {
  const blocks: PdfBlock[] = [];
  let paragraph: PdfLine[] = [];
  let table: PdfLine[] = [];
  const flushParagraph = () => {
    if (paragraph.length) blocks.push({ kind: 'text', page, headingPath: trail.path, text: joinLines(paragraph, vocabulary) });
    paragraph = [];
  };
  const flushTable = () => {
    if (table.length >= MIN_TABLE_ROWS) {
      blocks.push({ kind: 'table', page, headingPath: trail.path, rows: table.map((l) => l.cells.map((c) => c.text)) });
    } else {
      for (const line of table) addToParagraph(line);
    }
    table = [];
  };
  const addToParagraph = (line: PdfLine) => {
    const previous = paragraph.at(-1);
    if (previous && startsParagraph(previous, line)) flushParagraph();
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
      table.push(line);
      return;
    }
    if (table.length) flushTable();
    addToParagraph(line);
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
  if (first?.kind !== 'table' || previous?.kind !== 'table') return blocks;
  const header = previous.rows[0]!;
  const sameShape = header.length === first.rows[0]!.length && previous.headingPath.join('\u0000') === first.headingPath.join('\u0000');
  const alreadyThere = first.rows[0]!.join('|') === header.join('|');
  if (!sameShape || alreadyThere || header.every((cell) => /^[\d\s,.$%()-]*$/.test(cell))) return blocks;
  return [{ ...first, rows: [header, ...first.rows] }, ...blocks.slice(1)];
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
