import { Errors, Pinecone, type Index, type RecordMetadata } from '@pinecone-database/pinecone';
import pRetry from 'p-retry';
import { RaglineError, errorMessage } from '../core/errors.ts';
import { causes, ignoreMissingNamespace, isConnectionReset } from './pinecone-errors.ts';
import { matchesFilter, type Clause, type Filter } from './filters.ts';
import type { DenseIndex, DenseIndexEntry, DenseIndexRecord } from './dense-index.ts';
import type { ChunkInput, ChunkRecord, DenseHit, DenseQuery, DocumentRecord } from './types.ts';

/**
 * Dense vectors in a Pinecone index: one namespace per collection (namespace = collection id),
 * one vector per chunk (vector id = chunk id). Each vector carries the filterable fields as
 * metadata, so most filters are evaluated by Pinecone; see the rules in dense-index.ts.
 */

export interface PineconeDenseIndexOptions {
  apiKey: string;
  /** The index name (PINECONE_INDEX). */
  index: string;
  /** Data-plane URL (PINECONE_HOST); by default the host describeIndex reports. */
  host?: string;
  /** Control-plane URL (PINECONE_CONTROLLER_HOST), e.g. for Pinecone Local; by default the SDK's. */
  controllerHost?: string;
  /** Retries of a request answered with a 5xx, by the SDK, with exponential backoff (default 3). */
  maxRetries?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

/** Pinecone's largest topK when neither values nor metadata are returned. */
const MAX_TOP_K = 10_000;
/** Vectors per upsert request: Pinecone recommends batches of about 100 (2 MB per request at most). */
const UPSERT_BATCH = 100;
/** Ids per delete request (Pinecone's limit). */
const DELETE_BATCH = 1000;
const FETCH_BATCH = 100;
const LIST_PAGE = 100;

type PineconeFilter = Record<string, unknown>;

/** The metadata stored with a chunk's vector: what the filters of filters.ts can read. */
export function vectorMetadata(document: DocumentRecord, chunk: Pick<ChunkInput, 'pageStart' | 'pageEnd'>): RecordMetadata {
  const metadata: RecordMetadata = {
    collectionId: document.collectionId,
    documentId: document.id,
    source: document.source,
    title: document.title,
    mime: document.mime,
    createdAt: Date.parse(document.createdAt),
    updatedAt: Date.parse(document.updatedAt),
  };
  if (chunk.pageStart !== null) metadata.pageStart = chunk.pageStart;
  if (chunk.pageEnd !== null) metadata.pageEnd = chunk.pageEnd;
  // Pinecone holds strings, numbers, booleans and lists of strings; other values stay in SQL only.
  for (const [key, value] of Object.entries(document.metadata)) {
    const storable =
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (storable) metadata[`metadata.${key}`] = value as RecordMetadata[string];
  }
  return metadata;
}

const RANGE_OPS = { gt: '$gt', gte: '$gte', lt: '$lt', lte: '$lte' } as const;
const ALWAYS_PRESENT_STRINGS = new Set(['documentId', 'source', 'title', 'mime']);

/**
 * One clause in Pinecone's filter language, or null when it cannot be pushed down. A pushed-down
 * condition may admit more than the clause (the exact predicate runs afterwards) but never less:
 * - prefix has no Pinecone operator, and Pinecone's range operators take numbers only;
 * - ne is pushed only on fields every vector has (Pinecone's handling of a missing field is not
 *   what matchesFilter does: there, a chunk without the field is "not equal");
 * - dates are stored as epoch milliseconds, which is exactly what matchesFilter compares.
 */
export function clauseToPinecone(clause: Clause): PineconeFilter | null {
  const { field, op } = clause;
  if (op === 'prefix') return null;
  const values = op === 'in' ? (clause.value as unknown[]) : [clause.value];

  if (field === 'createdAt' || field === 'updatedAt') {
    const ms = values.map((v) => (typeof v === 'string' ? Date.parse(v) : Number.NaN));
    if (ms.some(Number.isNaN)) return null;
    if (op === 'in') return { [field]: { $in: ms } };
    return { [field]: { [op === 'eq' ? '$eq' : op === 'ne' ? '$ne' : RANGE_OPS[op]]: ms[0] } };
  }

  if (ALWAYS_PRESENT_STRINGS.has(field)) {
    const strings = values.filter((v): v is string => typeof v === 'string');
    if (!strings.length) return null; // can never match a string field: left to the exact predicate
    if (op === 'eq') return { [field]: { $eq: strings[0] } };
    if (op === 'ne') return { [field]: { $ne: strings[0] } };
    if (op === 'in') return { [field]: { $in: strings } };
    return null; // string ranges
  }

  // `page` (stored as pageStart, absent when null) and metadata.<key> (any JSON value, or absent).
  const key = field === 'page' ? 'pageStart' : field;
  if (op === 'ne') return null;
  if (op === 'in') {
    const sameType = values.every((v) => typeof v === 'string') || values.every((v) => typeof v === 'number');
    if (!sameType || (field === 'page' && typeof values[0] !== 'number')) return null;
    return { [key]: { $in: values } };
  }
  const value = values[0];
  if (op === 'eq') return field === 'page' && typeof value !== 'number' ? null : { [key]: { $eq: value } };
  return typeof value === 'number' ? { [key]: { [RANGE_OPS[op]]: value } } : null;
}

/** The part of a filter Pinecone can evaluate, and whether that is all of it. */
export function filterToPinecone(filter: Filter): { filter: PineconeFilter | undefined; complete: boolean } {
  const conditions = filter.map(clauseToPinecone);
  const pushed = conditions.filter((c): c is PineconeFilter => c !== null);
  return {
    filter: pushed.length === 0 ? undefined : pushed.length === 1 ? pushed[0] : { $and: pushed },
    complete: pushed.length === conditions.length,
  };
}

export class PineconeDenseIndex implements DenseIndex {
  readonly backend = 'pinecone';
  private readonly client: Pinecone;
  private described: Promise<{ dimension: number; index: Index }> | undefined;

