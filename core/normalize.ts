/** Cache-key form of a question: Unicode-normalized, whitespace collapsed and trimmed. */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').replace(/\s+/g, ' ').trim();
}
