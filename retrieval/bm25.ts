import { LRUCache } from 'lru-cache';
import MiniSearch, { type AsPlainObject } from 'minisearch';
import { chunkFilter, documentFilter, matchesFilter, type Filter, type FilterableChunk } from '../store/filters.ts';
import type { ChunkRecord } from '../store/types.ts';
import {
  PostingCache,
  TopKWorkspace,
  compactPostings,
  exactTopK,
  impactParts,
  type FieldPostings,
  type TermPostings,
} from './bm25-topk.ts';
import { tokenize as defaultTokenize, type Tokenizer } from './tokenize.ts';

/**
 * BM25 over chunks with minisearch: one in-memory index per collection, rebuilt from and kept in
 * step with the chunks table (the database is the source of truth).
 */

export interface Bm25Options {
  /** Term-frequency saturation (Lucene's k1). */
  k1: number;
  /** Length normalisation. */
  b: number;
  /** BM25+ lower bound per matched term; 0 is classic BM25. */
  delta: number;
  /** Weight of the title field (document title + heading path) relative to the text. */
  titleBoost: number;
  /**
   * Long queries keep only this many distinct terms, the rarest ones; ∞ (the default) scores every
   * term, which pruning keeps fast (docs/bm25-exact.md). 32 was the default before.
   */
  maxQueryTerms: number;
  /** minisearch's own scoring multiplies by the number of matched query terms; off = plain BM25. */
  coordination: boolean;
  /**
   * Exact top-k scoring that skips chunks which cannot enter the top k (retrieval/bm25-topk.ts);
   * off = every posting of every query term is walked (the earlier path; coordination always uses it).
   */
  pruning: boolean;
  tokenizer: Tokenizer;
}

/**
 * Tuned on SciFact train (809 queries) with eval/probe/bm25-scifact.ts --grid, checked on
 * SQuAD questions. The optimum is flat (k1 1.2–1.5, b 0.4–0.75 all within 0.002); what mattered
 * was stemming + stop words (+0.03), dropping minisearch's coordination factor (+0.025) and a
 * low title weight (title boost 1 costs 0.026).
 */
export const DEFAULT_BM25_OPTIONS: Bm25Options = {
  k1: 1.5,
  b: 0.6,
  delta: 0.5,
  titleBoost: 0.25,
  maxQueryTerms: Number.POSITIVE_INFINITY,
  coordination: false,
  pruning: true,
  tokenizer: defaultTokenize,
};

export interface Bm25Hit {
  id: string;
  score: number;
}

type Field = 'title' | 'text';
const FIELDS: Field[] = ['title', 'text'];

interface IndexedChunk {
  id: string;
  /** Analyzed terms joined by single spaces (the analyzer runs once, in Bm25Index.add). */
  title: string;
  text: string;
}

const POSTING_OPTIONS = { fields: FIELDS, tokenize: (s: string) => (s ? s.split(' ') : []), processTerm: (t: string) => t };

/** A PostingIndex as JSON-ready data; lengths may have nulls where chunks were never indexed. */
export interface PostingSnapshot {
  minisearch: AsPlainObject;
  lengths: Record<Field, (number | null)[]>;
  totalLength: Record<Field, number>;
}

/** A Bm25Index as JSON-ready data (what retrieval/bm25-snapshot.ts stores). */
export interface Bm25IndexSnapshot {
  postings: PostingSnapshot;
  filterable: [string, FilterableChunk][];
  documentVersions: [string, number][];
}

/** The chunks a filter lets through, by minisearch short id: a byte per id, and the ids themselves. */
export interface ChunkMask {
  mask: Uint8Array;
  ids: Uint32Array;
}

/** A filter letting through at most 1 / this of the chunks is scored by looking its chunks up. */
const SELECTIVE_MASK_SHARE = 16;

interface ScoreParams {
  k1: number;
  b: number;
  delta: number;
  boosts: Record<Field, number>;
  /** minisearch's coordination factor: multiply by the number of query terms matched. */
  coordination: boolean;
  pruning: boolean;
}

