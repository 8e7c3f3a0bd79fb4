import { AnswerService } from '../answer/service.ts';
import type { Ragline } from '../facade/ragline.ts';
import type { Progress } from './progress.ts';
import { silentProgress } from './progress.ts';
import { scoreQa, type QaQuestion, type QaReport, type QaResult } from './qa.ts';

/** Chunks scored per question (MRR@10 needs ten). */
export const QA_TOP_K = 10;

export interface QaRunOptions {
  ragline: Ragline;
  collection: string;
  questions: QaQuestion[];
  /** By default the configured one (the LLM when configured, else extractive). */
  answers?: AnswerService;
  progress?: Progress;
}

export interface QaRun {
  report: QaReport;
  results: QaResult[];
  collection: string;
  questions: number;
  seconds: number;
}

/**
 * Runs every question through the same two calls a user makes: a search for the ranked chunks
 * and an answer for the refusal. The collection must exist and be ingested already.
 */
export async function runQaEvaluation(options: QaRunOptions): Promise<QaRun> {
  const started = performance.now();
  const { ragline, collection, questions } = options;
  await ragline.collection(collection); // a missing collection fails before any question runs
  const answers = options.answers ?? AnswerService.fromConfig(ragline);
  const progress = options.progress ?? silentProgress;
  progress.start(`questions on ${collection}`, questions.length);
  const results: QaResult[] = [];
  for (const q of questions) {
    const search = await ragline.search(collection, { query: q.question, topK: QA_TOP_K });
    const answer = await answers.answer(collection, { question: q.question });
    results.push({
      id: q.id,
      hits: search.hits.map((h) => ({
        source: h.chunk.source,
        pageStart: h.chunk.pageStart,
        pageEnd: h.chunk.pageEnd,
        text: h.chunk.text,
      })),
      refused: answer.kind === 'not_covered',
      answer: answer.answer,
    });
    progress.tick();
  }
  progress.stop();
  return {
    report: scoreQa(questions, results),
    results,
    collection,
    questions: questions.length,
    seconds: (performance.now() - started) / 1000,
  };
}
