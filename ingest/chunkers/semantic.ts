/**
 * Semantic chunking: cut where the meaning shifts most.
 *
 * 1. Units are sentences (a sentence over the cap is cut at line breaks, then words); a table or
 *    code block that fits is one unit. Blocks (one heading path each) are handled separately.
 * 2. A stretch of units that fits the target is one chunk, and nothing of it is embedded.
 * 3. Otherwise every boundary k (between units k-1 and k) gets a distance: 1 − cosine between the
 *    mean embedding of the two units before it and that of the two after it. Each unit is embedded
 *    once, alone (kind 'passage'), so finding boundaries costs about the text's own tokens, half
 *    of what embedding overlapping windows cost. All units of the document go to the embedder in
 *    ONE call, where short sentences batch well.
 * 4. The cuts are chosen by dynamic programming (cutAtShifts): each cut is worth its distance minus
 *    the stretch's 90th-percentile distance, pieces must fit the target, crumbs are penalised. So
 *    every strong shift the sizes allow is cut, and cuts the target forces go to the strongest of
 *    the remaining boundaries, while pieces stay close to the target instead of being halved.
 * 5. Crumbs under minTokens that remain join the neighbour they are closer to in meaning (plan.ts),
 *    when the result fits under the cap.
 * Oversized tables and code are not embedded: their rows/lines are packed in order.
 */
import { RaglineError } from '../../core/errors.ts';
import { cosine } from '../../core/vectors.ts';
import type { LoadedDocument } from '../types.ts';
import type { Embedder } from '../../models/types.ts';
import { runTokens, type Block } from './blocks.ts';
import type { BlockPlan, Strategy } from './chunker.ts';
import { packGreedy, segmentsOf, type Run, type Segment } from './plan.ts';

const WINDOW_UNITS = 2;

export function semanticStrategy(embedder: Embedder, minTokens: number): Strategy {
  return {
    name: 'semantic',
    textUnits: 'sentences',
    plan: (blocks, doc, signal) => planSemantic(blocks, doc, embedder, minTokens, signal),
  };
}

/** Boundaries whose distance is wanted, and the distinct units (sentences) they need embedded. */
class UnitRequests {
  readonly texts: string[] = [];
  private readonly indexByKey = new Map<string, number>();
  /** [block, boundary, unit indexes of the left window, unit indexes of the right window] */
  readonly boundaries: Array<[number, number, number[], number[]]> = [];

  constructor(private readonly doc: LoadedDocument) {}

  addSegment(blocks: Block[], blockIndex: number, segment: Run): void {
    const block = blocks[blockIndex]!;
    for (let k = segment.from + 1; k < segment.to; k++) {
      const left = this.units(block, blockIndex, Math.max(segment.from, k - WINDOW_UNITS), k);
      const right = this.units(block, blockIndex, k, Math.min(segment.to, k + WINDOW_UNITS));
      this.boundaries.push([blockIndex, k, left, right]);
    }
  }

  private units(block: Block, blockIndex: number, from: number, to: number): number[] {
    const indexes: number[] = [];
    for (let u = from; u < to; u++) {
      const key = `${blockIndex}:${u}`;
      let index = this.indexByKey.get(key);
      if (index === undefined) {
        index = this.texts.length;
        this.texts.push(this.doc.text.slice(block.units[u]!.start, block.units[u]!.end));
        this.indexByKey.set(key, index);
      }
      indexes.push(index);
    }
    return indexes;
  }
}

async function planSemantic(
  blocks: Block[],
  doc: LoadedDocument,
  embedder: Embedder,
  minTokens: number,
  signal: AbortSignal | undefined,
): Promise<BlockPlan[]> {
  const requests = new UnitRequests(doc);
  const segments = blocks.map(segmentsOf);
  segments.forEach((list, b) => {
    for (const segment of list) if (needsEmbedding(blocks[b]!, segment)) requests.addSegment(blocks, b, segment);
  });

  const distances = blocks.map(() => new Map<number, number>());
  if (requests.texts.length > 0) {
    const vectors = await embedder.embed(requests.texts, 'passage', { signal });
    if (vectors.length !== requests.texts.length) {
      throw new RaglineError('internal', `Embedder returned ${vectors.length} vectors for ${requests.texts.length} texts.`);
    }
    for (const [b, k, left, right] of requests.boundaries) {
      distances[b]!.set(k, 1 - cosine(meanOf(vectors, left), meanOf(vectors, right)));
    }
  }

  return blocks.map((block, b) => {
    const distance = distances[b]!;
    const runs = segments[b]!.flatMap((segment) =>
      segment.flows ? cutAtShifts(block, segment, distance, minTokens) : packGreedy(block, segment),
    );
    return { runs, distance: (i: number) => distance.get(i) };
  });
}

/** A flowing stretch longer than the target: where the cuts go is a question of meaning. */
export function needsEmbedding(block: Block, segment: Segment): boolean {
  return segment.flows && segment.to - segment.from > 1 && runTokens(block, segment.from, segment.to) > block.target;
}

/** Share of boundaries in a segment whose shift is strong enough to be worth a cut of its own. */
const SHIFT_PERCENTILE = 0.9;
/** Distances are 1 − cosine of unit vectors, at most 2: a crumb costs as much as an extreme shift is worth. */
const CRUMB_PENALTY = 1;
/** Every cut also costs a little, so that among equally good cuttings the one with fewer pieces wins. */
const CUT_COST = 1e-3;

/**
 * Chooses the cuts of a segment by dynamic programming: every cut scores its distance minus the
 * segment's SHIFT_PERCENTILE distance, a piece under minTokens scores −CRUMB_PENALTY, and no piece may
 * exceed the target (a single oversized unit excepted). The best total cuts at every strong shift the
 * sizes allow, and where the target forces extra cuts, puts them at the strongest remaining shifts.
 */
export function cutAtShifts(block: Block, segment: Run, distance: Map<number, number>, minTokens: number): Run[] {
  const { from, to } = segment;
  const shifts: number[] = [];
  for (let k = from + 1; k < to; k++) shifts.push(distance.get(k) ?? 0);
  const threshold = [...shifts].sort((a, b) => a - b)[Math.floor(SHIFT_PERCENTILE * (shifts.length - 1))] ?? 0;

  // best[j]: best score of cutting units [from, from + j); start[j]: where its last piece starts.
  const n = to - from;
  const best = new Float64Array(n + 1).fill(-Infinity);
  const start = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    for (let i = j - 1; i >= 0; i--) {
      const size = runTokens(block, from + i, from + j);
      if (size > block.target && i < j - 1) break;
      const score = best[i]! + (i > 0 ? shifts[i - 1]! - threshold - CUT_COST : 0) + (size < minTokens ? -CRUMB_PENALTY : 0);
      if (score > best[j]!) {
        best[j] = score;
        start[j] = i;
      }
    }
  }
  const runs: Run[] = [];
  for (let j = n; j > 0; j = start[j]!) runs.push({ from: from + start[j]!, to: from + j });
  return runs.reverse();
}

function meanOf(vectors: Float32Array[], indexes: number[]): Float32Array {
  const mean = new Float32Array(vectors[indexes[0]!]!.length);
  for (const i of indexes) {
    const v = vectors[i]!;
    for (let d = 0; d < mean.length; d++) mean[d] = mean[d]! + v[d]!;
  }
  return mean;
}
