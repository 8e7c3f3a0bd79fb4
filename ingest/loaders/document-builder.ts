import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument, Section } from '../types.ts';

/** Placed between sections in LoadedDocument.text so paragraphs stay visibly apart. */
const SECTION_SEPARATOR = '\n\n';

// C0 controls except tab and newline, plus DEL and the C1 block. NUL is in here too.
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;

/** UTF-8 bytes to a string without a byte-order mark; invalid sequences are a DocumentError. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new DocumentError(source, 'is not valid UTF-8 text', {}, { cause });
  }
}

/** CRLF and lone CR become LF; NULs and other control characters go. */
export function cleanControlChars(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROL_CHARS, '');
}

/** Prose: trimmed lines, single spaces, at most one blank line in a row. */
export function normaliseProse(text: string): string {
  return cleanControlChars(text)
    .replace(/[\t\f\v \u00A0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Code keeps its indentation; only trailing spaces and surrounding blank lines go. */
export function normaliseCode(text: string): string {
  return cleanControlChars(text)
    .replace(/[ \t]+$/gm, '')
    .replace(/^\n+|\n+$/g, '');
}

export interface BlockPlace {
  headingPath: readonly string[];
  page?: number;
}

/**
 * Collects a document's blocks into `text` and `sections` so that every section's
 * charStart points at its own text: the offsets are correct by construction.
 * Consecutive prose blocks at the same place (heading path and page) share one section;
 * tables and code are always sections of their own.
 */
export class DocumentBuilder {
  private text = '';
  private readonly sections: Section[] = [];

  addText(text: string, place: BlockPlace): void {
    this.add(normaliseProse(text), 'text', place);
  }

  /**
   * Rows of cells, header row first; each row becomes one line of cells joined by `cellSeparator`.
   * `headerRows` says how many rows are the header when it is not just the first (0: no header).
   */
  addTable(rows: string[][], place: BlockPlace, cellSeparator = ' | ', headerRows?: number): void {
    const cleanRows = rows
      .map((cells) => cells.map((cell) => normaliseProse(cell).replace(/\n/g, ' ')))
      .filter((cells) => cells.some((cell) => cell !== ''));
    // Spacer columns (empty in every row) would only add ' |  | ' noise.
    const width = Math.max(0, ...cleanRows.map((cells) => cells.length));
    const usedColumns = [...Array(width).keys()].filter((col) => cleanRows.some((cells) => (cells[col] ?? '') !== ''));
    const lines = cleanRows.map((cells) => usedColumns.map((col) => cells[col] ?? '').join(cellSeparator));
    this.add(lines.join('\n'), 'table', place, headerRows);
  }

  addCode(text: string, place: BlockPlace): void {
    this.add(normaliseCode(text), 'code', place);
  }

  get isEmpty(): boolean {
    return this.sections.length === 0;
  }

  build(fields: Omit<LoadedDocument, 'text' | 'sections'>): LoadedDocument {
    return { ...fields, text: this.text, sections: this.sections };
  }

  private add(text: string, kind: Section['kind'], place: BlockPlace, headerRows?: number): void {
    if (text === '') return;
    const previous = this.sections.at(-1);
    if (kind === 'text' && previous && previous.kind === 'text' && samePlace(previous, place)) {
      previous.text += SECTION_SEPARATOR + text;
      this.text += SECTION_SEPARATOR + text;
      return;
    }
    if (this.text !== '') this.text += SECTION_SEPARATOR;
    const section: Section = { text, headingPath: [...place.headingPath], kind, charStart: this.text.length };
    if (place.page !== undefined) section.page = place.page;
    if (headerRows !== undefined) section.headerRows = headerRows;
    this.sections.push(section);
    this.text += text;
  }
}

function samePlace(section: Section, place: BlockPlace): boolean {
  return (
    section.page === place.page &&
    section.headingPath.length === place.headingPath.length &&
    section.headingPath.every((heading, i) => heading === place.headingPath[i])
  );
}

/** The last part of a path or URL, used as a title when the document has none. */
export function fileNameOf(source: string): string {
  const withoutQuery = source.replace(/[?#].*$/, '');
  return withoutQuery.split(/[\\/]/).filter(Boolean).pop() ?? source;
}

/** Keeps a title to one readable line. */
export function tidyTitle(title: string | undefined): string | undefined {
  const tidy = title ? normaliseProse(title).replace(/\n/g, ' ') : '';
  return tidy === '' ? undefined : tidy.slice(0, 200);
}
