import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { AnswerService } from '../../answer/service.ts';
import { RaglineError, notFound } from '../../core/errors.ts';
import { RequestLimits } from '../../api/limits/request-limits.ts';
import { BATCH_JOB_KIND, Batches, batchRequestSchema } from '../../facade/batches.ts';
import { pipelineProcessor } from '../../facade/job-processor.ts';
import { openOperations } from '../../facade/operations.ts';
import { JobQueue, queueOptionsFromLimits } from '../../ingest/jobs/queue.ts';
import { JobWorker } from '../../ingest/jobs/worker.ts';
import type { BatchProgress } from '../../store/batches.ts';
import { printJson, withRagline } from '../context.ts';
import { tenantOption } from './tenancy.ts';

/** A questions file larger than this is refused before it is read (1000 questions of 8000 characters fit). */
export const MAX_QUESTIONS_FILE_BYTES = 16 * 1024 * 1024;

/** One question per line: a JSON string or {"question": "...", "id": "..."}; blank lines are skipped. */
export function readQuestionsFile(file: string): unknown[] {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new RaglineError('bad_request', `cannot read the questions file ${file}`);
  }
  if (size > MAX_QUESTIONS_FILE_BYTES) {
    throw new RaglineError('bad_request', `${file} is ${size} bytes; a questions file holds at most ${MAX_QUESTIONS_FILE_BYTES}`);
  }
  const questions: unknown[] = [];
  for (const [i, line] of fs.readFileSync(file, 'utf8').split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      questions.push(JSON.parse(line));
    } catch {
      throw new RaglineError('bad_request', `${file} line ${i + 1} is not JSON (expected "question" or {"question": "..."})`);
    }
  }
  return questions;
}

function parseSettings(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  try {
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new RaglineError('bad_request', '--settings must be a JSON object of /answer fields, e.g. {"mode":"hybrid","topK":6}');
  }
}

const summary = (p: BatchProgress) => `batch ${p.id}: ${p.state}, ${p.succeeded + p.failed}/${p.total} done (${p.failed} failed)`;

/** `ragline batch submit|status|results` (docs/handoffs-batches.md). */
export function register(program: Command) {
  const batch = program.command('batch').description('Question batches answered at low priority through the job queue.');
  batch
    .command('submit')
    .description('Queue every question of a JSONL file; with --wait, answer them here and wait for the last.')
    .argument('<collection>', 'collection name or id')
    .argument('<questions.jsonl>', 'one JSON string or {"question","id"} per line')
    .addOption(tenantOption())
    .option('--settings <json>', 'answer settings for every question (mode, topK, filter, ...)')
    .option('--wait', 'run a worker in this process until the batch is done')
    .option('--json', 'print the batch as JSON')
    .action(async (ref: string, file: string, opts: { tenant: string; settings?: string; wait?: boolean; json?: boolean }) => {
      const questions = readQuestionsFile(file);
      await withRagline(async (ragline, config) => {
        const parsed = batchRequestSchema(config.batches.maxQuestions).safeParse({ questions, settings: parseSettings(opts.settings) });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const where = issue.path[0] === 'questions' && typeof issue.path[1] === 'number' ? `question ${issue.path[1] + 1}: ` : '';
          throw new RaglineError('bad_request', `${file}: ${where}${issue.message} (${issue.path.join('.') || 'file'})`);
        }
        const collection = await ragline.store.getCollection(ref, opts.tenant);
        if (!collection) throw notFound(`collection "${ref}" not found in tenant ${opts.tenant}`);
        const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
        // --wait answers here: charged to the tenant's `cli` key through the API's token counters.
        const budget = RequestLimits.fromConfig(config);
        try {
          const batches = Batches.fromOperations(ragline, operations.queries, budget);
          const context = { requestId: randomUUID(), tenantId: opts.tenant, keyId: 'cli' };
          let progress = await batches.submit(context, collection, parsed.data);
          if (opts.wait) progress = await runUntilDone(ragline, batches, progress);
          if (opts.json) return printJson(progress);
          console.log(summary(progress));
          if (!opts.wait)
            console.error(`results: ragline batch results ${progress.id}${opts.tenant === 'default' ? '' : ` --tenant ${opts.tenant}`}`);
        } finally {
          await operations.close();
          await budget.close();
        }
      });
    });
  batch
    .command('status')
    .description("A batch's progress.")
    .argument('<id>', 'batch id')
    .addOption(tenantOption())
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { tenant: string; json?: boolean }) => {
      await withBatches(async (batches) => {
        const progress = await batches.progressInTenant(id, opts.tenant);
        if (!progress) throw notFound(`batch "${id}" not found in tenant ${opts.tenant}`);
        if (opts.json) return printJson(progress);
        console.log(summary(progress));
      });
    });
  batch
    .command('results')
    .description('Print the results as JSONL: position, question, answer, kind, citations, requestId (or error).')
    .argument('<id>', 'batch id')
    .addOption(tenantOption())
    .action(async (id: string, opts: { tenant: string }) => {
      await withBatches(async (batches) => {
        const progress = await batches.progressInTenant(id, opts.tenant);
        if (!progress) throw notFound(`batch "${id}" not found in tenant ${opts.tenant}`);
        for await (const line of batches.results(id)) process.stdout.write(line);
        if (progress.state !== 'completed') console.error(summary(progress));
      });
    });
}

const withBatches = <T>(fn: (batches: Batches) => Promise<T>) =>
  withRagline(async (ragline) => {
    const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
    try {
      return await fn(Batches.fromOperations(ragline, operations.queries));
    } finally {
      await operations.close();
    }
  });

/** A worker in this process (ingestion too, so nothing it claims fails) until the batch has no question left. */
async function runUntilDone(ragline: Parameters<typeof pipelineProcessor>[0], batches: Batches, progress: BatchProgress) {
  const { limits } = ragline.config;
  const worker = new JobWorker(JobQueue.forStore(ragline.store, queueOptionsFromLimits(limits)), pipelineProcessor(ragline), {
    pollMs: 200,
    jobDeadlineMs: limits.jobDeadlineMs,
    tasks: { [BATCH_JOB_KIND]: batches.processor() },
  }).start();
  try {
    let current = progress;
    let shown = '';
    while (current.state !== 'completed') {
      await new Promise((resolve) => setTimeout(resolve, 250));
      current = (await batches.progressInTenant(progress.id, progress.tenantId))!;
      if (summary(current) !== shown) console.error((shown = summary(current)));
    }
    return current;
  } finally {
    await worker.stop(limits.shutdownGraceMs);
  }
}
