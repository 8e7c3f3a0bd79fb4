import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { RaglineError } from '../core/errors.ts';
import type { Embedder } from '../models/types.ts';
import { DEFAULT_BM25_OPTIONS } from '../retrieval/bm25.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { ChunkInput, DocumentReplacement, Store } from '../store/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { DATASETS_DIR, describeShared, PROJECT_ROOT } from './helpers/shared.ts';
import { createChunker } from '../ingest/chunkers/index.ts';
import { loadDocument } from '../ingest/loaders/index.ts';

const config = configSchema.parse({});
const fixture = (name: string) => new Uint8Array(fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', name)));

const text = (s: string) => new TextEncoder().encode(s);
const ARTICLE_V1 =
  'Reciprocal rank fusion merges ranked lists. Each document scores the sum of one over k plus its rank.\n\n' +
  'The constant k dampens the influence of top ranks. Sixty is the common default.';
const ARTICLE_V2 =
  'Hierarchical navigable small world graphs index vectors. Search walks the graph greedily from an entry point.\n\n' +
  'The ef_search setting trades recall for speed.';

/** Wraps a store so the next replaceDocument fails after its first insert batch, inside the transaction. */
function storeFailingMidReplace(inner: Store): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'replaceDocument') return Reflect.get(target, prop, receiver);
      return (input: DocumentReplacement) => {
        // 450 chunks span three insert batches; a NaN in the last batch makes the third INSERT throw.
        const poisoned: ChunkInput[] = Array.from({ length: 450 }, (_, i) => ({
          ...input.chunks[0]!,
          ordinal: i,
          embedding: i === 449 ? new Float32Array(input.chunks[0]!.embedding.length).fill(Number.NaN) : input.chunks[0]!.embedding,
        }));
        return target.replaceDocument({ ...input, chunks: poisoned });
      };
    },
  });
}