  constructor(private readonly options: PineconeDenseIndexOptions) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    // The SDK sets no timeout of its own.
    const fetchWithTimeout: typeof fetch = (input, init) => {
      const timeout = AbortSignal.timeout(timeoutMs);
      return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
    };
    this.client = new Pinecone({
      apiKey: options.apiKey,
      ...(options.controllerHost ? { controllerHostUrl: options.controllerHost } : {}),
      maxRetries: options.maxRetries ?? 3,
      fetchApi: fetchWithTimeout,
    });
  }

  async assertDimensions(dimensions: number): Promise<void> {
    const { dimension } = await this.describe();
    if (dimension !== dimensions) {
      throw new RaglineError(
        'invalid_config',
        `Invalid configuration: PINECONE_INDEX: Pinecone index "${this.options.index}" holds ${dimension}-dimensional vectors, ` +
          `but the collection's embeddings have ${dimensions} dimensions. Use an index created with dimension ${dimensions}.`,
        { variable: 'PINECONE_INDEX', index: this.options.index, indexDimensions: dimension, collectionDimensions: dimensions },
      );
    }
  }

  async upsert(document: DocumentRecord, chunks: DenseIndexEntry[]): Promise<void> {
    const records = chunks.map(({ id, chunk }) => ({
      id,
      values: Array.from(chunk.embedding),
      metadata: vectorMetadata(document, chunk),
    }));
    let written = 0;
    try {
      for (let i = 0; i < records.length; i += UPSERT_BATCH) {
        const batch = records.slice(i, i + UPSERT_BATCH);
        await this.call('upsert', (index) => index.upsert({ records: batch, namespace: document.collectionId }));
        written += batch.length;
      }
    } catch (err) {
      // The caller's transaction rolls back, so these ids will never have chunk rows: remove what was written.
      if (written)
        await this.delete(
          document.collectionId,
          records.slice(0, written).map((r) => r.id),
        ).catch(() => {});
      throw err;
    }
  }

  async listIds(collectionId: string): Promise<string[]> {
    const ids: string[] = [];
    let paginationToken: string | undefined;
    do {
      const page = await this.call('list', (index) => index.listPaginated({ namespace: collectionId, limit: LIST_PAGE, paginationToken }));
      for (const v of page.vectors ?? []) if (v.id) ids.push(v.id);
      paginationToken = page.pagination?.next;
    } while (paginationToken);
    return ids;
  }

  async fetch(collectionId: string, ids: string[]): Promise<Map<string, DenseIndexRecord>> {
    const found = new Map<string, DenseIndexRecord>();
    for (let i = 0; i < ids.length; i += FETCH_BATCH) {
      const batch = ids.slice(i, i + FETCH_BATCH);
      const response = await this.call('fetch', (index) => index.fetch({ ids: batch, namespace: collectionId }));
      for (const [id, record] of Object.entries(response.records ?? {})) {
        found.set(id, { values: record.values ?? [], metadata: (record.metadata ?? {}) as DenseIndexRecord['metadata'] });
      }
    }
    return found;
  }

  async write(collectionId: string, records: (DenseIndexRecord & { id: string })[]): Promise<void> {
    for (let i = 0; i < records.length; i += UPSERT_BATCH) {
      const batch = records.slice(i, i + UPSERT_BATCH);
      await this.call('upsert', (index) => index.upsert({ records: batch, namespace: collectionId }));
    }
  }

  async delete(collectionId: string, chunkIds: string[]): Promise<void> {
    for (let i = 0; i < chunkIds.length; i += DELETE_BATCH) {
      const ids = chunkIds.slice(i, i + DELETE_BATCH);
      await this.call('delete', (index) => index.deleteMany({ ids, namespace: collectionId }).catch(ignoreMissingNamespace));
    }
  }

