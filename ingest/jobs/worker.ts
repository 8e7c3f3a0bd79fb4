import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { RaglineError, errorMessage } from '../../core/errors.ts';
import { logger as rootLogger } from '../../core/logger.ts';
import { DEFAULT_STALE_MS, type JobQueue, type Lease } from './queue.ts';
import type { Job, JobError, JobKind, JobProgress, JobResult, Upload } from './types.ts';

/**
 * Turns one stored upload into a document; `report` records progress (written with the next
 * heartbeat). `signal` aborts when the job is cancelled, passes its deadline or the worker stops:
 * processors should stop at their next checkpoint (the worker moves on regardless).
 */
export type JobProcessor = (job: Job, upload: Upload, report: (progress: JobProgress) => void, signal?: AbortSignal) => Promise<JobResult>;

/**
 * Runs a job of another kind than ingestion (no upload); its results live in its own tables.
 * `signal` aborts like a processor's.
 */
export type TaskProcessor = (job: Job, signal: AbortSignal) => Promise<void>;

/** A failure with a known error code; `permanent` ones (a corrupt file) are not retried. */
export class JobFailure extends Error {
  constructor(
    readonly error: JobError,
    readonly permanent: boolean,
  ) {
    super(error.message);
    this.name = 'JobFailure';
  }
}

/**
 * Not a failure: the job cannot run yet (e.g. its submitter's LLM token budget is spent). The worker
 * puts it back in the queue with its attempt given back, claimable after `delayMs`, and its slot
 * moves on to other work instead of waiting.
 */
export class JobDeferred extends Error {
  constructor(
    readonly delayMs: number,
    readonly reason: JobError,
  ) {
    super(reason.message);
    this.name = 'JobDeferred';
  }
}

/** Failures that will happen again on every attempt; anything else (database, model, crash) is retried. */
const PERMANENT_CODES = new Set([
  'bad_request',
  'not_found',
  'unprocessable_document',
  'unsupported_media_type',
  'model_mismatch',
  'conflict',
]);

export function classifyFailure(err: unknown): { error: JobError; permanent: boolean } {
  if (err instanceof JobFailure) return { error: err.error, permanent: err.permanent };
  if (err instanceof RaglineError) return { error: { code: err.code, message: err.message }, permanent: PERMANENT_CODES.has(err.code) };
  return { error: { code: 'internal', message: errorMessage(err) }, permanent: false };
}

export const isPermanentCode = (code: string) => PERMANENT_CODES.has(code);

export interface WorkerOptions {
  /** Jobs processed at the same time by this worker (default 1). */
  concurrency?: number;
  /** Wait between polls when the queue is empty (default 1000 ms). */
  pollMs?: number;
  /** Heartbeat interval while a job runs (default 5000 ms); keep it well below staleMs. */
  heartbeatMs?: number;
  /** A running job whose heartbeat is older than this is taken over (default 30 s). Use one value for all workers. */
  staleMs?: number;
  /** Defaults to host:pid:random. */
  workerId?: string;
  /** A job still running after this long is abandoned and fails for good (default 15 min). */
  jobDeadlineMs?: number;
  /** Processors of the other job kinds (e.g. `batch_question`); a job of a kind without one fails for good. */
  tasks?: Partial<Record<Exclude<JobKind, 'ingest'>, TaskProcessor>>;
}

/** Why a running job was abandoned: each is a JobFailure the queue records. */
const deadlineExceeded = (ms: number) =>
  new JobFailure(
    { code: 'deadline_exceeded', message: `the job ran longer than its deadline of ${ms} ms (RAGLINE_JOB_DEADLINE_MS)` },
    true,
  );
const cancelled = () => new JobFailure({ code: 'cancelled', message: 'the job was cancelled' }, true);
const SHUTDOWN_CODE = 'worker_stopped';
/** Not permanent: the job is queued again (its attempt given back) and finished by the next worker. */
const interruptedByShutdown = () => new JobFailure({ code: SHUTDOWN_CODE, message: 'the worker stopped before the job finished' }, false);

/**
 * Claims jobs from the queue and runs them through a processor. Several workers, in one process
 * or on several machines, can share one Postgres queue; PGlite allows only in-process workers.
 */
