import { Hono } from 'hono';
import { buildOpenApi } from '../openapi/spec.ts';
import { REFERENCE_PAGE } from '../openapi/reference-page.ts';

/** GET /openapi.json (the spec, built once) and GET /docs (a self-contained page that renders it). */
export function docsRoutes(): Hono {
  const app = new Hono();
  let spec: ReturnType<typeof buildOpenApi> | undefined;
  app.get('/openapi.json', (c) => c.json((spec ??= buildOpenApi())));
  // The page carries its own script and style; the default CSP (secureHeaders) is relaxed only here.
  app.get('/docs', (c) => {
    c.header('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    return c.html(REFERENCE_PAGE);
  });
  return app;
}
