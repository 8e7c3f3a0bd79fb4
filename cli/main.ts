#!/usr/bin/env -S npx tsx
import { Command, CommanderError } from 'commander';
import { RaglineError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { registerCollectionCommands } from './commands/collections.ts';
import { registerIngestCommand } from './commands/ingest.ts';
import { registerTenancyCommands } from './commands/tenancy.ts';
import { registerSearchCommand } from './commands/search.ts';
import { register as registerAskCommand } from './commands/ask.ts';
import { register as registerEvalCommand } from './commands/eval.ts';
import { register as registerServeCommand } from './commands/serve.ts';
import { register as registerTuneCommand } from './commands/tune.ts';
import { register as registerWorkerCommand } from './commands/worker.ts';
import { register as registerReportCommand } from './commands/report.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerExperimentCommands } from './commands/experiments.ts';
import { register as registerHandoffCommands } from './commands/handoffs.ts';
import { register as registerBatchCommands } from './commands/batch.ts';
import { register as registerReconcileCommand } from './commands/reconcile.ts';

/** Exit codes: 0 ok, 1 some work failed, 2 bad usage or configuration. */
export function buildProgram(): Command {
  const program = new Command('ragline')
    .description('Ragline: ingest documents, search them with hybrid retrieval, answer with citations.')
    .showHelpAfterError()
    // An option belongs to the command it follows: `collections deleted --tenant t` is the subcommand's --tenant.
    .enablePositionalOptions()
    .exitOverride();
  registerIngestCommand(program);
  registerCollectionCommands(program);
  registerSearchCommand(program);
  registerAskCommand(program);
  registerServeCommand(program);
  registerWorkerCommand(program);
  registerEvalCommand(program);
  registerTuneCommand(program);
  registerTenancyCommands(program);
  registerReportCommand(program);
  registerConfigCommands(program);
  registerExperimentCommands(program);
  registerHandoffCommands(program);
  registerBatchCommands(program);
  registerReconcileCommand(program);
  // Commands print only their output; logs (JSON on stderr) are for servers, workers and --verbose.
  const daemons = new Set(['serve', 'worker']);
  for (const command of program.commands) command.option('--verbose', 'log progress and diagnostics as JSON on stderr');
  program.hook('preAction', (_program, action) => {
    if (action.opts().verbose) logger.level = 'debug';
    else if (!process.env.RAGLINE_LOG_LEVEL) logger.level = daemons.has(action.name()) ? 'info' : 'warn';
  });
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof RaglineError) {
      console.error(`ragline: ${err.message}`);
      return err.code === 'invalid_config' || err.code === 'bad_request' ? 2 : 1;
    }
    console.error(`ragline: unexpected error: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('cli/main.ts')) {
  main().then((code) => process.exit(code));
}
