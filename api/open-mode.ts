import net from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { RaglineError } from '../core/errors.ts';
import { clientAddress } from './access.ts';
import { errorResponse } from './http-errors.ts';

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1' || bare === '::ffff:127.0.0.1';
}

/**
 * Without any API key every caller is admin of the default tenant, which is only safe on a
 * loopback address. Elsewhere the server refuses to start unless RAGLINE_ALLOW_OPEN says so.
 * Returns the warning to log when the server runs open.
 */
export function checkOpenMode(host: string, keysExist: boolean, allowOpen: boolean): string | null {
  if (keysExist) return null;
  if (isLoopback(host)) return `no API keys configured: serving ${host} (localhost only); every caller is admin of the default tenant`;
  if (!allowOpen) {
    throw new RaglineError(
      'invalid_config',
      `refusing to serve ${host} without API keys: set RAGLINE_API_KEYS, create one with "ragline keys create", bind to 127.0.0.1, or set RAGLINE_ALLOW_OPEN=1`,
      { variable: 'RAGLINE_HOST', host },
    );
  }
  return `RAGLINE_ALLOW_OPEN=1: serving ${host} without API keys; anyone who can reach it is admin of the default tenant`;
}

/**
 * While no key exists, the server answers loopback clients only (unless RAGLINE_ALLOW_OPEN): a
 * trusted reverse proxy on the same host must not turn a keyless local server into an open one.
 * The client is the address resolved through the trusted proxies; in-process requests are local.
 */
export function keylessLoopbackOnly(authRequired: () => Promise<boolean>, allowOpen: boolean): MiddlewareHandler {
  return async (c, next) => {
    const client = clientAddress(c);
    if (allowOpen || client === 'local' || isLoopback(client) || (await authRequired())) return next();
    return errorResponse(
      c,
      new RaglineError('forbidden', `this server has no API keys and answers loopback clients only; ${client} is not one`, {
        client,
        variable: 'RAGLINE_API_KEYS',
      }),
    );
  };
}
