import type { Command } from 'commander';

/**
 * Commands that live in their own modules (serve, worker, ask, eval, tune). Each module exports
 * `register(program)`; they load lazily so `ragline ingest` does not pay for the HTTP server.
 */
const MODULES = ['./serve.ts', './worker.ts', './ask.ts', './eval.ts', './tune.ts'];

export async function registerOptionalCommands(program: Command): Promise<void> {
  for (const file of MODULES) {
    const mod = (await import(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(file.slice(2))) return null;
      throw err;
    })) as { register?: (p: Command) => void } | null;
    mod?.register?.(program);
  }
}