describeShared('ingestion pipeline (PGlite + real model)', () => {
  let embedder: Embedder;
  let ragline: Ragline;

  beforeAll(async () => {
    embedder = await testEmbedder();
    ragline = await Ragline.open(config, { store: await openPgliteStore(), embedder });
    await ragline.createCollection('docs');
  });
  afterAll(async () => ragline?.store.close());

  it('stores chunks with embeddings that dense search finds again (round trip)', async () => {
    const [outcome] = await ragline.ingest('docs', [{ source: 'rrf.txt', bytes: text(ARTICLE_V1) }]);
    expect(outcome?.status).toBe('ingested');
    const collection = await ragline.collection('docs');
    const [query] = await embedder.embed(['how does reciprocal rank fusion score documents'], 'query');
    const hits = await ragline.store.denseSearch({ collectionId: collection.id, vector: query!, limit: 3 });
    expect(hits[0]?.chunk.source).toBe('rrf.txt');
    expect(hits[0]?.chunk.text).toContain('Reciprocal rank fusion');
    expect(hits[0]!.similarity).toBeGreaterThan(0.4);
  });

  it('re-ingesting an unchanged document is a no-op reported as skipped', async () => {
    const collection = await ragline.collection('docs');
    const before = await ragline.store.getDocumentBySource(collection.id, 'rrf.txt');
    const [outcome] = await ragline.ingest('docs', [{ source: 'rrf.txt', bytes: text(ARTICLE_V1) }]);
    expect(outcome?.status).toBe('skipped');
    const after = await ragline.store.getDocumentBySource(collection.id, 'rrf.txt');
    expect(after?.version).toBe(before?.version);
    expect(after?.updatedAt).toBe(before?.updatedAt);
  });

  it('a changed document replaces its chunks (old text gone, version bumped)', async () => {
    const [outcome] = await ragline.ingest('docs', [{ source: 'rrf.txt', bytes: text(ARTICLE_V2) }]);
    expect(outcome?.status).toBe('updated');
    const collection = await ragline.collection('docs');
    const doc = (await ragline.store.getDocumentBySource(collection.id, 'rrf.txt'))!;
    expect(doc.version).toBe(2);
    const chunks = await ragline.store.chunksOfDocuments(collection.id, [doc.id]);
    const all = chunks.map((c) => c.text).join(' ');
    expect(all).toContain('navigable small world');
    expect(all).not.toContain('Reciprocal rank fusion');
    expect(await ragline.store.countChunks(collection.id)).toBe(chunks.length);
  });

  it('a failure in the middle of replacing leaves the old version intact', async () => {
    const collection = await ragline.collection('docs');
    const before = (await ragline.store.getDocumentBySource(collection.id, 'rrf.txt'))!;
    const beforeChunks = await ragline.store.chunksOfDocuments(collection.id, [before.id]);
    const faulty = await Ragline.open(config, { store: storeFailingMidReplace(ragline.store), embedder });
    const [outcome] = await faulty.ingest('docs', [{ source: 'rrf.txt', bytes: text(`${ARTICLE_V1}\n\nA third version.`) }]);
    expect(outcome?.status).toBe('failed');
    const after = (await ragline.store.getDocumentBySource(collection.id, 'rrf.txt'))!;
    expect(after.version).toBe(before.version);
    expect(after.contentHash).toBe(before.contentHash);
    const afterChunks = await ragline.store.chunksOfDocuments(collection.id, [after.id]);
    expect(afterChunks.map((c) => c.id)).toEqual(beforeChunks.map((c) => c.id));
  });

  it('one bad file in a batch fails alone with a reason naming it; the others are stored', async () => {
    const outcomes = await ragline.ingest('docs', [
      { source: 'empty.pdf', bytes: new Uint8Array() },
      { source: 'faq.txt', bytes: fixture('faq.txt') },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'ingested']);
    const failed = outcomes[0]!;
    expect(failed.status === 'failed' && failed.error.message).toMatch(/empty\.pdf/);
  });

  it('a batch runs documents concurrently, yet outcomes keep input order and one source stays in order', async () => {
    const inputs = [
      { source: 'batch/a.txt', bytes: text(ARTICLE_V1) },
      { source: 'batch/b.txt', bytes: text(ARTICLE_V2) },
      { source: 'batch/a.txt', bytes: text(ARTICLE_V2) },
      { source: 'batch/c.txt', bytes: text(`${ARTICLE_V1} ${ARTICLE_V2}`) },
      { source: 'batch/a.txt', bytes: text(ARTICLE_V2) },
      { source: 'batch/d.md', bytes: text('# Title\n\nRanked lists merge.') },
    ];
    const outcomes = await ragline.ingest('docs', inputs);
    expect(outcomes.map((o) => `${o.source}:${o.status}`)).toEqual([
      'batch/a.txt:ingested',
      'batch/b.txt:ingested',
      'batch/a.txt:updated',
      'batch/c.txt:ingested',
      'batch/a.txt:skipped',
      'batch/d.md:ingested',
    ]);
    const collection = await ragline.collection('docs');
    const a = (await ragline.store.getDocumentBySource(collection.id, 'batch/a.txt'))!;
    expect(a.version).toBe(2);
    const chunks = await ragline.store.chunksOfDocuments(collection.id, [a.id]);
    expect(chunks.map((c) => c.text).join(' ')).toContain('Hierarchical navigable small world');
  });

  it('deleting a document removes its chunks', async () => {
    const collection = await ragline.collection('docs');
    const doc = (await ragline.store.getDocumentBySource(collection.id, 'faq.txt'))!;
    const before = await ragline.store.countChunks(collection.id);
    expect(await ragline.deleteDocument('docs', doc.id)).toBe(true);
    expect(await ragline.store.countChunks(collection.id)).toBe(before - doc.chunkCount);
    expect(await ragline.store.chunksOfDocuments(collection.id, [doc.id])).toEqual([]);
  });

  it('warmUp builds the BM25 index of every collection for a fresh Ragline over the same store', async () => {
    const fresh = await Ragline.open(config, { store: ragline.store, embedder });
    const collections = await ragline.store.listCollections();
    let chunks = 0;
    for (const c of collections) chunks += await ragline.store.countChunks(c.id);
    expect(chunks).toBeGreaterThan(0);
    expect(await fresh.warmUp()).toEqual({ collections: collections.length, chunksIndexed: chunks });
  });

  it('late chunking stores the vectors pooled from its one pass, with no embed() call for those chunks', async () => {
    const abstracts = new Map(
      fs
        .readFileSync(path.join(DATASETS_DIR, 'scifact', 'corpus.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { _id: string; text: string })
        .map((d) => [d._id, d.text]),
    );
    const body = ['30379039', '11913139', '45276789'].map((id) => abstracts.get(id)!).join(' ');
    const embedded: string[] = [];
    let windows = 0;
    const counting: Embedder = {
      modelId: embedder.modelId,
      dimensions: embedder.dimensions,
      maxTokens: embedder.maxTokens,
      tokenizer: embedder.tokenizer,
      embed: (texts, kind) => {
        if (kind === 'passage') embedded.push(...texts);
        return embedder.embed(texts, kind);
      },
      embedTokens: (inputs, kind) => {
        windows += inputs.length;
        return embedder.embedTokens!(inputs, kind);
      },
    };
    const late = configSchema.parse({ chunking: { strategy: 'late' } });
    const pipelineRagline = await Ragline.open(late, { store: ragline.store, embedder: counting });
    await pipelineRagline.createCollection('late');
    const [outcome] = await pipelineRagline.ingest('late', [{ source: 'three.txt', bytes: text(body), title: 'Three abstracts' }]);
    expect(outcome?.status).toBe('ingested');
    expect(windows).toBeGreaterThan(0);
    expect(embedded).toEqual([]);

    const loaded = await loadDocument(text(body), 'three.txt');
    const { drafts, vectors } = await createChunker('late', embedder, late.chunking).chunkWithVectors(loaded);
    expect(outcome?.status === 'ingested' && outcome.chunks).toBe(drafts.length);
    const collection = await pipelineRagline.collection('late');
    for (const [i, vector] of vectors.entries()) {
      const [hit] = await ragline.store.denseSearch({ collectionId: collection.id, vector: vector!, limit: 1 });
      expect(hit?.chunk.text).toBe(drafts[i]!.text);
      expect(hit!.similarity).toBeGreaterThan(0.999);
    }
  });

  it('refuses to ingest with a model other than the collection was built with', async () => {
    const collection = await ragline.store.createCollection({ name: 'other-model', embeddingModel: 'someone/else', dimensions: 384 });
    const [outcome] = await ragline.ingest(collection.name, [{ source: 'x.txt', bytes: text(ARTICLE_V1) }]);
    expect(outcome?.status === 'failed' && outcome.error.code).toBe('model_mismatch');
    await expect(ragline.search(collection.name, { query: 'fusion', mode: 'dense' })).rejects.toBeInstanceOf(RaglineError);
  });
});

describe('configuration', () => {
  it('names the offending variable', async () => {
    const { loadConfig } = await import('../core/config.ts');
    expect(() => loadConfig({ RAGLINE_CHUNK_MAX_TOKENS: 'lots' })).toThrow(/RAGLINE_CHUNK_MAX_TOKENS/);
    expect(() => loadConfig({ RAGLINE_EMBEDDER: 'magic' })).toThrow(/RAGLINE_EMBEDDER/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL/);
    expect(loadConfig({}).embedding.model).toBe('Xenova/all-MiniLM-L6-v2');
  });

  it('BM25 settings from the environment reach the index; unset ones keep the tuned defaults', async () => {
    const { loadConfig } = await import('../core/config.ts');
    expect(() => loadConfig({ RAGLINE_BM25_B: '2' })).toThrow(/RAGLINE_BM25_B/);
    const store = await openPgliteStore();
    try {
      const ragline = await Ragline.open(loadConfig({ RAGLINE_BM25_TITLE_BOOST: '1', RAGLINE_BM25_K1: '0.9' }), { store });
      const collection = await store.createCollection({ name: 'bm25-config', embeddingModel: 'm', dimensions: 3 });
      const index = await ragline.bm25.ensureSynced(collection);
      expect(index.options).toMatchObject({ titleBoost: 1, k1: 0.9, b: DEFAULT_BM25_OPTIONS.b });
    } finally {
      await store.close();
    }
  });
});
