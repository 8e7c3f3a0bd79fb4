import { logger } from '../../core/logger.ts';
import { errorMessage } from '../../core/errors.ts';
import { dot } from '../../core/vectors.ts';
import type { Embedder } from '../../models/types.ts';
import { tokenize } from '../../retrieval/tokenize.ts';
import { answerability } from '../answerability.ts';
import { quotableSentences } from '../sentences.ts';
import type { ContextChunk, GenerateInput, GenerateResult, Generator, StreamEvent } from '../types.ts';

/**
 * The answer without an LLM: the sentences of the retrieved chunks that best answer the question,
 * quoted as they are, each followed by its [n] marker. Nothing is generated, so nothing is invented;
 * the price is that the answer is a passage, not a phrase. Responses say model: "extractive".
 */

export const NOT_COVERED = 'The documents do not cover this question.';

/** What kind of answer a question asks for, read from its wording. */
export type AnswerType = 'date' | 'number' | 'person' | 'place' | null;

const QUESTION_TYPES: Array<[Exclude<AnswerType, null>, RegExp]> = [
  [
    'date',
    /\b(?:when|what (?:year|date|day|month|decade|century|time|period|era)|which (?:year|date|day|month|decade|century)|how long ago|since when)\b/i,
  ],
  [
    'number',
    /\bhow (?:many|much|long|old|far|large|big|tall|high|deep|wide|fast|heavy|often)\b|\bwhat (?:number|percentage|percent|proportion|amount|fraction|share|size|population)\b/i,
  ],
  ['person', /\b(?:who|whom|whose)\b/i],
  ['place', /\bwhere\b|\b(?:what|which) (?:city|country|state|region|continent|place|town|location)\b/i],
];

const MONTHS = 'January|February|March|April|May|June|July|August|September|October|November|December';
const NUMBER_WORDS =
  'one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|half|quarter';

/** Text in a sentence that could be an answer of each type. */
const CANDIDATES: Record<Exclude<AnswerType, null>, RegExp> = {
  date: new RegExp(`\\b(?:1\\d{3}|20\\d{2})s?\\b|\\b(?:${MONTHS})\\b|\\b\\d{1,2}(?:st|nd|rd|th) century\\b|\\b(?:BC|AD|BCE|CE)\\b`, 'g'),
  number: new RegExp(`\\d[\\d,.]*\\s*%?|\\b(?:${NUMBER_WORDS})\\b`, 'gi'),
  person: /(?<=\S\s+)[A-Z][\p{L}'’-]+(?:\s+(?:[A-Z][\p{L}'’-]+|de|van|von|da|of))*/gu,
  place: /\b(?:in|at|near|from|to)\s+(?:the\s+)?[A-Z][\p{L}'’-]+(?:\s+[A-Z][\p{L}'’-]+)*/gu,
};

export function answerTypeOf(question: string): AnswerType {
  for (const [type, re] of QUESTION_TYPES) if (re.test(question)) return type;
  return null;
}

/** True when the sentence holds a candidate of `type` that is not already in the question. */
export function hasAnswerCandidate(sentence: string, type: AnswerType, question: string): boolean {
  if (!type) return false;
  const asked = question.toLowerCase();
  for (const m of sentence.matchAll(CANDIDATES[type])) {
    const candidate = m[0]
      .replace(/^(?:in|at|near|from|to)\s+(?:the\s+)?/i, '')
      .trim()
      .toLowerCase();
    if (candidate && !asked.includes(candidate)) return true;
  }
  return false;
}

export interface ExtractiveOptions {
  /** At most this many sentences in an answer. */
  maxSentences: number;
  /** A further sentence is added only when its score is at least this fraction of the best one's. */
  secondSentenceRatio: number;
  weights: { dense: number; lexical: number; previous: number; answerType: number; rank: number };
  /**
   * Refuse ("not covered") when the quoted chunks lack what the question specifically asks for
   * (answer/answerability.ts), although retrieval was confident.
   */
  checkAnswerability: boolean;
}

/**
 * Weights and ratio tuned on 300 SQuAD questions disjoint from the 600 reported ones
 * (eval/squad-answers.ts). `previous` tuned to 0 there (Wikipedia paragraphs have no
 * headings) and is kept small for documents with headings and FAQ questions.
 */
