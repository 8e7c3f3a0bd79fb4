import { createHash } from 'node:crypto';
import type { FrequencyDelta, FrequencyTotals } from '../store/sparse-frequencies.ts';
import type { ChunkRecord } from '../store/types.ts';
import { DEFAULT_BM25_OPTIONS, type Bm25Options } from './bm25.ts';

/**
 * BM25 as sparse vectors, so a sparse index (Pinecone) can rank chunks the way Bm25Index does:
 * the dot product of a query vector and a chunk vector is the chunk's BM25 score.
 *
 * Bm25Index scores each field (title, text) separately and sums boost · idf · tf-part over fields
 * and query terms. Here every (field, term) pair is one dimension: the chunk carries the tf-part
 * (BM25+ lower bound, saturation and length normalisation against the field's average length),
 * the query carries boost · idf (from document frequencies). Multiplying and summing is the same
 * formula. The chunk side depends on the average field lengths at the time it was encoded; they
 * drift slowly as a collection grows, which is what re-encoding (reconcile) corrects.
 */

export type SparseField = 'title' | 'text';
const FIELDS: SparseField[] = ['title', 'text'];

export interface SparseValues {
  indices: number[];
  values: number[];
}

/** What the chunk side needs: the collection's average analyzed length per field. */
export interface FieldLengthStats {
  averageLength: Record<SparseField, number>;
}

/** What the query side needs: how many chunks there are and how many contain a term, per field. */
export interface DocumentFrequencies {
  chunkCount: number;
  frequency(field: SparseField, term: string): number;
}

export type SparseBm25Options = Pick<Bm25Options, 'k1' | 'b' | 'delta' | 'titleBoost' | 'maxQueryTerms' | 'tokenizer'>;

/**
 * A stable 32-bit dimension for a term in a field: the first four bytes of its SHA-256 (Node's own
 * hash, the same on every replica and release). Collisions are rare at 2^32 and cost only a
 * little score mixing between two terms; they are summed, as Pinecone needs unique indices.
 */
export function termDimension(field: SparseField, term: string): number {
  return createHash('sha256').update(`${field}\u0000${term}`).digest().readUInt32BE(0);
}

/** The analyzed terms of a chunk per field, exactly as Bm25Index indexes them. */
export function analyzeChunk(
  chunk: Pick<ChunkRecord, 'title' | 'headingPath' | 'text'>,
  options: Pick<SparseBm25Options, 'tokenizer'> = DEFAULT_BM25_OPTIONS,
): Record<SparseField, string[]> {
  return { title: options.tokenizer([chunk.title, ...chunk.headingPath].join(' ')), text: options.tokenizer(chunk.text) };
}

/** The chunk side: per (field, term) the BM25+ term-frequency part. */
export function encodeChunk(
  terms: Record<SparseField, string[]>,
  stats: FieldLengthStats,
  options: SparseBm25Options = DEFAULT_BM25_OPTIONS,
): SparseValues {
  const { k1, b, delta } = options;
  const weights = new Map<number, number>();
  for (const field of FIELDS) {
    const fieldTerms = terms[field];
    if (!fieldTerms.length) continue;
    const counts = new Map<string, number>();
    for (const term of fieldTerms) counts.set(term, (counts.get(term) ?? 0) + 1);
    const norm = k1 * (1 - b + (b * fieldTerms.length) / (stats.averageLength[field] || 1));
    for (const [term, tf] of counts) {
      const dimension = termDimension(field, term);
      weights.set(dimension, (weights.get(dimension) ?? 0) + delta + (tf * (k1 + 1)) / (tf + norm));
    }
  }
  return toSparse(weights);
}

/**
 * Pinecone refuses a sparse vector with more than 1,000 non-zero values, and each term can fill two
 * dimensions (title and text): so a Pinecone query keeps its 500 rarest terms even where the
 * in-process index scores every term.
 */
export const MAX_SPARSE_QUERY_TERMS = 500;

/**
 * The query side: per (field, term) the field boost times Lucene's idf. Like Bm25Index, distinct
 * terms only, and for long queries only the `maxQueryTerms` (at most 500) rarest (by text-field frequency).
 */
