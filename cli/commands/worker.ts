import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { RaglineError } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import { Ragline } from '../../facade/ragline.ts';
import { pipelineProcessor } from '../../facade/job-processor.ts';
import { AnswerService } from '../../answer/service.ts';
import { RequestLimits } from '../../api/limits/request-limits.ts';
import { BATCH_JOB_KIND, Batches } from '../../facade/batches.ts';
import { openOperations } from '../../facade/operations.ts';
import { JobQueue, queueOptionsFromLimits } from '../../ingest/jobs/queue.ts';
import { JobWorker } from '../../ingest/jobs/worker.ts';

export const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

/**
 * Resolves on the first SIGINT/SIGTERM so the caller can shut down gracefully; a second signal
 * exits at once (a job in progress is then taken over by another worker once its heartbeat is stale).
 */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130)).once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  });
}

interface WorkerCommandOptions {
  concurrency: number;
  pollMs: number;
  heartbeatMs: number;
  staleMs: number;
}

export function register(program: Command) {
  program
    .command('worker')
    .description('Process queued ingestion jobs and batch questions until stopped. Any number of workers can share one Postgres database.')
    .option('--concurrency <n>', 'jobs processed at the same time', positiveInt('--concurrency'), 1)
    .option('--poll-ms <n>', 'wait between polls of an empty queue', positiveInt('--poll-ms'), 1000)
    .option('--heartbeat-ms <n>', 'heartbeat interval while a job runs', positiveInt('--heartbeat-ms'), 5000)
    .option('--stale-ms <n>', 'take over running jobs whose heartbeat is older than this', positiveInt('--stale-ms'), 30_000)
    .action(async (opts: WorkerCommandOptions) => {
      if (opts.heartbeatMs * 2 > opts.staleMs) {
        throw new RaglineError('bad_request', '--heartbeat-ms must be at most half of --stale-ms, or live jobs would be taken over');
      }
      const config = loadConfig();
      if (!config.databaseUrl) {
        throw new RaglineError(
          'invalid_config',
          'Invalid configuration: DATABASE_URL: `ragline worker` needs a Postgres server shared with the API. ' +
            'With embedded PGlite (no DATABASE_URL), `ragline serve` runs the worker in its own process.',
          { variable: 'DATABASE_URL' },
        );
      }
      const ragline = await Ragline.open(config);
      try {
        await ragline.embedder(); // fail now, not on the first job, when the model is missing
        // Batch questions are answered here too, traced (and handed off) like any answer.
        const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
        // The same token counters as the API's /answer (shared through Redis when REDIS_URL is set).
        const budget = RequestLimits.fromConfig(config);
        const batches = Batches.fromOperations(ragline, operations.queries, budget);
        const worker = new JobWorker(JobQueue.forStore(ragline.store, queueOptionsFromLimits(config.limits)), pipelineProcessor(ragline), {
          jobDeadlineMs: config.limits.jobDeadlineMs,
          ...opts,
          tasks: { [BATCH_JOB_KIND]: batches.processor() },
        }).start();
        console.log(`ragline worker ${worker.id} started (concurrency ${opts.concurrency}); Ctrl-C to stop`);
        const signal = await untilShutdownSignal();
        logger.info({ signal }, 'stopping: finishing the jobs in progress (send the signal again to quit at once)');
        await worker.stop(config.limits.shutdownGraceMs);
        await operations.close();
        await budget.close();
      } finally {
        await ragline.close();
      }
    });
}