export const DEFAULT_EXTRACTIVE_OPTIONS: ExtractiveOptions = {
  maxSentences: 2,
  secondSentenceRatio: 0.8,
  weights: { dense: 0.5, lexical: 0.35, previous: 0.1, answerType: 0.05, rank: 0.05 },
  checkAnswerability: true,
};

export interface ScoredSentence {
  marker: number;
  text: string;
  score: number;
  /** Position in its chunk, to keep picked sentences of one chunk in reading order. */
  index: number;
}

/** The evidence for one sentence; the score is their weighted sum. */
export interface SentenceFeatures {
  marker: number;
  index: number;
  text: string;
  /** Cosine similarity with the question (0 when no embedder was available). */
  dense: number;
  /** Share of the question's IDF-weighted terms the sentence contains. */
  lexical: number;
  /** 1 when it holds a candidate of the asked-for type (a date for "when") not already in the question. */
  answerType: number;
  /** `lexical` of the sentence before it in its chunk: a heading or FAQ question it answers. */
  previous: number;
  /** 1 / (1 + retrieval rank of its chunk). */
  rank: number;
}

export function scoreSentence(f: SentenceFeatures, w: ExtractiveOptions['weights']): number {
  return w.dense * f.dense + w.lexical * f.lexical + w.previous * f.previous + w.answerType * f.answerType + w.rank * f.rank;
}

/** The best sentence, plus the next ones while they score close to it, in reading order. */
export function pickSentences(features: SentenceFeatures[], options: ExtractiveOptions): ScoredSentence[] {
  const ranked = features
    .map((f) => ({ marker: f.marker, index: f.index, text: f.text, score: scoreSentence(f, options.weights) }))
    .sort((a, b) => b.score - a.score);
  const best = ranked[0];
  if (!best) return [];
  const picked = [best];
  for (const next of ranked.slice(1)) {
    if (picked.length >= options.maxSentences || next.score < options.secondSentenceRatio * best.score) break;
    picked.push(next);
  }
  // Sentences from one chunk read best in their original order.
  return picked.sort((a, b) => (a.marker === b.marker ? a.index - b.index : 0));
}

interface Candidate {
  marker: number;
  rank: number;
  index: number;
  text: string;
  terms: string[];
  /** Terms of the sentence before it in the chunk (candidate or not). */
  previousTerms: string[];
}

const MAX_CACHED_VECTORS = 20_000;

export class ExtractiveGenerator implements Generator {
  readonly model = 'extractive';
  readonly provider = 'local';
  readonly promptVersion: string;
  readonly options: ExtractiveOptions;
  // Chunks come back for many questions; their sentences need embedding only once.
  private readonly vectors = new Map<string, Float32Array>();

  constructor(
    private readonly embedder: () => Promise<Embedder>,
    options: Partial<ExtractiveOptions> = {},
  ) {
    this.options = { ...DEFAULT_EXTRACTIVE_OPTIONS, ...options, weights: { ...DEFAULT_EXTRACTIVE_OPTIONS.weights, ...options.weights } };
    // The answer cache keys on the prompt version: answers with and without the check must not mix.
    this.promptVersion = this.options.checkAnswerability ? 'extractive-v1+answerability' : 'extractive-v1';
  }

  /** Every candidate sentence of the context with its evidence. */
  async features(question: string, context: ContextChunk[], questionVector?: Float32Array): Promise<SentenceFeatures[]> {
    const candidates: Candidate[] = [];
    context.forEach((item, rank) => {
      let previousTerms: string[] = [];
      quotableSentences(item.chunk.text).forEach((s, index) => {
        const text = s.text.replace(/\s+/g, ' ').trim();
        const terms = tokenize(text);
        // Headings and fragments ("Contents", "See also") are not answers, nor are questions (FAQ headings),
        // but they tell what the next sentence is about.
        if (text.split(' ').length >= 4 && !text.endsWith('?'))
          candidates.push({ marker: item.marker, rank, index, text, terms, previousTerms });
        previousTerms = terms;
      });
    });
    if (!candidates.length) return [];

    const dense = await this.similarities(question, candidates, questionVector);
    const lexical = lexicalScores(question, candidates, (c) => c.terms);
    const previous = lexicalScores(question, candidates, (c) => c.previousTerms);
    const type = answerTypeOf(question);
    return candidates.map((c, i) => ({
      marker: c.marker,
      index: c.index,
      text: c.text,
      dense: dense?.[i] ?? 0,
      lexical: lexical[i]!,
      previous: previous[i]!,
      answerType: hasAnswerCandidate(c.text, type, question) ? 1 : 0,
      rank: 1 / (1 + c.rank),
    }));
  }

