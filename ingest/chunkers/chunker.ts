import type { Chunker, ChunkDraft, ChunkedDocument, ChunkOptions, ChunkStrategy, LoadedDocument } from '../types.ts';
import type { Embedder } from '../../models/types.ts';
import { buildBlocks, checkDocument, type Block } from './blocks.ts';
import { draftsOf } from './drafts.ts';
import type { Limits } from './limits.ts';
import { mergeCrumbs, type Run } from './plan.ts';
import type { UnitSizing } from './units.ts';

/** Where a strategy cuts one block, plus (semantic only) the meaning shift at each unit boundary. */
export interface BlockPlan {
  runs: Run[];
  distance?: (unitIndex: number) => number | undefined;
  /** Late chunking: the vector of a chunk made of these units, pooled from the strategy's own model pass. */
  vectorOf?: (run: Run) => Float32Array | undefined;
}

/** What differs between the fixed, sentence and semantic chunkers. */
export interface Strategy {
  readonly name: ChunkStrategy;
  readonly textUnits: UnitSizing['textUnits'];
  /** All blocks of a document at once, so the semantic strategy can embed them in one call. */
  plan(blocks: Block[], doc: LoadedDocument, signal?: AbortSignal): Promise<BlockPlan[]>;
}

/**
 * The steps every chunker shares: check the document, group sections into blocks of units, let the
 * strategy cut each block, merge crumbs, and turn the runs of units into numbered drafts.
 */
export class StrategyChunker implements Chunker {
  constructor(
    private readonly plan: Strategy,
    private readonly embedder: Embedder,
    private readonly limits: Limits,
  ) {}

  get strategy(): ChunkStrategy {
    return this.plan.name;
  }

  async chunk(doc: LoadedDocument): Promise<ChunkDraft[]> {
    return (await this.chunkWithVectors(doc)).drafts;
  }

  async chunkWithVectors(doc: LoadedDocument, options: ChunkOptions = {}): Promise<ChunkedDocument> {
    checkDocument(doc);
    const counter = this.embedder.tokenizer;
    const blocks = buildBlocks(doc, counter, this.limits, this.plan.textUnits);
    const plans = await this.plan.plan(blocks, doc, options.signal);
    const drafts: ChunkDraft[] = [];
    const vectors: Array<Float32Array | undefined> = [];
    blocks.forEach((block, i) => {
      const plan = plans[i]!;
      for (const run of mergeCrumbs(block, plan.runs, this.limits.minTokens, plan.distance)) {
        const made = draftsOf(doc, block, run, counter);
        // A pooled vector stands for the run's own text only: not for a piece of it, nor for a header copy.
        const whole = made.length === 1 && made[0]!.text === doc.text.slice(made[0]!.charStart, made[0]!.charEnd);
        for (const draft of made) {
          drafts.push(draft);
          vectors.push(whole ? plan.vectorOf?.(run) : undefined);
        }
      }
    });
    return { drafts: drafts.map((draft, ordinal) => ({ ...draft, ordinal })), vectors };
  }
}