/**
 * minisearch stores the postings; scoring is done here, for two reasons found by reading its
 * source: its `search` multiplies each score by the number of matched query terms (coordination)
 * and measures field length in *distinct* terms, neither of which is BM25; and it builds an
 * object per matching document and sorts them all, which is slow for long queries on large
 * collections. minisearch keeps its index `protected`, i.e. open to subclasses.
 */
class PostingIndex extends MiniSearch<IndexedChunk> {
  /** Field length in terms, by field then internal short id. */
  private readonly lengths: Record<Field, number[]> = { title: [], text: [] };
  private readonly totalLength: Record<Field, number> = { title: 0, text: 0 };
  // Per-query accumulators indexed by short id, reused across queries and zeroed after each.
  private scores = new Float64Array(0);
  private matched = new Uint32Array(0);
  private lastTerm = new Uint32Array(0);
  /** 1 for indexed chunks, 0 for discarded ones whose postings minisearch has not vacuumed yet. */
  private alive = new Uint8Array(0);
  /** Changes with every add and removal, which change every term's idf (the posting cache's key). */
  private version = 0;
  private readonly postingCache = new PostingCache();
  private readonly workspace = new TopKWorkspace();

  constructor() {
    super(POSTING_OPTIONS);
  }

  /** minisearch's own serialisation, plus the field lengths in terms that our scoring uses. */
  toSnapshot(): PostingSnapshot {
    return { minisearch: this.toJSON(), lengths: this.lengths, totalLength: this.totalLength };
  }

  /**
   * The inverse of toSnapshot. minisearch's loader always constructs a plain MiniSearch, so its
   * state is moved onto a PostingIndex; discarded chunks are the short ids it no longer maps.
   */
  static fromSnapshot(snapshot: PostingSnapshot): PostingIndex {
    const index = new PostingIndex();
    // Copies minisearch's own fields only; our lengths and accumulators are not among them.
    Object.assign(index, MiniSearch.loadJS(snapshot.minisearch, POSTING_OPTIONS));
    for (const field of FIELDS) {
      snapshot.lengths[field].forEach((n, shortId) => {
        if (n !== null) index.lengths[field][shortId] = n;
      });
      index.totalLength[field] = snapshot.totalLength[field];
    }
    index.grow(Math.max(1024, index._nextId * 2));
    for (const shortId of index._documentIds.keys()) index.alive[shortId] = 1;
    return index;
  }

  /** Heap held by compact postings cached for the pruning scorer. */
  get cachedPostingBytes(): number {
    return this.postingCache.bytes;
  }

  /** Terms indexed over all live chunks and fields (what memory grows with, besides the chunk count). */
  get indexedTermCount(): number {
    return this.totalLength.title + this.totalLength.text;
  }

  private grow(size: number): void {
    this.scores = new Float64Array(size);
    this.matched = new Uint32Array(size);
    this.lastTerm = new Uint32Array(size);
    const alive = new Uint8Array(size);
    alive.set(this.alive.subarray(0, Math.min(size, this.alive.length)));
    this.alive = alive;
  }

  addChunk(id: string, terms: Record<Field, string[]>): void {
    this.version++;
    this.add({ id, title: terms.title.join(' '), text: terms.text.join(' ') });
    const shortId = this._idToShortId.get(id)!;
    if (shortId >= this.alive.length) this.grow(Math.max(1024, shortId * 2));
    this.alive[shortId] = 1;
    for (const field of FIELDS) {
      this.lengths[field][shortId] = terms[field].length;
      this.totalLength[field] += terms[field].length;
    }
  }

  /** Cheap removal: postings of discarded chunks are skipped, and cleaned up by minisearch's vacuum. */
  discardChunk(id: string): void {
    const shortId = this._idToShortId.get(id);
    if (shortId === undefined) return;
    this.version++;
    this.alive[shortId] = 0;
    for (const field of FIELDS) this.totalLength[field] -= this.lengths[field][shortId] ?? 0;
    this.discard(id);
  }