  /** The picked sentences, in the order they will be read. */
  async select(question: string, context: ContextChunk[], questionVector?: Float32Array): Promise<ScoredSentence[]> {
    return pickSentences(await this.features(question, context, questionVector), this.options);
  }

  async generate(input: GenerateInput): Promise<GenerateResult> {
    const picked = await this.select(input.question, input.context, input.questionVector);
    const text = picked.length && this.answers(input, picked) ? picked.map((s) => `${s.text} [${s.marker}]`).join(' ') : NOT_COVERED;
    return { text, usage: { promptTokens: 0, completionTokens: 0 }, model: this.model };
  }

  async *stream(input: GenerateInput): AsyncIterable<StreamEvent> {
    const result = await this.generate(input);
    // One event per sentence: the answer exists as a whole already, but clients handle one stream shape.
    const parts = result.text.split(/(?<=\])\s+/);
    for (const [i, part] of parts.entries()) yield { delta: i ? ` ${part}` : part };
    yield { done: true, usage: result.usage, model: this.model };
  }

  /** Whether the chunks the picked sentences come from hold what the question specifically asks for. */
  private answers(input: GenerateInput, picked: ScoredSentence[]): boolean {
    if (!this.options.checkAnswerability) return true;
    const quoted = new Set(picked.map((s) => s.marker));
    const evidence = input.context
      .filter((c) => quoted.has(c.marker))
      .map(({ chunk }) => ({ text: chunk.text, title: chunk.title, source: chunk.source, headingPath: chunk.headingPath }));
    const verdict = answerability(input.question, evidence);
    if (!verdict.answerable) logger.info({ missing: verdict.missing }, 'answer refused: the quoted text lacks what the question asks for');
    return verdict.answerable;
  }

  /** Cosine similarity of the question and each sentence; null when the embedder is unavailable. */
  private async similarities(question: string, candidates: Candidate[], questionVector?: Float32Array): Promise<number[] | null> {
    try {
      const embedder = await this.embedder();
      const missing = [...new Set(candidates.map((c) => c.text).filter((t) => !this.vectors.has(t)))];
      const q = questionVector ?? (await embedder.embed([question], 'query'))[0]!;
      const fresh = missing.length ? await embedder.embed(missing, 'passage') : [];
      if (this.vectors.size + fresh.length > MAX_CACHED_VECTORS) this.vectors.clear();
      missing.forEach((t, i) => this.vectors.set(t, fresh[i]!));
      return candidates.map((c) => dot(q, this.vectors.get(c.text)!));
    } catch (err) {
      // The fallback must work when the embedding provider is what is failing: lexical scores only.
      logger.warn({ err: errorMessage(err) }, 'extractive answer without embeddings');
      return null;
    }
  }
}

/** Share of the question's IDF mass (IDF over the candidate sentences) found in each sentence's `termsOf`. */
function lexicalScores(question: string, candidates: Candidate[], termsOf: (c: Candidate) => string[]): number[] {
  const questionTerms = [...new Set(tokenize(question))];
  const df = new Map<string, number>();
  for (const c of candidates) for (const t of new Set(c.terms)) df.set(t, (df.get(t) ?? 0) + 1);
  const idf = (t: string) => Math.log(1 + candidates.length / (1 + (df.get(t) ?? 0)));
  const total = questionTerms.reduce((s, t) => s + idf(t), 0);
  if (!total) return candidates.map(() => 0);
  return candidates.map((c) => {
    const have = new Set(termsOf(c));
    return questionTerms.reduce((s, t) => s + (have.has(t) ? idf(t) : 0), 0) / total;
  });
}
