import type http from 'node:http';
import { cosine } from '../core/vectors.ts';
import { LocalServer } from './local-server.ts';

/** A failNext status: the server drops the connection instead of answering. */
export const CONNECTION_RESET = -1;

/**
 * A small Pinecone for contract tests, on 127.0.0.1: the control-plane "describe index" call and
 * the data-plane calls the SDK makes for vectors (upsert, query, fetch, delete, describe index
 * stats), in the wire format of @pinecone-database/pinecone (Api-Key and X-Pinecone-Api-Version
 * headers, camelCase JSON bodies on the data plane, snake_case on the control plane). One server
 * answers both planes. Queries are brute force over the namespace (cosine, or the dot product with
 * the dotproduct metric), with metadata filters. Three kinds of index: dense; sparse (sparseValues
 * only, queried by sparseVector); hybrid (a dotproduct dense index whose records may also carry
 * sparseValues; a query with both vector and sparseVector scores the sum of the two dot products).
 *
 * It is strict where Pinecone's behaviour is narrower or undocumented, so that a client relying
 * on leniency fails here: range operators take numbers only, $in takes strings or numbers, and
 * every operator is false on a vector that lacks the field (so pushing `$ne` down on an optional
 * field loses results, as it may on the real service).
 */

export interface SparseVector {
  indices: number[];
  values: number[];
}

export interface StoredVector {
  id: string;
  values: number[];
  sparseValues?: SparseVector;
  metadata: Record<string, unknown>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

export interface FakePineconeOptions {
  apiKey?: string;
  index?: string;
  dimension: number;
  metric?: 'cosine' | 'dotproduct' | 'euclidean';
  /** A sparse index holds only sparseValues and answers sparseVector queries by dot product. */
  vectorType?: 'dense' | 'sparse';
  /** Upserted vectors become visible to queries only this long after the write (eventual consistency). */
  consistencyDelayMs?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DATA_PATHS = ['/vectors/upsert', '/query', '/vectors/delete', '/vectors/fetch', '/vectors/list', '/describe_index_stats'] as const;
export type FakePath = (typeof DATA_PATHS)[number] | '/indexes';

type Scalar = string | number | boolean;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkScalar(op: string, operand: unknown): Scalar {
  if (typeof operand === 'string' || typeof operand === 'number' || typeof operand === 'boolean') return operand;
  throw new HttpError(400, `${op} takes a string, number or boolean, got ${JSON.stringify(operand)}`);
}

function checkList(op: string, operand: unknown): Array<string | number> {
  if (!Array.isArray(operand) || !operand.length || !operand.every((v) => typeof v === 'string' || typeof v === 'number')) {
    throw new HttpError(400, `${op} takes a non-empty array of strings or numbers, got ${JSON.stringify(operand)}`);
  }
  return operand as Array<string | number>;
}

function fieldMatches(actual: unknown, op: string, operand: unknown): boolean {
  if (op === '$exists') return (actual !== undefined) === operand;
  if (['$gt', '$gte', '$lt', '$lte'].includes(op) && typeof operand !== 'number') {
    throw new HttpError(400, `${op} takes a number, got ${JSON.stringify(operand)}`);
  }
  if (actual === undefined) {
    // Validate the operand anyway, then: no field, no match.
    if (op === '$eq' || op === '$ne') checkScalar(op, operand);
    else if (op === '$in' || op === '$nin') checkList(op, operand);
    else if (!['$gt', '$gte', '$lt', '$lte'].includes(op)) throw new HttpError(400, `unknown filter operator ${op}`);
    return false;
  }
  // A list-of-strings field matches when one of its elements does.
  const values = (Array.isArray(actual) ? actual : [actual]) as Scalar[];
  switch (op) {
    case '$eq':
      return values.includes(checkScalar(op, operand));
    case '$ne':
      return !values.includes(checkScalar(op, operand));
    case '$in': {
      const list = checkList(op, operand);
      return values.some((v) => list.includes(v as string | number));
    }
    case '$nin': {
      const list = checkList(op, operand);
      return !values.some((v) => list.includes(v as string | number));
    }
    case '$gt':
      return typeof actual === 'number' && actual > (operand as number);
    case '$gte':
      return typeof actual === 'number' && actual >= (operand as number);
    case '$lt':
      return typeof actual === 'number' && actual < (operand as number);
    case '$lte':
      return typeof actual === 'number' && actual <= (operand as number);
    default:
      throw new HttpError(400, `unknown filter operator ${op}`);
  }
}

/** Pinecone's metadata filter language: {field: value}, {field: {$op: value}}, $and, $or. */
export function evaluateFilter(metadata: Record<string, unknown>, filter: unknown): boolean {
  if (!isPlainObject(filter)) throw new HttpError(400, 'filter must be an object');
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(condition) || !condition.length) throw new HttpError(400, `${key} takes a non-empty array`);
      const results = condition.map((f) => evaluateFilter(metadata, f));
      if (key === '$and' ? !results.every(Boolean) : !results.some(Boolean)) return false;
      continue;
    }
    if (key.startsWith('$')) throw new HttpError(400, `unknown filter operator ${key}`);
    const ops = isPlainObject(condition) ? condition : { $eq: condition };
    for (const [op, operand] of Object.entries(ops)) {
      if (!fieldMatches(metadata[key], op, operand)) return false;
    }
  }
  return true;
}

