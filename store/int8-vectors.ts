import { createScanKernel, type ScanKernel } from './int8-kernel.ts';

/**
 * An in-process, int8-quantised copy of one collection's chunk vectors, for the filtered dense
 * search on PGlite (store/vector-copies.ts keeps it current; docs/scaleout.md, "Int8 copy").
 *
 * Each vector is normalised (cosine ranks like the dot product of unit vectors) and quantised
 * symmetrically on its own scale: code = round(v / scale), scale = max|v| / 127, so every code is
 * in [-127, 127] and no value is clipped. The query is quantised to int16 the same way. A row's
 * approximate similarity is then an exact integer dot product times the two scales, and the true
 * cosine differs from it by at most
 *
 *   rowScale / 2 · ‖q‖₁  (rounding of the row)  +  queryScale / 2 · 127 · rowScale · dims  (of the query),
 *
 * so the scan can keep every row whose upper bound reaches the k-th best lower bound: the exact
 * top k is always among the candidates it returns, and the caller re-ranks those exactly (in SQL).
 *
 * Rows are `stride` bytes (the dimensions rounded up to 16, zero-padded) in the memory of a
 * WebAssembly SIMD kernel (store/int8-kernel.ts) that computes the dot products; without one, in a
 * plain Int8Array scanned in JavaScript.
 */

/** A row's chunk, as the copy is given it. */
export interface CopiedChunk {
  id: string;
  pageStart: number | null;
  vector: ArrayLike<number>;
}

export interface Int8Candidates {
  /** Chunk ids whose exact similarity may be among the best `limit`, best approximate first. */
  ids: string[];
  /** Rows scored (the rows of the given documents that passed the page test). */
  scanned: number;
  /**
   * True when the candidates provably contain the exact top `limit` (the error bound above); false
   * when more rows were within the bound than `maxCandidates` allowed, and the best of them by the
   * approximate score were kept instead.
   */
  exact: boolean;
}

interface DocumentRows {
  version: number;
  rows: Int32Array;
}

const QUERY_LEVELS = 32767;
/** Slack for float32 arithmetic in pgvector's distance, beside the quantisation bound. */
const FLOAT_SLACK = 1e-5;

export class Int8VectorCopy {
  /** Bytes per row: the dimensions rounded up to a multiple of 16. */
  readonly stride: number;
  private readonly kernel: ScanKernel | undefined;
  private codes: Int8Array;
  private scales: Float32Array;
  /** Page of each row (NaN for none), for page clauses. */
  private pages: Float64Array;
  private ids: (string | undefined)[] = [];
  private capacity: number;
  /** Rows in use or freed, from the start of the arrays. */
  private used = 0;
  private readonly free: number[] = [];
  private readonly documents = new Map<string, DocumentRows>();

  // Scratch buffers of the scan, reused between queries (grown on demand).
  private scratchRows = new Int32Array(0);
  private scratchScores = new Float64Array(0);
  private query: Int16Array;

  constructor(
    readonly dimensions: number,
    initialRows = 16,
    options: { simd?: boolean } = {},
  ) {
    this.stride = Math.ceil(dimensions / 16) * 16;
    this.kernel = options.simd === false ? undefined : createScanKernel();
    this.capacity = Math.max(16, initialRows);
    this.codes = this.kernel ? this.kernelCodes(this.capacity) : new Int8Array(this.capacity * this.stride);
    this.scales = new Float32Array(this.capacity);
    this.pages = new Float64Array(this.capacity);
    this.query = new Int16Array(this.stride);
  }

  /** Whether the dot products run in WebAssembly SIMD. */
  get simd(): boolean {
    return this.kernel !== undefined;
  }

  /** The kernel memory grown to at least `bytes`; the codes view over its first `capacity` rows. */
  private ensureKernelMemory(bytes: number): void {
    const memory = this.kernel!.memory;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  }

  private kernelCodes(capacity: number): Int8Array {
    this.ensureKernelMemory(capacity * this.stride);
    return new Int8Array(this.kernel!.memory.buffer, 0, capacity * this.stride);
  }

  /** Chunks held (live rows). */
  get size(): number {
    return this.used - this.free.length;
  }

  get documentCount(): number {
    return this.documents.size;
  }

  /** The version of each document the copy holds. */
  documentVersion(documentId: string): number | undefined {
    return this.documents.get(documentId)?.version;
  }

  documentIds(): IterableIterator<string> {
    return this.documents.keys();
  }

  /**
   * Heap the copy holds: codes, scales and pages per row of capacity, the id strings (~90 B each
   * on V8, with the array slot) and the per-document row lists.
   */
  get estimatedBytes(): number {
    const codes = this.kernel ? this.kernel.memory.buffer.byteLength : this.capacity * this.stride;
    return codes + this.capacity * (4 + 8) + this.size * 90 + this.documents.size * 120 + this.used * 4;
  }