  async deleteCollection(collectionId: string): Promise<void> {
    await this.call('delete namespace', (index) => index.deleteAll({ namespace: collectionId }).catch(ignoreMissingNamespace));
  }

  /**
   * Asks Pinecone for `limit` ids (more when part of the filter stays in JS), joins them with the
   * chunk rows and applies the exact filter. When that leaves fewer than `limit` hits and Pinecone
   * had more to give, asks again for more.
   */
  async search(query: DenseQuery, loadChunks: (ids: string[]) => Promise<ChunkRecord[]>): Promise<DenseHit[]> {
    await this.assertDimensions(query.vector.length);
    const limit = Math.max(1, Math.floor(query.limit));
    const filter = query.filter ?? [];
    const pushed = filterToPinecone(filter);
    const vector = Array.from(query.vector);
    let topK = Math.min(MAX_TOP_K, pushed.complete ? limit : limit * 2 + 20);
    for (;;) {
      const { matches } = await this.call('query', (index) =>
        index.query({
          namespace: query.collectionId,
          vector,
          topK,
          ...(pushed.filter ? { filter: pushed.filter } : {}),
          includeValues: false,
          includeMetadata: false,
        }),
      );
      const chunks = new Map((await loadChunks(matches.map((m) => m.id))).map((c) => [c.id, c]));
      const hits: DenseHit[] = [];
      for (const match of matches) {
        const chunk = chunks.get(match.id);
        // No chunk row: an orphan vector of a replaced or deleted version.
        if (!chunk || chunk.collectionId !== query.collectionId || !matchesFilter(chunk, filter)) continue;
        hits.push({ chunk, similarity: match.score ?? 0 });
      }
      if (hits.length >= limit || matches.length < topK || topK >= MAX_TOP_K) {
        // Ties ordered by id, as the pgvector path does.
        hits.sort((a, b) => b.similarity - a.similarity || (a.chunk.id < b.chunk.id ? -1 : a.chunk.id > b.chunk.id ? 1 : 0));
        return hits.slice(0, limit);
      }
      topK = Math.min(MAX_TOP_K, topK * 4);
    }
  }

  /** The index's dimension and data-plane client, from describeIndex (once; again after a failure). */
  private describe(): Promise<{ dimension: number; index: Index }> {
    this.described ??= (async () => {
      const { index: name } = this.options;
      const model = await this.client.describeIndex(name).catch((err: unknown) => {
        throw this.toRaglineError(err, 'describe index');
      });
      if (model.dimension === undefined || model.metric !== 'cosine') {
        throw new RaglineError(
          'invalid_config',
          `Invalid configuration: PINECONE_INDEX: Pinecone index "${name}" must be a dense index with the cosine metric ` +
            `(it is ${model.vectorType ?? 'unknown'}, metric ${model.metric})`,
          { variable: 'PINECONE_INDEX', index: name, metric: model.metric, vectorType: model.vectorType },
        );
      }
      return { dimension: model.dimension, index: this.client.index({ name, host: this.options.host ?? model.host }) };
    })().catch((err: unknown) => {
      this.described = undefined;
      throw err;
    });
    return this.described;
  }

  private async call<T>(operation: string, run: (index: Index) => Promise<T>): Promise<T> {
    const { index } = await this.describe();
    try {
      // A pooled keep-alive connection the server closed meanwhile fails the next request with a reset;
      // every call here is idempotent (upserts and deletes by id, queries), so it is sent again.
      return await pRetry(() => run(index), {
        retries: CONNECTION_RESET_RETRIES,
        minTimeout: 50,
        shouldRetry: ({ error }) => isConnectionReset(error),
      });
    } catch (err) {
      throw this.toRaglineError(err, operation);
    }
  }

  private toRaglineError(err: unknown, operation: string): RaglineError {
    if (err instanceof RaglineError) return err;
    const index = this.options.index;
    if (err instanceof Errors.PineconeAuthorizationError) {
      return new RaglineError(
        'invalid_config',
        `Invalid configuration: PINECONE_API_KEY: Pinecone rejected the API key (${operation})`,
        { variable: 'PINECONE_API_KEY', index, operation },
        { cause: err },
      );
    }
    if (err instanceof Errors.PineconeNotFoundError && operation === 'describe index') {
      return new RaglineError(
        'invalid_config',
        `Invalid configuration: PINECONE_INDEX: Pinecone has no index named "${index}"`,
        { variable: 'PINECONE_INDEX', index, operation },
        { cause: err },
      );
    }
    const reason =
      err instanceof Errors.PineconeMaxRetriesExceededError
        ? `it kept answering with server errors (${(this.options.maxRetries ?? 3) + 1} attempts)`
        : err instanceof Errors.PineconeConnectionError
          ? `no response (${causes(err).join(': ') || 'connection failed'})`
          : errorMessage(err);
    return new RaglineError('upstream_unavailable', `Pinecone ${operation} failed: ${reason}`, { index, operation }, { cause: err });
  }
}

const CONNECTION_RESET_RETRIES = 2;