function checkMetadata(id: string, metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  if (!isPlainObject(metadata)) throw new HttpError(400, `metadata of ${id} must be an object`);
  for (const [key, value] of Object.entries(metadata)) {
    const ok =
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok || key.startsWith('$')) {
      throw new HttpError(
        400,
        `Metadata value must be a string, number, boolean or list of strings, got '${JSON.stringify(value)}' for field '${key}'`,
      );
    }
  }
  return metadata;
}

export class FakePinecone {
  readonly apiKey: string;
  readonly indexName: string;
  dimension: number;
  metric: string;
  /** The data-plane host describe-index reports (default: this server). */
  reportedHost: string | undefined;
  readonly requests: RecordedRequest[] = [];
  /** namespace → vector id → vector. */
  readonly namespaces = new Map<string, Map<string, StoredVector>>();
  private readonly failures = new Map<string, number[]>();
  readonly vectorType: 'dense' | 'sparse';
  consistencyDelayMs: number;
  /** vector id (per namespace) → when its latest write becomes visible to queries. */
  private readonly visibleAt = new Map<string, number>();
  private readonly server = new LocalServer((req, res) => void this.handle(req, res));

  constructor(options: FakePineconeOptions) {
    this.apiKey = options.apiKey ?? 'pc-test-key';
    this.indexName = options.index ?? 'ragline-test';
    this.dimension = options.dimension;
    this.metric = options.metric ?? 'cosine';
    this.vectorType = options.vectorType ?? 'dense';
    this.consistencyDelayMs = options.consistencyDelayMs ?? 0;
    if (this.vectorType === 'sparse') this.metric = 'dotproduct';
  }

  /** Base URL of both planes. */
  get url(): string {
    return this.server.origin;
  }

