/** The parts of a pdf.js TextItem that layout reconstruction needs. */
export interface PdfTextItem {
  str: string;
  /** [a, b, c, d, x, y]: the text matrix; y is the baseline, hypot(c, d) the font size. */
  transform: number[];
  hasEOL: boolean;
}

interface Line {
  text: string;
  baseline: number;
  fontSize: number;
}

/** A vertical gap this many font sizes wide between two lines starts a new paragraph. */
const PARAGRAPH_GAP = 1.5;

/**
 * A page's text with its lines kept and paragraphs separated by a blank line. pdf.js marks
 * line ends; paragraphs are told apart by the extra space above them, or by the text jumping
 * upwards (the next column). Words hyphenated across a line break are joined again.
 */
export function pageText(items: PdfTextItem[]): string {
  const paragraphs: string[][] = [];
  let previous: Line | undefined;
  for (const line of linesOf(items)) {
    const text = line.text.replace(/\s+/g, ' ').trim();
    if (text === '') {
      previous = undefined; // an empty line already separates paragraphs
      continue;
    }
    if (!previous || startsParagraph(previous, line)) paragraphs.push([]);
    paragraphs.at(-1)!.push(text);
    previous = line;
  }
  return paragraphs.map((lines) => joinHyphenated(lines.join('\n'))).join('\n\n');
}

function linesOf(items: PdfTextItem[]): Line[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  for (const item of items) {
    const [, , c = 0, d = 0, , y = 0] = item.transform;
    current ??= { text: '', baseline: y, fontSize: 0 };
    current.text += item.str;
    if (item.str.trim() !== '') current.fontSize = Math.max(current.fontSize, Math.hypot(c, d));
    if (item.hasEOL) {
      lines.push(current);
      current = undefined;
    }
  }
  if (current) lines.push(current);
  return lines;
}

function startsParagraph(previous: Line, line: Line): boolean {
  const size = Math.max(previous.fontSize, line.fontSize) || 1;
  const drop = previous.baseline - line.baseline;
  return drop > PARAGRAPH_GAP * size || drop < -size;
}

/** "subop-\ntimal" → "suboptimal"; soft hyphens vanish. Only a lowercase continuation counts. */
function joinHyphenated(text: string): string {
  return text.replace(/\u00AD\n?/g, '').replace(/(\p{L})-\n(\p{Ll})/gu, '$1$2');
}
