import winkNLP, { type WinkMethods } from 'wink-nlp';
import model from 'wink-eng-lite-web-model';

/** One sentence: `text` is exactly `input.slice(start, end)`. */
export interface Sentence {
  text: string;
  start: number;
  end: number;
}

/**
 * wink reads a paragraph in time roughly linear in its length, but one huge string is several times
 * slower than the same text in pieces, so long paragraphs are cut (at a line break when there is one).
 */
const MAX_PIECE_CHARS = 10_000;

let nlp: WinkMethods | undefined;

/** The wink model takes ~0.5 s to load: only do it when the first sentence is asked for. */
function winkInstance(): WinkMethods {
  // Only sentence boundary detection: POS tagging, NER and sentiment would triple the cost.
  nlp ??= winkNLP(model, ['sbd']);
  return nlp;
}

/**
 * Splits `text` into sentences with offsets into `text`. Every non-whitespace character belongs to
 * exactly one sentence; whitespace between sentences belongs to none. Paragraphs (blank-line
 * separated) never share a sentence.
 */
export function splitSentences(text: string): Sentence[] {
  const sentences: Sentence[] = [];
  for (const [start, end] of pieces(text)) {
    for (const [s, e] of sentencesOfPiece(text.slice(start, end))) {
      sentences.push({ text: text.slice(start + s, start + e), start: start + s, end: start + e });
    }
  }
  return sentences;
}

/** Paragraph spans, with long paragraphs cut into pieces of at most MAX_PIECE_CHARS. */
function* pieces(text: string): Generator<[number, number]> {
  const paragraphBreak = /\n[^\S\n]*\n\s*/g;
  let start = 0;
  for (let m = paragraphBreak.exec(text); ; m = paragraphBreak.exec(text)) {
    const end = m ? m.index : text.length;
    yield* cutLong(text, start, end);
    if (!m) return;
    start = m.index + m[0].length;
  }
}

function* cutLong(text: string, start: number, end: number): Generator<[number, number]> {
  while (end - start > MAX_PIECE_CHARS) {
    const window = text.slice(start, start + MAX_PIECE_CHARS);
    let cut = window.lastIndexOf('\n');
    if (cut < MAX_PIECE_CHARS / 2) cut = window.search(/\s\S*$/);
    if (cut <= 0) cut = MAX_PIECE_CHARS;
    yield [start, start + cut];
    start += cut;
  }
  if (end > start) yield [start, end];
}

/**
 * Sentence spans inside one piece. wink gives sentences as token ranges; each token is found in the
 * piece to get its offset. A sentence runs from its first token to the character before the next
 * sentence's first token (trailing whitespace trimmed), so no text is ever lost, even if wink were
 * to normalise a token so that it can no longer be found.
 */
function sentencesOfPiece(piece: string): Array<[number, number]> {
  const firstChar = piece.search(/\S/);
  if (firstChar < 0) return [];
  const wink = winkInstance();
  const doc = wink.readDoc(piece);
  const tokens = doc.tokens().out();
  const tokenStarts: number[] = [];
  let cursor = 0;
  for (const token of tokens) {
    const at = piece.indexOf(token, cursor);
    tokenStarts.push(at < 0 ? -1 : at);
    if (at >= 0) cursor = at + token.length;
  }

  const starts: number[] = [firstChar];
  for (const span of doc.sentences().out(wink.its.span) as unknown as number[][]) {
    const first = tokenStarts[span[0] ?? -1];
    if (first !== undefined && first > starts[starts.length - 1]!) starts.push(first);
  }

  const spans: Array<[number, number]> = [];
  starts.forEach((start, i) => {
    const next = starts[i + 1] ?? piece.length;
    const end = start + piece.slice(start, next).trimEnd().length;
    if (end > start) spans.push([start, end]);
  });
  return spans;
}
