import type { TokenStates } from '../../models/types.ts';
import type { Block } from './blocks.ts';
import type { Run } from './plan.ts';

/**
 * The model windows of late chunking: consecutive units of one block, read in one pass behind the
 * block's context prefix, so a window is exactly what contextualText() would be for a chunk of the
 * same units, and never longer than the cap.
 */
export interface Window extends Run {
  block: number;
}

/**
 * Windows over a flowing segment: each starting on a unit start, the next one reaching back over at
 * most `overlapTokens` of the previous one, so units near an edge are also read with context on both
 * sides. As few windows as the room allows, but balanced: a short last window would give its
 * boundaries little context (and a window mean made of the very units compared).
 */
export function windowsOver(block: Block, blockIndex: number, segment: Run, overlapTokens: number): Window[] {
  const fewest = tile(block, blockIndex, segment, block.room, overlapTokens);
  const total = block.cumulative[segment.to]! - block.cumulative[segment.from]!;
  for (let limit = Math.ceil(total / fewest.length); limit < block.room; limit += 8) {
    const balanced = tile(block, blockIndex, segment, limit, overlapTokens);
    if (balanced.length === fewest.length) return balanced;
  }
  return fewest;
}

function tile(block: Block, blockIndex: number, segment: Run, limit: number, overlapTokens: number): Window[] {
  const tokensOf = (from: number, to: number) => block.cumulative[to]! - block.cumulative[from]!;
  const windows: Window[] = [];
  let start = segment.from;
  for (;;) {
    let end = start + 1; // a flowing unit alone always fits: units are cut to the room
    while (end < segment.to && tokensOf(start, end + 1) <= limit) end++;
    windows.push({ block: blockIndex, from: start, to: end });
    if (end >= segment.to) return windows;
    let next = end;
    while (next - 1 > start && tokensOf(next - 1, end) <= overlapTokens) next--;
    start = next;
  }
}

/** One window's token vectors and where each of its units sits among them. */
export class WindowStates {
  constructor(
    readonly window: Window,
    readonly states: TokenStates,
    /** Index of the window's first unit among states.pieces (1 when the prefix is a piece of its own). */
    private readonly firstUnitPiece: number,
  ) {}

  has(unit: number): boolean {
    return unit >= this.window.from && unit < this.window.to;
  }

  /** Token rows [start, end) of a unit of this window. */
  rows(unit: number): { start: number; end: number } {
    return this.states.pieces[this.firstUnitPiece + unit - this.window.from]!;
  }

  /** Rows that are not the window's units: [CLS], the model's kind prefix, the context prefix, [SEP]. */
  frameRows(): number[] {
    const first = this.rows(this.window.from).start;
    const rows = Array.from({ length: first }, (_, r) => r);
    rows.push(this.states.tokens - 1);
    return rows;
  }

  /** Tokens between the unit and the nearer window edge that has more text beyond it (a block edge has none). */
  margin(unit: number, block: Block, segment: Run): number {
    const before = this.window.from > segment.from ? block.cumulative[unit]! - block.cumulative[this.window.from]! : Infinity;
    const after = this.window.to < segment.to ? block.cumulative[this.window.to]! - block.cumulative[unit + 1]! : Infinity;
    return Math.min(before, after);
  }
}
