import fs from 'node:fs';
import { distance } from 'fastest-levenshtein';
import { datasetPath } from '../core/shared-data.ts';
import { printTable } from '../eval/results.ts';
import { LOADER_LIMITS, loadDocument } from '../ingest/loaders/index.ts';
import { ocrPdfPages } from '../ingest/loaders/pdf-ocr.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import { makeDocx, makeEmail, makeEpub, makePptx, makeXlsx } from '../testkit/format-fixtures.ts';

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

async function samples(): Promise<FormatSample[]> {
  const docx = await makeDocx({ extraSections: 40 });
  return [
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

async function measureOcr() {
  const rows: Record<string, string | number>[] = [];
  let errors = 0;
  let reference = 0;
  let seconds = 0;
  for (const { file, page } of CER_PAGES) {
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
  return { rows, cer: errors / reference, pagesPerSecond: CER_PAGES.length / seconds };
}

/**
 * Loading throughput per format on generated files (no embedding), and OCR quality and speed on
 * text-layer pages of the shared PDFs rendered to images: the character error rate is the edit
 * distance between OCR output and the text layer over the text layer's length.
 */
export async function runFormatBench(rounds = 5) {
  const formats = await measureFormats(rounds);
  printTable('Loading by format (generated files, parse only)', formats);
  const ocr = await measureOcr();
  printTable(
    `OCR: ${CER_PAGES.length} text-layer pages rendered at 144 dpi (CER ${(ocr.cer * 100).toFixed(1)} %, ${ocr.pagesPerSecond.toFixed(2)} pages/s, one worker start per page included)`,
    ocr.rows,
  );
  return { formats, ocr: { cer: ocr.cer, pagesPerSecond: ocr.pagesPerSecond, pages: ocr.rows } };
}
