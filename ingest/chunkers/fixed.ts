import type { Block } from './blocks.ts';
import type { BlockPlan, Strategy } from './chunker.ts';
import { packGreedy, segmentsOf, type Run } from './plan.ts';

/**
 * Baseline: each text section is cut into windows of targetTokens by words, ignoring sentences
 * (windows are made as units, see units.ts), so every flowing unit is a chunk of its own.
 * Windows never cross a section boundary; crumbs are still merged within a heading path.
 */
export const fixedStrategy: Strategy = {
  name: 'fixed',
  textUnits: 'windows',
  async plan(blocks: Block[]): Promise<BlockPlan[]> {
    return blocks.map((block) => ({
      runs: segmentsOf(block).flatMap((segment): Run[] =>
        segment.flows
          ? Array.from({ length: segment.to - segment.from }, (_, k) => ({ from: segment.from + k, to: segment.from + k + 1 }))
          : packGreedy(block, segment),
      ),
    }));
  },
};
