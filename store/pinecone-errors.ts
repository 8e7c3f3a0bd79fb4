import { Errors } from '@pinecone-database/pinecone';

/** How the Pinecone SDK's errors are told apart; shared by the dense and the sparse index adapters. */

const RESET = /ECONNRESET|EPIPE|socket hang up|other side closed|UND_ERR_SOCKET/;

/** A request whose connection was dropped under it (not a refused connection: a down server fails at once). */
export function isConnectionReset(err: unknown): boolean {
  if (!(err instanceof Errors.PineconeConnectionError)) return false;
  for (let c: unknown = err; c instanceof Error; c = c.cause) {
    if (RESET.test(c.message) || RESET.test(String((c as { code?: unknown }).code ?? ''))) return true;
  }
  return false;
}

/** SDK 8.2 has no class for 429: it is an unmapped HTTP error whose message carries the status. */
export function isRateLimited(err: unknown): boolean {
  return err instanceof Errors.PineconeUnmappedHttpError && /Status: 429\b/.test(err.message);
}

/** The messages of an error's causes ("fetch failed: connect ECONNREFUSED ..."); the SDK's own text is generic. */
export function causes(err: Error): string[] {
  const messages: string[] = [];
  for (let c = err.cause; c instanceof Error && messages.length < 4; c = c.cause) messages.push(c.message);
  return messages;
}

/** Deleting from a namespace nothing was ever written to is a 404: nothing to do. */
export function ignoreMissingNamespace(err: unknown): void {
  if (err instanceof Errors.PineconeNotFoundError) return;
  throw err;
}
