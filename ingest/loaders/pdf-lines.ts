/** The parts of a pdf.js TextItem that layout reconstruction needs. */
export interface PdfTextItem {
  str: string;
  /** [a, b, c, d, x, y]: the text matrix; y is the baseline, hypot(c, d) the font size. */
  transform: number[];
  /** Advance width of the item in page units (0 when pdf.js did not say). */
  width?: number;
  fontName?: string;
  hasEOL: boolean;
}

export interface PdfPageItems {
  items: PdfTextItem[];
  width: number;
  height: number;
}

/** A run of text on one baseline with no wide gap inside it: a table cell, or a column's line. */
export interface PdfCell {
  text: string;
  x: number;
  right: number;
}

/** One line of a page as read: its cells (split at wide gaps), where it sits and in which font. */
export interface PdfLine {
  cells: PdfCell[];
  x: number;
  right: number;
  /** Baseline, from the bottom of the page. */
  y: number;
  size: number;
  /** The font of most of its characters. */
  font: string;
  /** Rotated or vertical text (margin notes, spine labels). */
  horizontal: boolean;
  /**
   * When the line opens in one font and goes on in another (a run-in heading set in bold, as in
   * "Encoders Although in principle…"): the opening text and its font.
   */
  lead?: { text: string; font: string };
}

/** A gap wider than this many font sizes separates cells (table columns, the two columns of a page). */
const CELL_GAP = 1.5;
/** A gap wider than this many font sizes between two items is a space, if neither brings one. */
const WORD_GAP = 0.12;

export const lineText = (line: PdfLine) => line.cells.map((c) => c.text).join(' ');

/**
 * The page's lines in the order pdf.js reads its content, which for almost every producer is the
 * reading order within a column. A line ends where pdf.js marks it or where the baseline moves;
 * then, if the page is set in two columns, the lines are put column by column (see byColumns).
 */
export function pageLines(page: PdfPageItems): PdfLine[] {
  const lines: PdfLine[] = [];
  let current: LineDraft | undefined;
  for (const item of page.items) {
    const [a = 0, b = 0, c = 0, d = 0, x = 0, y = 0] = item.transform;
    const horizontal = Math.abs(b) < 1e-3 && Math.abs(c) < 1e-3 && a > 0;
    const size = Math.hypot(c, d) || Math.hypot(a, b) || 1;
    const blank = item.str.trim() === '';
    if (current && !blank && !current.accepts(x, y, size, horizontal)) {
      pushLine(lines, current);
      current = undefined;
    }
    if (!blank) {
      current ??= new LineDraft(y, size, horizontal);
      current.add(item.str, horizontal ? x : y, (horizontal ? x : y) + (item.width ?? 0), size, item.fontName ?? '');
    } else if (current) {
      current.space();
    }
    if (item.hasEOL && current) {
      pushLine(lines, current);
      current = undefined;
    }
  }
  if (current) pushLine(lines, current);
  return byColumns(lines, page.width);
}

function pushLine(lines: PdfLine[], draft: LineDraft) {
  const line = draft.finish();
  if (line.cells.length) lines.push(line);
}

class LineDraft {
  private readonly cells: Array<PdfCell & { pendingSpace: boolean }> = [];
  private readonly fontChars = new Map<string, number>();
  private maxSize = 0;
  /** The text set in the line's first font, until another font takes over (then `leadEnded`). */
  private lead: { text: string; font: string } | undefined;
  private leadEnded = false;

  constructor(
    private readonly y: number,
    size: number,
    private readonly horizontal: boolean,
  ) {
    this.maxSize = size;
  }

  /** Whether an item at (x, y) continues this line rather than starting the next one. */
  accepts(x: number, y: number, size: number, horizontal: boolean): boolean {
    if (horizontal !== this.horizontal) return false;
    if (!horizontal) return true; // rotated text: pdf.js's line ends are all there is
    const last = this.cells.at(-1);
    const tolerance = 0.5 * Math.max(size, this.maxSize);
    return Math.abs(y - this.y) <= tolerance && (!last || x > last.right - size);
  }

  add(str: string, x: number, right: number, size: number, font: string) {
    const last = this.cells.at(-1);
    const gap = last ? x - last.right : 0;
    if (!last || gap > CELL_GAP * size) {
      this.cells.push({ text: str.trimStart(), x, right, pendingSpace: false });
    } else {
      const needsSpace = last.pendingSpace || (gap > WORD_GAP * size && !/\s$/.test(last.text) && !/^\s/.test(str));
      last.text += (needsSpace && !/\s$/.test(last.text) ? ' ' : '') + str;
      last.right = Math.max(last.right, right);
      last.pendingSpace = false;
    }
    this.maxSize = Math.max(this.maxSize, size);
    this.fontChars.set(font, (this.fontChars.get(font) ?? 0) + str.length);
    this.trackLead(str, font, gap > WORD_GAP * size);
  }