export class JobWorker {
  readonly id: string;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly jobDeadlineMs: number;
  private readonly tasks: NonNullable<WorkerOptions['tasks']>;
  private readonly running = new Map<string, AbortController>();
  private readonly log;
  private stopping = false;
  private slots: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly queue: JobQueue,
    private readonly processor: JobProcessor,
    options: WorkerOptions = {},
  ) {
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.pollMs = options.pollMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.jobDeadlineMs = options.jobDeadlineMs ?? 15 * 60_000;
    this.tasks = options.tasks ?? {};
    this.log = rootLogger.child({ component: 'worker', worker: this.id });
  }

  start(): this {
    if (this.slots.length) return this;
    this.stopping = false;
    for (let i = 0; i < this.concurrency; i++) this.slots.push(this.loop(this.concurrency > 1 ? `${this.id}/${i}` : this.id));
    this.log.info({ concurrency: this.concurrency }, 'worker started');
    return this;
  }

  /** Wakes idle slots now, e.g. right after an upload was enqueued in this process. */
  notify(): void {
    for (const wake of this.wakers) wake();
  }

  /** Abandons a job this worker is running (after `POST /v1/jobs/:id/cancel`); false when it runs none such. */
  cancel(jobId: string): boolean {
    const controller = this.running.get(jobId);
    controller?.abort(cancelled());
    return controller !== undefined;
  }

  /**
   * Stops claiming and waits for the jobs in progress to finish; after `graceMs` they are
   * abandoned (and queued again for another worker), so stopping is bounded.
   */
  async stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopping = true;
    this.notify();
    const grace = Number.isFinite(graceMs)
      ? setTimeout(() => {
          for (const controller of this.running.values()) controller.abort(interruptedByShutdown());
        }, graceMs)
      : undefined;
    await Promise.all(this.slots);
    clearTimeout(grace);
    this.slots = [];
    this.log.info('worker stopped');
  }

  private async loop(slotId: string): Promise<void> {
    while (!this.stopping) {
      let job: Job | null = null;
      try {
        job = await this.queue.claim(slotId, this.staleMs);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'claiming a job failed; will retry');
      }
      if (job) await this.run(job, slotId);
      else await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.wakers.add(done);
    });
  }

  /** The stored bytes are not needed any more (or only for a retry): a failure here is logged, never the job's. */
  private async releaseUpload(job: Job, outcome: 'succeeded' | 'failed', log: typeof this.log): Promise<void> {
    try {
      await this.queue.releaseUpload(job.uploadId, outcome);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not release the upload; it is purged with a later job');
    }
  }

  /** Ingestion reads the stored upload; other kinds go to their task processor and record no result here. */
  private async process(job: Job, report: (p: JobProgress) => void, signal: AbortSignal): Promise<JobResult | null> {
    if (job.kind !== 'ingest') {
      const task = this.tasks[job.kind];
      if (!task) throw new JobFailure({ code: 'unsupported_job', message: `this worker runs no ${job.kind} jobs` }, true);
      await task(job, signal);
      return null;
    }
    const upload = job.uploadId ? await this.queue.getUpload(job.uploadId) : null;
    if (!upload) throw new JobFailure({ code: 'not_found', message: `the upload of job ${job.id} is gone` }, true);
    return this.processor(job, upload, report, signal);
  }

  /** Runs one claimed job to a recorded outcome; never throws. */
  async run(job: Job, workerId: string): Promise<void> {
    const lease: Lease = { jobId: job.id, workerId, attempt: job.attempts };
    const log = this.log.child({ job: job.id, source: job.source, attempt: job.attempts });
    let progress: JobProgress = { stage: 'load' };
    let leaseLost = false;
    // Heartbeats are chained so progress writes land in order.
    let beats = Promise.resolve();
    const heartbeat = () => {
      beats = beats.then(async () => {
        try {
          if (!(await this.queue.heartbeat(lease, progress))) leaseLost = true;
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'heartbeat failed');
        }
      });
    };
    const controller = new AbortController();
    this.running.set(job.id, controller);
    const deadline = setTimeout(() => controller.abort(deadlineExceeded(this.jobDeadlineMs)), this.jobDeadlineMs);
    const beat = () => {
      heartbeat();
      // A lost lease is also how a cancel from another process arrives (the row left `running`).
      void beats.then(() => leaseLost && controller.abort(cancelled()));
    };
    const timer = setInterval(beat, this.heartbeatMs);
    log.info('job started');
    beat();
    try {
      const report = (p: JobProgress) => {
        const stageChanged = p.stage !== progress.stage;
        progress = { ...progress, ...p };
        if (stageChanged) beat();
      };
      const result = await untilAborted(this.process(job, report, controller.signal), controller.signal);
      clearInterval(timer);
      await beats;
      const saved = await this.queue.complete(lease, result, { ...progress, stage: 'done', pages: result?.pages ?? null });
      if (saved) {
        log.info({ status: result?.status, chunks: result?.chunks }, 'job succeeded');
        await this.releaseUpload(job, 'succeeded', log);
      } else log.warn({ leaseLost }, 'job finished after another worker took it over; result not recorded');
    } catch (err) {
      clearInterval(timer);
      await beats;
      const { error, permanent } = classifyFailure(err);
      try {
        if (err instanceof JobDeferred) {
          const requeued = await this.queue.requeue(lease, err.reason, err.delayMs);
          log.info({ reason: err.reason, delayMs: err.delayMs, requeued }, 'job deferred; queued again');
          return;
        }
        if (error.code === SHUTDOWN_CODE && this.stopping) {
          // Not the job's fault: back in the queue with the attempt given back, so shutdowns never use up its retries.
          const requeued = await this.queue.requeue(lease, error);
          log.warn({ error, requeued }, 'job interrupted by shutdown; queued again');
          return;
        }
        const state = await this.queue.fail(lease, error, { permanent });
        log.warn({ error, permanent, state }, state === 'failed' ? 'job failed' : 'job attempt failed; will retry');
        if (state === 'failed') await this.releaseUpload(job, 'failed', log);
      } catch (writeErr) {
        // The job stays `running`; its heartbeat goes stale and another claim retries it.
        log.error({ err: errorMessage(writeErr), error }, 'could not record the job failure');
      }
    } finally {
      clearInterval(timer);
      clearTimeout(deadline);
      this.running.delete(job.id);
    }
  }
}

/**
 * The processor's result, or the abort reason as soon as the signal fires: the slot is free for
 * the next job at once even when the processor is stuck in work it cannot interrupt.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