export function encodeQuery(
  query: string,
  frequencies: DocumentFrequencies,
  options: SparseBm25Options = DEFAULT_BM25_OPTIONS,
): SparseValues {
  let terms = [...new Set(options.tokenizer(query))];
  const n = frequencies.chunkCount;
  const maxTerms = Math.min(options.maxQueryTerms, MAX_SPARSE_QUERY_TERMS);
  if (terms.length > maxTerms) {
    const df = (t: string) => Math.max(frequencies.frequency('title', t), frequencies.frequency('text', t));
    terms = terms
      .filter((t) => df(t) > 0)
      .sort((x, y) => df(x) - df(y) || (x < y ? -1 : 1))
      .slice(0, maxTerms);
  }
  const boosts: Record<SparseField, number> = { title: options.titleBoost, text: 1 };
  const weights = new Map<number, number>();
  for (const term of terms) {
    for (const field of FIELDS) {
      const df = frequencies.frequency(field, term);
      if (!df || boosts[field] === 0) continue;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      const dimension = termDimension(field, term);
      weights.set(dimension, (weights.get(dimension) ?? 0) + boosts[field] * idf);
    }
  }
  return toSparse(weights);
}

function toSparse(weights: Map<number, number>): SparseValues {
  const indices = [...weights.keys()].sort((x, y) => x - y);
  return { indices, values: indices.map((i) => weights.get(i)!) };
}

/** Document frequencies and average lengths of a set of analyzed chunks (what SQL keeps per collection). */
export class CorpusFrequencies implements DocumentFrequencies, FieldLengthStats {
  chunkCount = 0;
  private readonly totalLength: Record<SparseField, number> = { title: 0, text: 0 };
  private readonly counts: Record<SparseField, Map<string, number>> = { title: new Map(), text: new Map() };

  add(terms: Record<SparseField, string[]>): void {
    this.chunkCount += 1;
    for (const field of FIELDS) {
      this.totalLength[field] += terms[field].length;
      for (const term of new Set(terms[field])) this.counts[field].set(term, (this.counts[field].get(term) ?? 0) + 1);
    }
  }

  get averageLength(): Record<SparseField, number> {
    const n = Math.max(1, this.chunkCount);
    return { title: this.totalLength.title / n, text: this.totalLength.text / n };
  }

  frequency(field: SparseField, term: string): number {
    return this.counts[field].get(term) ?? 0;
  }

  /** The aggregates SQL's statistics must equal when they count the same chunks (store/sparse-frequencies.ts). */
  totals(): FrequencyTotals {
    let terms = 0;
    let postings = 0;
    for (const field of FIELDS) {
      terms += this.counts[field].size;
      for (const n of this.counts[field].values()) postings += n;
    }
    return { chunks: this.chunkCount, termCount: { ...this.totalLength }, terms, postings };
  }
}

/**
 * How adding `added` and removing `removed` chunks (analyzed) changes a collection's frequencies:
 * what store/sparse-frequencies.ts applies in SQL when a document is written or deleted.
 */
export function frequencyDelta(added: Record<SparseField, string[]>[], removed: Record<SparseField, string[]>[] = []): FrequencyDelta {
  const termCount: Record<SparseField, number> = { title: 0, text: 0 };
  const changes = new Map<string, { field: SparseField; term: string; chunks: number }>();
  const count = (chunks: Record<SparseField, string[]>[], sign: 1 | -1) => {
    for (const terms of chunks) {
      for (const field of FIELDS) {
        termCount[field] += sign * terms[field].length;
        for (const term of new Set(terms[field])) {
          const key = `${field}\u0000${term}`;
          const change = changes.get(key) ?? { field, term, chunks: 0 };
          change.chunks += sign;
          changes.set(key, change);
        }
      }
    }
  };
  count(added, 1);
  count(removed, -1);
  return { chunks: added.length - removed.length, termCount, terms: [...changes.values()].filter((c) => c.chunks !== 0) };
}
