import { PDFDocument, PDFHexString, PDFName, type PDFPage, type PDFRef, StandardFonts } from 'pdf-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createChunker } from '../ingest/chunkers/index.ts';
import { isDotLeaderLine } from '../ingest/loaders/pdf-furniture.ts';
import { extractPdfTextInThread } from '../ingest/loaders/pdf-thread.ts';
import { loadDocument, loadFile } from '../ingest/loaders/index.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { datasetPath, describeShared } from './helpers/shared.ts';

interface OutlineItem {
  title: string;
  page: PDFPage;
  top: number;
  children?: OutlineItem[];
}

/** Bookmarks, which pdf-lib has no API for: the outline dictionaries written by hand. */
function addOutline(pdf: PDFDocument, items: OutlineItem[]) {
  const root = pdf.context.nextRef();
  const level = (entries: OutlineItem[], parent: PDFRef): PDFRef[] => {
    const refs = entries.map(() => pdf.context.nextRef());
    entries.forEach((entry, i) => {
      const children = entry.children?.length ? level(entry.children, refs[i]!) : [];
      const dict = pdf.context.obj({
        Title: PDFHexString.fromText(entry.title),
        Parent: parent,
        Dest: [entry.page.ref, 'XYZ', null, entry.top, null],
        ...(i > 0 ? { Prev: refs[i - 1]! } : {}),
        ...(i < refs.length - 1 ? { Next: refs[i + 1]! } : {}),
        ...(children.length ? { First: children[0]!, Last: children.at(-1)!, Count: children.length } : {}),
      });
      pdf.context.assign(refs[i]!, dict);
    });
    return refs;
  };
  const top = level(items, root);
  pdf.context.assign(root, pdf.context.obj({ Type: 'Outlines', First: top[0]!, Last: top.at(-1)!, Count: top.length }));
  pdf.catalog.set(PDFName.of('Outlines'), root);
}

const LEFT = Array.from({ length: 12 }, (_, i) => `Left column line ${String(i + 1).padStart(2, '0')} talks about rivers`);
const RIGHT = Array.from({ length: 12 }, (_, i) => `Right column line ${String(i + 1).padStart(2, '0')} talks of hills`);
const ROWS = Array.from({ length: 16 }, (_, i) => [`Part ${i + 1}`, String(i + 3), `$${(i + 1) * 2}.50`]);

/**
 * A six-page manual: a title page, a contents page with dot leaders, a chapter with a word
 * hyphenated across a line break and a subsection, a page set in two columns (drawn line by
 * line across both columns, so content order is not reading order), and a table that runs over
 * a page break. Every page has a running header and a page-number footer; the outline has
 * bookmarks for the chapters.
 */
async function manual(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const body = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const pages = Array.from({ length: 6 }, () => pdf.addPage([612, 792]));
  pages.forEach((page, i) => {
    page.drawText('ACME FIELD MANUAL - INTERNAL USE', { x: 50, y: 760, size: 9, font: body });
    page.drawText(`Page ${i + 1}`, { x: 290, y: 30, size: 9, font: body });
  });
  const [title, contents, chapter, columns, prices, pricesMore] = pages as [PDFPage, PDFPage, PDFPage, PDFPage, PDFPage, PDFPage];
  title.drawText('ACME Field Manual', { x: 50, y: 600, size: 24, font: bold });
  title.drawText('How to install and run the pump.', { x: 50, y: 560, size: 11, font: body });

  contents.drawText('Contents', { x: 50, y: 700, size: 14, font: bold });
  ['1 Introduction', '1.1 Scope', '2 Two Columns', '3 Prices', 'Appendix', 'Index'].forEach((entry, i) => {
    contents.drawText(`${entry} ${'.'.repeat(60)} ${i + 3}`, { x: 50, y: 670 - i * 16, size: 11, font: body });
  });

  chapter.drawText('1 Introduction', { x: 50, y: 700, size: 14, font: bold });
  [
    'The pump must be primed before the first run, because skipping',
    'the priming step causes cavitation and early seal fail-',
    'ure in most installations.',
  ].forEach((line, i) => chapter.drawText(line, { x: 50, y: 670 - i * 14, size: 11, font: body }));
  chapter.drawText('1.1 Scope', { x: 50, y: 600, size: 14, font: bold });
  chapter.drawText('This manual covers the model P-200 pump only.', { x: 50, y: 570, size: 11, font: body });

  columns.drawText('2 Two Columns', { x: 50, y: 720, size: 14, font: bold });
  LEFT.forEach((line, i) => {
    columns.drawText(line, { x: 50, y: 690 - i * 14, size: 11, font: body });
    columns.drawText(RIGHT[i]!, { x: 320, y: 690 - i * 14, size: 11, font: body });
  });

  prices.drawText('3 Prices', { x: 50, y: 720, size: 14, font: bold });
  const row = (page: PDFPage, cells: string[], y: number, font = body) =>
    cells.forEach((cell, c) => page.drawText(cell, { x: 50 + c * 150, y, size: 11, font }));
  row(prices, ['Item', 'Qty', 'Price'], 690, bold);
  ROWS.slice(0, 10).forEach((cells, i) => row(prices, cells, 670 - i * 16));
  ROWS.slice(10).forEach((cells, i) => row(pricesMore, cells, 720 - i * 16));

  addOutline(pdf, [
    { title: '1 Introduction', page: chapter, top: 715, children: [{ title: '1.1 Scope', page: chapter, top: 615 }] },
    { title: '2 Two Columns', page: columns, top: 735 },
    { title: '3 Prices', page: prices, top: 735 },
  ]);
  pdf.setTitle('ACME Field Manual');
  return pdf.save();
}

