import type { ChunkDraft, LoadedDocument } from '../types.ts';
import type { TokenCounter } from '../../models/types.ts';
import type { Block } from './blocks.ts';
import type { Run } from './plan.ts';
import { fitSpans } from './spans.ts';

/**
 * The chunk for units [from, to) of a block. Its text is doc.text.slice(charStart, charEnd), except
 * that a piece of a split table starts with a copy of the table's header row and a newline.
 */
export function draftsOf(doc: LoadedDocument, block: Block, run: Run, counter: TokenCounter): ChunkDraft[] {
  const units = block.units.slice(run.from, run.to);
  const first = units[0]!;
  const last = units[units.length - 1]!;
  const kinds = new Set(units.map((u) => u.kind));
  const pages = units.map((u) => u.page).filter((p): p is number => p !== null);
  const shape = {
    headingPath: [...block.headingPath],
    pageStart: pages.length ? Math.min(...pages) : null,
    pageEnd: pages.length ? Math.max(...pages) : null,
    kind: kinds.size === 1 ? first.kind : ('mixed' as const),
  };

  const text = (first.header ? `${first.header.text}\n` : '') + doc.text.slice(first.start, last.end);
  const tokenCount = counter.count(text);
  if (tokenCount <= block.room) {
    return tokenCount > 0 ? [{ ordinal: 0, text, tokenCount, charStart: first.start, charEnd: last.end, ...shape }] : [];
  }
  // Unreachable while unit counts add up (they do for WordPiece); kept so the cap can never be broken.
  return fitSpans(doc.text, first.start, last.end, block.room, counter, ['lines', 'words']).map((span) => ({
    ordinal: 0,
    text: doc.text.slice(span.start, span.end),
    tokenCount: counter.count(doc.text.slice(span.start, span.end)),
    charStart: span.start,
    charEnd: span.end,
    ...shape,
  }));
}
