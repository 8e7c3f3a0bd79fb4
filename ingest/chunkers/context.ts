import type { ChunkDraft, LoadedDocument } from '../types.ts';

/**
 * The pipeline may embed a chunk together with where it comes from ("title — heading › path").
 * Policy: the chunkers RESERVE room for this prefix when sizing chunks (see `blocks.ts`), so
 * `contextualText(chunk, doc)` never exceeds the token cap and needs no tokenizer; a chunk's own
 * tokenCount is unaffected. The prefix is shortened to PREFIX_MAX_CHARS so the reservation stays small.
 */
export const PREFIX_MAX_CHARS = 100;

/**
 * How a prefix too long for PREFIX_MAX_CHARS is shortened: 'title-first' keeps the start of
 * "title — path" (so a long title can push every heading out); 'innermost-heading' keeps the
 * innermost headings and shortens the title instead.
 */
export type PrefixFit = 'title-first' | 'innermost-heading';

/** Room the innermost headings may take before the title is shortened to make way. */
const PATH_BUDGET = 70;

const codePoints = (s: string) => Array.from(s); // so an emoji is never cut in half
const cut = (s: string, max: number) => {
  const chars = codePoints(s);
  return chars.length <= max
    ? s
    : `${chars
        .slice(0, Math.max(0, max - 1))
        .join('')
        .trimEnd()}…`;
};

export function contextPrefix(title: string, headingPath: readonly string[], fit: PrefixFit = 'title-first'): string {
  const clean = (s: string) => s.replace(/\s+/g, ' ').trim();
  const headings = headingPath.map(clean).filter(Boolean);
  const path = headings.join(' › ');
  const name = clean(title);
  const full = name && path ? `${name} — ${path}` : name || path;
  if (codePoints(full).length <= PREFIX_MAX_CHARS || fit === 'title-first' || !name || !path) return cut(full, PREFIX_MAX_CHARS);
  const inner: string[] = [];
  let used = 0;
  for (let i = headings.length - 1; i >= 0; i--) {
    const cost = codePoints(headings[i]!).length + (inner.length ? 3 : 0);
    if (used + cost > PATH_BUDGET) break;
    inner.unshift(headings[i]!);
    used += cost;
  }
  const kept = inner.length ? inner.join(' › ') : cut(headings.at(-1)!, PATH_BUDGET);
  const shownPath = inner.length === headings.length ? kept : `… › ${kept}`;
  const titleRoom = PREFIX_MAX_CHARS - codePoints(shownPath).length - 3;
  return `${cut(name, titleRoom)} — ${shownPath}`;
}

/**
 * PDFs carry their metadata title, often a long one (SP 800-218's is 130 characters), which under
 * 'title-first' left no room for the headings the layout reading finds; their prefixes keep the
 * innermost headings. Every other format keeps the prefixes (and so the chunk sizes and vectors)
 * it had.
 */
export function prefixFitOf(doc: Pick<LoadedDocument, 'mime'>): PrefixFit {
  return doc.mime === 'application/pdf' ? 'innermost-heading' : 'title-first';
}

/** The context prefix of a chunk of `doc` under `headingPath`. */
export function documentPrefix(doc: Pick<LoadedDocument, 'title' | 'mime'>, headingPath: readonly string[]): string {
  return contextPrefix(doc.title, headingPath, prefixFitOf(doc));
}

/** `title — heading › path\n\ntext`; just the text when the document has neither title nor headings. */
export function contextualText(chunk: ChunkDraft, doc: LoadedDocument): string {
  const prefix = documentPrefix(doc, chunk.headingPath);
  return prefix ? `${prefix}\n\n${chunk.text}` : chunk.text;
}
