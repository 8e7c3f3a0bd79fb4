import type { AnswerService } from '../answer/service.ts';
import { RaglineError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { LedgerStore } from '../store/ledger.ts';
import { SqlStore } from '../store/sql-store.ts';
import type { Store } from '../store/types.ts';
import { createAnswerCache, type AnswerCache } from './answer-cache.ts';
import { type HandoffDeps, type Handoffs, openHandoffs } from './handoffs.ts';
import { RequestLedger } from './ledger.ts';
import type { Ragline } from './ragline.ts';
import { TracedQueries } from './traced-queries.ts';

export interface Operations {
  queries: TracedQueries;
  ledger: RequestLedger;
  cache: AnswerCache | undefined;
  /** The human handoff queue, fed by every answer (docs/handoffs-batches.md). */
  handoffs: Handoffs;
  /** Writes buffered traces and handoffs and disconnects the cache. */
  close(): Promise<void>;
}

export interface OperationsOptions {
  /** Applied to questions before they are stored; by default PII redaction when RAGLINE_REDACT_TRACES is on, else identity. */
  redact?: (text: string) => string;
  /** Overrides the configured answer cache (tests, benches). `null` turns it off. */
  cache?: AnswerCache | null;
  /** The handoff webhook's HTTP client (tests). */
  handoffFetch?: HandoffDeps['fetch'];
}

/** The ledger tables in the store's database; only SQL stores hold them. */
export function ledgerStoreFor(store: Store): LedgerStore {
  if (!(store instanceof SqlStore)) {
    throw new RaglineError('invalid_config', `the request ledger needs a SQL store (PGlite or Postgres), not ${store.kind}`);
  }
  return new LedgerStore(store.db);
}

/** The ledger, the answer cache and the traced queries over them, as configured in `operations`. */
export function openOperations(ragline: Ragline, answers: AnswerService, options: OperationsOptions = {}): Operations {
  const o = ragline.config.operations;
  const { redactTraces, redactKinds } = ragline.config.guardrails;
  const redactQuestion = options.redact ?? (redactTraces ? (text: string) => redact(text, { kinds: redactKinds }) : undefined);
  const ledger = new RequestLedger(ledgerStoreFor(ragline.store), {
    flushMs: o.ledgerFlushMs,
    batchSize: o.ledgerBatchSize,
    maxBuffered: o.ledgerMaxBuffered,
    retentionDays: o.retentionDays,
    redact: redactQuestion,
  });
  const cache = options.cache === null ? undefined : (options.cache ?? createAnswerCache({ ...o, redisUrl: ragline.config.redisUrl }));
  const queries = new TracedQueries(ragline, answers, ledger, cache);
  const handoffs = openHandoffs(ragline.config, ragline.store, queries, { redact: ledger.redact, fetch: options.handoffFetch });
  return {
    queries,
    ledger,
    cache,
    handoffs,
    async close() {
      await handoffs.close();
      await ledger.close();
      await cache?.close();
    },
  };
}
