import { z } from 'zod';
import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument } from '../types.ts';
import type { TokenCounter } from '../../models/types.ts';
import { documentPrefix } from './context.ts';
import type { Limits } from './limits.ts';
import { sectionUnits, type Unit, type UnitSizing } from './units.ts';

/**
 * A run of consecutive sections under the same heading path with only whitespace between them
 * (e.g. the pages of one PDF chapter). Chunks never cross a block boundary, so a chunk never
 * spans two heading paths.
 */
export interface Block {
  headingPath: string[];
  units: Unit[];
  /** Largest chunk text here: the cap minus the room reserved for the context prefix. */
  room: number;
  target: number;
  /** cumulative[i] = tokens of units[0..i), so any run's size is one subtraction. */
  cumulative: number[];
}

/** Tokens of the chunk made of units[from..to): its text plus the header copy it may open with. */
export function runTokens(block: Block, from: number, to: number): number {
  return block.cumulative[to]! - block.cumulative[from]! + (block.units[from]?.header?.tokens ?? 0);
}

const documentSchema = z.object({
  source: z.string(),
  title: z.string(),
  text: z.string(),
  sections: z.array(
    z.object({
      text: z.string(),
      headingPath: z.array(z.string()),
      page: z.number().int().positive().optional(),
      kind: z.enum(['text', 'table', 'code']),
      charStart: z.number().int().min(0),
    }),
  ),
});

/** Checks the loader's contract: every section's text sits at its charStart in doc.text. */
export function checkDocument(doc: LoadedDocument): void {
  const source = typeof doc?.source === 'string' && doc.source ? doc.source : '(unnamed document)';
  const parsed = documentSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DocumentError(source, `not a loaded document: ${issue.path.join('.') || 'document'}: ${issue.message}`);
  }
  doc.sections.forEach((section, i) => {
    if (doc.text.slice(section.charStart, section.charStart + section.text.length) !== section.text) {
      throw new DocumentError(source, `section ${i} does not match the document text at charStart ${section.charStart}`, {
        section: i,
      });
    }
  });
}

/**
 * Turns sections into blocks of units. The context prefix ("title — heading › path") is counted
 * here and subtracted from the room, which is what keeps contextualText() under the cap.
 */
export function buildBlocks(doc: LoadedDocument, counter: TokenCounter, limits: Limits, textUnits: UnitSizing['textUnits']): Block[] {
  const blocks: Block[] = [];
  let current: Block | undefined;
  let previousEnd = -1;
  const lists = doc.mime === 'application/pdf';

  doc.sections.forEach((section, index) => {
    const lead = section.text.length - section.text.trimStart().length;
    const trimmed = section.text.trim();
    if (!trimmed) return;
    const start = section.charStart + lead;
    const end = start + trimmed.length;

    const continues =
      current !== undefined &&
      samePath(current.headingPath, section.headingPath) &&
      start >= previousEnd &&
      doc.text.slice(previousEnd, start).trim() === '';
    if (!continues) {
      current = newBlock(doc, section.headingPath, counter, limits);
      blocks.push(current);
    }
    const block = current!;
    const units = sectionUnits(doc.text, start, end, section, index, { counter, room: block.room, target: block.target, textUnits, lists });
    for (const unit of units) {
      block.units.push(unit);
      block.cumulative.push(block.cumulative[block.cumulative.length - 1]! + unit.tokens);
    }
    previousEnd = end;
  });
  return blocks.filter((b) => b.units.length > 0);
}

function newBlock(doc: LoadedDocument, headingPath: string[], counter: TokenCounter, limits: Limits): Block {
  const prefix = documentPrefix(doc, headingPath);
  const room = limits.cap - counter.count(prefix);
  if (room < limits.cap / 2) {
    throw new DocumentError(
      doc.source,
      `chunk maxTokens ${limits.cap} is too small: the context prefix "${prefix}" alone takes ${limits.cap - room} tokens; raise the chunk maxTokens`,
      { cap: limits.cap, prefix },
    );
  }
  return { headingPath: [...headingPath], units: [], room, target: Math.min(limits.target, room), cumulative: [0] };
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((h, i) => h === b[i]);
}
