import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { EmbedKind, EmbedOptions, Embedder, TokenCounter, TokenStates } from '../types.ts';
import { TokenStatesCache } from './token-cache.ts';

/**
 * An Embedder that remembers every vector it has computed, on disk, so that repeated
 * evaluation runs and fusion sweeps never embed the same text twice.
 *
 * One append-only file per (model, dtype, max tokens) under `cacheDir`. The file is its own index:
 * a 16-byte header (magic, dimensions), then fixed-size records
 *   sha256(kind + "\0" + text) [32 bytes] | vector [dimensions × float32] | crc32(key + vector) [4 bytes]
 * read into memory on first use. A crash mid-append leaves a short or corrupt tail record: it is
 * ignored, and cut off before the next append so later records stay aligned.
 */

const MAGIC = Buffer.from('RLEMBC01', 'latin1');
const HEADER_BYTES = 16;
const KEY_BYTES = 32;
const CRC_BYTES = 4;

export interface CachingEmbedderOptions {
  /** Part of the cache identity when the inner embedder does not expose it (e.g. "fp32" / "q8"). */
  dtype?: string;
  /** close() also closes the inner embedder (default true); false when the caller shares it. */
  closeInner?: boolean;
  /**
   * Also keep token vectors (embedTokens) on disk, beside the vectors (default false: they take
   * about 1.5 kB per token, so only evaluations that re-pool the same windows want them).
   */
  cacheTokenStates?: boolean;
}

export class CachingEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxTokens: number;
  readonly tokenizer: TokenCounter;
  /** Present only when the inner embedder has them; cached only with `cacheTokenStates`. */
  readonly embedTokens?: (inputs: string[][], kind: EmbedKind, options?: EmbedOptions) => Promise<TokenStates[]>;
  readonly file: string;
  /** Texts served from the cache / passed to the inner embedder since this instance was created. */
  readonly stats = { hits: 0, misses: 0 };

  private vectors: Map<string, Float32Array> | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly recordBytes: number;
  private readonly closeInner: boolean;
  private readonly tokenStates: TokenStatesCache | undefined;

  constructor(
    readonly inner: Embedder,
    cacheDir: string,
    options: CachingEmbedderOptions = {},
  ) {
    this.closeInner = options.closeInner ?? true;
    this.modelId = inner.modelId;
    this.dimensions = inner.dimensions;
    this.maxTokens = inner.maxTokens;
    this.tokenizer = inner.tokenizer;
    this.recordBytes = KEY_BYTES + inner.dimensions * 4 + CRC_BYTES;
    const identity = [inner.modelId, options.dtype ?? 'default', `${inner.maxTokens}t`].join('__');
    this.file = path.join(cacheDir, `${identity.replace(/[^A-Za-z0-9._-]+/g, '_')}.bin`);
    this.tokenStates =
      options.cacheTokenStates && inner.embedTokens ? new TokenStatesCache(this.file.replace(/\.bin$/, '.tokens.bin')) : undefined;
    if (inner.embedTokens) this.embedTokens = (inputs, kind, options) => this.embedTokensCached(inputs, kind, options);
  }

  /** Number of vectors on disk (loads the file on first call). */
  size(): number {
    return this.load().size;
  }

  /** Copies of every vector on disk, in no particular order (benchmarks reuse real vectors this way). */
  storedVectors(): Float32Array[] {
    return [...this.load().values()].map((v) => v.slice());
  }

  async embed(texts: string[], kind: EmbedKind, options?: EmbedOptions): Promise<Float32Array[]> {
    const cache = this.load();
    const keys = texts.map((t) => cacheKey(kind, t));
    const missing = new Map<string, string>();
    keys.forEach((key, i) => {
      if (!cache.has(key) && !missing.has(key)) missing.set(key, texts[i]!);
    });
    if (missing.size) {
      const vectors = await this.inner.embed([...missing.values()], kind, options);
      const missingKeys = [...missing.keys()];
      missingKeys.forEach((key, i) => cache.set(key, vectors[i]!));
      await this.append(missingKeys.map((key, i) => [key, vectors[i]!] as const));
    }
    this.stats.misses += missing.size;
    this.stats.hits += texts.length - missing.size;
    // Copies, so a caller that scales a vector in place cannot corrupt the cache.
    return keys.map((key) => cache.get(key)!.slice());
  }

  private async embedTokensCached(inputs: string[][], kind: EmbedKind, options?: EmbedOptions): Promise<TokenStates[]> {
    const cache = this.tokenStates;
    if (!cache) return this.inner.embedTokens!(inputs, kind, options);
    const found = cache.get(inputs, kind);
    const missing = inputs.filter((_, i) => !found[i]);
    if (missing.length) {
      const computed = await this.inner.embedTokens!(missing, kind, options);
      await cache.put(missing, kind, computed);
      let next = 0;
      found.forEach((states, i) => {
        if (!states) found[i] = computed[next++];
      });
    }
    this.stats.misses += missing.length;
    this.stats.hits += inputs.length - missing.length;
    return found as TokenStates[];
  }

  async close(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.tokenStates?.close();
    if (this.closeInner) await this.inner.close?.();
  }

  private load(): Map<string, Float32Array> {
    if (this.vectors) return this.vectors;
    const vectors = new Map<string, Float32Array>();
    this.vectors = vectors;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const buf = fs.existsSync(this.file) ? fs.readFileSync(this.file) : Buffer.alloc(0);
    if (buf.length < HEADER_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC) || buf.readUInt32LE(8) !== this.dimensions) {
      // Absent, torn before the header was complete, or not ours: start afresh.
      const header = Buffer.alloc(HEADER_BYTES);
      MAGIC.copy(header);
      header.writeUInt32LE(this.dimensions, 8);
      fs.writeFileSync(this.file, header);
      return vectors;
    }
    let offset = HEADER_BYTES;
    for (; offset + this.recordBytes <= buf.length; offset += this.recordBytes) {
      const body = buf.subarray(offset, offset + this.recordBytes - CRC_BYTES);
      if (crc32(body) !== buf.readUInt32LE(offset + this.recordBytes - CRC_BYTES)) break;
      const key = body.subarray(0, KEY_BYTES).toString('hex');
      // Copy out of the file buffer: Float32Array needs 4-byte alignment, and this frees the buffer.
      const vector = new Float32Array(this.dimensions);
      Buffer.from(vector.buffer).set(body.subarray(KEY_BYTES));
      vectors.set(key, vector);
    }
    if (offset < buf.length) fs.truncateSync(this.file, offset);
    return vectors;
  }

  /** Appends are chained so records from concurrent embed() calls never interleave. */
  private append(entries: readonly (readonly [string, Float32Array])[]): Promise<void> {
    const out = Buffer.alloc(entries.length * this.recordBytes);
    entries.forEach(([key, vector], i) => {
      const at = i * this.recordBytes;
      out.write(key, at, KEY_BYTES, 'hex');
      Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(out, at + KEY_BYTES);
      const crcAt = at + this.recordBytes - CRC_BYTES;
      out.writeUInt32LE(crc32(out.subarray(at, crcAt)), crcAt);
    });
    // A failed earlier append was already reported to its caller; it must not block this one.
    this.writes = this.writes.catch(() => undefined).then(() => fs.promises.appendFile(this.file, out));
    return this.writes;
  }
}

function cacheKey(kind: EmbedKind, text: string): string {
  return createHash('sha256').update(kind).update('\0').update(text).digest('hex');
}
