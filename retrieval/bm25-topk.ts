/**
 * Exact top-k BM25 over every query term, fast for long queries (issue 17).
 *
 * Each term's postings are kept as two parallel typed arrays sorted by minisearch's short id, with
 * the term's whole BM25 contribution to each chunk precomputed (all fields, boosts, BM25+ delta),
 * and the largest contribution as the term's upper bound. The scorer (MaxScore, term at a time)
 * walks terms from the highest bound down; once the bounds of the terms still to come add up to
 * less than a score that k accepted chunks are known to reach, no chunk those terms alone match
 * can enter the top k, so the remaining (frequent, long) posting lists are only probed for the
 * chunks already collected, by galloping search, and chunks that can no longer reach the
 * threshold are dropped as the bound shrinks. Ranking is the same as scoring every term for every
 * chunk (test/bm25-exact.test.ts).
 */

/** One term's postings over live chunks. */
export interface TermPostings {
  /** Short ids, ascending. */
  readonly ids: Int32Array;
  /** The term's BM25 contribution to each of those chunks. */
  readonly scores: Float64Array;
  /** The largest of `scores`: no chunk gains more from this term. */
  readonly max: number;
  /** The smallest of `scores` (≤ 0 only for a negative idf, where more df than chunks is counted). */
  readonly min: number;
}

/** One field's postings of a term, with what scoring them needs. */
export interface FieldPostings {
  /** Short id → term frequency, as minisearch keeps them. */
  postings: Map<number, number>;
  /** Field boost × the term's idf in the field. */
  weight: number;
  avgLength: number;
  /** Field length in terms by short id. */
  lengths: number[];
}

export interface Bm25Constants {
  k1: number;
  b: number;
  delta: number;
}

const EMPTY: TermPostings = { ids: new Int32Array(0), scores: new Float64Array(0), max: 0, min: 0 };

function fieldArrays(field: FieldPostings, alive: Uint8Array, { k1, b, delta }: Bm25Constants) {
  const ids = new Int32Array(field.postings.size);
  const scores = new Float64Array(field.postings.size);
  let n = 0;
  let sorted = true;
  for (const [shortId, tf] of field.postings) {
    if (alive[shortId] !== 1) continue;
    if (n > 0 && shortId < ids[n - 1]!) sorted = false;
    const norm = k1 * (1 - b + (b * field.lengths[shortId]!) / field.avgLength);
    ids[n] = shortId;
    scores[n] = field.weight * (delta + (tf * (k1 + 1)) / (tf + norm));
    n++;
  }
  if (sorted) return { ids: ids.subarray(0, n), scores: scores.subarray(0, n) };
  // minisearch appends new chunks with growing short ids, so this only guards against a change there.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => ids[x]! - ids[y]!);
  return { ids: Int32Array.from(order, (i) => ids[i]!), scores: Float64Array.from(order, (i) => scores[i]!) };
}

/** A term's postings over all its fields, merged by short id (fields summed in the order given). */
export function compactPostings(fields: FieldPostings[], alive: Uint8Array, constants: Bm25Constants): TermPostings {
  let merged: { ids: Int32Array; scores: Float64Array } | undefined;
  for (const field of fields) {
    const next = fieldArrays(field, alive, constants);
    merged = merged ? mergeSum(merged, next) : next;
  }
  if (!merged || merged.ids.length === 0) return EMPTY;
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  for (const s of merged.scores) {
    if (s > max) max = s;
    if (s < min) min = s;
  }
  // Own copies, so a cached entry does not pin the larger buffers it was cut from.
  return { ids: merged.ids.slice(), scores: merged.scores.slice(), max, min };
}

