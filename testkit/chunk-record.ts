import type { ChunkRecord } from '../store/types.ts';

/**
 * A ChunkRecord for tests that need chunks without a store: the first and only chunk of a plain
 * text document `${id}.txt` (document id `doc-${id}`, title `id`). `overrides` sets anything else.
 */
export function chunkRecord(id: string, text: string, overrides: Partial<ChunkRecord> = {}): ChunkRecord {
  return {
    id,
    collectionId: 'c',
    documentId: `doc-${id}`,
    ordinal: 0,
    text,
    tokenCount: 0,
    pageStart: null,
    pageEnd: null,
    headingPath: [],
    charStart: 0,
    charEnd: text.length,
    kind: 'text',
    metadata: {},
    documentVersion: 1,
    source: `${id}.txt`,
    title: id,
    mime: 'text/plain',
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    documentMetadata: {},
    ...overrides,
  };
}
