import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { EmbedKind, TokenStates } from '../types.ts';

/**
 * Token vectors of late-chunking windows kept on disk, so evaluation runs that change only how
 * chunk vectors are pooled (or the fusion after them) read each window once. A window's token
 * vectors are too large to hold a whole corpus in memory, so only the index is: the file is read
 * record by record on demand.
 *
 * Append-only records: sha256(kind, pieces) [32] | body length [u32] | body | crc32(key + body) [u32],
 * body = tokens, dimensions, piece count [u32 each], pieces (start, end) [u32 each], vectors [float32].
 * A torn or corrupt tail is cut off when the file is opened.
 */
const KEY_BYTES = 32;
const HEAD_BYTES = KEY_BYTES + 4;
const CRC_BYTES = 4;

export class TokenStatesCache {
  private index: Map<string, { offset: number; length: number }> | undefined;
  private writes: Promise<void> = Promise.resolve();
  private end = 0;

  constructor(readonly file: string) {}

  get size(): number {
    return this.load().size;
  }

  /** The cached states of each input, or undefined where there are none. */
  get(inputs: string[][], kind: EmbedKind): Array<TokenStates | undefined> {
    const index = this.load();
    if (!index.size) return inputs.map(() => undefined);
    const fd = fs.openSync(this.file, 'r');
    try {
      return inputs.map((pieces) => {
        const at = index.get(tokenKey(kind, pieces));
        if (!at) return undefined;
        const record = Buffer.alloc(at.length);
        fs.readSync(fd, record, 0, at.length, at.offset);
        return decode(record.subarray(HEAD_BYTES, at.length - CRC_BYTES));
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Appends are chained so records from concurrent calls never interleave. */
  put(inputs: string[][], kind: EmbedKind, states: TokenStates[]): Promise<void> {
    const index = this.load();
    const records = inputs.map((pieces, i) => encode(tokenKey(kind, pieces), states[i]!));
    this.writes = this.writes
      .catch(() => undefined)
      .then(async () => {
        for (const [i, record] of records.entries()) {
          index.set(tokenKey(kind, inputs[i]!), { offset: this.end, length: record.length });
          this.end += record.length;
        }
        await fs.promises.appendFile(this.file, Buffer.concat(records));
      });
    return this.writes;
  }

  async close(): Promise<void> {
    await this.writes.catch(() => undefined);
  }

  private load(): Map<string, { offset: number; length: number }> {
    if (this.index) return this.index;
    const index = new Map<string, { offset: number; length: number }>();
    this.index = index;
    if (!fs.existsSync(this.file)) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, Buffer.alloc(0));
      return index;
    }
    const size = fs.statSync(this.file).size;
    const fd = fs.openSync(this.file, 'r');
    let offset = 0;
    try {
      const head = Buffer.alloc(HEAD_BYTES);
      while (offset + HEAD_BYTES <= size) {
        fs.readSync(fd, head, 0, HEAD_BYTES, offset);
        const length = HEAD_BYTES + head.readUInt32LE(KEY_BYTES) + CRC_BYTES;
        if (offset + length > size) break;
        const crc = Buffer.alloc(CRC_BYTES);
        fs.readSync(fd, crc, 0, CRC_BYTES, offset + length - CRC_BYTES);
        // Only the tail can be torn; checking every body would read the whole file.
        if (offset + length === size && !this.intact(fd, offset, length, crc.readUInt32LE(0))) break;
        index.set(head.subarray(0, KEY_BYTES).toString('hex'), { offset, length });
        offset += length;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (offset < size) fs.truncateSync(this.file, offset);
    this.end = offset;
    return index;
  }

  private intact(fd: number, offset: number, length: number, crc: number): boolean {
    const body = Buffer.alloc(length - CRC_BYTES);
    fs.readSync(fd, body, 0, body.length, offset);
    return crc32(body) === crc;
  }
}

function encode(key: string, states: TokenStates): Buffer {
  const bodyBytes = 12 + states.pieces.length * 8 + states.vectors.byteLength;
  const out = Buffer.alloc(HEAD_BYTES + bodyBytes + CRC_BYTES);
  out.write(key, 0, KEY_BYTES, 'hex');
  out.writeUInt32LE(bodyBytes, KEY_BYTES);
  let at = HEAD_BYTES;
  for (const n of [states.tokens, states.dimensions, states.pieces.length]) at = out.writeUInt32LE(n, at);
  for (const piece of states.pieces) at = out.writeUInt32LE(piece.end, out.writeUInt32LE(piece.start, at));
  Buffer.from(states.vectors.buffer, states.vectors.byteOffset, states.vectors.byteLength).copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - CRC_BYTES)), out.length - CRC_BYTES);
  return out;
}

function decode(body: Buffer): TokenStates {
  const tokens = body.readUInt32LE(0);
  const dimensions = body.readUInt32LE(4);
  const count = body.readUInt32LE(8);
  const pieces = Array.from({ length: count }, (_, i) => ({ start: body.readUInt32LE(12 + i * 8), end: body.readUInt32LE(16 + i * 8) }));
  const from = 12 + count * 8;
  const vectors = new Float32Array(tokens * dimensions);
  Buffer.from(vectors.buffer).set(body.subarray(from, from + vectors.byteLength));
  return { tokens, dimensions, pieces, vectors };
}

function tokenKey(kind: EmbedKind, pieces: string[]): string {
  return createHash('sha256').update(kind).update('\0').update(JSON.stringify(pieces)).digest('hex');
}
