/**
 * How much of a collection's chunk text is page furniture rather than content: table-of-contents
 * lines (dot leaders before a page number), lone page numbers, and lines repeated in many chunks
 * of one document (running headers and footers). Judged on the stored chunks alone, so it measures
 * any loader the same way.
 */

export interface NoiseChunk {
  documentId: string;
  text: string;
}

export interface NoiseReport {
  chunks: number;
  /** Chunks whose text is more than half noise. */
  mostlyNoise: number;
  /** Chunks with at least one noise line. */
  withNoise: number;
  /** Chunks with a dot-leader line. */
  withDotLeaders: number;
}

const DOT_LEADER = /(?:\.\s?){4,}\s*(?:[ivxlc]+|[A-Z]?-?\d+)\s*$/i;
const LONE_PAGE_NUMBER = /^(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s+of\s+\d{1,4})?$/i;
/** A line in this share of a document's chunks (and at least 3) is a running header or footer. */
const REPEATED_SHARE = 0.3;

export const isDotLeaderLine = (line: string) => DOT_LEADER.test(line.trim());

const linesOf = (text: string) =>
  text
    .split(/\n+/)
    .map((l) => l.trim())
    .filter(Boolean);
const lineKey = (line: string) => line.toLowerCase().replace(/\d+/g, '#');

export function measureNoise(chunks: NoiseChunk[]): NoiseReport {
  const byDocument = new Map<string, NoiseChunk[]>();
  for (const c of chunks) byDocument.set(c.documentId, [...(byDocument.get(c.documentId) ?? []), c]);
  const report: NoiseReport = { chunks: chunks.length, mostlyNoise: 0, withNoise: 0, withDotLeaders: 0 };
  for (const docChunks of byDocument.values()) {
    const counts = new Map<string, number>();
    for (const c of docChunks) for (const key of new Set(linesOf(c.text).map(lineKey))) counts.set(key, (counts.get(key) ?? 0) + 1);
    const repeatedAt = Math.max(3, REPEATED_SHARE * docChunks.length);
    for (const c of docChunks) {
      const lines = linesOf(c.text);
      let noise = 0;
      let total = 0;
      let leaders = false;
      for (const line of lines) {
        total += line.length;
        const leader = isDotLeaderLine(line);
        leaders ||= leader;
        const repeated = line.length >= 8 && (counts.get(lineKey(line)) ?? 0) >= repeatedAt && docChunks.length >= 3;
        if (leader || LONE_PAGE_NUMBER.test(line) || repeated) noise += line.length;
      }
      if (noise > 0) report.withNoise++;
      if (total > 0 && noise / total > 0.5) report.mostlyNoise++;
      if (leaders) report.withDotLeaders++;
    }
  }
  return report;
}
