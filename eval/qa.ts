import fs from 'node:fs';
import { z } from 'zod';
import { RaglineError, badRequest } from '../core/errors.ts';

/**
 * Page-level evaluation on a team's own questions (the pdf-qa format): each question names the
 * file and pages that answer it, or is marked unanswerable. Scoring is pure; `eval/qa-runner.ts`
 * produces the ranked hits and refusals it scores.
 */

export const QA_KINDS = ['natural', 'keyword', 'table', 'paraphrase', 'unanswerable'] as const;

const pageNumber = z.number().int().min(1);

export const qaQuestionSchema = z
  .object({
    id: z.string().min(1),
    question: z.string().trim().min(1).max(8_000),
    source: z.string().min(1).nullable(),
    pages: z.array(pageNumber).default([]),
    also_ok_pages: z.array(pageNumber).default([]),
    answer: z.string().min(1).nullable().default(null),
    // Free-form so that a team can add its own kinds; the shared set uses QA_KINDS.
    kind: z.string().min(1).default('natural'),
  })
  .superRefine((q, ctx) => {
    if (q.source !== null && q.pages.length === 0)
      ctx.addIssue({ code: 'custom', path: ['pages'], message: 'an answerable question needs gold pages' });
  });
export type QaQuestion = z.output<typeof qaQuestionSchema>;

/** At most this many questions per file: the evaluation runs a search and an answer for each. */
export const MAX_QA_QUESTIONS = 5_000;

/** Reads a questions.jsonl; a bad line is a bad_request naming its line number and field. */
export function loadQaQuestions(file: string): QaQuestion[] {
  if (!fs.existsSync(file)) throw new RaglineError('dataset_missing', `questions file not found: ${file}`, { file });
  const questions: QaQuestion[] = [];
  const seen = new Set<string>();
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw badRequest(`${file} line ${i + 1}: not valid JSON`, { file, line: i + 1 });
      }
      const parsed = qaQuestionSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw badRequest(`${file} line ${i + 1}: ${issue.path.join('.') || 'question'}: ${issue.message}`, { file, line: i + 1 });
      }
      if (seen.has(parsed.data.id)) throw badRequest(`${file} line ${i + 1}: duplicate id "${parsed.data.id}"`, { file, line: i + 1 });
      seen.add(parsed.data.id);
      questions.push(parsed.data);
    });
  if (questions.length === 0) throw badRequest(`${file} holds no questions`, { file });
  if (questions.length > MAX_QA_QUESTIONS) throw badRequest(`${file} holds more than ${MAX_QA_QUESTIONS} questions`, { file });
  return questions;
}

export interface QaHit {
  source: string;
  pageStart: number | null;
  pageEnd: number | null;
  text: string;
}

/** What the system returned for one question: ranked chunks, best first, and whether the answer step refused. */
export interface QaResult {
  id: string;
  hits: QaHit[];
  refused: boolean;
  answer?: string;
}

export interface QaMetrics {
  answerable: number;
  unanswerable: number;
  hit1: number;
  hit5: number;
  mrr10: number;
  containment5: number;
  /** Unanswerable questions refused. */
  refused: number;
  /** Answerable questions refused. */
  falseRefusals: number;
  /** Mean pages spanned by the returned top-10 chunks (wide chunks make hits easier). */
  meanPageSpan: number;
}

export interface QaMiss {
  id: string;
  kind: string;
  question: string;
  /** What went wrong: no hit in the top 5, first hit below rank 1, answer phrase not in a top-5 hit, wrong refusal… */
  problems: string[];
  top: { source: string; pages: string; text: string }[];
}

export interface QaReport {
  overall: QaMetrics;
  byKind: Record<string, QaMetrics>;
  misses: QaMiss[];
}

/** The comparison the pdf-qa README asks for: NFKC, lower case, ASCII quotes and dashes, no soft hyphens, one space. */
export function normaliseForMatch(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\u00AD/g, '')
    .replace(/[\u2018\u2019\u201A\u201B\u2032]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, '-')
    .replace(/\s+/g, ' ')
    .trim();
}

