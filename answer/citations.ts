import type { Sentence } from '../models/sentences.ts';
import type { ChunkRecord } from '../store/types.ts';
import { tokenize } from '../retrieval/tokenize.ts';
import { quotableSentences } from './sentences.ts';
import type { ContextChunk } from './types.ts';

/**
 * Citation checking. The model may only cite chunks it was given: any other [n] is removed from the
 * answer and reported. Each remaining citation gets a quote copied verbatim from its chunk — the chunk
 * sentence that best overlaps the answer sentence carrying the marker — so a reader can check it.
 */

/** Which context chunk a citation (or a chunk of an answer) is: its marker and where the chunk comes from. */
export interface ChunkReference {
  marker: number;
  chunkId: string;
  documentId: string;
  source: string;
  title: string;
  /** The page the chunk starts on. */
  page: number | null;
}

export function chunkReference(marker: number, chunk: ChunkRecord): ChunkReference {
  return { marker, chunkId: chunk.id, documentId: chunk.documentId, source: chunk.source, title: chunk.title, page: chunk.pageStart };
}

export interface Citation extends ChunkReference {
  /** A substring of the chunk's text, character for character. */
  quote: string;
}

export interface VerifiedAnswer {
  text: string;
  citations: Citation[];
  /** Markers the answer used that named no chunk of the context, in order of appearance. */
  strippedMarkers: number[];
}

/** "[1]", "[1, 2]", "[1;2]", with the whitespace before it (dropped along with a stripped marker). */
const MARKER_GROUP = /(\s*)\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]/g;
const MAX_QUOTE_CHARS = 300;

/** Rewrites marker groups: known markers become "[1][2]", unknown ones are removed. */
export function rewriteMarkers(text: string, known: ReadonlySet<number>, stripped: number[] = []): string {
  return text.replace(MARKER_GROUP, (_whole, space: string, list: string) => {
    const numbers = list.split(/[,;]/).map((n) => Number.parseInt(n.trim(), 10));
    const kept = numbers.filter((n) => known.has(n));
    for (const n of numbers) if (!known.has(n) && !stripped.includes(n)) stripped.push(n);
    return kept.length ? space + kept.map((n) => `[${n}]`).join('') : '';
  });
}

/**
 * The same rewrite for text that arrives in pieces: whitespace and a "[12," that may still become a
 * marker are held back until it is clear whether they are kept, so a stripped marker never reaches
 * the client at all.
 */
export class MarkerFilter {
  readonly stripped: number[] = [];
  private pending = '';

  constructor(private readonly known: ReadonlySet<number>) {}

  push(delta: string): string {
    const text = rewriteMarkers(this.pending + delta, this.known, this.stripped);
    const hold = /\s*(?:\[[\d\s,;]*)?$/.exec(text)!;
    this.pending = hold[0];
    return text.slice(0, hold.index);
  }

  flush(): string {
    const rest = rewriteMarkers(this.pending, this.known, this.stripped);
    this.pending = '';
    return rest;
  }
}

function terms(text: string): Set<string> {
  return new Set(tokenize(text));
}

/** Dice overlap of two term sets. */
function overlap(a: Set<string>, b: Set<string>): number {
  if (!a.size || !b.size) return 0;
  let shared = 0;
  for (const t of a) if (b.has(t)) shared++;
  return (2 * shared) / (a.size + b.size);
}

/** A long sentence is cut to the window of words that overlaps the claim most (still verbatim). */
function shorten(chunkText: string, sentence: Sentence, claim: Set<string>): string {
  if (sentence.text.length <= MAX_QUOTE_CHARS) return sentence.text;
  const words = [...sentence.text.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, terms: terms(m[0]) }));
  let best = { from: 0, to: 0, score: -1 };
  for (let from = 0; from < words.length; from++) {
    let to = from;
    while (to + 1 < words.length && words[to + 1]!.end - words[from]!.start <= MAX_QUOTE_CHARS) to++;
    let score = 0;
    for (let i = from; i <= to; i++) for (const t of words[i]!.terms) if (claim.has(t)) score++;
    if (score > best.score) best = { from, to, score };
  }
  const start = sentence.start + words[best.from]!.start;
  const end = sentence.start + words[best.to]!.end;
  return chunkText.slice(start, end);
}

/** The sentence of `chunkText` that best supports `claim`, falling back on the question's terms. */
export function bestQuote(chunkText: string, claim: string, question = ''): { quote: string; score: number } {
  const sentences = quotableSentences(chunkText);
  if (!sentences.length) return { quote: chunkText.trim().slice(0, MAX_QUOTE_CHARS), score: 0 };
  const claimTerms = terms(claim);
  const questionTerms = terms(question);
  let best = { index: 0, score: -1 };
  sentences.forEach((s, index) => {
    const sentenceTerms = terms(s.text);
    // The claim decides; the question only breaks ties (e.g. a bare "Yes [1]").
    const score = overlap(claimTerms, sentenceTerms) + 0.01 * overlap(questionTerms, sentenceTerms);
    if (score > best.score) best = { index, score };
  });
  const sentence = sentences[best.index]!;
  return { quote: shorten(chunkText, sentence, claimTerms.size ? claimTerms : questionTerms), score: best.score };
}

/** For each marker position, the answer sentence that carries it (a marker opening a sentence belongs to the one before). */
function claimsByMarker(text: string): Map<number, string[]> {
  const sentences = quotableSentences(text);
  const claims = new Map<number, string[]>();
  const add = (marker: number, claim: string) => claims.set(marker, [...(claims.get(marker) ?? []), claim]);
  sentences.forEach((sentence, i) => {
    const bare = sentence.text.replace(/\[\d+\]/g, ' ').trim();
    const leading = /^(?:\s*\[\d+\])+/.exec(sentence.text)?.[0] ?? '';
    for (const m of sentence.text.matchAll(/\[(\d+)\]/g)) {
      const isLeading = m.index < leading.length;
      const owner = isLeading && i > 0 ? sentences[i - 1]!.text.replace(/\[\d+\]/g, ' ') : bare;
      add(Number(m[1]), owner.trim() || bare);
    }
  });
  return claims;
}

/**
 * Strips unknown markers from `answer` and builds one citation per distinct known marker, in order
 * of first appearance, each with its best verbatim quote.
 */
export function verifyCitations(answer: string, context: ContextChunk[], options: { question?: string } = {}): VerifiedAnswer {
  const byMarker = new Map(context.map((c) => [c.marker, c]));
  const strippedMarkers: number[] = [];
  const text = rewriteMarkers(answer, new Set(byMarker.keys()), strippedMarkers).trim();
  const citations: Citation[] = [];
  for (const [marker, claims] of claimsByMarker(text)) {
    const item = byMarker.get(marker)!;
    const best = claims.map((claim) => bestQuote(item.chunk.text, claim, options.question)).reduce((a, b) => (b.score > a.score ? b : a));
    citations.push({ ...chunkReference(marker, item.chunk), quote: best.quote });
  }
  return { text, citations, strippedMarkers };
}
