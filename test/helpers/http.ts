import { expect } from 'vitest';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
export type Json = Record<string, any>;

/** A JSON POST (a string body is sent as is, to test malformed input). */
export const postJson = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** A multipart POST with one `file` part per entry plus text fields. */
export function postForm(files: { name: string; bytes: Uint8Array | string; type?: string }[], fields: Record<string, string> = {}) {
  const data = new FormData();
  for (const f of files) data.append('file', new File([f.bytes], f.name, { type: f.type ?? 'text/plain' }));
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  return { method: 'POST', body: data } satisfies RequestInit;
}

/**
 * Asserts the status, the error code and the `{ error: { code, message, details } }` shape (plus the
 * `requestId` of the trace that searches and answers record even when refused); returns the error.
 */
export async function expectErrorBody(res: Response, status: number, code: string): Promise<Json> {
  const body = (await res.json()) as Json;
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  const traced = body.requestId === undefined ? {} : { requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) };
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) }, ...traced });
  return body.error as Json;
}
