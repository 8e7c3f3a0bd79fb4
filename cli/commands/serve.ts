import { InvalidArgumentError, type Command } from 'commander';
import { startServer } from '../../api/server.ts';
import { loadConfig } from '../../core/config.ts';
import { logger } from '../../core/logger.ts';
import { Ragline } from '../../facade/ragline.ts';
import { untilShutdownSignal } from './worker.ts';

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be an integer from 0 to 65535');
  return n;
};

export function register(program: Command) {
  program
    .command('serve')
    .description('Run the HTTP API. With embedded PGlite it also runs the ingestion worker; with Postgres run `ragline worker` too.')
    .option('--port <n>', 'port to listen on (default: PORT or 8787)', port)
    .option('--host <host>', 'interface to listen on (default: RAGLINE_HOST or 127.0.0.1)')
    .option('--worker', 'also run an ingestion worker in this process when using Postgres')
    .action(async (opts: { port?: number; host?: string; worker?: boolean }) => {
      const config = loadConfig();
      const ragline = await Ragline.open(config);
      let running: Awaited<ReturnType<typeof startServer>>;
      try {
        running = await startServer(ragline, {
          host: opts.host ?? config.server.host,
          port: opts.port ?? config.server.port,
          inProcessWorker: ragline.store.kind === 'pglite' || Boolean(opts.worker),
        });
      } catch (err) {
        await ragline.close();
        throw err;
      }
      console.log(`Ragline API listening on ${running.url}${running.worker ? ' (with an in-process ingestion worker)' : ''}`);
      const signal = await untilShutdownSignal();
      logger.info({ signal }, 'shutting down: no new connections, finishing requests and jobs in progress');
      await running.close();
    });
}
