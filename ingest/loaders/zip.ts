import JSZip from 'jszip';
import { DocumentError, errorMessage } from '../../core/errors.ts';
import type { LoaderLimits } from './limits.ts';

/** The sizes JSZip reads from the central directory; not in its typings, but stable across 3.x. */
interface DeclaredSizes {
  _data?: { compressedSize?: number; uncompressedSize?: number };
}

/** JSZip's chunked reader: public in its docs, missing from its typings. */
interface ChunkStream {
  on(event: 'data', listener: (chunk: Uint8Array) => void): ChunkStream;
  on(event: 'error', listener: (err: Error) => void): ChunkStream;
  on(event: 'end', listener: () => void): ChunkStream;
  resume(): ChunkStream;
  pause(): ChunkStream;
}

type ZipLimits = Pick<LoaderLimits, 'zipMaxEntries' | 'zipMaxUncompressedBytes' | 'zipMaxCompressionRatio'>;

/**
 * A zip container whose central directory passed the limits, and whose entries are inflated
 * through a byte counter: an entry that inflates past what the directory declared (a lying
 * zip bomb) is stopped at the first chunk over the line.
 */
export class GuardedZip {
  private inflated = 0;

  private constructor(
    readonly zip: JSZip,
    private readonly source: string,
    private readonly limits: ZipLimits,
  ) {}

  /** Reads the directory only; nothing is inflated yet. Corrupt archives and bombs are DocumentErrors. */
  static async open(bytes: Uint8Array, source: string, limits: ZipLimits): Promise<GuardedZip> {
    let zip: JSZip;
    try {
      zip = await JSZip.loadAsync(bytes, { checkCRC32: false });
    } catch (err) {
      throw new DocumentError(source, `is not a valid zip container (corrupt or truncated): ${errorMessage(err)}`, {}, { cause: err });
    }
    const entries = Object.values(zip.files).filter((entry) => !entry.dir);
    if (entries.length > limits.zipMaxEntries) {
      throw new DocumentError(source, `holds ${entries.length} zip entries, more than the limit of ${limits.zipMaxEntries}`, {
        entries: entries.length,
        limit: limits.zipMaxEntries,
      });
    }
    let declaredTotal = 0;
    for (const entry of entries) {
      const { compressedSize = 0, uncompressedSize = 0 } = (entry as unknown as DeclaredSizes)._data ?? {};
      declaredTotal += uncompressedSize;
      if (uncompressedSize > 1024 * 1024 && uncompressedSize / Math.max(1, compressedSize) > limits.zipMaxCompressionRatio) {
        throw new DocumentError(
          source,
          `zip entry ${entry.name} inflates ${Math.round(uncompressedSize / Math.max(1, compressedSize))}× (limit ${limits.zipMaxCompressionRatio}×): refused as a zip bomb`,
          { entry: entry.name, limit: limits.zipMaxCompressionRatio },
        );
      }
    }
    if (declaredTotal > limits.zipMaxUncompressedBytes) {
      throw new DocumentError(source, `unpacks to ${declaredTotal} bytes, more than the limit of ${limits.zipMaxUncompressedBytes}`, {
        uncompressedBytes: declaredTotal,
        limit: limits.zipMaxUncompressedBytes,
      });
    }
    return new GuardedZip(zip, source, limits);
  }

  has(name: string): boolean {
    return this.zip.file(name) !== null;
  }

  /** Entry names matching a pattern, in archive order. */
  names(pattern: RegExp): string[] {
    return Object.keys(this.zip.files).filter((name) => pattern.test(name) && !this.zip.files[name]!.dir);
  }

  /** One entry as UTF-8 text, or undefined when the archive has no such entry. */
  async text(name: string): Promise<string | undefined> {
    const bytes = await this.bytes(name);
    return bytes && new TextDecoder().decode(bytes);
  }

  async bytes(name: string): Promise<Uint8Array | undefined> {
    const entry = this.zip.file(name);
    return entry ? this.inflate(entry, true) : undefined;
  }

  /**
   * Inflates every entry and throws it away, to prove the sizes true before a parser that
   * unpacks on its own (mammoth, exceljs) is handed the file. `observe` sees each inflated chunk
   * on the way (the spreadsheet loader counts cells there); what it throws stops the pass.
   */
  async verifySizes(observe?: (entryName: string, chunk: Uint8Array) => void): Promise<void> {
    for (const entry of Object.values(this.zip.files)) if (!entry.dir) await this.inflate(entry, false, observe);
  }

  /** Streams one entry through the size checks; `keep` collects its bytes, else they are dropped. */
  private inflate(entry: JSZip.JSZipObject, keep: boolean, observe?: (entryName: string, chunk: Uint8Array) => void): Promise<Uint8Array> {
    const declared = (entry as unknown as DeclaredSizes)._data?.uncompressedSize ?? 0;
    const chunks: Uint8Array[] = [];
    let size = 0;
    return new Promise<Uint8Array>((resolve, reject) => {
      const stream = (entry as unknown as { internalStream(type: 'uint8array'): ChunkStream }).internalStream('uint8array');
      stream
        .on('data', (chunk: Uint8Array) => {
          size += chunk.length;
          this.inflated += keep ? chunk.length : 0;
          if (size > declared || this.inflated > this.limits.zipMaxUncompressedBytes) {
            stream.pause();
            reject(this.overflow(entry.name));
            return;
          }
          try {
            observe?.(entry.name, chunk);
          } catch (err) {
            stream.pause();
            reject(err);
            return;
          }
          if (keep) chunks.push(chunk);
        })
        .on('error', (err: Error) =>
          reject(
            new DocumentError(this.source, `zip entry ${entry.name} is corrupt: ${err.message}`, { entry: entry.name }, { cause: err }),
          ),
        )
        .on('end', () => resolve(Buffer.concat(chunks)))
        .resume();
    });
  }

  private overflow(name: string): DocumentError {
    return new DocumentError(
      this.source,
      `zip entry ${name} inflates past its declared size or the container limit: refused as a zip bomb`,
      {
        entry: name,
        limit: this.limits.zipMaxUncompressedBytes,
      },
    );
  }
}
