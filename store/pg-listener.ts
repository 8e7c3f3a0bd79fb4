import pg from 'pg';
import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;

/**
 * LISTEN on a connection of its own: pooled connections come and go, and a notice reaches only
 * the session that listens. When that connection drops, it is re-opened with backoff and
 * `onResubscribed` tells the caller that notices may have been missed.
 */
export async function listenOnDedicatedConnection(
  databaseUrl: string,
  channel: string,
  onNotice: (payload: string) => void,
  onResubscribed?: () => void,
): Promise<() => Promise<void>> {
  const quoted = `"${channel.replace(/"/g, '""')}"`;
  let client: pg.Client | undefined;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let delay = RECONNECT_MIN_MS;

  const open = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: 'ragline-listener', connectionTimeoutMillis: 10_000 });
    c.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onNotice(msg.payload);
    });
    c.on('error', (err) => {
      logger.warn({ err: errorMessage(err), channel }, 'notification connection lost; reconnecting');
      void c.end().catch(() => {});
      if (client === c) client = undefined;
      scheduleReconnect();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${quoted}`);
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
    if (stopped) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
  };

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      open().then(
        () => {
          delay = RECONNECT_MIN_MS;
          if (!stopped) onResubscribed?.();
        },
        (err: unknown) => {
          logger.warn({ err: errorMessage(err), channel, retryInMs: delay }, 'cannot re-open the notification connection');
          delay = Math.min(RECONNECT_MAX_MS, delay * 2);
          scheduleReconnect();
        },
      );
    }, delay);
    retryTimer.unref();
  };

  await open();
  return async () => {
    stopped = true;
    clearTimeout(retryTimer);
    await client?.end().catch(() => {});
    client = undefined;
  };
}
