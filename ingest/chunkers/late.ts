/**
 * Late chunking: semantic cuts and chunk vectors from ONE model pass.
 *
 * A block that already fits the target is one chunk and is embedded by the pipeline as usual. A
 * longer flowing stretch is read by the model in windows (windows.ts): the context prefix, then as
 * many whole units as the room allows; the next window reaches back over a few units. From each
 * window come the contextual vector of every token, and from those:
 *
 * - Meaning shifts. At each unit boundary, the mean of the (unit-length) token vectors of the units
 *   just before it against those just after it, both read in the same window, the one where the
 *   boundary is most central. Every token of a window has seen the whole window, which pulls all
 *   its tokens towards a common "window topic"; subtracting the window's mean token vector first
 *   removes that shared part, so what is compared is what differs locally. The cuts are then chosen
 *   exactly as by the two-pass chunker (cutAtShifts: relative to the segment's own distances).
 * - Chunk vectors. The mean of the chunk's token vectors plus the window's frame ([CLS], the
 *   context prefix, [SEP]), unit length: for a chunk that is a whole window this is the vector of
 *   embedding its contextualText() alone. Units come from the window that holds most of the chunk,
 *   the rest from the window where each is most central, so a chunk across a window edge is pooled
 *   over both windows, weighted by tokens.
 *
 * An embedder without token vectors (a remote API) gets the two-pass semantic strategy instead.
 */
import { RaglineError } from '../../core/errors.ts';
import { cosine } from '../../core/vectors.ts';
import type { LoadedDocument } from '../types.ts';
import type { Embedder, TokenStates } from '../../models/types.ts';
import type { Block } from './blocks.ts';
import type { BlockPlan, Strategy } from './chunker.ts';
import { documentPrefix } from './context.ts';
import { packGreedy, segmentsOf, type Run, type Segment } from './plan.ts';
import { cutAtShifts, needsEmbedding, semanticStrategy } from './semantic.ts';
import { windowsOver, WindowStates, type Window } from './windows.ts';

/** How far a window reaches back into the previous one. */
const OVERLAP_TOKENS = 32;
/** Units on each side of a boundary whose tokens are compared. */
const SIDE_UNITS = 3;

export function lateStrategy(embedder: Embedder, minTokens: number, frameWeight = 1): Strategy {
  if (!embedder.embedTokens) return { ...semanticStrategy(embedder, minTokens), name: 'late' };
  return {
    name: 'late',
    textUnits: 'sentences',
    plan: (blocks, doc, signal) => planLate(blocks, doc, embedder, minTokens, frameWeight, signal),
  };
}

async function planLate(
  blocks: Block[],
  doc: LoadedDocument,
  embedder: Embedder,
  minTokens: number,
  frameWeight: number,
  signal: AbortSignal | undefined,
): Promise<BlockPlan[]> {
  const segments = blocks.map(segmentsOf);
  const windows: Array<{ window: Window; segment: Segment }> = [];
  segments.forEach((list, b) => {
    for (const segment of list) {
      if (!needsEmbedding(blocks[b]!, segment)) continue;
      for (const window of windowsOver(blocks[b]!, b, segment, OVERLAP_TOKENS)) windows.push({ window, segment });
    }
  });

  const read = new Map<Segment, WindowStates[]>();
  if (windows.length) {
    const inputs = windows.map(({ window }) => {
      const block = blocks[window.block]!;
      const prefix = documentPrefix(doc, block.headingPath);
      const units = block.units.slice(window.from, window.to).map((u) => doc.text.slice(u.start, u.end));
      return prefix ? [prefix, ...units] : units;
    });
    // One call for the whole document, as the two-pass chunker does: windows batch with other documents'.
    const states = await embedder.embedTokens!(inputs, 'passage', { signal });
    if (states.length !== inputs.length) {
      throw new RaglineError('internal', `Embedder returned token vectors for ${states.length} of ${inputs.length} windows.`);
    }
    windows.forEach(({ window, segment }, i) => {
      const list = read.get(segment) ?? [];
      list.push(new WindowStates(window, states[i]!, inputs[i]!.length - (window.to - window.from)));
      read.set(segment, list);
    });
  }

  return blocks.map((block, b) => {
    const distance = new Map<number, number>();
    const runs = segments[b]!.flatMap((segment) => {
      const states = read.get(segment);
      if (!segment.flows) return packGreedy(block, segment);
      if (!states) return cutAtShifts(block, segment, distance, minTokens);
      const shifts = new Shifts(block, segment, states);
      for (let k = segment.from + 1; k < segment.to; k++) distance.set(k, shifts.at(k));
      return cutAtShifts(block, segment, distance, minTokens);
    });
    return {
      runs,
      distance: (i: number) => distance.get(i),
      vectorOf: (run: Run) => pooledVector(block, run, segments[b]!, read, frameWeight),
    };
  });
}

