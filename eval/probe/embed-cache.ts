import fs from 'node:fs';
import path from 'node:path';
import type { EmbedKind, Embedder } from '../../models/types.ts';
import { CACHE_DIR } from './scifact.ts';

/**
 * Embeds texts once and keeps the vectors on disk under .ragline/cache/<name>.{bin,ids.json}
 * (gitignored), so probes and benchmarks can be re-run without re-embedding. Resumable: progress
 * is appended to <name>.bin.part while embedding.
 */
export async function embedWithCache(
  embedder: Embedder,
  name: string,
  items: { id: string; text: string }[],
  kind: EmbedKind,
  log: (line: string) => void = console.log,
): Promise<Map<string, Float32Array>> {
  const vectorsFile = path.join(CACHE_DIR, `${name}.bin`);
  const idsFile = path.join(CACHE_DIR, `${name}.ids.json`);
  const cached = readCache(vectorsFile, idsFile);
  if (cached) return cached;

  fs.mkdirSync(CACHE_DIR, { recursive: true });
  // Longest-first would front-load the slow part; shortest-first keeps batches evenly padded.
  const ordered = [...items].sort((a, b) => a.text.length - b.text.length);
  const out = new PartialVectorFile(vectorsFile, embedder.dimensions);
  const started = Date.now();
  const resumedAt = out.done;
  const slice = 256;
  while (out.done < ordered.length) {
    const batch = ordered.slice(out.done, out.done + slice);
    out.append(
      await embedder.embed(
        batch.map((b) => b.text),
        kind,
      ),
    );
    const rate = (out.done - resumedAt) / ((Date.now() - started) / 1000);
    log(`[${name}] ${out.done}/${ordered.length} embedded (${rate.toFixed(1)}/s)`);
  }
  out.finish();
  fs.writeFileSync(idsFile, JSON.stringify({ model: embedder.modelId, dimensions: embedder.dimensions, ids: ordered.map((o) => o.id) }));
  return readCache(vectorsFile, idsFile)!;
}

/**
 * Float32 vectors appended to `<file>.part` as they are embedded, so an interrupted run resumes
 * after the whole vectors earlier runs wrote (`done`; a torn vector after them is cut off).
 * finish() renames the part file to `file`.
 */
export class PartialVectorFile {
  private readonly part: string;
  private readonly bytesPerVector: number;
  private written: number;

  constructor(
    private readonly file: string,
    dimensions: number,
  ) {
    this.part = `${file}.part`;
    this.bytesPerVector = dimensions * 4;
    this.written = fs.existsSync(this.part) ? Math.floor(fs.statSync(this.part).size / this.bytesPerVector) : 0;
    if (this.written > 0) fs.truncateSync(this.part, this.written * this.bytesPerVector);
  }

  /** Vectors in the part file so far. */
  get done(): number {
    return this.written;
  }

  append(vectors: Float32Array[]): void {
    const buf = Buffer.alloc(vectors.length * this.bytesPerVector);
    vectors.forEach((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, i * this.bytesPerVector));
    fs.appendFileSync(this.part, buf);
    this.written += vectors.length;
  }

  finish(): void {
    fs.renameSync(this.part, this.file);
  }
}

function readCache(vectorsFile: string, idsFile: string): Map<string, Float32Array> | null {
  if (!fs.existsSync(idsFile) || !fs.existsSync(vectorsFile)) return null;
  const { dimensions, ids } = JSON.parse(fs.readFileSync(idsFile, 'utf8')) as { dimensions: number; ids: string[] };
  const buf = fs.readFileSync(vectorsFile);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length !== ids.length * dimensions) return null;
  return new Map(ids.map((id, i) => [id, all.subarray(i * dimensions, (i + 1) * dimensions)]));
}
