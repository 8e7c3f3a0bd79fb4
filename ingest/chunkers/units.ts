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
  /**
   * Keep list markers and lead-ins with their items (PDF text, whose lists are rebuilt from lines;
   * other formats are left as they were, so their chunks do not change).
   */
  lists?: boolean;
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
        : sentenceSpans(docText, start, end, sizing);
    return spans.map((s) => ({ ...base, ...s, flows: true }));
  }

  const tokens = counter.count(docText.slice(start, end));
  if (tokens <= room) return [{ ...base, start, end, tokens, flows: true }];
  return section.kind === 'table'
    ? tableRowUnits(docText, start, end, sizing, base, section.headerRows)
    : codeLineUnits(docText, start, end, sizing, base);
}

/** Sentences; one longer than the room is cut at line breaks, then between words. */
function sentenceSpans(docText: string, start: number, end: number, sizing: UnitSizing): Span[] {
  const { counter, room } = sizing;
  let sentences: Array<[number, number]> = splitSentences(docText.slice(start, end)).map((s) => [start + s.start, start + s.end]);
  if (sizing.lists) sentences = markersWithItems(docText, sentences);
  const spans: Span[] = [];
  for (const [s, e] of sentences) {
    const tokens = counter.count(docText.slice(s, e));
    if (tokens <= room) spans.push({ start: s, end: e, tokens });
    else spans.push(...fitSpans(docText, s, e, room, counter, ['lines', 'words']));
  }
  return sizing.lists ? leadInsWithFirstItems(docText, spans, sizing.target / 2) : spans;
}

/**
 * A list item's marker: "1.", "2)", "(3)", "a.", "B)", "(iv)", "iv.", or a bullet ("•", "-", "*",
 * "o", …, or a private-use glyph of a symbol font: CSF 1.1's bullets come out as U+F0B7). wink reads "1." before a capital as a sentence of its own ("…basic tenets:\n\n1." |
 * "All data sources…"), or leaves it at the end of the sentence before ("…as follows: 1." | "All
 * data sources…"); a cut there left the marker at the end of one chunk and its item, unnumbered,
 * at the start of the next.
 */
const ROMAN = '(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3})|(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3})';
const ENUMERATOR = String.raw`\d{1,3}|[A-Za-z]|${ROMAN}`;
const MARKER = String.raw`(?:(?:${ENUMERATOR})[.)]|\((?:${ENUMERATOR})\)|[•◦▪▫■□●○‣⁃∙·*+o\-–—\uE000-\uF8FF])`;
/** A sentence that is only a marker. */
const BARE_MARKER = new RegExp(String.raw`^\s*(?:${MARKER})$`);
/** A marker closing a sentence, alone on its line or after a colon ("…as follows: 1."); group 1 is the marker. */
const TRAILING_MARKER = new RegExp(String.raw`(?:\n|:[^\S\n]+)[^\S\n]*(${MARKER})$`);
/** Between a marker and its item: spaces or tabs, no line break (the item goes on on the marker's line). */
const ITEM_GAP = /^[^\S\n]+$/;
/** A unit that opens a list item: its marker, then the item's text on the same line. */
const ITEM_START = new RegExp(String.raw`^\s*(?:${MARKER})[^\S\n]+\S`);

/**
 * Moves every list marker into the sentence of its item, so a marker never ends a unit and so never
 * ends a chunk. A marker counts only when its item follows on the same line: "in Chapter\n12." or
 * "go1.8.4" keep their numbers.
 */
function markersWithItems(text: string, sentences: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let carried: number | undefined; // start of a marker carried into the next sentence
  sentences.forEach(([s, e], i) => {
    const from = carried ?? s;
    carried = undefined;
    const next = sentences[i + 1];
    if (next && ITEM_GAP.test(text.slice(e, next[0]))) {
      if (BARE_MARKER.test(text.slice(s, e))) {
        carried = from;
        return;
      }
      const trailing = TRAILING_MARKER.exec(text.slice(from, e));
      const markerStart = trailing ? e - trailing[1]!.length : -1;
      const kept = trailing ? text.slice(from, markerStart).trimEnd() : '';
      if (kept) {
        out.push([from, from + kept.length]);
        carried = markerStart;
        return;
      }
    }
    out.push([from, e]);
  });
  return out;
}

/**
 * A sentence that introduces a list ("…with adherence to the following basic tenets:") and the
 * first item after it become one unit when together they take at most `limit` tokens, so a chunk
 * never ends in a lead-in whose list starts in the next chunk.
 */
function leadInsWithFirstItems(text: string, spans: Span[], limit: number): Span[] {
  const out: Span[] = [];
  for (const span of spans) {
    const previous = out[out.length - 1];
    if (
      previous &&
      text.slice(previous.start, previous.end).trimEnd().endsWith(':') &&
      ITEM_START.test(text.slice(span.start, span.end)) &&
      previous.tokens + span.tokens <= limit
    ) {
      // WordPiece never merges across whitespace, so the two counts add up.
      out[out.length - 1] = { start: previous.start, end: span.end, tokens: previous.tokens + span.tokens };
    } else out.push(span);
  }
  return out;
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