/** True when `phrase` occurs in `text` and is not glued to a letter or digit on either side. */
export function containsPhrase(text: string, phrase: string): boolean {
  const haystack = normaliseForMatch(text);
  const needle = normaliseForMatch(phrase);
  if (!needle) return false;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) {
    const before = haystack[at - 1] ?? ' ';
    const after = haystack[at + needle.length] ?? ' ';
    if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return true;
  }
  return false;
}

const baseName = (source: string) => source.split(/[\\/]/).pop() ?? source;

export function isHit(hit: QaHit, q: QaQuestion): boolean {
  if (q.source === null || baseName(hit.source) !== baseName(q.source) || hit.pageStart === null) return false;
  const end = hit.pageEnd ?? hit.pageStart;
  return [...q.pages, ...q.also_ok_pages].some((p) => p >= hit.pageStart! && p <= end);
}

interface Scored {
  q: QaQuestion;
  firstHit: number | null;
  contained: boolean;
  refused: boolean;
  spans: number[];
}

function scoreOne(q: QaQuestion, r: QaResult | undefined): Scored {
  const hits = r?.hits ?? [];
  const index = hits.slice(0, 10).findIndex((h) => isHit(h, q));
  const contained = q.answer !== null && hits.slice(0, 5).some((h) => isHit(h, q) && containsPhrase(h.text, q.answer!));
  const spans = hits.slice(0, 10).flatMap((h) => (h.pageStart === null ? [] : [(h.pageEnd ?? h.pageStart) - h.pageStart + 1]));
  return { q, firstHit: index === -1 ? null : index + 1, contained, refused: r?.refused ?? false, spans };
}

function aggregate(scored: Scored[]): QaMetrics {
  const answerable = scored.filter((s) => s.q.source !== null);
  const unanswerable = scored.filter((s) => s.q.source === null);
  const share = (n: number) => (answerable.length ? n / answerable.length : 0);
  const spans = scored.flatMap((s) => s.spans);
  return {
    answerable: answerable.length,
    unanswerable: unanswerable.length,
    hit1: share(answerable.filter((s) => s.firstHit === 1).length),
    hit5: share(answerable.filter((s) => s.firstHit !== null && s.firstHit <= 5).length),
    mrr10: share(answerable.reduce((sum, s) => sum + (s.firstHit ? 1 / s.firstHit : 0), 0)),
    containment5: share(answerable.filter((s) => s.contained).length),
    refused: unanswerable.filter((s) => s.refused).length,
    falseRefusals: answerable.filter((s) => s.refused).length,
    meanPageSpan: spans.length ? spans.reduce((a, b) => a + b, 0) / spans.length : 0,
  };
}

function problemsOf(s: Scored): string[] {
  if (s.q.source === null) return s.refused ? [] : ['answered an unanswerable question'];
  const problems: string[] = [];
  if (s.firstHit === null) problems.push('no hit in the top 10');
  else if (s.firstHit > 1) problems.push(`first hit at rank ${s.firstHit}`);
  if (!s.contained) problems.push('answer phrase not in a top-5 hit');
  if (s.refused) problems.push('refused an answerable question');
  return problems;
}

export function scoreQa(questions: QaQuestion[], results: QaResult[]): QaReport {
  const byId = new Map(results.map((r) => [r.id, r]));
  const scored = questions.map((q) => scoreOne(q, byId.get(q.id)));
  const kinds = [...new Set(questions.map((q) => q.kind))];
  const misses: QaMiss[] = [];
  for (const s of scored) {
    const problems = problemsOf(s);
    if (!problems.length) continue;
    const top = (byId.get(s.q.id)?.hits ?? []).slice(0, 3).map((h) => ({
      source: baseName(h.source),
      pages: h.pageStart === null ? '-' : h.pageEnd && h.pageEnd !== h.pageStart ? `${h.pageStart}-${h.pageEnd}` : String(h.pageStart),
      text: h.text.replace(/\s+/g, ' ').slice(0, 120),
    }));
    misses.push({ id: s.q.id, kind: s.q.kind, question: s.q.question, problems, top });
  }
  return {
    overall: aggregate(scored),
    byKind: Object.fromEntries(kinds.map((k) => [k, aggregate(scored.filter((s) => s.q.kind === k))])),
    misses,
  };
}
