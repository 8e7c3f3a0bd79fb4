import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';
import { consoleProgress } from '../../eval/progress.ts';
import { loadQaQuestions } from '../../eval/qa.ts';
import { printQaReport } from '../../eval/qa-report.ts';
import { runQaEvaluation } from '../../eval/qa-runner.ts';
import { writeJson } from '../../eval/report.ts';

export const qaOptionsSchema = z.object({
  qa: z.string({ error: 'is required with --collection' }).min(1),
  collection: z.string({ error: 'is required with --qa (the ingested collection to question)' }).min(1),
  json: z.string().min(1).optional(),
  dataset: z.undefined({ error: 'cannot be combined with --qa' }).optional(),
});

/** `ragline eval --qa questions.jsonl --collection X [--json out.json]` over the configured store. */
export async function runQaCommand(opts: z.output<typeof qaOptionsSchema>): Promise<void> {
  const questions = loadQaQuestions(path.resolve(opts.qa));
  const ragline = await Ragline.open(loadConfig());
  try {
    const run = await runQaEvaluation({ ragline, collection: opts.collection, questions, progress: consoleProgress() });
    printQaReport(run);
    if (opts.json) {
      writeJson(opts.json, {
        collection: run.collection,
        questions: run.questions,
        seconds: run.seconds,
        ...run.report,
        results: run.results,
      });
      console.log(`wrote ${opts.json}`);
    }
  } finally {
    await ragline.close();
  }
}