/** No outline: the headings are only told apart by their fonts. */
async function unbookmarked(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const body = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const page = pdf.addPage([612, 792]);
  const lines: Array<[string, number, typeof body]> = [
    ['Overview', 18, bold],
    ['The service stores documents and answers questions about them.', 11, body],
    ['It runs on one machine or on several behind a load balancer.', 11, body],
    ['2.3 Limits', 11, bold],
    ['Each upload may hold at most one hundred megabytes of text.', 11, body],
    ['Larger uploads are refused with a clear message.', 11, body],
  ];
  let y = 700;
  for (const [text, size, font] of lines) {
    y -= size === 11 && font === body ? 14 : 30;
    page.drawText(text, { x: 50, y, size, font });
  }
  return pdf.save();
}

/**
 * A report without an outline whose sections are only set off by their font: bold headings in
 * the body's size above their paragraphs, paragraphs opening with a bold run-in heading, a bold
 * heading taking a whole line before its text, and a bold "Example n:" label on three paragraphs.
 */
async function boldHeadings(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const body = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const page = pdf.addPage([612, 792]);
  let y = 720;
  const line = (parts: Array<[string, typeof body]>, gapBefore = 14) => {
    y -= gapBefore;
    let x = 50;
    for (const [text, font] of parts) {
      page.drawText(text, { x, y, size: 11, font });
      x += font.widthOfTextAtSize(`${text} `, 11);
    }
  };
  page.drawText('Field Report', { x: 50, y, size: 20, font: bold });
  line([['Costs of Compliance', bold]], 40);
  line([['The operators estimate the labour at eighty-five dollars an hour for every airplane.', body]]);
  line(
    [
      ['Encoders', bold],
      ['Two independent networks map questions and passages to vectors.', body],
    ],
    30,
  );
  line([['They are trained together on pairs of questions and passages.', body]]);
  line(
    [
      ['Inference', bold],
      ['Every passage is encoded once, offline, and indexed for search.', body],
    ],
    30,
  );
  line([['Define Security Requirements (PO.1):', bold]], 30);
  line([['Ensure that security requirements are known at all times.', body]]);
  for (let n = 1; n <= 3; n++)
    line(
      [
        [`Example ${n}:`, bold],
        [`Review the requirements every ${n + 1} months.`, body],
      ],
      30,
    );
  return pdf.save();
}

/** Layout is on by default (RAGLINE_PDF_LAYOUT); these tests ask for it, so they hold whatever the default. */
const LAYOUT = { limits: { pdfLayout: 'on' as const } };

const containing = (doc: LoadedDocument, phrase: string) => doc.sections.find((s) => s.text.includes(phrase));

