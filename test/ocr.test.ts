import fs from 'node:fs';
import { createCanvas } from '@napi-rs/canvas';
import { PDFDocument } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ragline } from '../facade/ragline.ts';
import { loadDocument } from '../ingest/loaders/index.ts';
import { ENGLISH_DATA_DIR } from '../ingest/loaders/ocr.ts';
import { textPng } from '../testkit/format-fixtures.ts';
import { raglineWithCollection, refusal } from './helpers/formats.ts';
import { datasetPath, describeShared } from './helpers/shared.ts';

const SCANNED = 'pdfs/edge-cases/image-only-no-text-layer.pdf';

/** A PDF whose pages carry no text at all, like a scan. */
async function blankPdf(pages: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  for (let i = 0; i < pages; i++) pdf.addPage([300, 300]);
  return pdf.save();
}

describe('OCR bounds', () => {
  it('reads the English model from the installed data package', () => {
    expect(fs.existsSync(`${ENGLISH_DATA_DIR}/eng.traineddata.gz`)).toBe(true);
  });

  it('refuses a page without a text layer when OCR is off, naming the switch', async () => {
    const err = await refusal(loadDocument(await blankPdf(1), 'scan.pdf', { limits: { ocr: 'off' } }));
    expect(err.message).toBe('scan.pdf: has no text layer (scanned/image-only pages) and OCR is turned off (RAGLINE_OCR=off)');
  });

  it('refuses a scan with more pages than the OCR limit before reading any', async () => {
    const err = await refusal(loadDocument(await blankPdf(3), 'long-scan.pdf', { limits: { ocrMaxPages: 2 } }));
    expect(err.message).toMatch(/has 3 pages without a text layer, more than the OCR limit of 2/);
  });

  it('refuses images when OCR is off', async () => {
    const png = createCanvas(20, 20).toBuffer('image/png');
    const err = await refusal(loadDocument(new Uint8Array(png), 'photo.png', { limits: { ocr: 'off' } }));
    expect(err.message).toMatch(/OCR is turned off/);
  });
});

describe('OCR of an image upload', () => {
  it('reads the text of a PNG and records the confidence', async () => {
    const png = textPng(['Invoice 7731 is due on Friday', 'Total amount 4,250 euros']);
    const doc = await loadDocument(png, 'scans/invoice.png');
    expect(doc.mime).toBe('image/png');
    expect(doc.text).toContain('Invoice 7731 is due on Friday');
    expect(doc.text).toContain('4,250');
    const [ocrPage] = doc.metadata.ocrPages as { page: number; confidence: number }[];
    expect(ocrPage!.page).toBe(1);
    expect(ocrPage!.confidence).toBeGreaterThan(70);
  });
});

describeShared('OCR of the shared scanned PDF through the pipeline', () => {
  let ragline: Ragline;
  beforeAll(async () => {
    ragline = await raglineWithCollection('scans');
  });
  afterAll(async () => {
    await ragline?.close();
  });

  it('ingests the image-only page, marks it as OCR’d, and search for "Chipper" finds its table row', async () => {
    const bytes = new Uint8Array(fs.readFileSync(datasetPath(SCANNED)));
    const outcome = (await ragline.ingest('scans', [{ source: 'image-only-no-text-layer.pdf', bytes }]))[0]!;
    expect(outcome.status).toBe('ingested');
    if (outcome.status !== 'ingested') return;
    const [ocrPage] = outcome.document.metadata.ocrPages as { page: number; confidence: number }[];
    expect(ocrPage!.page).toBe(1);
    expect(ocrPage!.confidence).toBeGreaterThan(60);

    const { hits } = await ragline.search('scans', { query: 'Chipper', topK: 3 });
    expect(hits[0]!.chunk.text).toMatch(/Chipper[ |]+20,843/);
    expect(hits[0]!.chunk.pageStart).toBe(1);
  });
});
