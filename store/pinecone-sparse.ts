import { Errors, Pinecone, type Index } from '@pinecone-database/pinecone';
import pRetry from 'p-retry';
import type { Config } from '../core/config.ts';
import { RaglineError, errorMessage } from '../core/errors.ts';
import { causes, ignoreMissingNamespace, isConnectionReset, isRateLimited } from './pinecone-errors.ts';

/**
 * BM25 sparse vectors in a Pinecone sparse index: one namespace per collection (namespace =
 * collection id), one vector per chunk (vector id = chunk id). Requests Pinecone answers with 429,
 * and requests that never got an answer (a reset connection), are retried with exponential backoff
 * (the SDK retries only 5xx answers).
 */

export interface SparseVectorValues {
  indices: number[];
  values: number[];
}

export interface PineconeSparseIndexOptions {
  apiKey: string;
  /** Data-plane URL of the sparse index. */
  host: string;
  /** The index name, for messages. */
  index: string;
  /** Retries of a request answered with 429 (default 5), backoff from `retryDelayMs` (default 500) doubling. */
  rateLimitRetries?: number;
  retryDelayMs?: number;
  /** The SDK's own retries of 5xx answers (default 3). */
  maxRetries?: number;
}

const UPSERT_BATCH = 100;
const DELETE_BATCH = 1000;
const FETCH_BATCH = 100;
const LIST_PAGE = 100;

/**
 * The sparse index the configuration names (RAGLINE_SPARSE=pinecone), or a configuration error
 * naming the missing variable.
 */
export function sparseIndexFromConfig(config: Pick<Config, 'sparse' | 'pinecone'>): PineconeSparseIndex {
  const { sparse } = config;
  const missing = (variable: string, what: string) =>
    new RaglineError('invalid_config', `Invalid configuration: ${variable}: ${what}`, { variable });
  if (sparse.backend !== 'pinecone') throw missing('RAGLINE_SPARSE', 'the Pinecone sparse index needs RAGLINE_SPARSE=pinecone');
  const apiKey = sparse.pineconeApiKey ?? config.pinecone?.apiKey;
  if (!apiKey) throw missing('PINECONE_SPARSE_API_KEY', 'no API key for the sparse index (set it or PINECONE_API_KEY)');
  if (!sparse.pineconeIndex) throw missing('PINECONE_SPARSE_INDEX', 'the sparse index name is not set');
  if (!sparse.pineconeHost) throw missing('PINECONE_SPARSE_HOST', "the sparse index's data-plane URL is not set");
  return new PineconeSparseIndex({
    apiKey,
    index: sparse.pineconeIndex,
    host: sparse.pineconeHost,
    rateLimitRetries: sparse.rateLimitRetries,
    retryDelayMs: sparse.retryDelayMs,
  });
}

export class PineconeSparseIndex {
  private readonly index: Index;
  /** 429s seen and retried since this object was made (reconcile prints it). */
  rateLimitedRetries = 0;

  constructor(private readonly options: PineconeSparseIndexOptions) {
    const client = new Pinecone({ apiKey: options.apiKey, maxRetries: options.maxRetries ?? 3 });
    this.index = client.index({ name: options.index, host: options.host });
  }

  async upsert(collectionId: string, records: { id: string; sparseValues: SparseVectorValues }[]): Promise<void> {
    const nonEmpty = records.filter((r) => r.sparseValues.indices.length > 0);
    for (let i = 0; i < nonEmpty.length; i += UPSERT_BATCH) {
      const batch = nonEmpty.slice(i, i + UPSERT_BATCH);
      await this.call('upsert', () => this.index.upsert({ records: batch, namespace: collectionId }));
    }
  }

  async query(collectionId: string, vector: SparseVectorValues, topK: number): Promise<{ id: string; score: number }[]> {
    if (!vector.indices.length) return [];
    // SDK 8.2's types demand dense values; a sparse index takes the sparse vector alone.
    const request = { topK, sparseVector: vector, namespace: collectionId } as unknown as Parameters<Index['query']>[0];
    const response = await this.call('query', () => this.index.query(request));
    return response.matches.map((m) => ({ id: m.id, score: m.score ?? 0 }));
  }

  async delete(collectionId: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_BATCH) {
      const batch = ids.slice(i, i + DELETE_BATCH);
      await this.call('delete', () => this.index.deleteMany({ ids: batch, namespace: collectionId }).catch(ignoreMissingNamespace));
    }
  }

  /** Removes the collection's namespace with every vector in it. */
  async deleteNamespace(collectionId: string): Promise<void> {
    await this.call('delete namespace', () => this.index.deleteAll({ namespace: collectionId }).catch(ignoreMissingNamespace));
  }

  async fetch(collectionId: string, ids: string[]): Promise<Map<string, SparseVectorValues>> {
    const found = new Map<string, SparseVectorValues>();
    for (let i = 0; i < ids.length; i += FETCH_BATCH) {
      const batch = ids.slice(i, i + FETCH_BATCH);
      const response = await this.call('fetch', () => this.index.fetch({ ids: batch, namespace: collectionId }));
      for (const [id, record] of Object.entries(response.records ?? {})) {
        if (record.sparseValues) found.set(id, { indices: record.sparseValues.indices, values: record.sparseValues.values });
      }
    }
    return found;
  }

  /** Every vector id in the collection's namespace, page by page. */
  async listIds(collectionId: string): Promise<string[]> {
    const ids: string[] = [];
    let paginationToken: string | undefined;
    do {
      const page = await this.call('list', () => this.index.listPaginated({ namespace: collectionId, limit: LIST_PAGE, paginationToken }));
      for (const v of page.vectors ?? []) if (v.id) ids.push(v.id);
      paginationToken = page.pagination?.next;
    } while (paginationToken);
    return ids;
  }

  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const retries = this.options.rateLimitRetries ?? 5;
    try {
      return await pRetry(run, {
        retries,
        minTimeout: this.options.retryDelayMs ?? 500,
        factor: 2,
        // A reset pooled connection is transient too, and every call here is idempotent (same ids, same values);
        // a refused connection is a server that is down, which fails at once, as the dense index does.
        shouldRetry: ({ error }) => isRateLimited(error) || isConnectionReset(error),
        onFailedAttempt: ({ error, retriesLeft }) => {
          if (isRateLimited(error) && retriesLeft > 0) this.rateLimitedRetries += 1;
        },
      });
    } catch (err) {
      const reason = isRateLimited(err)
        ? `rate limited (429) ${retries + 1} times in a row`
        : err instanceof Errors.PineconeConnectionError
          ? `no response (${causes(err).join(': ') || 'connection failed'})`
          : errorMessage(err);
      throw new RaglineError(
        'upstream_unavailable',
        `Pinecone sparse ${operation} failed: ${reason}`,
        { index: this.options.index, operation },
        { cause: err },
      );
    }
  }
}
