import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { distance } from 'fastest-levenshtein';
import { PROJECT_ROOT, datasetPath } from '../core/shared-data.ts';
import { printTable, writeResults } from '../eval/results.ts';
import { LOADER_LIMITS, loadDocument } from '../ingest/loaders/index.ts';
import { ocrPdfPages } from '../ingest/loaders/pdf-ocr.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import { makeDocx, makeEmail, makeEpub, makePptx, makeXlsx, textPng } from '../testkit/format-fixtures.ts';

/** Text-layer pages whose OCR is compared with their text layer: prose, a form-like page, a table page. */
const CER_PAGES: { file: string; page: number }[] = [
  { file: 'nist-fips-199.pdf', page: 2 },
  { file: 'wikipedia-pdf-js-article.pdf', page: 1 },
  { file: 'nist-sp-800-207-zero-trust-architecture.pdf', page: 12 },
  { file: 'usda-ag-energy-round-up-2017-02-24.pdf', page: 1 },
];

interface FormatSample {
  format: string;
  source: string;
  bytes: Uint8Array;
}

const shared = (...parts: string[]) => new Uint8Array(fs.readFileSync(datasetPath(...parts)));
const fixture = (name: string) => new Uint8Array(fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', name)));

async function samples(): Promise<FormatSample[]> {
  const docx = await makeDocx({ extraSections: 40 });
  return [
    // The formats Ragline read before: a text-layer PDF, Markdown, HTML and plain text.
    { format: 'pdf', source: 'nist-fips-199.pdf', bytes: shared('pdfs', 'nist-fips-199.pdf') },
    {
      format: 'md',
      source: 'ch04-01-what-is-ownership.md',
      bytes: shared('docs-markdown', 'rust-book', 'src', 'ch04-01-what-is-ownership.md'),
    },
    { format: 'html', source: 'retrieval-tuning.html', bytes: fixture('retrieval-tuning.html') },
    { format: 'txt', source: 'faq.txt', bytes: fixture('faq.txt') },
    { format: 'docx', source: 'report.docx', bytes: docx },
    { format: 'pptx', source: 'deck.pptx', bytes: await makePptx(30) },
    { format: 'xlsx', source: 'book.xlsx', bytes: await makeXlsx(2000) },
    { format: 'csv', source: 'rows.csv', bytes: csvRows(5000) },
    { format: 'eml', source: 'mail.eml', bytes: makeEmail([{ name: 'report.docx', type: 'application/octet-stream', content: docx }]) },
    { format: 'epub', source: 'book.epub', bytes: await makeEpub() },
  ];
}

function csvRows(count: number): Uint8Array {
  const lines = ['id,city,temperature,note'];
  for (let i = 1; i <= count; i++) lines.push(`${i},City ${i % 97},${(i % 40) - 5},"reading ${i}, calm"`);
  return new TextEncoder().encode(lines.join('\n'));
}

/** Units are what a format calls a page: PDF pages, slides, sheets; one for formats without pages. */
const unitsOf = (doc: LoadedDocument) => doc.pageCount ?? 1;

/** Whitespace and line-end hyphenation differ between a text layer and OCR without changing the text read. */
function normalise(text: string): string {
  return text
    .replace(/(\p{L})-\n(\p{Ll})/gu, '$1$2')
    .replace(/\s+/g, ' ')
    .trim();
}

async function measureFormats(rounds: number) {
  const rows: Record<string, string | number>[] = [];
  for (const sample of await samples()) {
    await loadDocument(sample.bytes, sample.source); // warm: first use loads the parser's modules
    let units = 0;
    let chars = 0;
    const start = performance.now();
    for (let i = 0; i < rounds; i++) {
      const doc = await loadDocument(sample.bytes, sample.source);
      units += unitsOf(doc);
      chars += doc.text.length;
    }
    const seconds = (performance.now() - start) / 1000;
    rows.push({
      format: sample.format,
      'KiB per file': sample.bytes.length / 1024,
      'units per file': units / rounds,
      'documents/s': rounds / seconds,
      'pages/s (units)': units / seconds,
      'MB text/s': chars / seconds / 1e6,
    });
  }
  return rows;
}

/** A scanned-looking page: text drawn into a PNG, what a phone photo of a notice would be. */
function notePng(): Uint8Array {
  const lines = [
    'Maintenance notice for building C',
    'The lifts are serviced on Tuesday 14 May',
    'from 08:00 to 12:30.',
    'Please use the east stairs meanwhile.',
  ];
  return textPng(lines, { width: 1240, fontPx: 36 });
}

/** OCR through the loaders as uploads arrive: the shared scanned PDF and a PNG (one worker start each, included). */
async function measureOcrUploads() {
  const uploads = [
    {
      input: 'scanned PDF (image-only-no-text-layer.pdf)',
      source: 'scan.pdf',
      bytes: shared('pdfs', 'edge-cases', 'image-only-no-text-layer.pdf'),
    },
    { input: 'PNG image, 1240×400', source: 'notice.png', bytes: notePng() },
  ];
  const rows: Record<string, string | number>[] = [];
  for (const upload of uploads) {
    const start = performance.now();
    const doc = await loadDocument(upload.bytes, upload.source);
    const seconds = (performance.now() - start) / 1000;
    const pages = (doc.metadata.ocrPages as { page: number; confidence: number }[] | undefined) ?? [];
    rows.push({
      input: upload.input,
      'pages OCR’d': pages.length,
      seconds,
      'pages/s': pages.length / seconds,
      confidence: pages[0]?.confidence ?? 0,
    });
  }
  return rows;
}

async function measureOcr(pageCount: number) {
  const rows: Record<string, string | number>[] = [];
  let errors = 0;
  let reference = 0;
  let seconds = 0;
  const measured = CER_PAGES.slice(0, pageCount);
  for (const { file, page } of measured) {
    const bytes = new Uint8Array(fs.readFileSync(datasetPath('pdfs', file)));
    const layer = await loadDocument(bytes, file);
    const truth = normalise(
      layer.sections
        .filter((s) => s.page === page)
        .map((s) => s.text)
        .join('\n'),
    );
    const start = performance.now();
    const { pages } = await ocrPdfPages(bytes, [page], true, file, LOADER_LIMITS);
    const elapsed = (performance.now() - start) / 1000;
    const read = normalise(pages.get(page)?.text ?? '');
    const edits = distance(read, truth);
    errors += edits;
    reference += truth.length;
    seconds += elapsed;
    rows.push({
      file,
      page,
      chars: truth.length,
      CER: edits / truth.length,
      confidence: pages.get(page)?.confidence ?? 0,
      's/page': elapsed,
    });
  }
  return { rows, cer: reference ? errors / reference : 0, pagesPerSecond: measured.length / seconds, pages: measured.length };
}

/**
 * Loading throughput per format on generated files (no embedding), and OCR quality and speed on
 * text-layer pages of the shared PDFs rendered to images: the character error rate is the edit
 * distance between OCR output and the text layer over the text layer's length.
 */
export async function runFormatBench(options: { rounds?: number; ocrPages?: number } = {}) {
  const rounds = options.rounds ?? 5;
  const load = os.loadavg();
  const formats = await measureFormats(rounds);
  printTable(`Loading by format (parse only, ${rounds} rounds; load average ${load[0]!.toFixed(1)})`, formats);
  const uploads = await measureOcrUploads();
  printTable('OCR of uploads without a text layer (render + recognise, worker start included)', uploads);
  const ocr = await measureOcr(options.ocrPages ?? CER_PAGES.length);
  printTable(
    `OCR quality: ${ocr.pages} text-layer pages rendered at 144 dpi (CER ${(ocr.cer * 100).toFixed(1)} %, ${ocr.pagesPerSecond.toFixed(2)} pages/s, one worker start per page included)`,
    ocr.rows,
  );
  const results = {
    machine: { cpus: os.cpus().length, loadBefore: load, loadAfter: os.loadavg() },
    rounds,
    formats,
    ocr: { uploads, cer: ocr.cer, pagesPerSecond: ocr.pagesPerSecond, pages: ocr.rows },
  };
  writeResults('formats', results);
  return results;
}
