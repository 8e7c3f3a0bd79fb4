import { splitSentences } from '../../models/sentences.ts';
import type { Section } from '../types.ts';
import type { TokenCounter } from '../../models/types.ts';
import { atoms, fitSpans, type Span } from './spans.ts';

/**
 * The smallest pieces a chunker places: a sentence, a fixed window of words, a whole table, or
 * one row of a table too large to keep whole. A chunk is always a run of consecutive units.
 */
export interface Unit {
  /** Offsets into LoadedDocument.text. */
  start: number;
  end: number;
  tokens: number;
  kind: Section['kind'];
  page: number | null;
  /**
   * true for units the strategy arranges (sentences, windows, whole tables); false for the rows or
   * lines of an oversized table or code section, which are always packed in order.
   */
  flows: boolean;
  /** Index of the section the unit comes from. */
  section: number;
  /** Table header row(s), put in front of this unit when it opens a chunk. */
  header?: { text: string; tokens: number };
}

export interface UnitSizing {
  counter: TokenCounter;
  /** Largest chunk text allowed here. */
  room: number;
  target: number;
  /** 'sentences' for the sentence and semantic chunkers, 'windows' for the fixed baseline. */
  textUnits: 'sentences' | 'windows';
}

/** A markdown table's delimiter row, e.g. `|---|:--:|`. */
const DELIMITER_ROW = /^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$/;

/** Units of one section, whose trimmed text is docText[start, end). */
export function sectionUnits(docText: string, start: number, end: number, section: Section, index: number, sizing: UnitSizing): Unit[] {
  const base = { kind: section.kind, page: section.page ?? null, section: index };
  const { counter, room } = sizing;

  if (section.kind === 'text') {
    const spans =
      sizing.textUnits === 'windows'
        ? fitSpans(docText, start, end, sizing.target, counter, ['words'])
        : sentenceSpans(docText, start, end, counter, room);
    return spans.map((s) => ({ ...base, ...s, flows: true }));
  }

  const tokens = counter.count(docText.slice(start, end));
  if (tokens <= room) return [{ ...base, start, end, tokens, flows: true }];
  return section.kind === 'table'
    ? tableRowUnits(docText, start, end, sizing, base, section.headerRows)
    : codeLineUnits(docText, start, end, sizing, base);
}

/** Sentences; one longer than the room is cut at line breaks, then between words. */
function sentenceSpans(docText: string, start: number, end: number, counter: TokenCounter, room: number): Span[] {
  const spans: Span[] = [];
  for (const sentence of splitSentences(docText.slice(start, end))) {
    const s = start + sentence.start;
    const e = start + sentence.end;
    const tokens = counter.count(sentence.text);
    if (tokens <= room) spans.push({ start: s, end: e, tokens });
    else spans.push(...fitSpans(docText, s, e, room, counter, ['lines', 'words']));
  }
  return spans;
}

type UnitBase = Pick<Unit, 'kind' | 'page' | 'section'>;

/**
 * Rows of an oversized table. The header row (plus a markdown delimiter row) is repeated in front
 * of every later piece, so rows must leave room for it. A header taking more than half the room
 * is not repeated: pieces would carry little else.
 */
function tableRowUnits(docText: string, start: number, end: number, sizing: UnitSizing, base: UnitBase, headerRows?: number): Unit[] {
  const { counter, room } = sizing;
  const lines = [...atoms(docText, start, end, 'lines')];
  let headerLines = headerRows ?? (lines.length > 1 && DELIMITER_ROW.test(docText.slice(lines[1]!.start, lines[1]!.end)) ? 2 : 1);
  if (lines.length <= headerLines) headerLines = 0;

  let header: Unit['header'];
  if (headerLines > 0) {
    const text = docText.slice(lines[0]!.start, lines[headerLines - 1]!.end);
    const tokens = counter.count(text);
    if (tokens <= room / 2) header = { text, tokens };
  }
  if (!header) return lineUnits(docText, lines, room, counter, base, undefined);

  // The header lines open the first piece as ordinary units; only later pieces get the copy.
  const headerUnits = lineUnits(docText, lines.slice(0, headerLines), room, counter, base, undefined);
  return [...headerUnits, ...lineUnits(docText, lines.slice(headerLines), room - header.tokens, counter, base, header)];
}

function codeLineUnits(docText: string, start: number, end: number, sizing: UnitSizing, base: UnitBase): Unit[] {
  // Keep each line's indentation: it is part of the code.
  const lines = [...atoms(docText, start, end, 'lines')].map((line) => ({
    start: Math.max(start, docText.lastIndexOf('\n', line.start - 1) + 1),
    end: line.end,
  }));
  return lineUnits(docText, lines, sizing.room, sizing.counter, base, undefined);
}

/** One unit per line; a line over the budget is cut between words. */
function lineUnits(
  docText: string,
  lines: Array<{ start: number; end: number }>,
  budget: number,
  counter: TokenCounter,
  base: UnitBase,
  header: Unit['header'],
): Unit[] {
  const units: Unit[] = [];
  for (const line of lines) {
    const tokens = counter.count(docText.slice(line.start, line.end));
    const spans = tokens <= budget ? [{ ...line, tokens }] : fitSpans(docText, line.start, line.end, budget, counter, ['words']);
    for (const span of spans) units.push({ ...base, ...span, flows: false, ...(header ? { header } : {}) });
  }
  return units;
}
