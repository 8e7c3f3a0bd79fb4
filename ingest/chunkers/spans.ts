import type { TokenCounter } from '../../models/types.ts';

/** A stretch of the document text with its model-token count. */
export interface Span {
  start: number;
  end: number;
  tokens: number;
}

/** Where an oversized stretch of text may be cut, coarsest first. */
export type CutLevel = 'lines' | 'words';

/**
 * Cuts text[start, end) into consecutive spans of at most `budget` tokens, packing greedily.
 * Cuts are made at the first level that works (e.g. line breaks, then spaces); a single word
 * longer than the budget (a URL, a hash, a run of CJK text) is finally cut between characters.
 * Whitespace at the cuts belongs to no span.
 */
export function fitSpans(
  text: string,
  start: number,
  end: number,
  budget: number,
  counter: TokenCounter,
  levels: readonly CutLevel[],
): Span[] {
  const [level, ...finer] = levels;
  if (!level) return cutWord(text, start, end, budget, counter);

  const spans: Span[] = [];
  let current: Span | undefined;
  for (const atom of atoms(text, start, end, level)) {
    const tokens = counter.count(text.slice(atom.start, atom.end));
    if (tokens > budget) {
      if (current) spans.push(current);
      current = undefined;
      spans.push(...fitSpans(text, atom.start, atom.end, budget, counter, finer));
    } else if (current && current.tokens + tokens <= budget) {
      // WordPiece never merges across whitespace, so counts of whitespace-separated parts add up.
      current = { start: current.start, end: atom.end, tokens: current.tokens + tokens };
    } else {
      if (current) spans.push(current);
      current = { start: atom.start, end: atom.end, tokens };
    }
  }
  if (current) spans.push(current);
  return spans;
}

/** Non-blank lines or words of text[start, end), trimmed. */
export function* atoms(text: string, start: number, end: number, level: CutLevel): Generator<{ start: number; end: number }> {
  const pattern = level === 'lines' ? /[^\n]+/g : /\S+/g;
  const slice = text.slice(start, end);
  for (let m = pattern.exec(slice); m; m = pattern.exec(slice)) {
    const lead = m[0].length - m[0].trimStart().length;
    const trimmed = m[0].trim();
    if (trimmed) yield { start: start + m.index + lead, end: start + m.index + lead + trimmed.length };
  }
}

/** Last resort for text without usable whitespace: the longest prefixes that fit, found by bisection. */
function cutWord(text: string, start: number, end: number, budget: number, counter: TokenCounter): Span[] {
  const spans: Span[] = [];
  let from = start;
  while (from < end) {
    let lo = from + 1;
    let hi = end;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (counter.count(text.slice(from, mid)) <= budget) lo = mid;
      else hi = mid - 1;
    }
    // Never leave half of a surrogate pair on either side.
    if (lo < end && isHighSurrogate(text.charCodeAt(lo - 1)) && lo - 1 > from) lo -= 1;
    else if (lo < end && isHighSurrogate(text.charCodeAt(lo - 1))) lo += 1;
    spans.push({ start: from, end: lo, tokens: counter.count(text.slice(from, lo)) });
    from = lo;
  }
  return spans;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