  /** Chunks containing the term (over-counts discarded chunks until they are vacuumed). */
  documentFrequency(term: string): number {
    const fields = this._index.get(term);
    if (!fields) return 0;
    let df = 0;
    for (const postings of fields.values()) df = Math.max(df, postings.size);
    return df;
  }

  /** minisearch's internal id of a chunk, if indexed. */
  shortIdOf(id: string): number | undefined {
    return this._idToShortId.get(id);
  }

  /**
   * Per field BM25 (Lucene's idf, saturation and length normalisation), weighted by field boost
   * and summed over fields and terms. Returns the `limit` best chunks, only those in `allowed`
   * when given: postings outside it are skipped before any scoring, so a selective filter costs
   * less than no filter instead of more.
   */
  score(terms: string[], params: ScoreParams, limit: number, allowed?: ChunkMask): Bm25Hit[] {
    // A selective filter is cheapest by looking its few chunks up in each posting list; otherwise the
    // pruning scorer walks the compact lists and asks the mask. Both are exact.
    const selective = allowed !== undefined && allowed.ids.length * SELECTIVE_MASK_SHARE <= this._documentCount;
    if (params.pruning && !params.coordination && !selective) return this.scorePruned(terms, params, limit, allowed);
    if (this.scores.length < this._nextId) this.grow(this._nextId * 2);
    const { scores, matched, lastTerm, alive } = this;
    const touched: number[] = [];
    const { k1, b, delta } = params;
    terms.forEach((term, t) => {
      for (const { postings, weight, avgLength, lengths } of this.termFields(term, params)) {
        const add = (tf: number, shortId: number) => {
          if (alive[shortId] !== 1) return;
          if (matched[shortId] === 0) touched.push(shortId);
          // Count each query term once per chunk, whichever fields it matched in.
          if (lastTerm[shortId] !== t + 1) {
            lastTerm[shortId] = t + 1;
            matched[shortId]! += 1;
          }
          const norm = k1 * (1 - b + (b * lengths[shortId]!) / avgLength);
          scores[shortId]! += weight * (delta + (tf * (k1 + 1)) / (tf + norm));
        };
        if (!allowed) postings.forEach(add);
        else if (allowed.ids.length < postings.size) {
          // Fewer allowed chunks than postings: look each one up instead of walking the list.
          for (const shortId of allowed.ids) {
            const tf = postings.get(shortId);
            if (tf !== undefined) add(tf, shortId);
          }
        } else {
          const { mask } = allowed;
          postings.forEach((tf, shortId) => {
            if (mask[shortId] === 1) add(tf, shortId);
          });
        }
      }
    });
    const top = new TopK(limit);
    for (const shortId of touched) {
      const score = params.coordination ? scores[shortId]! * matched[shortId]! : scores[shortId]!;
      scores[shortId] = 0;
      matched[shortId] = 0;
      lastTerm[shortId] = 0;
      if (!top.wouldAccept(score)) continue;
      top.push({ id: this._documentIds.get(shortId) as string, score });
    }
    return top.sorted();
  }

  /** The same ranking as `score` without coordination, by exactTopK over cached compact postings. */
  private scorePruned(terms: string[], params: ScoreParams, limit: number, allowed?: ChunkMask): Bm25Hit[] {
    this.workspace.ensure(this._nextId);
    // Mid-vacuum, document frequencies shrink batch by batch: postings are built but not kept.
    const key = this.isVacuuming
      ? undefined
      : [this.version, this.dirtCount, params.k1, params.b, params.delta, params.boosts.title, params.boosts.text].join(':');
    const lists: TermPostings[] = [];
    for (const term of terms) {
      const parts = this.postingCache.get(key, term, () => this.termPostings(term, params));
      if (parts) lists.push(...parts);
    }
    const ids = this._documentIds;
    const mask = allowed?.mask;
    const found = exactTopK(lists, limit, this.workspace, mask && ((shortId) => mask[shortId] === 1));
    const top = new TopK(limit);
    found.shortIds.forEach((shortId, i) => top.push({ id: ids.get(shortId) as string, score: found.scores[i]! }));
    return top.sorted();
  }

