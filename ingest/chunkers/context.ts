import type { ChunkDraft, LoadedDocument } from '../types.ts';

/**
 * The pipeline may embed a chunk together with where it comes from ("title — heading › path").
 * Policy: the chunkers RESERVE room for this prefix when sizing chunks (see `blocks.ts`), so
 * `contextualText(chunk, doc)` never exceeds the token cap and needs no tokenizer; a chunk's own
 * tokenCount is unaffected. The prefix is shortened to PREFIX_MAX_CHARS so the reservation stays small.
 */
export const PREFIX_MAX_CHARS = 100;

export function contextPrefix(title: string, headingPath: readonly string[]): string {
  const clean = (s: string) => s.replace(/\s+/g, ' ').trim();
  const path = headingPath.map(clean).filter(Boolean).join(' › ');
  const name = clean(title);
  const full = name && path ? `${name} — ${path}` : name || path;
  const chars = Array.from(full); // code points, so an emoji is never cut in half
  return chars.length <= PREFIX_MAX_CHARS
    ? full
    : `${chars
        .slice(0, PREFIX_MAX_CHARS - 1)
        .join('')
        .trimEnd()}…`;
}

/** `title — heading › path\n\ntext`; just the text when the document has neither title nor headings. */
export function contextualText(chunk: ChunkDraft, doc: LoadedDocument): string {
  const prefix = contextPrefix(doc.title, chunk.headingPath);
  return prefix ? `${prefix}\n\n${chunk.text}` : chunk.text;
}