/** Meaning shifts at the boundaries of one segment, from its windows' token vectors. */
class Shifts {
  /** Per window: the mean of its units' unit-length token vectors. */
  private readonly centres: Float32Array[];

  constructor(
    private readonly block: Block,
    private readonly segment: Segment,
    private readonly windows: WindowStates[],
  ) {
    this.centres = windows.map((w) => {
      const start = w.rows(w.window.from).start;
      const end = w.rows(w.window.to - 1).end;
      return scaled(sumRows(w.states, start, end, true), 1 / (end - start));
    });
  }

  /** 1 − cosine of the centred token means of the units before boundary k and those after it. */
  at(k: number): number {
    const both = this.windows
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.has(k - 1) && w.has(k))
      .sort((a, b) => this.centrality(b.w, k) - this.centrality(a.w, k))[0];
    const leftWindow = both ?? this.mostCentral(k - 1);
    const rightWindow = both ?? this.mostCentral(k);
    const left = this.centredMean(leftWindow.i, Math.max(k - SIDE_UNITS, leftWindow.w.window.from, this.segment.from), k);
    const right = this.centredMean(rightWindow.i, k, Math.min(k + SIDE_UNITS, rightWindow.w.window.to, this.segment.to));
    // A side with no tokens (units the tokenizer reads as nothing) tells nothing about a shift.
    return left && right ? 1 - cosine(left, right) : 0;
  }

  private centrality(w: WindowStates, k: number): number {
    return Math.min(w.margin(k - 1, this.block, this.segment), w.margin(k, this.block, this.segment));
  }

  private mostCentral(unit: number): { w: WindowStates; i: number } {
    return this.windows
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.has(unit))
      .sort((a, b) => b.w.margin(unit, this.block, this.segment) - a.w.margin(unit, this.block, this.segment))[0]!;
  }

  private centredMean(windowIndex: number, from: number, to: number): Float32Array | undefined {
    const w = this.windows[windowIndex]!;
    const start = w.rows(from).start;
    const end = w.rows(to - 1).end;
    if (end <= start) return undefined;
    const mean = scaled(sumRows(w.states, start, end, true), 1 / (end - start));
    const centre = this.centres[windowIndex]!;
    for (let d = 0; d < mean.length; d++) mean[d] = mean[d]! - centre[d]!;
    return mean;
  }
}

/**
 * The chunk's vector from the windows' token vectors, or undefined when some unit of the run was
 * not read (a run that crumb merging grew into a stretch that was not embedded).
 */
export function pooledVector(
  block: Block,
  run: Run,
  segments: Segment[],
  read: Map<Segment, WindowStates[]>,
  frameWeight = 1,
): Float32Array | undefined {
  const segment = segments.find((s) => s.from <= run.from && run.to <= s.to);
  const windows = segment && read.get(segment);
  if (!segment || !windows) return undefined;
  const overlap = (w: WindowStates) =>
    Math.max(0, block.cumulative[Math.min(run.to, w.window.to)]! - block.cumulative[Math.max(run.from, w.window.from)]!);
  const main = windows.reduce((best, w) => (overlap(w) > overlap(best) ? w : best));
  const dims = main.states.dimensions;
  const sum = new Float64Array(dims);
  const add = (states: TokenStates, row: number, weight = 1) => {
    for (let d = 0; d < dims; d++) sum[d] = sum[d]! + weight * states.vectors[row * dims + d]!;
  };
  for (const row of main.frameRows()) add(main.states, row, frameWeight);
  for (let u = run.from; u < run.to; u++) {
    const from = main.has(u)
      ? main
      : windows.filter((w) => w.has(u)).sort((a, b) => b.margin(u, block, segment) - a.margin(u, block, segment))[0]!;
    const rows = from.rows(u);
    for (let r = rows.start; r < rows.end; r++) add(from.states, r);
  }
  let norm = 0;
  for (let d = 0; d < dims; d++) norm += sum[d]! * sum[d]!;
  norm = Math.sqrt(norm);
  return Float32Array.from(sum, (x) => x / norm);
}

/** Sum of token rows [start, end), each first scaled to unit length when `unit` is set. */
function sumRows(states: TokenStates, start: number, end: number, unit: boolean): Float32Array {
  const dims = states.dimensions;
  const out = new Float32Array(dims);
  for (let r = start; r < end; r++) {
    const v = states.vectors.subarray(r * dims, (r + 1) * dims);
    let n = 1;
    if (unit) {
      n = 0;
      for (let d = 0; d < dims; d++) n += v[d]! * v[d]!;
      n = Math.sqrt(n) || 1;
    }
    for (let d = 0; d < dims; d++) out[d] = out[d]! + v[d]! / n;
  }
  return out;
}

function scaled(v: Float32Array, by: number): Float32Array {
  for (let d = 0; d < v.length; d++) v[d] = v[d]! * by;
  return v;
}