  private termPostings(term: string, params: ScoreParams): TermPostings[] | undefined {
    if (!this._index.get(term)) return undefined;
    return impactParts(compactPostings(this.termFields(term, params), this.alive, params));
  }

  /**
   * A term's postings per field with what BM25 needs beside them: boost × Lucene's idf and the
   * field's average length. df counts discarded chunks until minisearch vacuums them.
   */
  private termFields(term: string, params: ScoreParams): FieldPostings[] {
    const fieldData = this._index.get(term);
    if (!fieldData) return [];
    const n = this._documentCount;
    const fields: FieldPostings[] = [];
    for (const field of FIELDS) {
      const boost = params.boosts[field];
      const postings = fieldData.get(this._fieldIds[field]!);
      if (!postings || boost === 0) continue;
      const df = postings.size;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      const avgLength = this.totalLength[field] / Math.max(1, n) || 1;
      fields.push({ postings, weight: boost * idf, avgLength, lengths: this.lengths[field] });
    }
    return fields;
  }
}

const better = (x: Bm25Hit, y: Bm25Hit) => x.score > y.score || (x.score === y.score && x.id < y.id);

/** The k best hits seen so far, in a binary min-heap (the worst kept hit at the root). */
class TopK {
  private readonly heap: Bm25Hit[] = [];
  constructor(private readonly k: number) {}

  /** Cheap pre-check, so only hits that could enter the top k build a hit object. */
  wouldAccept(score: number): boolean {
    return this.k > 0 && (this.heap.length < this.k || score >= this.heap[0]!.score);
  }

  push(hit: Bm25Hit): void {
    const h = this.heap;
    if (h.length < this.k) {
      h.push(hit);
      let i = h.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!better(h[parent]!, h[i]!)) break;
        [h[parent], h[i]] = [h[i]!, h[parent]!];
        i = parent;
      }
      return;
    }
    if (!better(hit, h[0]!)) return;
    h[0] = hit;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < h.length && better(h[worst]!, h[l]!)) worst = l;
      if (r < h.length && better(h[worst]!, h[r]!)) worst = r;
      if (worst === i) break;
      [h[worst], h[i]] = [h[i]!, h[worst]!];
      i = worst;
    }
  }

  /** Best first; equal scores by id ascending. */
  sorted(): Bm25Hit[] {
    return [...this.heap].sort((x, y) => (better(x, y) ? -1 : better(y, x) ? 1 : 0));
  }
}

/**
 * Heap per indexed chunk (ids, filter values, minisearch's maps) and per indexed term (postings),
 * fitted to bench/bm25-snapshot.ts on real ~40-word passages (2.9–3.7 KB per chunk measured after
 * GC at 20k and 3k chunks); good to about ±25 %, which is what a memory budget needs.
 */
const BYTES_PER_CHUNK = 2200;
const BYTES_PER_TERM = 40;
/** Filters whose masks are kept per collection; a mask is one byte plus four per allowed chunk. */
const MASK_CACHE_ENTRIES = 16;

export class Bm25Index {
  readonly options: Bm25Options;
  private postings = new PostingIndex();
  /** Filterable values per chunk id, so filters apply exactly as the SQL side applies them. */
  private readonly filterable = new Map<string, FilterableChunk>();
  private readonly chunksByDocument = new Map<string, string[]>();
  /** Document id → the document version whose chunks are indexed. */
  readonly documentVersions = new Map<string, number>();
  /**
   * Allowed-chunk masks of recent filters, by canonical filter. Cleared by every change to the
   * indexed chunks, so a mask always belongs to the index as it is (the registry's one index per
   * collection makes this a cache per collection, filter and index version).
   */
  private readonly masks = new LRUCache<string, ChunkMask>({ max: MASK_CACHE_ENTRIES });
  /** Documents whose chunks disagree on a document field (only hand-built indexes do that): filtered per chunk. */
  private readonly mixedDocuments = new Set<string>();

  constructor(options: Partial<Bm25Options> = {}) {
    this.options = { ...DEFAULT_BM25_OPTIONS, ...options };
  }

