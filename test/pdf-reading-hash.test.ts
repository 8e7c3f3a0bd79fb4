import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';
import { IngestionPipeline } from '../ingest/pipeline.ts';
import { LOADER_LIMITS } from '../ingest/loaders/limits.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { Collection, Store } from '../store/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';

async function onePagePdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const page = pdf.addPage([612, 792]);
  page.drawText('Rivers carry sediment to their deltas over many years.', { x: 72, y: 700, size: 12, font });
  return pdf.save();
}

describe('switching the PDF reading re-reads stored PDFs', () => {
  let store: Store;
  let collection: Collection;
  const chunking = configSchema.parse({}).chunking;
  const pipeline = async (pdfLayout: 'on' | 'off') =>
    new IngestionPipeline(store, await testEmbedder(), chunking, { loaderLimits: { pdfLayout } });

  beforeAll(async () => {
    store = await openPgliteStore();
    const embedder = await testEmbedder();
    collection = await store.createCollection({ name: 'reading', embeddingModel: embedder.modelId, dimensions: embedder.dimensions });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('reads PDFs by their layout by default', () => {
    expect(LOADER_LIMITS.pdfLayout).toBe('on');
  });

  it('replaces a PDF ingested with the flat reading, and skips it again once read by layout', async () => {
    const bytes = await onePagePdf();
    const input = { source: 'rivers.pdf', bytes };
    expect(await (await pipeline('off')).ingest(collection, input)).toMatchObject({ status: 'ingested' });
    expect(await (await pipeline('off')).ingest(collection, input)).toMatchObject({ status: 'skipped' });
    expect(await (await pipeline('on')).ingest(collection, input)).toMatchObject({ status: 'updated' });
    expect(await (await pipeline('on')).ingest(collection, input)).toMatchObject({ status: 'skipped' });
    // The default reading is the layout one, so a pipeline given no loader settings skips it too.
    const byDefault = new IngestionPipeline(store, await testEmbedder(), chunking);
    expect(await byDefault.ingest(collection, input)).toMatchObject({ status: 'skipped' });
  });

  it('keeps the content hash of other formats whatever the PDF reading', async () => {
    const input = { source: 'notes.md', bytes: new TextEncoder().encode('# Notes\n\nGlaciers carve valleys slowly.') };
    expect((await pipeline('off')).contentHash(input)).toBe((await pipeline('on')).contentHash(input));
    expect(await (await pipeline('off')).ingest(collection, input)).toMatchObject({ status: 'ingested' });
    expect(await (await pipeline('on')).ingest(collection, input)).toMatchObject({ status: 'skipped' });
  });
});

describe('the PDF-only chunker rules re-chunk PDFs and nothing else', () => {
  // Hashes from the chunker before PDF_CHUNKER_VERSION (main at b8dab7e), same default settings and model.
  const enc = (s: string) => new TextEncoder().encode(s);
  const markdown = { source: 'notes.md', bytes: enc('# Notes\n\nGlaciers carve valleys slowly.') };
  const pdf = { source: 'rules.pdf', bytes: enc('%PDF-1.7\n% not parsed: only hashed\n') };
  const before = {
    markdown: '58be8c7355476f49f880d8e51241aad1881efa5337267faf16f90813593b3976',
    pdfLayout: 'e44afebbed746c93a105a555a45f28c5799674df0d2c59dc94a30888b93c6f49',
    pdfFlat: '302c5f3141dae2134369b90c27294cfec3673cfe5713c063f1b5ebbe9d94148f',
  };
  const pipeline = async (pdfLayout: 'on' | 'off') =>
    new IngestionPipeline(null as unknown as Store, await testEmbedder(), configSchema.parse({}).chunking, { loaderLimits: { pdfLayout } });

  it('keeps the hash of a Markdown file', async () => {
    expect((await pipeline('on')).contentHash(markdown)).toBe(before.markdown);
    expect((await pipeline('off')).contentHash(markdown)).toBe(before.markdown);
  });

  it('changes the hash of a PDF, read by layout or flat', async () => {
    const layout = (await pipeline('on')).contentHash(pdf);
    const flat = (await pipeline('off')).contentHash(pdf);
    expect(layout).not.toBe(before.pdfLayout);
    expect(flat).not.toBe(before.pdfFlat);
    expect(layout).not.toBe(flat);
  });
});
