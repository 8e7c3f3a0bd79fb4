import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { LedgerStore, Trace } from '../store/ledger.ts';

export interface LedgerOptions {
  flushMs: number;
  batchSize: number;
  maxBuffered: number;
  retentionDays: number;
  /** Applied to every question before it is stored (PII redaction); identity by default. */
  redact?: (text: string) => string;
}

/**
 * Writes traces off the hot path: `record` only buffers, a timer (or a full batch) writes them in
 * one INSERT. A failed write keeps the batch for the next try; beyond `maxBuffered` the oldest traces
 * are dropped and counted, so a database outage never fails a request or grows memory without bound.
 */
export class RequestLedger {
  private buffer: Trace[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  readonly stats = { recorded: 0, written: 0, dropped: 0, failedFlushes: 0 };
  readonly redact: (text: string) => string;

  constructor(
    readonly store: LedgerStore,
    private readonly options: LedgerOptions,
  ) {
    this.redact = options.redact ?? ((text) => text);
  }

  record(trace: Trace): void {
    let question: string;
    try {
      question = this.redact(trace.question);
    } catch (err) {
      // A broken redaction hook must not leak the raw text: store nothing of the question.
      logger.warn({ err: errorMessage(err), requestId: trace.id }, 'redaction failed; question not stored');
      question = '[redaction failed]';
    }
    this.buffer.push({ ...trace, question });
    this.stats.recorded++;
    const overflow = this.buffer.length - this.options.maxBuffered;
    if (overflow > 0) {
      this.buffer.splice(0, overflow);
      this.stats.dropped += overflow;
    }
    if (this.buffer.length >= this.options.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
  }

  /** Writes everything buffered so far; never throws (a failure is logged and retried later). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.buffer.length) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.store
      .insertTraces(batch)
      .then(() => {
        this.stats.written += batch.length;
      })
      .catch((err: unknown) => {
        this.stats.failedFlushes++;
        logger.warn({ err: errorMessage(err), traces: batch.length }, 'ledger write failed; will retry');
        this.buffer = batch.concat(this.buffer).slice(-this.options.maxBuffered);
        this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  /** Deletes traces past the retention period. */
  async purge(now = new Date()): Promise<number> {
    const before = new Date(now.getTime() - this.options.retentionDays * 86_400_000);
    return this.store.purgeBefore(before);
  }

  /** Purges now and then every `intervalMs` (the server runs this; failures are logged). */
  startPurging(intervalMs = 3_600_000): this {
    const run = () =>
      this.purge()
        .then((n) => n && logger.info({ purged: n }, 'ledger: old traces purged'))
        .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'ledger purge failed'));
    void run();
    this.purgeTimer = setInterval(run, intervalMs).unref();
    return this;
  }

  async close(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.flush();
  }
}