  /** Number of indexed chunks. */
  get size(): number {
    return this.filterable.size;
  }

  /** An estimate of the heap this index holds, for the registry's memory budget. */
  get estimatedBytes(): number {
    return this.size * BYTES_PER_CHUNK + this.postings.indexedTermCount * BYTES_PER_TERM + this.postings.cachedPostingBytes;
  }

  toSnapshot(): Bm25IndexSnapshot {
    return {
      postings: this.postings.toSnapshot(),
      filterable: [...this.filterable],
      documentVersions: [...this.documentVersions],
    };
  }

  /** An index from toSnapshot's data; it must have been built with the same tokenizer. */
  static fromSnapshot(snapshot: Bm25IndexSnapshot, options: Partial<Bm25Options> = {}): Bm25Index {
    const index = new Bm25Index(options);
    index.postings = PostingIndex.fromSnapshot(snapshot.postings);
    for (const [chunkId, values] of snapshot.filterable) {
      index.filterable.set(chunkId, values);
      index.indexUnderDocument(chunkId, values.documentId);
    }
    for (const [documentId, version] of snapshot.documentVersions) index.documentVersions.set(documentId, version);
    return index;
  }

  /** Adds chunks; a chunk id already present is replaced. */
  add(chunks: ChunkRecord[]): void {
    this.masks.clear();
    const { tokenizer } = this.options;
    for (const chunk of chunks) {
      if (this.filterable.has(chunk.id)) this.removeChunk(chunk.id);
      this.postings.addChunk(chunk.id, {
        title: tokenizer([chunk.title, ...chunk.headingPath].join(' ')),
        text: tokenizer(chunk.text),
      });
      this.filterable.set(chunk.id, {
        documentId: chunk.documentId,
        source: chunk.source,
        title: chunk.title,
        mime: chunk.mime,
        createdAt: chunk.createdAt,
        updatedAt: chunk.updatedAt,
        pageStart: chunk.pageStart,
        documentMetadata: filterableMetadata(chunk.documentMetadata),
      });
      this.indexUnderDocument(chunk.id, chunk.documentId);
      this.documentVersions.set(chunk.documentId, chunk.documentVersion);
    }
  }

  private indexUnderDocument(chunkId: string, documentId: string): void {
    let ids = this.chunksByDocument.get(documentId);
    if (!ids) this.chunksByDocument.set(documentId, (ids = []));
    else if (!sameDocumentFields(this.filterable.get(ids[0]!)!, this.filterable.get(chunkId)!)) this.mixedDocuments.add(documentId);
    ids.push(chunkId);
  }

  /** Records that a document is indexed at `version` (needed for documents without chunks). */
  markDocument(documentId: string, version: number): void {
    this.documentVersions.set(documentId, version);
  }

  removeDocument(documentId: string): void {
    this.masks.clear();
    for (const id of this.chunksByDocument.get(documentId) ?? []) {
      this.postings.discardChunk(id);
      this.filterable.delete(id);
    }
    this.chunksByDocument.delete(documentId);
    this.mixedDocuments.delete(documentId);
    this.documentVersions.delete(documentId);
  }

  private removeChunk(chunkId: string): void {
    this.masks.clear();
    const documentId = this.filterable.get(chunkId)?.documentId;
    this.postings.discardChunk(chunkId);
    this.filterable.delete(chunkId);
    if (documentId === undefined) return;
    const rest = (this.chunksByDocument.get(documentId) ?? []).filter((id) => id !== chunkId);
    if (rest.length) this.chunksByDocument.set(documentId, rest);
    else {
      this.chunksByDocument.delete(documentId);
      this.mixedDocuments.delete(documentId);
    }
  }

  /** The filterable values kept for an indexed chunk. */
  filterableOf(chunkId: string): FilterableChunk | undefined {
    return this.filterable.get(chunkId);
  }

  /** Number of indexed chunks containing `term` (an analyzed term). */
  documentFrequency(term: string): number {
    return this.postings.documentFrequency(term);
  }

