import { type RedactOptions, redact } from '../core/redact.ts';
import type { ChunkDraft, LoadedDocument } from './types.ts';

/**
 * PII redaction at ingestion: chunk texts, heading paths and the title are redacted after chunking
 * (the chunker's offsets index the original text, so the text is not rewritten before it), and
 * before anything is embedded or stored. Offsets then point into the original, unstored text.
 */
export function redactForIngest(
  doc: LoadedDocument,
  drafts: ChunkDraft[],
  options: RedactOptions,
): { doc: LoadedDocument; drafts: ChunkDraft[] } {
  return {
    doc: { ...doc, title: redact(doc.title, options) },
    drafts: drafts.map((d) => ({ ...d, text: redact(d.text, options), headingPath: d.headingPath.map((h) => redact(h, options)) })),
  };
}
