import { lineText, type PdfLine } from './pdf-lines.ts';

/**
 * Page furniture: what a reader skips. Running headers and footers (the same line near the top or
 * bottom edge of many pages, page numbers varying), page numbers, margin notes repeated on many
 * pages, and table-of-contents / list-of-figures pages (dot leaders, a page-number column).
 */

/** Lines this close to the top or bottom edge (share of the page height) can be headers or footers. */
const EDGE_ZONE = 0.1;
/** A line on at least this share of the pages (and at least two) is running furniture. */
const REPEATED_SHARE = 0.3;

const DOT_LEADER = /(?:\.\s?){4,}\s*(?:[ivxlc]+|[A-Z]?-?\d+)\s*$/i;
const PAGE_NUMBER = /^(?:page\s+)?[-–—]?\s*(?:\d{1,4}|[ivxlc]{1,7})\s*[-–—]?(?:\s+of\s+\d{1,4})?$/i;
const TOC_TITLE = /^(?:table of contents|contents|list of (?:figures|tables|illustrations|exhibits))$/i;

export const isDotLeaderLine = (text: string) => DOT_LEADER.test(text.trim());

export interface PageLines {
  lines: PdfLine[];
  height: number;
}

/** Lines at the page edges that repeat across pages, lone page numbers there, repeated margin notes. */
export function runningFurniture(pages: PageLines[]): Set<PdfLine> {
  const keyOf = (line: PdfLine) => lineText(line).toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();
  const edge = (line: PdfLine, height: number) => !line.horizontal || line.y > (1 - EDGE_ZONE) * height || line.y < EDGE_ZONE * height;
  const pagesWith = new Map<string, number>();
  for (const page of pages) {
    const keys = new Set(page.lines.filter((l) => edge(l, page.height)).map(keyOf));
    for (const key of keys) pagesWith.set(key, (pagesWith.get(key) ?? 0) + 1);
  }
  const repeatedAt = Math.max(2, Math.ceil(REPEATED_SHARE * pages.length));
  const furniture = new Set<PdfLine>();
  for (const page of pages) {
    for (const line of page.lines) {
      if (!edge(line, page.height)) continue;
      const repeated = pages.length >= 2 && (pagesWith.get(keyOf(line)) ?? 0) >= repeatedAt;
      if (repeated || PAGE_NUMBER.test(lineText(line).trim())) furniture.add(line);
    }
  }
  return furniture;
}

/**
 * A contents page: several dot-leader lines making up a good share of its lines, or a page titled
 * "Contents"/"List of figures" with a few, or a long run of title–page-number lines whose numbers
 * never go down (a data table's last column is not sorted like that).
 */
export function isContentsPage(lines: PdfLine[]): boolean {
  const texts = lines.map(lineText);
  if (texts.length === 0) return false;
  const leaders = texts.filter(isDotLeaderLine).length;
  if (leaders >= 5 && leaders >= 0.3 * texts.length) return true;
  if (leaders >= 2 && texts.slice(0, 3).some((t) => TOC_TITLE.test(t.trim()))) return true;
  const numbered = lines.flatMap((line) => {
    const last = line.cells.at(-1)?.text ?? '';
    return line.cells.length >= 2 && /^\d{1,3}$/.test(last) && /\p{L}{3}/u.test(line.cells[0]!.text) ? [Number(last)] : [];
  });
  if (numbered.length < 8 || numbered.length < 0.5 * texts.length) return false;
  const rises = numbered.slice(1).filter((n, i) => n >= numbered[i]!).length;
  return rises >= 0.9 * (numbered.length - 1);
}