function mergeSum(x: { ids: Int32Array; scores: Float64Array }, y: { ids: Int32Array; scores: Float64Array }) {
  const ids = new Int32Array(x.ids.length + y.ids.length);
  const scores = new Float64Array(ids.length);
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < x.ids.length || j < y.ids.length) {
    const a = i < x.ids.length ? x.ids[i]! : Number.MAX_SAFE_INTEGER;
    const c = j < y.ids.length ? y.ids[j]! : Number.MAX_SAFE_INTEGER;
    if (a === c) {
      ids[n] = a;
      scores[n++] = x.scores[i++]! + y.scores[j++]!;
    } else if (a < c) {
      ids[n] = a;
      scores[n++] = x.scores[i++]!;
    } else {
      ids[n] = c;
      scores[n++] = y.scores[j++]!;
    }
  }
  return { ids: ids.subarray(0, n), scores: scores.subarray(0, n) };
}

/**
 * A long list cut in two by score: its top-scoring postings, and the rest, whose bound (the cut)
 * is much tighter than the list's maximum, set by its few shortest, most repetitive chunks. Every
 * chunk stays in exactly one part, so sums are unchanged; the scorer walks the high parts early
 * (high bounds) and can leave the low parts of frequent terms to probing sooner.
 */
export function impactParts(list: TermPostings, highShare = 0.1, minLength = 256): TermPostings[] {
  if (list.ids.length < minLength) return [list];
  const sorted = list.scores.slice().sort();
  const cut = sorted[Math.floor(sorted.length * (1 - highShare))]!;
  const high = { ids: [] as number[], scores: [] as number[] };
  const low = { ids: [] as number[], scores: [] as number[] };
  list.ids.forEach((id, i) => {
    const part = list.scores[i]! > cut ? high : low;
    part.ids.push(id);
    part.scores.push(list.scores[i]!);
  });
  if (!high.ids.length || !low.ids.length) return [list];
  return [high, low].map((part) => {
    let max = Number.NEGATIVE_INFINITY;
    let min = Number.POSITIVE_INFINITY;
    for (const s of part.scores) {
      max = Math.max(max, s);
      min = Math.min(min, s);
    }
    return { ids: Int32Array.from(part.ids), scores: Float64Array.from(part.scores), max, min };
  });
}

/** Bytes held per cached posting: a 4-byte short id and an 8-byte score. */
export const BYTES_PER_CACHED_POSTING = 12;

/**
 * Compact postings by term, valid for one state of the index and one set of scoring constants:
 * any add or removal changes every term's idf and the average lengths, and minisearch's vacuum
 * (which removes discarded chunks' postings later, on its own schedule) changes document
 * frequencies, so the caller's key names all of those and a new key drops every entry. Least
 * recently used terms go first beyond `maxPostings`.
 */
export class PostingCache {
  private readonly entries = new Map<string, { postings: TermPostings[]; used: number }>();
  private key = '';
  private held = 0;
  private clock = 0;

  constructor(private readonly maxPostings = 1 << 23) {}

  get bytes(): number {
    return this.held * BYTES_PER_CACHED_POSTING;
  }

  /** A term's postings under `key`, built on a miss; with no key (the index is mid-vacuum) nothing is kept. */
  get(key: string | undefined, term: string, build: () => TermPostings[] | undefined): TermPostings[] | undefined {
    if (key === undefined) return build();
    if (key !== this.key) this.clear(key);
    const hit = this.entries.get(term);
    if (hit) {
      hit.used = ++this.clock;
      return hit.postings;
    }
    const postings = build();
    if (!postings) return undefined;
    this.entries.set(term, { postings, used: ++this.clock });
    this.held += length(postings);
    if (this.held > this.maxPostings) this.evict();
    return postings;
  }

  /** Down to three quarters of the budget, so eviction's sort is paid rarely. */
  private evict(): void {
    const byAge = [...this.entries].sort((x, y) => x[1].used - y[1].used);
    for (const [term, entry] of byAge) {
      if (this.held <= (this.maxPostings * 3) / 4) break;
      this.entries.delete(term);
      this.held -= length(entry.postings);
    }
  }

  private clear(key: string): void {
    this.entries.clear();
    this.held = 0;
    this.key = key;
  }
}

const length = (parts: TermPostings[]) => parts.reduce((sum, p) => sum + p.ids.length, 0);

