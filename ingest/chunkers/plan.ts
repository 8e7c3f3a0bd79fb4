import type { Block } from './blocks.ts';
import { runTokens } from './blocks.ts';

/** Units [from, to) of a block that become one chunk. */
export interface Run {
  from: number;
  to: number;
}

/**
 * Stretches of a block that a strategy arranges independently: a run of flowing units
 * (sentences, windows, whole tables), or the rows/lines of one oversized table or code section.
 */
export interface Segment extends Run {
  flows: boolean;
}

export function segmentsOf(block: Block): Segment[] {
  const segments: Segment[] = [];
  block.units.forEach((unit, i) => {
    const last = segments[segments.length - 1];
    const sameStretch = last && last.flows === unit.flows && (unit.flows || block.units[i - 1]!.section === unit.section);
    if (sameStretch) last.to = i + 1;
    else segments.push({ from: i, to: i + 1, flows: unit.flows });
  });
  return segments;
}

/** Fills chunks in order up to the block's target; a unit that alone exceeds it is a chunk by itself. */
export function packGreedy(block: Block, segment: Run): Run[] {
  const runs: Run[] = [];
  let from = segment.from;
  for (let i = segment.from + 1; i < segment.to; i++) {
    if (runTokens(block, from, i + 1) > block.target) {
      runs.push({ from, to: i });
      from = i;
    }
  }
  runs.push({ from, to: segment.to });
  return runs;
}

/**
 * Removes chunks smaller than minTokens where the block allows it. A crumb merges into a neighbour
 * when the result fits the room; `distance(i)` (semantic chunker: the meaning shift between units
 * i-1 and i) makes it join the side it is closer to, otherwise the smaller result wins. When neither
 * merge fits, the crumb borrows units across its boundary from a neighbour that stays above minTokens.
 */
export function mergeCrumbs(block: Block, runs: Run[], minTokens: number, distance?: (i: number) => number | undefined): Run[] {
  const merged = runs.map((r) => ({ ...r }));
  const size = (r: Run) => runTokens(block, r.from, r.to);
  let i = 0;
  while (i < merged.length) {
    const crumb = merged[i]!;
    if (size(crumb) >= minTokens) {
      i++;
      continue;
    }
    const before = merged[i - 1];
    const after = merged[i + 1];
    const options: Array<{ side: 'before' | 'after'; tokens: number; shift: number }> = [];
    if (before && runTokens(block, before.from, crumb.to) <= block.room) {
      options.push({ side: 'before', tokens: runTokens(block, before.from, crumb.to), shift: distance?.(crumb.from) ?? 0 });
    }
    if (after && runTokens(block, crumb.from, after.to) <= block.room) {
      options.push({ side: 'after', tokens: runTokens(block, crumb.from, after.to), shift: distance?.(after.from) ?? 0 });
    }
    options.sort((a, b) => a.shift - b.shift || a.tokens - b.tokens);
    const choice = options[0];
    if (choice?.side === 'before') {
      before!.to = crumb.to;
      merged.splice(i, 1);
      i -= 1; // the grown neighbour is checked again
    } else if (choice?.side === 'after') {
      crumb.to = after!.to;
      merged.splice(i + 1, 1);
    } else {
      if (!(before && borrowFromBefore(block, before, crumb, minTokens))) {
        if (after) borrowFromAfter(block, crumb, after, minTokens);
      }
      i++;
    }
  }
  return merged;
}

/** Moves the boundary between `before` and `crumb` left until the crumb is big enough; false if it cannot. */
function borrowFromBefore(block: Block, before: Run, crumb: Run, minTokens: number): boolean {
  for (let cut = crumb.from - 1; cut > before.from; cut--) {
    if (runTokens(block, before.from, cut) < minTokens || runTokens(block, cut, crumb.to) > block.room) return false;
    if (runTokens(block, cut, crumb.to) >= minTokens) {
      before.to = cut;
      crumb.from = cut;
      return true;
    }
  }
  return false;
}

/** Moves the boundary between `crumb` and `after` right until the crumb is big enough; false if it cannot. */
function borrowFromAfter(block: Block, crumb: Run, after: Run, minTokens: number): boolean {
  for (let cut = after.from + 1; cut < after.to; cut++) {
    if (runTokens(block, cut, after.to) < minTokens || runTokens(block, crumb.from, cut) > block.room) return false;
    if (runTokens(block, crumb.from, cut) >= minTokens) {
      crumb.to = cut;
      after.from = cut;
      return true;
    }
  }
  return false;
}