  async start(): Promise<this> {
    await this.server.start();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /**
   * The next requests to `path` are answered with these statuses, in order (0 = handled normally,
   * CONNECTION_RESET = the connection is dropped without an answer);
   * '/indexes' covers describe-index.
   */
  failNext(path: FakePath, ...statuses: number[]): void {
    this.failures.set(path, [...(this.failures.get(path) ?? []), ...statuses]);
  }

  reset(): void {
    this.requests.length = 0;
    this.failures.clear();
  }

  to(path: FakePath): RecordedRequest[] {
    return this.requests.filter((r) => (path === '/indexes' ? r.path.startsWith('/indexes/') : r.path === path));
  }

  vectors(namespace: string): StoredVector[] {
    return [...(this.namespaces.get(namespace)?.values() ?? [])];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = Buffer.concat(chunks).toString('utf8');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: req.headers,
    };
    this.requests.push(record);
    const controlPlane = url.pathname.startsWith('/indexes/');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const sendError = (status: number, message: string) =>
      controlPlane
        ? send(status, {
            error: { code: status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHENTICATED' : 'INVALID_ARGUMENT', message },
            status,
          })
        : send(status, { code: status === 404 ? 5 : status === 401 ? 16 : 3, message, details: [] });
    try {
      if (req.headers['api-key'] !== this.apiKey) throw new HttpError(401, 'Invalid API Key');
      if (!req.headers['x-pinecone-api-version']) throw new HttpError(400, 'missing X-Pinecone-Api-Version header');
      const failure = this.failures.get(controlPlane ? '/indexes' : url.pathname)?.shift();
      if (failure === CONNECTION_RESET) {
        req.socket.destroy();
        return;
      }
      if (failure) throw new HttpError(failure, `injected failure ${failure}`);
      send(200, this.route(record));
    } catch (err) {
      if (err instanceof HttpError) sendError(err.status, err.message);
      else sendError(500, String(err));
    }
  }

  private route(req: RecordedRequest): unknown {
    if (req.method === 'GET' && req.path.startsWith('/indexes/'))
      return this.describeIndex(decodeURIComponent(req.path.slice('/indexes/'.length)));
    const namespace = typeof req.body.namespace === 'string' ? req.body.namespace : '';
    switch (`${req.method} ${req.path}`) {
      case 'POST /vectors/upsert':
        return this.upsert(namespace, req.body.vectors);
      case 'POST /query':
        return this.query(namespace, req.body);
      case 'POST /vectors/delete':
        return this.delete(namespace, req.body);
      case 'GET /vectors/list':
        return this.list(req.query);
      case 'GET /vectors/fetch':
        return this.fetch(req.query.get('namespace') ?? '', req.query.getAll('ids'));
      case 'POST /describe_index_stats':
        return this.stats();
      default:
        throw new HttpError(404, `no route ${req.method} ${req.path}`);
    }
  }

  private describeIndex(name: string) {
    if (name !== this.indexName) throw new HttpError(404, `Resource ${name} not found`);
    return {
      name,
      dimension: this.dimension,
      metric: this.metric,
      host: this.reportedHost ?? this.url,
      deletion_protection: 'disabled',
      tags: null,
      spec: { serverless: { cloud: 'aws', region: 'us-east-1', read_capacity: { mode: 'OnDemand', status: { state: 'Ready' } } } },
      status: { ready: true, state: 'Ready' },
      vector_type: this.vectorType,
    };
  }

  private upsert(namespace: string, vectors: unknown) {
    if (!Array.isArray(vectors) || !vectors.length) throw new HttpError(400, 'vectors must be a non-empty array');
    if (vectors.length > 1000) throw new HttpError(400, `at most 1000 vectors per upsert, got ${vectors.length}`);
    const checked = vectors.map((v: unknown): StoredVector => {
      if (!isPlainObject(v) || typeof v.id !== 'string' || !v.id) throw new HttpError(400, 'every vector needs an id');
      if (this.vectorType === 'sparse') {
        if (Array.isArray(v.values) && v.values.length) throw new HttpError(400, `vector ${v.id}: a sparse index takes no dense values`);
        return {
          id: v.id,
          values: [],
          sparseValues: checkSparse(`vector ${v.id}`, v.sparseValues),
          metadata: checkMetadata(v.id, v.metadata),
        };
      }
      const values = v.values;
      if (!Array.isArray(values) || !values.every((x) => typeof x === 'number')) throw new HttpError(400, `vector ${v.id} has no values`);
      if (values.length !== this.dimension) {
        throw new HttpError(400, `Vector dimension ${values.length} does not match the dimension of the index ${this.dimension}`);
      }
      // A hybrid index is a dense index with the dotproduct metric whose records may also carry sparse values.
      if (v.sparseValues !== undefined && this.metric !== 'dotproduct') {
        throw new HttpError(400, `vector ${v.id}: sparse values are supported only by indexes with the dotproduct metric`);
      }
      const sparseValues = v.sparseValues === undefined ? undefined : checkSparse(`vector ${v.id}`, v.sparseValues);
      return { id: v.id, values: values as number[], ...(sparseValues ? { sparseValues } : {}), metadata: checkMetadata(v.id, v.metadata) };
    });
    let ns = this.namespaces.get(namespace);
    if (!ns) this.namespaces.set(namespace, (ns = new Map()));
    const visible = Date.now() + this.consistencyDelayMs;
    for (const v of checked) {
      ns.set(v.id, v);
      this.visibleAt.set(`${namespace}\u0000${v.id}`, visible);
    }
    return { upsertedCount: checked.length };
  }

  private query(namespace: string, body: Record<string, unknown>) {
    const { topK, vector, sparseVector, filter, includeValues, includeMetadata } = body;
    if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > 10_000)
      throw new HttpError(400, 'topK must be in 1..10000');
    if ((includeValues || includeMetadata) && topK > 1000)
      throw new HttpError(400, 'topK must be <= 1000 with includeValues or includeMetadata');
    let score: (v: StoredVector) => number;
    if (this.vectorType === 'sparse') {
      if (Array.isArray(vector) && vector.length) throw new HttpError(400, 'a sparse index is queried with sparseVector only');
      const query = checkSparse('sparseVector', sparseVector);
      score = (v) => sparseDot(query, v.sparseValues!);
    } else {
      if (!Array.isArray(vector) || vector.length !== this.dimension) {
        throw new HttpError(
          400,
          `Vector dimension ${Array.isArray(vector) ? vector.length : 0} does not match the dimension of the index ${this.dimension}`,
        );
      }
      const dense = vector as number[];
      if (sparseVector !== undefined && this.metric !== 'dotproduct') {
        throw new HttpError(400, 'a sparseVector query needs an index with the dotproduct metric');
      }
      const sparse = sparseVector === undefined ? undefined : checkSparse('sparseVector', sparseVector);
      const denseScore = (v: StoredVector) => (this.metric === 'dotproduct' ? dot(dense, v.values) : cosine(dense, v.values));
      // Hybrid: the dense and the sparse dot products add up; a record without sparse values scores by its dense part.
      score = sparse ? (v) => denseScore(v) + (v.sparseValues ? sparseDot(sparse, v.sparseValues) : 0) : denseScore;
    }
    const now = Date.now();
    const matches = this.vectors(namespace)
      .filter((v) => (this.visibleAt.get(`${namespace}\u0000${v.id}`) ?? 0) <= now)
      .filter((v) => filter === undefined || evaluateFilter(v.metadata, filter))
      .map((v) => ({ v, score: score(v) }))
      // A sparse query matches only vectors sharing a dimension with it.
      .filter(({ score }) => this.vectorType === 'dense' || score > 0)
      .sort((a, b) => b.score - a.score || (a.v.id < b.v.id ? -1 : 1))
      .slice(0, topK)
      .map(({ v, score }) => ({
        id: v.id,
        score,
        values: includeValues ? v.values : [],
        ...(includeValues && v.sparseValues ? { sparseValues: v.sparseValues } : {}),
        ...(includeMetadata ? { metadata: v.metadata } : {}),
      }));
    return { results: [], matches, namespace, usage: { readUnits: 5 } };
  }