  /** Replaces a document's rows (an empty list still records its version). */
  putDocument(documentId: string, version: number, chunks: CopiedChunk[]): void {
    this.removeDocument(documentId);
    const rows = new Int32Array(chunks.length);
    chunks.forEach((chunk, i) => {
      const row = this.allocateRow();
      this.writeRow(row, chunk);
      rows[i] = row;
    });
    this.documents.set(documentId, { version, rows });
  }

  removeDocument(documentId: string): void {
    const held = this.documents.get(documentId);
    if (!held) return;
    this.documents.delete(documentId);
    for (const row of held.rows) {
      this.ids[row] = undefined;
      this.free.push(row);
    }
  }

  private allocateRow(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
    return this.used++;
  }

  private grow(capacity: number): void {
    let codes: Int8Array;
    if (this.kernel) {
      codes = this.kernelCodes(capacity); // memory.grow keeps the bytes
    } else {
      codes = new Int8Array(capacity * this.stride);
      codes.set(this.codes);
    }
    const scales = new Float32Array(capacity);
    scales.set(this.scales);
    const pages = new Float64Array(capacity);
    pages.set(this.pages);
    this.codes = codes;
    this.scales = scales;
    this.pages = pages;
    this.capacity = capacity;
  }

  /** Room for `rows` more rows without growing step by step (a bulk load knows its size). */
  reserve(rows: number): void {
    const needed = this.size + rows;
    if (needed > this.capacity) this.grow(needed);
  }

  private writeRow(row: number, chunk: CopiedChunk): void {
    const dims = this.dimensions;
    const v = chunk.vector;
    if (v.length !== dims) throw new Error(`vector of ${v.length} dimensions in a ${dims}-d copy`);
    let norm = 0;
    let max = 0;
    for (let d = 0; d < dims; d++) {
      const x = v[d]!;
      norm += x * x;
      const a = Math.abs(x);
      if (a > max) max = a;
    }
    norm = Math.sqrt(norm);
    const base = row * this.stride;
    // A zero vector: cosine is undefined (pgvector gives NaN); it scores 0 here with no error.
    const scale = norm > 0 ? max / norm / 127 : 0;
    const inverse = scale > 0 ? 1 / (scale * norm) : 0;
    for (let d = 0; d < dims; d++) this.codes[base + d] = Math.round(v[d]! * inverse);
    this.scales[row] = scale;
    this.pages[row] = chunk.pageStart ?? Number.NaN;
    this.ids[row] = chunk.id;
  }

