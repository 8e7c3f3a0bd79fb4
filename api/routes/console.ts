import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Context, Hono } from 'hono';
import { notFound } from '../../core/errors.ts';
import { errorResponse } from '../http-errors.ts';

/** The console's files: hand-written ES modules, no build step (docs/console.md). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Everything the page loads comes from this origin; nothing inline, nothing from elsewhere. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** Every servable file of the (flat) folder, by name. Read once: a request can only name a file listed here, never a path. */
export function consoleAssets(dir = CONSOLE_DIR): Map<string, { body: Uint8Array; type: string }> {
  const assets = new Map<string, { body: Uint8Array; type: string }>();
  if (!fs.existsSync(dir)) return assets;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const type = TYPES[path.extname(entry.name)];
    if (entry.isFile() && type) assets.set(entry.name, { body: fs.readFileSync(path.join(dir, entry.name)), type });
  }
  return assets;
}

/**
 * GET / (the console page) and GET /console/:file (its scripts and styles). The page holds no data: every
 * figure it shows comes from /v1 with the key the user typed, under the same auth as any client.
 */
export function consoleRoutes(assets = consoleAssets()): Hono {
  const app = new Hono();
  const send = (c: Context, file: string) => {
    const asset = assets.get(file);
    if (!asset) return errorResponse(c, notFound(`console file "${file}" not found`, { file }));
    return new Response(asset.body, {
      headers: { 'Content-Type': asset.type, 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' },
    });
  };
  app.get('/', (c) => send(c, 'index.html'));
  app.get('/console/:file', (c) => send(c, c.req.param('file')));
  return app;
}
