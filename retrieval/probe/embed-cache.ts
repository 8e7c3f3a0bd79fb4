import fs from 'node:fs';
import path from 'node:path';
import type { EmbedKind, Embedder } from '../../ingest/types.ts';
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
  const part = `${vectorsFile}.part`;
  const bytesPerVector = embedder.dimensions * 4;
  let done = fs.existsSync(part) ? Math.floor(fs.statSync(part).size / bytesPerVector) : 0;
  if (done > 0) fs.truncateSync(part, done * bytesPerVector);
  const started = Date.now();
  const resumedAt = done;
  const slice = 256;
  while (done < ordered.length) {
    const batch = ordered.slice(done, done + slice);
    const vectors = await embedder.embed(
      batch.map((b) => b.text),
      kind,
    );
    const buf = Buffer.alloc(vectors.length * bytesPerVector);
    vectors.forEach((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, i * bytesPerVector));
    fs.appendFileSync(part, buf);
    done += batch.length;
    const rate = (done - resumedAt) / ((Date.now() - started) / 1000);
    log(`[${name}] ${done}/${ordered.length} embedded (${rate.toFixed(1)}/s)`);
  }
  fs.renameSync(part, vectorsFile);
  fs.writeFileSync(idsFile, JSON.stringify({ model: embedder.modelId, dimensions: embedder.dimensions, ids: ordered.map((o) => o.id) }));
  return readCache(vectorsFile, idsFile)!;
}

function readCache(vectorsFile: string, idsFile: string): Map<string, Float32Array> | null {
  if (!fs.existsSync(idsFile) || !fs.existsSync(vectorsFile)) return null;
  const { dimensions, ids } = JSON.parse(fs.readFileSync(idsFile, 'utf8')) as { dimensions: number; ids: string[] };
  const buf = fs.readFileSync(vectorsFile);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length !== ids.length * dimensions) return null;
  return new Map(ids.map((id, i) => [id, all.subarray(i * dimensions, (i + 1) * dimensions)]));
}
