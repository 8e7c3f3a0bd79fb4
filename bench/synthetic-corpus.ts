/**
 * A corpus of DISTINCT texts and vectors at any size, shared by the scale, load and query-length
 * benches. Embedding is the scarce resource here (~2k tokens/s on an idle core), so only the first
 * passage of each seed document is embedded for real (cached by embedWithCache); every other chunk
 * is derived from real material:
 *
 * 1. Real passages: the seed documents (SQuAD dev paragraphs, SciFact abstracts, PubMedQA
 *    contexts, interleaved) split into passages of at most 40 words. The first passage of a
 *    document carries its real MiniLM vector; the others a Gaussian perturbation of it (same
 *    document, same topic), renormalised.
 * 2. Recombined passages, once the real ones run out: two sentences of one seed document and one of
 *    another, in a random order; the vector mixes the two documents' real vectors (85/15) plus noise.
 *
 * No text and no vector occurs twice (checked by hash while generating: a duplicate throws).
 * Seeded, so every run and every bench sees the same corpus.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { datasetPath } from '../core/shared-data.ts';
import { mulberry32, shuffled } from '../core/random.ts';
import { embedWithCache } from '../eval/probe/embed-cache.ts';
import { loadCorpus } from '../eval/probe/scifact.ts';
import type { Embedder } from '../models/types.ts';
import { passages } from './search.ts';

export interface SeedDocument {
  id: string;
  title: string;
  passages: string[];
  sentences: string[];
}

export interface SyntheticChunk {
  text: string;
  vector: Float32Array;
  /** Index of the seed document it came from (its main topic). */
  seed: number;
  /** true: a real passage; false: recombined sentences. */
  real: boolean;
}

export interface SyntheticDocument {
  source: string;
  title: string;
  chunks: SyntheticChunk[];
}

export const PASSAGE_WORDS = 40;
/** Per-component noise: cosine ≈ 1/sqrt(1 + 384σ²) ≈ 0.88 to the vector it perturbs. */
export const NOISE_SIGMA = 0.03;
const MIX = 0.15;
// Large documents keep the bulk load to one transaction per 50 chunks (real documents keep their own size).
const RECOMBINED_CHUNKS_PER_DOCUMENT = 50;
export const CORPUS_VERSION = 'synthetic-v1';

const splitSentences = (text: string) =>
  text
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => s.split(' ').length >= 4);

function squadDocuments(): SeedDocument[] {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { title: string; paragraphs: { context: string }[] }[];
  };
  return squad.data.flatMap((article, a) =>
    article.paragraphs.map((p, i) => ({
      id: `squad-${a}-${i}`,
      title: article.title.replace(/_/g, ' '),
      passages: passages(p.context, PASSAGE_WORDS),
      sentences: splitSentences(p.context),
    })),
  );
}

function pubmedDocuments(): SeedDocument[] {
  const data = JSON.parse(fs.readFileSync(datasetPath('pubmedqa-pqal', 'ori_pqal.json'), 'utf8')) as Record<
    string,
    { QUESTION: string; CONTEXTS: string[] }
  >;
  return Object.entries(data).map(([pmid, d]) => {
    const text = d.CONTEXTS.join(' ');
    return { id: `pubmedqa-${pmid}`, title: d.QUESTION, passages: passages(text, PASSAGE_WORDS), sentences: splitSentences(text) };
  });
}

function scifactDocuments(): SeedDocument[] {
  return loadCorpus().map((d) => ({
    id: `scifact-${d.id}`,
    title: d.title,
    passages: passages(d.text, PASSAGE_WORDS),
    sentences: splitSentences(d.text),
  }));
}

/** `count` seed documents, taken in turn from the three corpora so every topic mix is represented. */
export function seedDocuments(count: number): SeedDocument[] {
  const sources = [squadDocuments(), scifactDocuments(), pubmedDocuments()].map((docs) => docs.filter((d) => d.sentences.length >= 2));
  const out: SeedDocument[] = [];
  for (let i = 0; out.length < count && sources.some((s) => i < s.length); i++) {
    for (const s of sources) if (i < s.length && out.length < count) out.push(s[i]!);
  }
  return out;
}

/** The real MiniLM vector of each seed document's first passage (title + passage), cached on disk. */
export function embedSeeds(embedder: Embedder, seeds: SeedDocument[], log?: (line: string) => void): Promise<Float32Array[]> {
  return embedWithCache(
    embedder,
    `${CORPUS_VERSION}-seeds-${seeds.length}-minilm-fp32`,
    seeds.map((s) => ({ id: s.id, text: `${s.title} ${s.passages[0]}` })),
    'passage',
    log,
  ).then((byId) => seeds.map((s) => byId.get(s.id)!));
}

function gaussian(random: () => number): number {
  // Box–Muller; 1 - u keeps log() away from 0.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** normalise(Σ weight·vector + σ·N(0, I)). */
export function perturbed(parts: [Float32Array, number][], sigma: number, random: () => number): Float32Array {
  const dims = parts[0]![0].length;
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    let v = sigma * gaussian(random);
    for (const [vector, weight] of parts) v += weight * vector[i]!;
    out[i] = v;
  }
  let norm = 0;
  for (let i = 0; i < dims; i++) norm += out[i]! * out[i]!;
  norm = Math.sqrt(norm);
  for (let i = 0; i < dims; i++) out[i]! /= norm;
  return out;
}

