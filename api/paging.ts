import { z } from 'zod';

/** How far a client may page into a list; beyond it the store would scan rows only to skip them. */
const MAX_OFFSET = 1_000_000;

export interface PageRequest {
  limit: number;
  offset: number;
}

export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  /** The offset of the next page, or null when this page is the last. */
  nextOffset: number | null;
}

/** The `limit` and `offset` query fields of a paged list route (spread into its zod object). */
export function pageQueryFields(maxLimit: number, defaultLimit = 50) {
  return {
    limit: z.coerce.number().int().min(1).max(maxLimit).default(Math.min(defaultLimit, maxLimit)),
    offset: z.coerce.number().int().min(0).max(MAX_OFFSET).default(0),
  };
}

/** Reads one row past the page, so the answer can say whether another page follows without counting. */
export async function readPage<T>(page: PageRequest, read: (limit: number, offset: number) => Promise<T[]>): Promise<Page<T>> {
  const rows = await read(page.limit + 1, page.offset);
  return { items: rows.slice(0, page.limit), ...pageBounds(page, rows.length > page.limit) };
}

/** One page of a list already in memory. */
export function pageOf<T>(all: readonly T[], page: PageRequest): Page<T> {
  return { items: all.slice(page.offset, page.offset + page.limit), ...pageBounds(page, all.length > page.offset + page.limit) };
}

function pageBounds(page: PageRequest, more: boolean) {
  return { limit: page.limit, offset: page.offset, nextOffset: more ? page.offset + page.limit : null };
}