describe('PDF layout (generated manual)', () => {
  let doc: LoadedDocument;
  beforeAll(async () => {
    doc = await loadDocument(await manual(), 'manual.pdf', LAYOUT);
  });

  it('leaves out the running header, the page numbers and the contents page', () => {
    expect(doc.text).not.toContain('ACME FIELD MANUAL - INTERNAL USE');
    expect(doc.text).not.toMatch(/Page \d/);
    expect(doc.metadata.contentsPages).toEqual([2]);
    expect(doc.text.split('\n').some(isDotLeaderLine)).toBe(false);
    expect(doc.sections.some((s) => s.page === 2)).toBe(false);
  });

  it('re-joins lines and repairs a word hyphenated across a line break', () => {
    expect(containing(doc, 'priming')?.text).toContain(
      'because skipping the priming step causes cavitation and early seal failure in most installations.',
    );
  });

  it('gives sections the heading path of the outline, nested, without the heading line in the text', () => {
    expect(containing(doc, 'priming')?.headingPath).toEqual(['1 Introduction']);
    expect(containing(doc, 'model P-200')?.headingPath).toEqual(['1 Introduction', '1.1 Scope']);
    expect(containing(doc, 'Left column line 01')?.headingPath).toEqual(['2 Two Columns']);
    expect(doc.sections.every((s) => !s.text.includes('1.1 Scope'))).toBe(true);
    expect(doc.metadata.layout).toMatchObject({ headings: 'outline' });
  });

  it('reads a two-column page column by column although it was drawn across both', () => {
    const text = containing(doc, 'Left column line 01')!.text;
    const positions = [...LEFT, ...RIGHT].map((line) => text.indexOf(line));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('keeps a table as table sections, rows as cells, the header repeated after the page break', () => {
    const tables = doc.sections.filter((s) => s.kind === 'table');
    expect(tables.map((t) => t.page)).toEqual([5, 6]);
    expect(tables.every((t) => t.headingPath.join() === '3 Prices')).toBe(true);
    // Cells are kept apart by tabs (see PDF_CELL_SEPARATOR in pdf.ts); the bold first row is the header.
    expect(tables.map((t) => t.headerRows)).toEqual([1, 1]);
    expect(tables[0]!.text.split('\n')[0]).toBe('Item\tQty\tPrice');
    expect(tables[0]!.text).toContain('Part 1\t3\t$2.50');
    expect(tables[1]!.text.split('\n')).toEqual(['Item\tQty\tPrice', ...ROWS.slice(10).map((cells) => cells.join('\t'))]);
  });

  it('chunks the table whole, never cut mid-row, with its exact page range', async () => {
    const chunker = createChunker('sentence', await testEmbedder(), { maxTokens: 256, minTokens: 16, targetTokens: 180 });
    const drafts = await chunker.chunk(doc);
    const tableChunks = drafts.filter((d) => d.kind === 'table');
    expect(tableChunks.length).toBeGreaterThan(0);
    for (const chunk of tableChunks) {
      for (const line of chunk.text.split(/\n+/)) expect(line).toMatch(/^[^\t]+\t[^\t]+\t[^\t]+$/);
    }
    const rows = new Set(tableChunks.flatMap((c) => c.text.split(/\n+/)));
    for (const cells of ROWS) expect(rows.has(cells.join('\t'))).toBe(true);
    expect(Math.min(...tableChunks.map((c) => c.pageStart!))).toBe(5);
    expect(Math.max(...tableChunks.map((c) => c.pageEnd!))).toBe(6);
    const intro = drafts.find((d) => d.text.includes('priming'))!;
    expect([intro.pageStart, intro.pageEnd]).toEqual([3, 3]);
  });

  it('reads PDFs by their layout by default, and as flat pages with layout off', async () => {
    const byDefault = await loadDocument(await manual(), 'manual.pdf');
    expect(byDefault.text).not.toContain('ACME FIELD MANUAL - INTERNAL USE');
    expect(byDefault.sections.some((s) => s.headingPath.length > 0)).toBe(true);
    const flat = await loadDocument(await manual(), 'manual.pdf', { limits: { pdfLayout: 'off' } });
    expect(flat.text).toContain('ACME FIELD MANUAL - INTERNAL USE');
    expect(flat.sections.every((s) => s.headingPath.length === 0)).toBe(true);
  });
});

describe('PDF layout without an outline', () => {
  it('takes headings from larger or bold numbered lines', async () => {
    const doc = await loadDocument(await unbookmarked(), 'service.pdf', LAYOUT);
    expect(doc.metadata.layout).toMatchObject({ headings: 'fonts' });
    expect(containing(doc, 'stores documents')?.headingPath).toEqual(['Overview']);
    expect(containing(doc, 'one hundred megabytes')?.headingPath).toEqual(['Overview', '2.3 Limits']);
    expect(containing(doc, 'stores documents')?.text).toBe(
      'The service stores documents and answers questions about them. It runs on one machine or on several behind a load balancer.',
    );
  });
});

describe('PDF layout: headings set off by their font', () => {
  let doc: LoadedDocument;
  beforeAll(async () => {
    doc = await loadDocument(await boldHeadings(), 'report.pdf', LAYOUT);
  });

  const SECTION = ['Field Report', 'Costs of Compliance'];

  it('takes a bold line in the body size above its paragraph as a heading, out of the text', () => {
    expect(containing(doc, 'eighty-five dollars')?.headingPath).toEqual(SECTION);
    expect(doc.sections.every((s) => !s.text.includes('Costs of Compliance'))).toBe(true);
  });

  it('takes a bold run-in opening as the heading of its paragraph, which keeps it in its text', () => {
    const encoders = containing(doc, 'Two independent networks')!;
    expect(encoders.headingPath).toEqual([...SECTION, 'Encoders']);
    expect(encoders.text).toContain('Encoders Two independent networks');
    expect(containing(doc, 'trained together')?.headingPath).toEqual([...SECTION, 'Encoders']);
    // Run-in headings nest below the section's heading and replace each other.
    expect(containing(doc, 'encoded once')?.headingPath).toEqual([...SECTION, 'Inference']);
  });

  it('takes a bold line ending in a colon before its text as a run-in heading', () => {
    expect(containing(doc, 'known at all times')?.headingPath).toEqual([...SECTION, 'Define Security Requirements (PO.1)']);
  });

  it('does not take a bold label repeated on several paragraphs for a heading', () => {
    for (const n of [1, 2, 3]) {
      expect(containing(doc, `every ${n + 1} months`)?.headingPath).toEqual([...SECTION, 'Define Security Requirements (PO.1)']);
    }
  });
});

describe('PDF worker payload', () => {
  it('sends item widths, font names and the outline only when the layout reading asks for them', async () => {
    const bytes = await manual();
    const bounds = { maxPages: 100, maxChars: 1_000_000, timeoutMs: 60_000, maxHeapMb: 256 };
    const flat = await extractPdfTextInThread({ bytes, layout: false, ...bounds });
    const laidOut = await extractPdfTextInThread({ bytes, layout: true, ...bounds });
    if (flat.kind !== 'extracted' || laidOut.kind !== 'extracted') throw new Error(`not extracted: ${flat.kind}, ${laidOut.kind}`);
    expect(flat.outline).toEqual([]);
    expect(flat.pages.flatMap((p) => p.items).some((item) => 'width' in item || 'fontName' in item)).toBe(false);
    expect(laidOut.outline.map((entry) => entry.title)).toEqual(['1 Introduction', '1.1 Scope', '2 Two Columns', '3 Prices']);
    expect(laidOut.pages.flatMap((p) => p.items).every((item) => typeof item.width === 'number' && typeof item.fontName === 'string')).toBe(
      true,
    );
    // The text itself is the same either way.
    expect(flat.pages.map((p) => p.items.map((i) => i.str).join(''))).toEqual(laidOut.pages.map((p) => p.items.map((i) => i.str).join('')));
  });
});

describeShared('PDF layout on real PDFs', () => {
  const load = (file: string) => loadFile(datasetPath('pdfs', file), LAYOUT);

  it('nist-sp-800-207: headings from the outline, the contents pages and running header left out', async () => {
    const doc = await load('nist-sp-800-207-zero-trust-architecture.pdf');
    expect(containing(doc, 'All data sources and computing services are considered resources')?.headingPath).toEqual([
      '2 Zero Trust Basics',
      '2.1 Tenets of Zero Trust',
    ]);
    expect(containing(doc, 'Too much reliance on')?.headingPath.join(' › ')).toMatch(/B\.1 Technology Survey/);
    expect(doc.metadata.contentsPages).toEqual(expect.arrayContaining([7]));
    expect(doc.text).not.toContain('NIST SP 800-207 ZERO TRUST ARCHITECTURE');
    expect(doc.text.match(/This publication is available free of charge from/g)?.length ?? 0).toBeLessThanOrEqual(3);
  });

  it('nist-sp-800-218: each practice of the SSDF table heads its own rows', async () => {
    const doc = await load('nist-sp-800-218-ssdf-v1.1.pdf');
    const practice = containing(doc, 'Define Security Requirements for Software Development (PO.1)')!;
    expect(practice.page).toBe(14);
    expect(practice.headingPath.slice(-2)).toEqual([
      'Prepare the Organization (PO)',
      'Define Security Requirements for Software Development (PO.1)',
    ]);
    expect(containing(doc, 'PO.1.2: Identify and document')?.headingPath.at(-1)).toMatch(/\(PO\.1\)$/);
    expect(containing(doc, 'PO.2.1: Create new roles')?.headingPath.at(-1)).toBe('Implement Roles and Responsibilities (PO.2)');
    // The EO 14028 mapping table starts with a data row (its header is set apart): no header to repeat.
    const mapping = doc.sections.filter((s) => s.kind === 'table' && s.page === 33);
    expect(mapping.length).toBeGreaterThan(0);
    expect(mapping.every((s) => s.headerRows === 0)).toBe(true);
    expect(mapping.some((s) => s.text.includes('4e(vii)\tPS.3.2'))).toBe(true);
    // The table's field labels ("Example 1:", "BSAFSS:") are not headings.
    expect(doc.sections.some((s) => /^(Example \d|BSAFSS)/.test(s.headingPath.at(-1) ?? ''))).toBe(false);
  });

  it('no dot-leader lines in the text of the NIST documents', async () => {
    for (const file of [
      'nist-sp-800-207-zero-trust-architecture.pdf',
      'nist-sp-800-218-ssdf-v1.1.pdf',
      'nist-cswp-04162018-cybersecurity-framework-v1.1.pdf',
    ]) {
      const doc = await load(file);
      const leaders = doc.text.split('\n').filter(isDotLeaderLine);
      expect(leaders, file).toEqual([]);
    }
  });
});
