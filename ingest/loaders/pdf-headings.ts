import { lineText, type PdfLine } from './pdf-lines.ts';

/** A bookmark of the PDF's outline: its title, depth (0 = top level), page and the y of its top. */
export interface PdfOutlineEntry {
  title: string;
  depth: number;
  page: number;
  top?: number;
}

/** Where a heading starts: before `line` of page `page` (index into that page's lines), at `depth` (1 = top). */
export interface PlacedHeading {
  page: number;
  /** Index of the first line under the heading; the heading's own lines (if found) are `skip`. */
  before: number;
  skip: number;
  depth: number;
  text: string;
}

const squash = (text: string) => text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

/**
 * Headings from the outline: each bookmark is looked for on its page, as one line or a few
 * consecutive lines spelling its title; those lines become the heading. A bookmark whose title is
 * not on the page starts at the first line below its destination's top, else at the top of the page.
 * Bookmarks too long to be a heading are left out.
 */
export function headingsFromOutline(outline: PdfOutlineEntry[], pages: PdfLine[][]): PlacedHeading[] {
  const placed: PlacedHeading[] = [];
  const searchFrom = new Map<number, number>();
  for (const entry of outline) {
    const lines = pages[entry.page - 1];
    const title = entry.title.replace(/\s+/g, ' ').trim();
    // Some producers bookmark whole paragraphs (SP 800-160 has "Discussion: …" entries): not headings.
    if (!lines || !title || !isHeadingLike(title)) continue;
    const from = searchFrom.get(entry.page) ?? 0;
    const match = findTitle(lines, from, squash(title));
    let before: number;
    let skip = 0;
    if (match) {
      before = match.at;
      skip = match.count;
    } else {
      const below = entry.top === undefined ? -1 : lines.findIndex((l, i) => i >= from && l.y <= entry.top! + 1);
      before = below >= 0 ? below : from;
    }
    searchFrom.set(entry.page, before + skip);
    placed.push({ page: entry.page, before, skip, depth: entry.depth + 1, text: title });
  }
  return placed;
}

const MAX_HEADING_WORDS = 16;
const MAX_HEADING_CHARS = 120;

function isHeadingLike(title: string): boolean {
  return (
    title.length <= MAX_HEADING_CHARS &&
    title.split(' ').length <= MAX_HEADING_WORDS &&
    /^[\p{Lu}\p{N}]/u.test(title) &&
    !/(?:[.;,:]|\band|\bor)$/.test(title)
  );
}

/**
 * The outline when it is a table of headings, else nothing (headings then come from the fonts).
 * Word processors can export every list item and paragraph style as a bookmark: when many
 * bookmarks read like sentences or list items, the outline is not a guide to the sections.
 */
export function usableOutline(outline: PdfOutlineEntry[]): PdfOutlineEntry[] {
  const headings = outline.filter((entry) => isHeadingLike(entry.title.replace(/\s+/g, ' ').trim()));
  return headings.length >= 2 && headings.length >= 0.8 * outline.length ? headings : [];
}

function findTitle(lines: PdfLine[], from: number, title: string): { at: number; count: number } | undefined {
  if (title.length < 2) return undefined;
  for (let i = from; i < lines.length; i++) {
    let spelled = '';
    for (let j = i; j < Math.min(lines.length, i + 3); j++) {
      spelled += squash(lineText(lines[j]!));
      if (spelled === title) return { at: i, count: j - i + 1 };
      if (!title.startsWith(spelled) || spelled === '') break;
    }
  }
  return undefined;
}

const NUMBERED =
  /^(?:(\d{1,2}(?:\.\d{1,2}){0,3})|([A-Z](?:\.\d{1,2}){1,3})|(?:Appendix|Chapter|Section|Part)\s+[A-Z0-9]{1,3}\b)[\s:.—–-]+\p{Lu}/u;

/**
 * Headings without an outline: lines set clearly larger than the body text, or numbered lines
 * ("2.1 Tenets of Zero Trust", "Appendix B …") entirely in a font other than the body's. Either
 * must be short and not end like a sentence. Numbered headings nest by their numbering, larger
 * ones by size (largest outermost); consecutive heading lines of one size are one wrapped heading.
 */
