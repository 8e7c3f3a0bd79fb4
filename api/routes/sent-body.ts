import type { Context } from 'hono';
import type { z } from 'zod';
import { readJson } from '../http-errors.ts';

/**
 * A JSON body validated by `schema`, plus the body as sent. Collection configs fill only the fields a
 * caller left out, and the parsed body can no longer tell those apart from the schema's defaults.
 */
export async function readSentJson<S extends z.ZodType>(c: Context, schema: S): Promise<{ parsed: z.output<S>; sent: z.input<S> }> {
  const parsed = await readJson(c, schema);
  // Hono keeps the body read by readJson, so reading it again costs one JSON.parse.
  const sent = (await c.req.json()) as z.input<S>;
  return { parsed, sent };
}