const digest = (data: string | Float32Array) =>
  createHash('sha1')
    .update(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    .digest('base64');

/** How many real passages the seeds hold (the size below which every text is real). */
export const realPassageCount = (seeds: SeedDocument[]) => seeds.reduce((n, s) => n + s.passages.length, 0);

/**
 * Exactly `size` distinct chunks grouped into documents, real passages first. Throws if a text or
 * a vector would repeat (recombinations retry a few times before giving up on one chunk).
 */
export function* syntheticDocuments(seeds: SeedDocument[], vectors: Float32Array[], size: number, seed = 14): Generator<SyntheticDocument> {
  const random = mulberry32(seed);
  const texts = new Set<string>();
  const vectorHashes = new Set<string>();
  let emitted = 0;
  const accept = (chunk: SyntheticChunk): boolean => {
    const textKey = digest(chunk.text);
    if (texts.has(textKey)) return false;
    const vectorKey = digest(chunk.vector);
    if (vectorHashes.has(vectorKey)) throw new Error('a synthetic vector repeated: the generator is broken');
    texts.add(textKey);
    vectorHashes.add(vectorKey);
    return true;
  };

  for (let d = 0; d < seeds.length && emitted < size; d++) {
    const doc = seeds[d]!;
    const chunks: SyntheticChunk[] = [];
    doc.passages.forEach((text, i) => {
      if (emitted + chunks.length >= size) return;
      const vector = i === 0 ? vectors[d]! : perturbed([[vectors[d]!, 1]], NOISE_SIGMA, random);
      const chunk = { text, vector, seed: d, real: true };
      if (accept(chunk)) chunks.push(chunk);
    });
    emitted += chunks.length;
    if (chunks.length) yield { source: doc.id, title: doc.title, chunks };
  }

  for (let round = 1; emitted < size; round++) {
    let progressed = false;
    for (let d = 0; d < seeds.length && emitted < size; d++) {
      const doc = seeds[d]!;
      const chunks: SyntheticChunk[] = [];
      for (let c = 0; c < RECOMBINED_CHUNKS_PER_DOCUMENT && emitted + chunks.length < size; c++) {
        for (let attempt = 0; attempt < 5; attempt++) {
          const other = (d + 1 + Math.floor(random() * (seeds.length - 1))) % seeds.length;
          const own = shuffled(doc.sentences, random).slice(0, 2);
          const borrowed = seeds[other]!.sentences[Math.floor(random() * seeds[other]!.sentences.length)]!;
          const text = shuffled([...own, borrowed], random).join(' ');
          const vector = perturbed(
            [
              [vectors[d]!, 1 - MIX],
              [vectors[other]!, MIX],
            ],
            NOISE_SIGMA,
            random,
          );
          const chunk = { text, vector, seed: d, real: false };
          if (accept(chunk)) {
            chunks.push(chunk);
            break;
          }
        }
      }
      emitted += chunks.length;
      if (chunks.length) {
        progressed = true;
        yield { source: `${doc.id}#r${round}`, title: doc.title, chunks };
      }
    }
    if (!progressed) throw new Error(`the seeds cannot make ${size} distinct chunks (stopped at ${emitted})`);
  }
}

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

export interface NeighbourStructure {
  probes: number;
  sample: number;
  /** Mean cosine to the nearest other chunk of the sample. */
  meanTop1Cosine: number;
  /** Highest cosine between two different chunks seen (1 would mean a repeated vector). */
  maxCosine: number;
  /** Share of each probe's 10 nearest chunks that come from the probe's own seed document. */
  sameSeedShareTop10: number;
  /** Distinct seed documents among each probe's 10 nearest, averaged. */
  distinctSeedsTop10: number;
}

/**
 * Whether the perturbed vectors keep a usable neighbour structure: probes are compared by brute
 * force with a sample of the corpus. Degenerate would be maxCosine ≈ 1 (repeats) or every
 * neighbour list being one seed's copies (distinctSeedsTop10 ≈ 1).
 */
export function neighbourStructure(chunks: SyntheticChunk[], probes = 200): NeighbourStructure {
  const random = mulberry32(7);
  const probeIdx = Array.from({ length: Math.min(probes, chunks.length) }, () => Math.floor(random() * chunks.length));
  let top1 = 0;
  let maxCosine = -1;
  let sameSeed = 0;
  let distinct = 0;
  for (const p of probeIdx) {
    const probe = chunks[p]!;
    // The 10 best so far, best first (a full sort per probe would dominate at 300k).
    const top: { cos: number; seed: number }[] = [];
    for (let j = 0; j < chunks.length; j++) {
      if (j === p) continue;
      const cos = dot(probe.vector, chunks[j]!.vector);
      if (top.length === 10 && cos <= top[9]!.cos) continue;
      let at = top.length < 10 ? top.length : 9;
      while (at > 0 && top[at - 1]!.cos < cos) at--;
      top.splice(at, 0, { cos, seed: chunks[j]!.seed });
      if (top.length > 10) top.pop();
    }
    top1 += top[0]!.cos;
    maxCosine = Math.max(maxCosine, top[0]!.cos);
    sameSeed += top.filter((t) => t.seed === probe.seed).length / top.length;
    distinct += new Set(top.map((t) => t.seed)).size;
  }
  const n = probeIdx.length;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    probes: n,
    sample: chunks.length,
    meanTop1Cosine: round(top1 / n),
    maxCosine: round(maxCosine),
    sameSeedShareTop10: round(sameSeed / n),
    distinctSeedsTop10: round(distinct / n),
  };
}