  private delete(namespace: string, body: Record<string, unknown>) {
    const ns = this.namespaces.get(namespace);
    if (!ns) throw new HttpError(404, 'Namespace not found');
    if (body.deleteAll === true) {
      this.namespaces.delete(namespace);
    } else if (Array.isArray(body.ids)) {
      if (!body.ids.length || body.ids.length > 1000) throw new HttpError(400, 'ids must hold 1..1000 ids');
      for (const id of body.ids) ns.delete(String(id));
    } else if (body.filter !== undefined) {
      for (const v of [...ns.values()]) if (evaluateFilter(v.metadata, body.filter)) ns.delete(v.id);
    } else {
      throw new HttpError(400, 'delete needs ids, filter or deleteAll');
    }
    return {};
  }

  private fetch(namespace: string, ids: string[]) {
    const ns = this.namespaces.get(namespace);
    const vectors: Record<string, StoredVector> = {};
    for (const id of ids) {
      const v = ns?.get(id);
      if (v) vectors[id] = v;
    }
    return { vectors, namespace, usage: { readUnits: 1 } };
  }

  /** Ids in id order, `limit` per page (default 100), continued by an opaque token. */
  private list(query: URLSearchParams) {
    const namespace = query.get('namespace') ?? '';
    const limit = Number(query.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new HttpError(400, 'limit must be in 1..100');
    const prefix = query.get('prefix') ?? '';
    const after = query.get('paginationToken') ? Buffer.from(query.get('paginationToken')!, 'base64url').toString('utf8') : '';
    const ids = this.vectors(namespace)
      .map((v) => v.id)
      .filter((id) => id.startsWith(prefix) && id > after)
      .sort();
    const page = ids.slice(0, limit);
    return {
      vectors: page.map((id) => ({ id })),
      ...(ids.length > limit ? { pagination: { next: Buffer.from(page.at(-1)!, 'utf8').toString('base64url') } } : {}),
      namespace,
      usage: { readUnits: 1 },
    };
  }

  private stats() {
    const namespaces = Object.fromEntries([...this.namespaces].map(([name, ns]) => [name, { vectorCount: ns.size }]));
    const total = [...this.namespaces.values()].reduce((n, ns) => n + ns.size, 0);
    return {
      namespaces,
      dimension: this.dimension,
      indexFullness: 0,
      totalVectorCount: total,
      metric: this.metric,
      vectorType: this.vectorType,
    };
  }
}

/** Pinecone's rules for sparse values: uint32 indices without repeats, as many finite values. */
function checkSparse(what: string, sparse: unknown): SparseVector {
  if (!isPlainObject(sparse) || !Array.isArray(sparse.indices) || !Array.isArray(sparse.values)) {
    throw new HttpError(400, `${what}: sparse values need indices and values`);
  }
  const { indices, values } = sparse as { indices: unknown[]; values: unknown[] };
  if (!indices.length || indices.length !== values.length)
    throw new HttpError(400, `${what}: indices and values must be non-empty and of equal length`);
  if (!indices.every((i) => Number.isInteger(i) && (i as number) >= 0 && (i as number) <= 0xffffffff)) {
    throw new HttpError(400, `${what}: sparse indices must be uint32`);
  }
  if (new Set(indices).size !== indices.length) throw new HttpError(400, `${what}: sparse indices must be unique`);
  if (!values.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new HttpError(400, `${what}: sparse values must be numbers`);
  return { indices: indices as number[], values: values as number[] };
}

function dot(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function sparseDot(a: SparseVector, b: SparseVector): number {
  const weights = new Map(b.indices.map((index, i) => [index, b.values[i]!]));
  let sum = 0;
  a.indices.forEach((index, i) => {
    sum += a.values[i]! * (weights.get(index) ?? 0);
  });
  return sum;
}
