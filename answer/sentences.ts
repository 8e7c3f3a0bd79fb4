import { splitSentences, type Sentence } from '../models/sentences.ts';

/**
 * Sentences for quoting: the ingest splitter's, with fragments glued back where it cut inside a
 * sentence (a path like "./.ragline", an abbreviation): a piece that starts in lower case or with
 * punctuation continues the one before it. Offsets still point into `text`, so quotes stay verbatim.
 */
export function quotableSentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  for (const raw of splitSentences(text)) {
    // Whitespace around a sentence is not part of it (the splitter can leave a leading line break).
    const lead = raw.text.length - raw.text.trimStart().length;
    const s = { text: raw.text.trim(), start: raw.start + lead, end: raw.start + lead + raw.text.trim().length };
    if (!s.text) continue;
    const previous = out[out.length - 1];
    if (previous && /^[\p{Ll}\p{Pd}/.,;:)\]}%]/u.test(s.text)) {
      previous.end = s.end;
      previous.text = text.slice(previous.start, s.end);
    } else {
      out.push({ ...s });
    }
  }
  return out;
}
