import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { answerRequestSchema } from '../answer/service.ts';
import { StructuredOutputError } from '../answer/structured.ts';
import type { Config } from '../core/config.ts';
import { RaglineError } from '../core/errors.ts';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { JobDeferred, type TaskProcessor, classifyFailure } from '../ingest/jobs/worker.ts';
import { type BatchItem, type BatchProgress, BatchStore } from '../store/batches.ts';
import { SqlStore } from '../store/sql-store.ts';
import type { Collection } from '../store/types.ts';
import { InteractiveLoad } from './interactive-load.ts';
import type { Ragline } from './ragline.ts';
import type { RequestContext, TracedQueries } from './traced-queries.ts';

export type BatchOptions = Config['batches'];

/** One question as /answer bounds it, optionally with the client's own label. */
const questionText = z.string().trim().min(1, 'question must not be empty').max(8_000);
const batchQuestionSchema = z.union([
  questionText,
  z.object({ question: questionText, id: z.string().min(1).max(200).optional() }).strict(),
]);

/** The body of POST /v1/collections/:id/batches; `settings` are /answer's fields except question and stream. */
export function batchRequestSchema(maxQuestions: number) {
  return z
    .object({
      questions: z
        .array(batchQuestionSchema)
        .min(1, 'a batch needs at least one question')
        .max(maxQuestions, `a batch holds at most ${maxQuestions} questions (RAGLINE_BATCH_MAX_QUESTIONS)`),
      settings: z.record(z.string(), z.unknown()).default({}),
    })
    .strict()
    .superRefine((body, ctx) => {
      for (const field of ['question', 'stream'])
        if (field in body.settings) ctx.addIssue({ code: 'custom', path: ['settings', field], message: `settings cannot set ${field}` });
      const checked = answerRequestSchema.safeParse({ ...body.settings, question: 'settings check' });
      if (!checked.success) for (const issue of checked.error.issues) ctx.addIssue({ ...issue, path: ['settings', ...issue.path] });
    });
}
export type BatchRequest = z.output<ReturnType<typeof batchRequestSchema>>;

/** One line of the results file. */
export interface BatchResultLine {
  position: number;
  id?: string;
  question: string;
  state: BatchItem['state'];
  answer: string | null;
  kind: string | null;
  citations: unknown[];
  requestId: string | null;
  error?: { code: string; message: string };
}

/**
 * The LLM token budget /answer is held to (per key and per tenant, api/limits/request-limits.ts
 * satisfies this): batch questions are checked and charged against the submitter's key through the
 * same counters, so a batch cannot spend more of a key's budget than interactive answers could.
 */
export interface TokenBudget {
  tokenBudget(identity: { keyId: string; tenantId: string }): Promise<{ allowed: boolean; state: { scope: string; resetSeconds: number } }>;
  chargeTokens(identity: { keyId: string; tenantId: string }, tokens: number): Promise<void>;
}

export const BATCH_JOB_KIND = 'batch_question' as const;
const RESULTS_PAGE = 200;

/**
 * Question batches: stored with one low-priority job per question, answered by the workers through
 * the traced queries (so each answer has its trace, and feeds handoffs), read back as JSONL.
 */
export class Batches {
  readonly store: BatchStore;
  /** The API marks /search and /answer here; batch questions in this process wait for a quiet moment. */
  readonly interactive = new InteractiveLoad();

  constructor(
    private readonly ragline: Ragline,
    private readonly queries: TracedQueries,
    readonly options: BatchOptions,
    private readonly budget?: TokenBudget,
  ) {
    if (!(ragline.store instanceof SqlStore)) {
      throw new RaglineError('invalid_config', `batches need a SQL store (PGlite or Postgres), not ${ragline.store.kind}`);
    }
    this.store = new BatchStore(ragline.store.db);
  }

  static fromOperations(ragline: Ragline, queries: TracedQueries, budget?: TokenBudget): Batches {
    return new Batches(ragline, queries, ragline.config.batches, budget);
  }

  /** The batch, its questions and their jobs, all or nothing. */
  async submit(ctx: RequestContext, collection: Collection, request: BatchRequest): Promise<BatchProgress> {
    const db = (this.ragline.store as SqlStore).db;
    const questions = request.questions.map((q) => (typeof q === 'string' ? { question: q } : q));
    const batch = await db.transaction(async (tx) => {
      const created = await this.store.create(
        {
          tenantId: collection.tenantId,
          keyId: ctx.keyId,
          collectionId: collection.id,
          collectionName: collection.name,
          settings: request.settings,
          questions,
        },
        tx,
      );
      await new JobQueue(tx).enqueueTasks(
        collection.id,
        BATCH_JOB_KIND,
        created.itemIds.map((id, i) => ({ source: `batch:${created.batch.id}#${i}`, payload: { batchItemId: id } })),
        { priority: this.options.priority, maxAttempts: this.options.maxAttempts },
        tx,
      );
      return created.batch;
    });
    return (await this.store.progress(batch.id, batch.tenantId, batch.collectionId))!;
  }

