import type { DocumentLimits } from '../core/config.ts';
import { badRequest } from '../core/errors.ts';

/**
 * Checks on what callers attach to a document (its source and metadata) before anything is
 * stored. Postgres text and jsonb cannot hold U+0000, deep nesting exhausts the jsonb parser's
 * stack, and metadata is copied into every stored chunk's row reads and search hits, so each is
 * refused at the boundary with a 400 naming the limit instead of failing later as a 500.
 */

export const hasNul = (text: string) => text.includes('\0');

/** A document source: no NUL characters (the other rules are the callers' own). */
export function assertValidSource(source: string): void {
  if (hasNul(source)) throw badRequest('source must not contain NUL characters (U+0000)', { field: 'source' });
}

type MetadataLimits = Pick<DocumentLimits, 'maxMetadataBytes' | 'maxMetadataDepth'>;

/**
 * Walks metadata without recursion (a hostile document may nest thousands of levels) and stops
 * at the first problem: too deep, a NUL in a key or a string, then too large once serialized.
 */
export function assertValidMetadata(metadata: Record<string, unknown>, limits: MetadataLimits, field = 'metadata'): void {
  const pending: { value: unknown; depth: number; path: string }[] = [{ value: metadata, depth: 1, path: field }];
  while (pending.length) {
    const { value, depth, path } = pending.pop()!;
    if (typeof value === 'string') {
      if (hasNul(value)) throw badRequest(`${path} must not contain NUL characters (U+0000)`, { field: path });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limits.maxMetadataDepth) {
      throw badRequest(`${field} is nested deeper than ${limits.maxMetadataDepth} levels (RAGLINE_MAX_METADATA_DEPTH)`, {
        field,
        limit: 'maxMetadataDepth',
        max: limits.maxMetadataDepth,
      });
    }
    for (const [key, child] of Object.entries(value)) {
      if (hasNul(key)) throw badRequest(`${field} keys must not contain NUL characters (U+0000)`, { field: path });
      pending.push({ value: child, depth: depth + 1, path: Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}` });
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > limits.maxMetadataBytes) {
    throw badRequest(`${field} is ${bytes} bytes as JSON; the limit is ${limits.maxMetadataBytes} (RAGLINE_MAX_METADATA_BYTES)`, {
      field,
      limit: 'maxMetadataBytes',
      max: limits.maxMetadataBytes,
      actual: bytes,
    });
  }
}