const TOUCHED = 1;
const CHECKED = 2;
const ACCEPTED = 4;
const CANDIDATE = 8;

/**
 * Per-query scratch space indexed by short id, reused across queries and left zeroed after each.
 * `range` is one past the largest short id in use.
 */
export class TopKWorkspace {
  scores = new Float64Array(0);
  state = new Uint8Array(0);
  touched = new Int32Array(0);
  range = 0;

  ensure(range: number): void {
    this.range = range;
    if (this.scores.length >= range) return;
    const capacity = Math.max(1024, range * 2);
    this.scores = new Float64Array(capacity);
    this.state = new Uint8Array(capacity);
    this.touched = new Int32Array(capacity);
  }
}

/** Chunks that may be in the top k, all accepted, with their final scores (unsorted). */
export interface Contenders {
  shortIds: number[];
  scores: number[];
  /** Postings scored in full passes over their lists (the rest were skipped or probed). */
  walked: number;
}

/** Room for the rounding of sums taken in different orders; pruning keeps anything this close. */
const slack = (threshold: number) => Math.abs(threshold) * 1e-9 + 1e-12;

/** The k largest values pushed, in a binary min-heap (the smallest kept at the root). */
class ScoreHeap {
  readonly values: Float64Array;
  readonly ids: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.values = new Float64Array(k);
    this.ids = new Int32Array(k);
  }

  get full(): boolean {
    return this.size === this.k;
  }

  get min(): number {
    return this.values[0]!;
  }

  push(value: number, id: number): void {
    const { values, ids } = this;
    let i: number;
    if (this.size < this.k) {
      i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (values[parent]! <= value) break;
        values[i] = values[parent]!;
        ids[i] = ids[parent]!;
        i = parent;
      }
    } else {
      if (value <= values[0]!) return;
      i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= this.size) break;
        const r = l + 1;
        const c = r < this.size && values[r]! < values[l]! ? r : l;
        if (values[c]! >= value) break;
        values[i] = values[c]!;
        ids[i] = ids[c]!;
        i = c;
      }
    }
    values[i] = value;
    ids[i] = id;
  }
}

/** First index ≥ `from` whose id is ≥ `target` (ids.length if none): galloping, then binary search. */
function seek(ids: Int32Array, from: number, target: number): number {
  const end = ids.length;
  if (from >= end || ids[from]! >= target) return from;
  let lo = from;
  let step = 1;
  while (lo + step < end && ids[lo + step]! < target) {
    lo += step;
    step *= 2;
  }
  let hi = Math.min(lo + step, end);
  // ids[lo] < target, and ids[hi] ≥ target or hi = end.
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ids[mid]! < target) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Adds a whole list, recording chunks seen for the first time in `touched`; returns their new count. */
function walkSparse(list: TermPostings, workspace: TopKWorkspace, touchedCount: number): number {
  const { ids, scores: add } = list;
  const { scores, state, touched } = workspace;
  let count = touchedCount;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (state[id] === 0) {
      state[id] = TOUCHED;
      touched[count++] = id;
    }
    scores[id]! += add[i]!;
  }
  return count;
}

/** Adds a whole list; with only positive scores, a chunk was touched iff its score is not 0. */
function walkDense(list: TermPostings, scores: Float64Array): void {
  const { ids, scores: add } = list;
  for (let i = 0; i < ids.length; i++) scores[ids[i]!]! += add[i]!;
}

/** Adds a list's contributions to the sorted candidates alone. */
function probe(list: TermPostings, candidates: Int32Array, count: number, scores: Float64Array): void {
  const { ids } = list;
  let p = 0;
  for (let c = 0; c < count; c++) {
    const id = candidates[c]!;
    p = seek(ids, p, id);
    if (p === ids.length) return;
    if (ids[p] === id) scores[id]! += list.scores[p]!;
  }
}

/** Adds a list's contributions to flagged candidates alone, by one pass over the list (many candidates). */
function sweep(list: TermPostings, state: Uint8Array, scores: Float64Array): void {
  const { ids, scores: add } = list;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (state[id]! & CANDIDATE) scores[id]! += add[i]!;
  }
}

