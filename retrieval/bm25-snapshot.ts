import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { Bm25Index, type Bm25IndexSnapshot, type Bm25Options } from './bm25.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Layout of a stored snapshot. Bump it when the analyzer (tokenizer, stop words, stemmer) or
 * Bm25IndexSnapshot changes: replicas then ignore old snapshots, rebuild, and overwrite them.
 */
export const SNAPSHOT_FORMAT = 2;

/**
 * Gzipped JSON of the index. JSON.stringify runs on the event loop (it cannot be split), so the
 * caller picks a moment when the index is not being changed; compression runs on the thread pool.
 */
export async function encodeSnapshot(index: Bm25Index): Promise<Buffer> {
  const json = JSON.stringify(index.toSnapshot());
  return gzipAsync(json);
}

export async function decodeSnapshot(payload: Uint8Array, options: Partial<Bm25Options> = {}): Promise<Bm25Index> {
  const json = (await gunzipAsync(payload)).toString('utf8');
  return Bm25Index.fromSnapshot(JSON.parse(json) as Bm25IndexSnapshot, options);
}