  /**
   * The candidates for the best `limit` rows of `documentIds` by cosine similarity to `vector`,
   * rows passing `pageTest` only (when given). At least `minCandidates` are returned when that
   * many rows are scanned (a margin beyond what the bound needs), at most `maxCandidates`.
   */
  candidates(
    vector: ArrayLike<number>,
    documentIds: Iterable<string>,
    options: { limit: number; minCandidates?: number; maxCandidates?: number; pageTest?: (page: number | null) => boolean },
  ): Int8Candidates {
    const dims = this.dimensions;
    const limit = Math.max(1, options.limit);
    const maxCandidates = Math.max(limit, options.maxCandidates ?? limit * 8);
    const minCandidates = Math.min(maxCandidates, Math.max(limit, options.minCandidates ?? limit));

    // The query, normalised and quantised to int16; its L1 norm for the bound.
    let norm = 0;
    let max = 0;
    for (let d = 0; d < dims; d++) {
      const x = vector[d]!;
      norm += x * x;
      if (Math.abs(x) > max) max = Math.abs(x);
    }
    norm = Math.sqrt(norm);
    if (!(norm > 0)) return { ids: [], scanned: 0, exact: false };
    const queryScale = max / norm / QUERY_LEVELS;
    const q = this.query;
    let l1 = 0;
    for (let d = 0; d < dims; d++) {
      const u = vector[d]! / norm;
      q[d] = Math.round(u / queryScale);
      l1 += Math.abs(u);
    }
    const rowErrorPerScale = l1 / 2 + (queryScale / 2) * 127 * dims;
    const stride = this.stride;

    // Pass 1: the approximate score of every allowed row (integer dot product, then the scales).
    const held: Int32Array[] = [];
    let n = 0;
    for (const documentId of documentIds) {
      const rowsOf = this.documents.get(documentId)?.rows;
      if (rowsOf?.length) {
        held.push(rowsOf);
        n += rowsOf.length;
      }
    }
    if (this.scratchScores.length < n) this.scratchScores = new Float64Array(n);
    const scores = this.scratchScores;
    const scales = this.scales;
    const pages = this.pages;
    const pageTest = options.pageTest;
    // Kernel memory: codes, then the query, the row list and the dot products (16-byte aligned).
    const codesBytes = this.capacity * stride;
    const queryAt = codesBytes;
    const rowsAt = queryAt + stride * 2;
    const outAt = rowsAt + Math.ceil(n / 4) * 16;
    let rows: Int32Array;
    let dots: Int32Array | undefined;
    if (this.kernel) {
      this.ensureKernelMemory(outAt + n * 4 + 16);
      const buffer = this.kernel.memory.buffer;
      if (this.codes.buffer !== buffer) this.codes = new Int8Array(buffer, 0, codesBytes);
      new Int16Array(buffer, queryAt, stride).set(q);
      rows = new Int32Array(buffer, rowsAt, n);
      dots = new Int32Array(buffer, outAt, n);
    } else {
      if (this.scratchRows.length < n) this.scratchRows = new Int32Array(n);
      rows = this.scratchRows;
    }
    let scanned = 0;
    for (let h = 0; h < held.length; h++) {
      const rowsOf = held[h]!;
      if (!pageTest) {
        rows.set(rowsOf, scanned);
        scanned += rowsOf.length;
        continue;
      }
      for (let k = 0; k < rowsOf.length; k++) {
        const row = rowsOf[k]!;
        const page = pages[row]!;
        if (pageTest(Number.isNaN(page) ? null : page)) rows[scanned++] = row;
      }
    }
    if (this.kernel && dots) {
      this.kernel.scan(rowsAt, scanned, stride, queryAt, 0, outAt);
      for (let i = 0; i < scanned; i++) scores[i] = dots[i]! * scales[rows[i]!]! * queryScale;
    } else {
      const codes = this.codes;
      for (let i = 0; i < scanned; i++) {
        const row = rows[i]!;
        scores[i] = dotInt8Int16(codes, row * stride, q, stride) * scales[row]! * queryScale;
      }
    }
    if (scanned <= minCandidates) return { ids: this.rankedIds(rows, scores, scanned, scanned), scanned, exact: true };

    // The k-th best lower bound, from the best `limit` approximate scores (a valid, conservative L:
    // rows outside them may have a higher lower bound, which only makes L larger).
    const top = topIndices(scores, scanned, limit);
    let threshold = Number.POSITIVE_INFINITY;
    for (const i of top) {
      const lower = scores[i]! - scales[rows[i]!]! * rowErrorPerScale - FLOAT_SLACK;
      if (lower < threshold) threshold = lower;
    }
    // Every row whose upper bound reaches the threshold may be in the exact top `limit`.
    let within = 0;
    for (let i = 0; i < scanned; i++) {
      if (scores[i]! + scales[rows[i]!]! * rowErrorPerScale + FLOAT_SLACK >= threshold) within++;
    }
    const count = Math.min(maxCandidates, Math.max(within, minCandidates));
    return { ids: this.rankedIds(rows, scores, scanned, count), scanned, exact: within <= maxCandidates };
  }

  /** The ids of the best `count` scanned rows by approximate score, best first. */
  private rankedIds(rows: Int32Array, scores: Float64Array, scanned: number, count: number): string[] {
    return topIndices(scores, scanned, count)
      .sort((a, b) => scores[b]! - scores[a]! || rows[a]! - rows[b]!)
      .map((i) => this.ids[rows[i]!]!);
  }
}

/** Σ codes[base + d] · q[d]; integer products summed in four int32 lanes (|sum| < 2³¹ for dims ≤ 516). */
function dotInt8Int16(codes: Int8Array, base: number, q: Int16Array, dims: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  const end = dims - 3;
  for (; d < end; d += 4) {
    s0 = (s0 + codes[base + d]! * q[d]!) | 0;
    s1 = (s1 + codes[base + d + 1]! * q[d + 1]!) | 0;
    s2 = (s2 + codes[base + d + 2]! * q[d + 2]!) | 0;
    s3 = (s3 + codes[base + d + 3]! * q[d + 3]!) | 0;
  }
  for (; d < dims; d++) s0 = (s0 + codes[base + d]! * q[d]!) | 0;
  return s0 + s1 + s2 + s3;
}

/** Indices of the `count` largest of scores[0..n), in no particular order (a bounded min-heap). */
function topIndices(scores: Float64Array, n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const heap = new Int32Array(count);
  let size = 0;
  const less = (a: number, b: number) => scores[a]! < scores[b]! || (scores[a] === scores[b] && a > b);
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) return;
      const r = l + 1;
      const m = r < size && less(heap[r]!, heap[l]!) ? r : l;
      if (!less(heap[m]!, heap[i]!)) return;
      const t = heap[m]!;
      heap[m] = heap[i]!;
      heap[i] = t;
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (size < count) {
      let j = size++;
      heap[j] = i;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!less(heap[j]!, heap[p]!)) break;
        const t = heap[p]!;
        heap[p] = heap[j]!;
        heap[j] = t;
        j = p;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return Array.from(heap);
}