/**
 * Where a query's touched chunks are: listed in `touched` (sparse), or every short id below
 * `workspace.range` with a non-zero score (dense, for queries whose lists cover much of the
 * collection: no bookkeeping per posting, one sequential scan instead).
 */
interface Touched {
  dense: boolean;
  count: number;
}

/** The touched chunks' short ids, ascending when dense (a scan), in first-touch order otherwise. */
function touchedIds(workspace: TopKWorkspace, touched: Touched): Int32Array {
  if (!touched.dense) return workspace.touched.subarray(0, touched.count);
  const { scores, touched: ids, range } = workspace;
  let count = 0;
  for (let id = 0; id < range; id++) if (scores[id] !== 0) ids[count++] = id;
  return ids.subarray(0, count);
}

/**
 * The chunks that can be in the top `k` when every list is scored, with their exact scores; ties
 * at the k-th score are all kept, so the caller can break them (by id) itself. `accept`, if given,
 * is asked once per chunk at most, and only for chunks that could still enter the top k.
 * Chunk ids must be below `workspace.range`.
 */
export function exactTopK(
  lists: readonly TermPostings[],
  k: number,
  workspace: TopKWorkspace,
  accept?: (shortId: number) => boolean,
): Contenders {
  const order = lists.filter((l) => l.ids.length > 0).sort((x, y) => y.max - x.max || x.ids.length - y.ids.length);
  if (k <= 0 || order.length === 0) return { shortIds: [], scores: [], walked: 0 };
  const m = order.length;
  // rest[j]: the most that lists j… can still add to any chunk (a list of negative scores, from a
  // negative idf, adds nothing to a chunk it does not hold).
  const rest = new Float64Array(m + 1);
  let total = 0;
  let positive = true;
  for (let j = m - 1; j >= 0; j--) {
    rest[j] = rest[j + 1]! + Math.max(0, order[j]!.max);
    total += order[j]!.ids.length;
    if (order[j]!.min <= 0) positive = false;
  }
  // Dense needs a non-zero score for every touched chunk, which positive contributions give.
  const touched: Touched = { dense: positive && total * 4 >= workspace.range, count: 0 };
  const { scores, state } = workspace;
  let stateUsed = !touched.dense;
  const accepted = (id: number): boolean => {
    if (!accept) return true;
    stateUsed = true;
    const s = state[id]!;
    if (s & CHECKED) return (s & ACCEPTED) !== 0;
    const ok = accept(id);
    state[id] = s | CHECKED | (ok ? ACCEPTED : 0);
    return ok;
  };

  try {
    // A score k accepted chunks reach for sure; -∞ until k of them have been fully scored.
    let threshold = Number.NEGATIVE_INFINITY;
    let walked = 0;
    // Raising the threshold costs about a pass over the chunks touched so far, so it is tried a
    // few times only: after a third of the postings, then each time half of what is left is done.
    let nextTry = total / 3;
    let j = 0;
    for (; j < m; j++) {
      if (rest[j]! < threshold - slack(threshold)) break;
      if (walked >= nextTry) {
        nextTry = walked + (total - walked) / 2;
        threshold = Math.max(threshold, fullScoreThreshold(order, j, k, workspace, touched, accepted));
        if (rest[j]! < threshold - slack(threshold)) break;
      }
      const list = order[j]!;
      walked += list.ids.length;
      if (touched.dense) walkDense(list, scores);
      else touched.count = walkSparse(list, workspace, touched.count);
    }
    if (j === m) return best(workspace, touched, k, accepted, walked);

    // Lists j… cannot bring in new chunks: only the collected ones that can still reach the
    // threshold are kept, and those lists add to them alone.
    stateUsed = true;
    const floor = threshold - slack(threshold);
    const reach = floor - rest[j]!;
    const seen = touchedIds(workspace, touched);
    let candidates = new Int32Array(seen.length);
    let count = 0;
    for (let i = 0; i < seen.length; i++) {
      const id = seen[i]!;
      if (scores[id]! >= reach && accepted(id)) {
        candidates[count++] = id;
        state[id]! |= CANDIDATE;
      }
    }
    candidates = candidates.subarray(0, count);
    if (!touched.dense) candidates.sort();
    for (; j < m && count > 0; j++) {
      const list = order[j]!;
      if (count * 4 < list.ids.length) probe(list, candidates, count, scores);
      else sweep(list, state, scores);
      // Dropping chunks that can no longer reach the threshold pays once they are few enough
      // to probe for; while they outnumber the next list's postings it would cost more than it saves.
      if (j + 1 === m || count > order[j + 1]!.ids.length) continue;
      const bound = rest[j + 1]!;
      let kept = 0;
      for (let c = 0; c < count; c++) {
        const id = candidates[c]!;
        if (scores[id]! + bound >= floor) candidates[kept++] = id;
        else state[id]! &= ~CANDIDATE;
      }
      count = kept;
    }
    return best(workspace, touched, k, accepted, walked, candidates.subarray(0, count));
  } finally {
    if (touched.dense) {
      scores.fill(0, 0, workspace.range);
      if (stateUsed) state.fill(0, 0, workspace.range);
    } else {
      const ids = workspace.touched;
      for (let i = 0; i < touched.count; i++) {
        scores[ids[i]!] = 0;
        state[ids[i]!] = 0;
      }
    }
  }
}