export function headingsFromFonts(pages: PdfLine[][]): PlacedHeading[] {
  const body = bodyStyle(pages);
  if (!body) return [];
  const candidates: Array<{ page: number; index: number; line: PdfLine; numbered?: number }> = [];
  const repeated = repeatedMinorHeadings(pages, body);
  pages.forEach((lines, p) => {
    lines.forEach((line, index) => {
      const text = lineText(line);
      if (!line.horizontal || line.cells.length > 1 || !/\p{L}{2}/u.test(text)) return;
      if (text.split(/\s+/).length > 14 || /[.,;:]$/.test(text) || NOT_A_HEADING_START.test(text)) return;
      const numbering = NUMBERED.exec(text);
      // A large line that reads like prose (a goal statement, a pull quote) is not a heading.
      if (line.size >= 1.2 * body.size) {
        if (numbering || readsLikeATitle(text)) candidates.push({ page: p + 1, index, line });
      } else if (numbering && line.font !== body.font && line.size >= 0.95 * body.size) {
        const depth = numbering[1] ? numbering[1].split('.').length : numbering[2] ? numbering[2].split('.').length : 1;
        candidates.push({ page: p + 1, index, line, numbered: depth });
      } else if (isMinorHeading(lines, index, body) && !repeated.has(labelKey(text))) {
        candidates.push({ page: p + 1, index, line, numbered: MINOR_DEPTH });
      }
    });
  });
  const sizes = [...new Set(candidates.filter((c) => c.numbered === undefined).map((c) => Math.round(c.line.size)))].sort((a, b) => b - a);
  const placed: Array<PlacedHeading & { size: number }> = [];
  for (const c of candidates) {
    const previous = placed.at(-1);
    const text = lineText(c.line);
    // A heading wrapped onto a second line: same page, next line, same size.
    if (previous && previous.page === c.page && previous.before + previous.skip === c.index && previous.size === c.line.size) {
      previous.text += ` ${text}`;
      previous.skip += 1;
      continue;
    }
    const depth = c.numbered ?? sizes.indexOf(Math.round(c.line.size)) + 1;
    placed.push({ page: c.page, before: c.index, skip: 1, depth, text, size: c.line.size });
  }
  return placed.map(({ size: _size, ...heading }) => heading);
}

/** List items and continued sentences: a bullet, a dash, a symbol or a lower-case letter first. */
const NOT_A_HEADING_START = /^[\p{Ll}\p{S}\p{Co}\u2022\u2023\u2043\u00B7*\u2013\u2014-]/u;
/** Headings in the body's size but another font sit below the larger and the numbered ones. */
const MINOR_DEPTH = 9;
const MAX_MINOR_WORDS = 10;

/**
 * A short line alone in a font other than the body's, at (about) the body size or larger, with
 * body text right after it: "Costs of Compliance" in bold above its paragraph. The line right
 * above it must not be in its font and size (then it would end a bold paragraph).
 */
function isMinorHeading(lines: PdfLine[], index: number, body: { size: number; font: string }): boolean {
  const line = lines[index]!;
  const next = lines[index + 1];
  const previous = lines[index - 1];
  const text = lineText(line);
  if (line.font === body.font || line.size < 0.95 * body.size || line.lead) return false;
  if (!/^\p{Lu}/u.test(text) || text.split(/\s+/).length > MAX_MINOR_WORDS || !readsLikeATitle(text)) return false;
  if (!next || next.font !== body.font || next.y >= line.y) return false;
  // Right below a line of the same font and size it would be the end of a bold paragraph.
  const continuesBold =
    previous &&
    previous.font === line.font &&
    Math.abs(previous.size - line.size) < 0.15 * line.size &&
    previous.y - line.y < 2 * line.size;
  return !continuesBold;
}

/** Minor-heading lines that recur (digits masked) are column labels of a table, not headings. */
function repeatedMinorHeadings(pages: PdfLine[][], body: { size: number; font: string }): Set<string> {
  const counts = new Map<string, number>();
  for (const lines of pages) {
    lines.forEach((line, index) => {
      if (isMinorHeading(lines, index, body)) counts.set(labelKey(lineText(line)), (counts.get(labelKey(lineText(line))) ?? 0) + 1);
    });
  }
  return new Set([...counts].filter(([, n]) => n >= LABEL_REPEATS).map(([key]) => key));
}

/** Text set off by its font this many times (digits masked) is a label: "Example 1:", "CIS CSC 1". */
export const LABEL_REPEATS = 3;
export const labelKey = (text: string) =>
  text
    .toLowerCase()
    .replace(/\d+/g, '#')
    .replace(/[\s:.]+$/, '');

const CAPTION = /^(?:figure|fig\.|table|exhibit|chart)\s*[\dA-Z]/i;
const SHORT_HEADING_WORDS = 6;

/**
 * Whether a line set off by its font reads like a heading rather than a sentence in bold or
 * italics: not a caption, and a longer one capitalised like a title ("Assess, Prioritize, and
 * Remediate Vulnerabilities") rather than like prose ("In the figure above, the buyer…").
 */
export function readsLikeATitle(text: string): boolean {
  if (CAPTION.test(text) || /[,;]$/.test(text)) return false;
  const words = text.split(/\s+/);
  if (words.length <= SHORT_HEADING_WORDS) return true;
  const long = words.filter((w) => /\p{L}{4}/u.test(w));
  const capitalised = long.filter((w) => /^[("“']?\p{Lu}/u.test(w));
  return capitalised.length >= 0.6 * long.length;
}

/** The size and font of most characters on the pages. */
function bodyStyle(pages: PdfLine[][]): { size: number; font: string } | undefined {
  const bySize = new Map<number, number>();
  const byFont = new Map<string, number>();
  for (const line of pages.flat()) {
    const chars = lineText(line).length;
    const size = Math.round(line.size * 2) / 2;
    bySize.set(size, (bySize.get(size) ?? 0) + chars);
    byFont.set(line.font, (byFont.get(line.font) ?? 0) + chars);
  }
  const top = <K>(m: Map<K, number>) => [...m].sort((a, b) => b[1] - a[1])[0]?.[0];
  const size = top(bySize);
  const font = top(byFont);
  return size === undefined || font === undefined ? undefined : { size, font };
}
