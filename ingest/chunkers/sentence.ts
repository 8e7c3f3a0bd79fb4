import type { Block } from './blocks.ts';
import type { BlockPlan, Strategy } from './chunker.ts';
import { packGreedy, segmentsOf } from './plan.ts';

/** Packs whole sentences, in order, up to targetTokens (never over the cap), within a heading path. */
export const sentenceStrategy: Strategy = {
  name: 'sentence',
  textUnits: 'sentences',
  async plan(blocks: Block[]): Promise<BlockPlan[]> {
    return blocks.map((block) => ({ runs: segmentsOf(block).flatMap((segment) => packGreedy(block, segment)) }));
  },
};