  progress(id: string, collection: Collection): Promise<BatchProgress | null> {
    return this.store.progress(id, collection.tenantId, collection.id);
  }

  /** By id within a tenant (the CLI, which names no collection). */
  async progressInTenant(id: string, tenantId: string): Promise<BatchProgress | null> {
    const batch = /^[0-9a-f-]{36}$/i.test(id) ? await this.store.batch(id) : null;
    return batch && batch.tenantId === tenantId ? this.store.progress(id, tenantId, batch.collectionId) : null;
  }

  /** The results file, one JSON line per question in order, read from SQL a page at a time. */
  async *results(batchId: string): AsyncGenerator<string> {
    for (let after = -1; ; ) {
      const page = await this.store.items(batchId, after, RESULTS_PAGE);
      for (const item of page) yield `${JSON.stringify(resultLine(item))}\n`;
      if (page.length < RESULTS_PAGE) return;
      after = page[page.length - 1]!.position;
    }
  }

  /** The worker's processor for `batch_question` jobs. */
  processor(): TaskProcessor {
    return async (job, signal) => {
      const item = await this.store.item(String(job.payload.batchItemId ?? ''));
      if (item?.state !== 'queued') return; // answered already (a duplicate run) or deleted
      await this.interactive.quiet(this.options.yieldQuietMs, this.options.yieldMaxWaitMs, signal);
      try {
        await this.answer(item, signal);
      } catch (err) {
        if (err instanceof JobDeferred) throw err;
        const { error, permanent } = classifyFailure(err);
        // The last attempt (or one that can never succeed) writes the error into the results file.
        if (permanent || job.attempts >= job.maxAttempts) await this.store.finishItem(item.id, 'failed', null, { error });
        throw err;
      }
    };
  }

  private async answer(item: BatchItem, signal: AbortSignal): Promise<void> {
    const batch = await this.store.batch(item.batchId);
    if (!batch) return;
    const collection = await this.ragline.store.getCollection(batch.collectionId, batch.tenantId);
    if (!collection) throw new RaglineError('not_found', `collection "${batch.collectionName}" no longer exists`);
    // A fresh id per attempt: an attempt that died after tracing must not collide with the next.
    const ctx: RequestContext = { requestId: randomUUID(), tenantId: batch.tenantId, keyId: batch.keyId };
    const identity = { keyId: batch.keyId ?? `batch:${batch.id}`, tenantId: batch.tenantId };
    const budget = await this.budget?.tokenBudget(identity);
    if (budget && !budget.allowed) {
      // Waits for the window to reset, in the queue rather than in a worker slot.
      throw new JobDeferred(budget.state.resetSeconds * 1000, {
        code: 'rate_limited',
        message: `LLM token budget of the ${budget.state.scope} spent: the question waits ${budget.state.resetSeconds} s`,
      });
    }
    const charge = (usage: { promptTokens: number; completionTokens: number }) =>
      this.budget?.chargeTokens(identity, usage.promptTokens + usage.completionTokens);
    let response: Awaited<ReturnType<TracedQueries['answer']>>;
    try {
      response = await this.queries.answer(ctx, collection, { ...batch.settings, question: item.question }, signal);
    } catch (err) {
      if (err instanceof StructuredOutputError) await charge(err.usage);
      throw err;
    }
    if (response.cache !== 'hit') await charge(response.usage);
    await this.store.finishItem(item.id, 'succeeded', response.requestId, {
      answer: response.answer,
      kind: response.kind,
      citations: response.citations,
      model: response.model,
      grounded: response.grounded,
    });
  }
}

function resultLine(item: BatchItem): BatchResultLine {
  const r = item.result;
  return {
    position: item.position,
    ...(item.label !== null ? { id: item.label } : {}),
    question: item.question,
    state: item.state,
    answer: r?.answer ?? null,
    kind: r?.kind ?? null,
    citations: r?.citations ?? [],
    requestId: item.requestId,
    ...(r?.error ? { error: r.error } : {}),
  };
}