  private trackLead(str: string, font: string, spaced: boolean) {
    if (this.leadEnded) return;
    if (!this.lead) this.lead = { text: str, font };
    else if (font === this.lead.font) this.lead.text += (spaced ? ' ' : '') + str;
    else if (/\p{L}/u.test(str)) this.leadEnded = true;
  }

  space() {
    const last = this.cells.at(-1);
    if (last) last.pendingSpace = true;
    if (this.lead && !this.leadEnded) this.lead.text += ' ';
  }

  finish(): PdfLine {
    const cells = this.cells
      .map(({ text, x, right }) => ({ text: text.replace(/\s+/g, ' ').trim(), x, right }))
      .filter((c) => c.text !== '');
    const font = [...this.fontChars].sort((p, q) => q[1] - p[1])[0]?.[0] ?? '';
    const lead = this.leadEnded && this.lead ? { text: this.lead.text.replace(/\s+/g, ' ').trim(), font: this.lead.font } : undefined;
    return {
      cells,
      x: cells[0]?.x ?? 0,
      right: cells.at(-1)?.right ?? 0,
      y: this.y,
      size: this.maxSize,
      font,
      horizontal: this.horizontal,
      ...(lead?.text ? { lead } : {}),
    };
  }
}

/**
 * Two-column pages read column by column. A page counts as two columns when a vertical gutter
 * near the middle is crossed by little text, each side holds a good share of the text in lines
 * that fill their column (prose, not a narrow table column), and each side has several lines.
 * Lines that cross the gutter (a title, a full-width figure caption) separate bands; each band is
 * read left column first. Lines whose cells sit on both sides are split at the gutter.
 */
export function byColumns(lines: PdfLine[], pageWidth: number): PdfLine[] {
  const gutter = findGutter(lines, pageWidth);
  if (gutter === undefined) return lines;
  const pieces: Array<{ line: PdfLine; side: 'left' | 'right' | 'span'; order: number }> = [];
  lines.forEach((line, order) => {
    if (!line.horizontal) return void pieces.push({ line, side: 'span', order });
    const left = line.cells.filter((c) => c.right <= gutter + 1);
    const right = line.cells.filter((c) => c.x >= gutter - 1);
    if (left.length + right.length < line.cells.length) return void pieces.push({ line, side: 'span', order });
    if (left.length) pieces.push({ line: { ...line, cells: left, x: left[0]!.x, right: left.at(-1)!.right }, side: 'left', order });
    if (right.length) {
      // The opening font run belongs to the left piece when there is one.
      const { lead, ...rest } = line;
      const piece = { ...(left.length ? rest : line), cells: right, x: right[0]!.x, right: right.at(-1)!.right };
      pieces.push({ line: piece, side: 'right', order });
    }
  });
  const out: PdfLine[] = [];
  let band: typeof pieces = [];
  const flush = () => {
    const column = (side: 'left' | 'right') => band.filter((p) => p.side === side).sort((p, q) => q.line.y - p.line.y || p.order - q.order);
    out.push(...column('left').map((p) => p.line), ...column('right').map((p) => p.line));
    band = [];
  };
  // Bands follow the page from top to bottom.
  const ordered = [...pieces].sort((p, q) => q.line.y - p.line.y || p.order - q.order);
  for (const piece of ordered) {
    if (piece.side === 'span') {
      flush();
      out.push(piece.line);
    } else {
      band.push(piece);
    }
  }
  flush();
  return out;
}

function findGutter(lines: PdfLine[], pageWidth: number): number | undefined {
  const cells = lines.filter((l) => l.horizontal).flatMap((l) => l.cells);
  const total = cells.reduce((s, c) => s + c.text.length, 0);
  if (pageWidth <= 0 || total < 400) return undefined;
  let best: { gutter: number; crossing: number } | undefined;
  for (let g = 0.3 * pageWidth; g <= 0.7 * pageWidth; g += 2) {
    const crossing = cells.reduce((s, c) => s + (c.x < g - 1 && c.right > g + 1 ? c.text.length : 0), 0);
    if (!best || crossing < best.crossing) best = { gutter: g, crossing };
  }
  if (!best || best.crossing > 0.15 * total) return undefined;
  const g = best.gutter;
  const left = cells.filter((c) => c.right <= g + 1);
  const right = cells.filter((c) => c.x >= g - 1);
  const chars = (cs: PdfCell[]) => cs.reduce((s, c) => s + c.text.length, 0);
  if (chars(left) < 0.25 * total || chars(right) < 0.25 * total || left.length < 8 || right.length < 8) return undefined;
  // Prose fills its column: the median line reaches most of the way across.
  const fills = (cs: PdfCell[], from: number, to: number) => median(cs.map((c) => c.right - c.x)) >= 0.6 * (to - from);
  const leftEdge = Math.min(...left.map((c) => c.x));
  const rightEdge = Math.max(...right.map((c) => c.right));
  if (!fills(left, leftEdge, g) || !fills(right, g, rightEdge)) return undefined;
  return g;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
