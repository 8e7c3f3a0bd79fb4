import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { DocumentError } from '../../core/errors.ts';
import type { LoadContext, LoadedDocument, Loader } from '../types.ts';
import { CSV_MIME, XLSX_MIME } from './detect.ts';
import { DocumentBuilder, decodeUtf8, fileNameOf } from './document-builder.ts';
import { DEFAULT_LOAD_CONTEXT, type LoaderLimits } from './limits.ts';
import { coreProperties } from './office-xml.ts';
import { GuardedZip } from './zip.ts';

/**
 * Excel via exceljs: one table section per sheet (the sheet name as heading, its 1-based
 * position as the page), header row first so the chunker repeats it in every piece of a long
 * sheet. Formulas count as their cached results; dates as ISO dates.
 *
 * exceljs builds the whole workbook in memory, so the cell limit is checked before it runs: the
 * pass that proves the zip sizes true also counts the cell elements of every worksheet as they
 * inflate, and a sheet over the limit is refused without ever being built.
 */
export const xlsxLoader: Loader = {
  mimes: [XLSX_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const zip = await GuardedZip.open(bytes, source, limits);
    if (!zip.has('xl/workbook.xml')) throw new DocumentError(source, 'is a zip container without xl/workbook.xml (not an Excel workbook)');
    const counted = new CellBudget(source, limits);
    const cellTags = new Map<string, CellTagCounter>();
    await zip.verifySizes((entryName, chunk) => {
      if (!WORKSHEET_ENTRY.test(entryName)) return;
      let counter = cellTags.get(entryName);
      if (!counter) cellTags.set(entryName, (counter = new CellTagCounter()));
      counted.spend(counter.count(chunk));
    });
    const workbook = new ExcelJS.Workbook();
    // exceljs's typings want its own Buffer flavour; a Node Buffer is what it reads.
    await workbook.xlsx.load(Buffer.from(bytes) as unknown as ExcelJS.Buffer);
    const cells = new CellBudget(source, limits);
    const builder = new DocumentBuilder();
    const sheets: string[] = [];
    workbook.worksheets.forEach((sheet, index) => {
      cells.spend(sheet.actualRowCount * sheet.actualColumnCount);
      const rows: string[][] = [];
      sheet.eachRow({ includeEmpty: false }, (row) => {
        const cellsOfRow: string[] = [];
        row.eachCell({ includeEmpty: true }, (cell, column) => {
          cellsOfRow[column - 1] = cellText(cell.value);
        });
        rows.push(Array.from(cellsOfRow, (cell) => cell ?? ''));
      });
      sheets.push(sheet.name);
      builder.addTable(rows, { headingPath: [sheet.name], page: index + 1 });
    });
    if (builder.isEmpty) throw new DocumentError(source, 'has no cells with values');
    const core = await coreProperties(zip);
    return builder.build({
      source,
      title: core.title ?? fileNameOf(source),
      mime: XLSX_MIME,
      pageCount: sheets.length,
      metadata: { bytes: bytes.length, sheets, ...(core.author ? { author: core.author } : {}) },
    });
  },
};

/** CSV via csv-parse: one table section, the first row as the header; the delimiter (, ; tab) is detected. */
export const csvLoader: Loader = {
  mimes: [CSV_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const text = decodeUtf8(bytes, source);
    const cells = new CellBudget(source, limits);
    let rows: string[][];
    try {
      rows = parse(text, {
        bom: true,
        delimiter: guessDelimiter(text),
        relax_column_count: true,
        relax_quotes: true,
        skip_empty_lines: true,
        // Counting as rows arrive stops a huge file before all of it is held as arrays.
        on_record: (record: string[]) => {
          cells.spend(record.length);
          return record;
        },
      });
    } catch (err) {
      if (err instanceof DocumentError) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof DocumentError) throw cause;
      throw new DocumentError(source, `is not valid CSV: ${(err as Error).message}`, {}, { cause: err });
    }
    const builder = new DocumentBuilder();
    builder.addTable(rows, { headingPath: [], page: 1 });
    if (builder.isEmpty) throw new DocumentError(source, 'has no cells with values');
    return builder.build({
      source,
      title: fileNameOf(source),
      mime: CSV_MIME,
      metadata: { bytes: bytes.length, rows: rows.length, columns: Math.max(0, ...rows.map((row) => row.length)) },
    });
  },
};

const WORKSHEET_ENTRY = /^xl\/worksheets\/[^/]+\.xml$/;

/**
 * Counts `<c …>` cell elements in a worksheet's XML as it streams by, chunk after chunk. A tag
 * cut by a chunk boundary is counted once: the tail of each chunk is carried into the next, and
 * only matches that end in the new bytes count.
 */
export class CellTagCounter {
  // `<c` with an optional namespace prefix, then whitespace, `>` or `/`: not `<col`, `<cfRule`, ….
  private static readonly TAG = /<(?:[A-Za-z_][\w.-]{0,15}:)?c[\s/>]/g;
  private static readonly CARRY = 20; // longer than any match
  private tail = '';

  count(chunk: Uint8Array): number {
    // latin1 keeps one character per byte, and the markup searched for is ASCII.
    const text = this.tail + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    let found = 0;
    for (const match of text.matchAll(CellTagCounter.TAG)) {
      if (match.index + match[0].length > this.tail.length) found += 1;
    }
    this.tail = text.slice(-CellTagCounter.CARRY);
    return found;
  }
}

/** Cells read so far from one document, refused past sheetMaxCells. */
class CellBudget {
  private used = 0;
  constructor(
    private readonly source: string,
    private readonly limits: Pick<LoaderLimits, 'sheetMaxCells'>,
  ) {}

  spend(cells: number): void {
    this.used += cells;
    if (this.used > this.limits.sheetMaxCells) {
      throw new DocumentError(
        this.source,
        `has more than ${this.limits.sheetMaxCells} cells (rows × columns); split it or raise the limit`,
        {
          limit: this.limits.sheetMaxCells,
        },
      );
    }
  }
}

/** The separator that splits the first line into the most fields. */
function guessDelimiter(text: string): string {
  const firstLine = text.slice(0, text.indexOf('\n') >>> 0).slice(0, 4096);
  const candidates = [',', ';', '\t', '|'];
  return candidates.reduce((best, d) => (firstLine.split(d).length > firstLine.split(best).length ? d : best), ',');
}

/** A cell value as the text a reader sees: formula results, rich text runs, hyperlink text, ISO dates. */
export function cellText(value: ExcelJS.CellValue): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString().replace(/T00:00:00\.000Z$/, '');
  if (typeof value !== 'object') return String(value);
  if ('result' in value || 'formula' in value || 'sharedFormula' in value)
    return cellText((value as { result?: ExcelJS.CellValue }).result);
  if ('richText' in value) return value.richText.map((run) => run.text).join('');
  if ('text' in value) return String(value.text);
  if ('error' in value) return String(value.error);
  return '';
}