/** The best k accepted chunks among `ids` by their current score, in a heap (fewer if fewer are accepted). */
function bestSoFar(scores: Float64Array, ids: Int32Array, k: number, accepted: (id: number) => boolean) {
  const heap = new ScoreHeap(k);
  // Every chunk that entered the heap; the final top k (ties included) is among them.
  const entered: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const score = scores[id]!;
    if (heap.full && score < heap.min) continue;
    if (!accepted(id)) continue;
    heap.push(score, id);
    entered.push(id);
  }
  return { heap, entered };
}

/**
 * A lower bound on the final k-th best score: the k chunks with the best partial scores (after
 * lists 0…j-1), scored on the remaining lists too; their k-th best full score is reached by k
 * accepted chunks, so the final k-th best is at least that. -∞ if fewer than k are accepted.
 */
function fullScoreThreshold(
  order: readonly TermPostings[],
  j: number,
  k: number,
  workspace: TopKWorkspace,
  touched: Touched,
  accepted: (id: number) => boolean,
): number {
  const { heap } = bestSoFar(workspace.scores, touchedIds(workspace, touched), k, accepted);
  if (!heap.full) return Number.NEGATIVE_INFINITY;
  const ids = heap.ids.slice().sort();
  const full = Float64Array.from(ids, (id) => workspace.scores[id]!);
  for (let l = j; l < order.length; l++) {
    const list = order[l]!;
    let p = 0;
    for (let c = 0; c < ids.length; c++) {
      p = seek(list.ids, p, ids[c]!);
      if (p === list.ids.length) break;
      if (list.ids[p] === ids[c]) full[c]! += list.scores[p]!;
    }
  }
  let min = Number.POSITIVE_INFINITY;
  for (const s of full) if (s < min) min = s;
  return min;
}

/** Accepted chunks whose final score is at least the k-th best accepted score. */
function best(
  workspace: TopKWorkspace,
  touched: Touched,
  k: number,
  accepted: (id: number) => boolean,
  walked: number,
  ids = touchedIds(workspace, touched),
): Contenders {
  const { heap, entered } = bestSoFar(workspace.scores, ids, k, accepted);
  const out: Contenders = { shortIds: [], scores: [], walked };
  const kth = heap.full ? heap.min : Number.NEGATIVE_INFINITY;
  for (const id of entered) {
    const score = workspace.scores[id]!;
    // Everything at the k-th score is kept so the caller's tie-break by id decides among them.
    if (score >= kth) {
      out.shortIds.push(id);
      out.scores.push(score);
    }
  }
  return out;
}