  /**
   * The distinct query terms that will be searched: analyzed like documents, deduplicated, and
   * for long queries only the `maxQueryTerms` rarest ones (frequent terms add little to BM25 but
   * walk long posting lists).
   */
  queryTerms(query: string): string[] {
    const terms = [...new Set(this.options.tokenizer(query))];
    if (terms.length <= this.options.maxQueryTerms) return terms;
    const df = new Map(terms.map((t) => [t, this.postings.documentFrequency(t)]));
    return terms
      .filter((t) => df.get(t)! > 0)
      .sort((a, b) => df.get(a)! - df.get(b)! || (a < b ? -1 : 1))
      .slice(0, this.options.maxQueryTerms);
  }

  /** Best chunks first; ties by id ascending. Only chunks passing `filter` are returned. */
  search(query: string, options: { limit: number; filter?: Filter }): Bm25Hit[] {
    const terms = this.queryTerms(query);
    if (!terms.length || options.limit <= 0) return [];
    const filter = options.filter ?? [];
    const { k1, b, delta, titleBoost, coordination, pruning } = this.options;
    const allowed = filter.length ? this.allowedChunks(filter) : undefined;
    if (allowed?.ids.length === 0) return [];
    const params = { k1, b, delta, coordination, pruning, boosts: { title: titleBoost, text: 1 } };
    return this.postings.score(terms, params, options.limit, allowed);
  }

  /**
   * The chunks passing `filter`, from the cache or built now. Built per document: every field but
   * `page` is the document's, and all of a document's indexed chunks come from one version of it
   * (a changed document is removed whole before its new chunks are added), so the document clauses
   * are tested once per document and only `page` per chunk. Documents whose chunks disagree are
   * tested chunk by chunk.
   */
  private allowedChunks(filter: Filter): ChunkMask {
    const key = canonicalFilter(filter);
    const cached = this.masks.get(key);
    if (cached) return cached;
    const documentClauses = documentFilter(filter);
    const chunkClauses = chunkFilter(filter);
    const ids: number[] = [];
    for (const [documentId, chunkIds] of this.chunksByDocument) {
      const mixed = this.mixedDocuments.has(documentId);
      if (!mixed && !matchesFilter(this.filterable.get(chunkIds[0]!)!, documentClauses)) continue;
      const perChunk = mixed ? filter : chunkClauses;
      for (const id of chunkIds) {
        if (perChunk.length && !matchesFilter(this.filterable.get(id)!, perChunk)) continue;
        const shortId = this.postings.shortIdOf(id);
        if (shortId !== undefined) ids.push(shortId);
      }
    }
    const mask = new Uint8Array(ids.reduce((max, id) => Math.max(max, id + 1), 0));
    for (const id of ids) mask[id] = 1;
    const built = { mask, ids: Uint32Array.from(ids) };
    this.masks.set(key, built);
    return built;
  }
}

function sameDocumentFields(a: FilterableChunk, b: FilterableChunk): boolean {
  if (a.documentId !== b.documentId || a.source !== b.source || a.title !== b.title || a.mime !== b.mime) return false;
  if (a.createdAt !== b.createdAt || a.updatedAt !== b.updatedAt) return false;
  const keys = Object.keys(a.documentMetadata);
  return keys.length === Object.keys(b.documentMetadata).length && keys.every((k) => a.documentMetadata[k] === b.documentMetadata[k]);
}

/** The same key for the same conjunction of clauses, whatever order they were written in. */
function canonicalFilter(filter: Filter): string {
  return JSON.stringify(filter.map((clause) => JSON.stringify([clause.field, clause.op, clause.value])).sort());
}

/**
 * The part of a document's metadata a filter can test: top-level strings, numbers and booleans.
 * Filters compare `metadata.<key>` with scalars only, so nested values never match and dropping
 * them keeps every result the same while the index holds no copy of large metadata per chunk.
 */
export function filterableMetadata(metadata: Record<string, unknown>): Record<string, string | number | boolean> {
  const kept: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') kept[key] = value;
  }
  return kept;
}
