import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { DocumentError } from '../core/errors.ts';
import { PROJECT_ROOT } from '../core/shared-data.ts';
import { LOADERS, createPdfLoader, detectType, loadDocument, loadFile } from '../ingest/loaders/index.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import { datasetPath, describeShared } from './helpers/shared.ts';

const FIXTURES = path.join(PROJECT_ROOT, 'fixtures');

/** The contract every loader keeps: sections index into doc.text, in order, and none is blank. */
function expectWellFormed(doc: LoadedDocument): void {
  expect(doc.sections.length).toBeGreaterThan(0);
  let previousEnd = 0;
  for (const section of doc.sections) {
    expect(section.text.trim()).not.toBe('');
    expect(doc.text.slice(section.charStart, section.charStart + section.text.length)).toBe(section.text);
    expect(section.charStart).toBeGreaterThanOrEqual(previousEnd);
    previousEnd = section.charStart + section.text.length;
  }
  expect(doc.text).not.toMatch(/[\r\u0000-\u0008\u000B\u000C\u000E-\u001F]/);
  expect(doc.metadata.bytes).toBeGreaterThan(0);
}

async function expectDocumentError(loading: Promise<unknown>, reason: RegExp, source?: string): Promise<DocumentError> {
  const err = await loading.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentError);
  const docErr = err as DocumentError;
  expect(docErr.code).toBe('unprocessable_document');
  expect(String(docErr.details?.reason)).toMatch(reason);
  if (source) expect(docErr.message.startsWith(`${source}: `)).toBe(true);
  return docErr;
}

const sectionWith = (doc: LoadedDocument, phrase: string) => doc.sections.find((s) => s.text.includes(phrase));
const squash = (text: string) => text.replace(/\s+/g, ' ');

/** Real PDFs built with pdf-lib: one entry per page, each a list of lines ('' = a page without text). */
async function makePdf(pages: string[][]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage([400, 400]);
    lines.forEach((line, i) => page.drawText(line, { x: 40, y: 350 - i * 14, size: 11, font }));
  }
  return pdf.save();
}

// These tests describe the flat reading (text per page); the layout reading, the default, has its own
// in test/pdf-layout.test.ts.
const FLAT_PDF = { limits: { pdfLayout: 'off' as const } };

describe('fixtures (the Ragline user guide)', () => {
  it('getting-started.md: front matter stripped, nested heading paths, a table and a code block', async () => {
    const doc = await loadFile(path.join(FIXTURES, 'getting-started.md'));
    expectWellFormed(doc);
    expect(doc.mime).toBe('text/markdown');
    expect(doc.title).toBe('Getting started with Ragline');
    expect(doc.text).not.toContain('audience: new users');
    expect(doc.metadata.frontMatter).toBe(true);

    expect(sectionWith(doc, 'at most 256 tokens')?.headingPath).toEqual([
      'Getting started with Ragline',
      'How ingestion works',
      'Chunking',
    ]);
    const table = doc.sections.find((s) => s.kind === 'table');
    expect(table?.text.split('\n')[0]).toBe('Format | Recognised by | Sections | Notes');
    expect(table?.text).toContain('PDF | the %PDF magic bytes | one per page');
    const code = doc.sections.find((s) => s.kind === 'code');
    expect(code?.text).toContain('npm run ragline -- ingest fixtures/ --collection guide');
    expect(code?.headingPath).toEqual(['Getting started with Ragline', 'Install']);
    // Inline markup is reduced to its words.
    expect(doc.text).toContain('under ./.ragline, and');
    expect(doc.text).not.toContain('`');
  });

  it('retrieval-tuning.html: scripts, styles, navigation, header, aside, footer and comments are dropped', async () => {
    const doc = await loadFile(path.join(FIXTURES, 'retrieval-tuning.html'));
    expectWellFormed(doc);
    expect(doc.mime).toBe('text/html');
    expect(doc.title).toBe('Retrieval tuning guide - Ragline');
    for (const junk of ['dataLayer', 'font-family', 'Ragline documentation', 'Was this page helpful', 'Copyright', 'Editors: keep']) {
      expect(doc.text).not.toContain(junk);
    }
    expect(sectionWith(doc, 'k = 60')?.headingPath).toEqual(['Tuning retrieval', 'Reciprocal Rank Fusion']);
    expect(sectionWith(doc, 'recall@10')?.headingPath).toEqual(['Tuning retrieval', 'The pgvector HNSW index', 'Measuring recall']);

    const tables = doc.sections.filter((s) => s.kind === 'table');
    expect(tables.map((t) => t.text.split('\n')[0])).toEqual(['Query looks like | Best mode | Why', 'Parameter | Default | Effect']);
    expect(tables[1]?.text).toContain('hnsw.ef_search | 40 | candidate list size at query time');
    const code = doc.sections.find((s) => s.kind === 'code');
    expect(code?.text).toMatch(/^CREATE INDEX chunks_embedding_hnsw ON chunks\n {2}USING hnsw/);
  });

  it('faq.txt: the first line is the title and paragraphs stay apart', async () => {
    const doc = await loadFile(path.join(FIXTURES, 'faq.txt'));
    expectWellFormed(doc);
    expect(doc.mime).toBe('text/plain');
    expect(doc.title).toBe('Ragline FAQ');
    expect(doc.text).toContain('Why was my scanned PDF rejected?\nA scanned PDF is a stack of page images');
    expect(doc.text).toContain('often.\n\nWhy was my scanned PDF rejected?');
  });

  it('operations-handbook.pdf: three pages, each topic on its own page, title from the PDF metadata', async () => {
    const doc = await loadFile(path.join(FIXTURES, 'operations-handbook.pdf'), FLAT_PDF);
    expectWellFormed(doc);
    expect(doc.mime).toBe('application/pdf');
    expect(doc.title).toBe('Ragline Operations Handbook');
    expect(doc.pageCount).toBe(3);
    expect(doc.metadata).toMatchObject({ pageCount: 3, emptyPages: [], author: 'Ragline contributors' });
    expect(doc.sections.map((s) => s.page)).toEqual([1, 2, 3]);
    expect(sectionWith(doc, 'pg_dump -Fc')?.page).toBe(1);
    expect(sectionWith(doc, 'REINDEX INDEX CONCURRENTLY')?.page).toBe(2);
    expect(sectionWith(doc, 'model_mismatch (HTTP')?.page).toBe(2);
    expect(sectionWith(doc, 'fall back at once to the extractive answer')?.page).toBe(3);
    expect(sectionWith(doc, 'page 3 of 3')?.page).toBe(3);
    // Headings are separated from their paragraphs by the vertical gap above them.
    expect(doc.sections[1]?.text.startsWith('2. Rebuilding the HNSW index\n\nRebuild the vector index')).toBe(true);
  });

  it('the committed PDF matches what scripts/make-fixture-pdf.ts generates', async () => {
    const { buildOperationsHandbook } = await import('../scripts/make-fixture-pdf.ts');
    const committed = fs.readFileSync(path.join(FIXTURES, 'operations-handbook.pdf'));
    expect(Buffer.from(await buildOperationsHandbook()).equals(committed)).toBe(true);
  });
});

describe('type detection', () => {
  const handbook = () => fs.readFileSync(path.join(FIXTURES, 'operations-handbook.pdf'));
  // A real 1×1 PNG.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

  it('reads a PDF named .txt as a PDF, by its magic bytes', async () => {
    const doc = await loadDocument(handbook(), 'uploads/notes.txt');
    expect(doc.mime).toBe('application/pdf');
    expect(doc.metadata.detectedBy).toBe('magic-bytes');
    expect(doc.pageCount).toBe(3);
  });

  it('magic bytes beat a declared text type', async () => {
    const doc = await loadDocument(handbook(), 'upload', { mime: 'text/plain' });
    expect(doc.mime).toBe('application/pdf');
  });

  it('sends a PNG named .md to OCR, and rejects a gzip archive and arbitrary binary data', async () => {
    await expect(detectType(png, 'picture.md')).resolves.toEqual({ mime: 'image/png', via: 'magic-bytes' });
    await expectDocumentError(loadDocument(gzipSync('hello'), 'notes.txt'), /^unsupported file type gz/);
    await expectDocumentError(loadDocument(Uint8Array.from([1, 0, 2, 0, 3, 255]), 'blob.txt'), /^unsupported file type binary/);
  });

  it('reads text whose first letters look like a binary signature (SciFact titles "BMI-1…", "The widespread…")', async () => {
    const samples = [
      'BMI-1 Autoantibody as a New Potential Biomarker for Cervical Carcinoma\n\nBMI-1 is overexpressed in a variety of cancers.',
      'BMAL1 and CLOCK, Two Essential Components of the Circadian Clock\n\nCircadian timing is generated by a feedback loop.',
      'The widespread regulation of microRNA biogenesis, function and decay\n\nMicroRNAs are a large family of regulators.',
    ];
    for (const text of samples) {
      const doc = await loadDocument(new TextEncoder().encode(text), 'abstract', { mime: 'text/plain' });
      expect(doc.mime).toBe('text/plain');
      expect(doc.text).toContain(text.split('\n')[0]);
    }
  });

  it('rejects text that is not UTF-8 and text containing NULs', async () => {
    const latin1 = Buffer.from('caf\xe9 cr\xe8me br\xfbl\xe9e', 'latin1');
    await expectDocumentError(loadDocument(latin1, 'menu.txt'), /^unsupported file type binary/);
    await expectDocumentError(loadDocument(Buffer.from('a\u0000b'), 'a.md'), /^unsupported file type binary/);
  });

  it('picks the text flavour from the declared type, then the extension, then the content', async () => {
    const markdown = Buffer.from('# Title\n\nSome *text*.\n');
    expect((await loadDocument(markdown, 'a.txt', { mime: 'text/markdown; charset=utf-8' })).mime).toBe('text/markdown');
    expect((await loadDocument(markdown, 'a.txt')).mime).toBe('text/plain');
    expect((await loadDocument(markdown, 'README')).mime).toBe('text/markdown');
    const html = Buffer.from('<!DOCTYPE html><html><body><h1>Hi</h1><p>there</p></body></html>');
    const sniffed = await loadDocument(html, 'https://example.org/page?id=1');
    expect(sniffed.mime).toBe('text/html');
    expect(sniffed.metadata.detectedBy).toBe('content');
    expect(sniffed.sections[0]?.headingPath).toEqual(['Hi']);
  });

  it('refuses empty and blank documents clearly', async () => {
    await expectDocumentError(loadDocument(new Uint8Array(), 'empty.md'), /^is empty \(0 bytes\)$/, 'empty.md');
    await expectDocumentError(loadDocument(Buffer.from(' \n\t\n'), 'blank.txt'), /^contains no text$/);
    await expectDocumentError(loadDocument(Buffer.from('<html><body><script>x()</script></body></html>'), 'a.html'), /^contains no text$/);
  });

  it('normalises CRLF and strips control characters', async () => {
    const doc = await loadDocument(Buffer.from('Title\r\nline\u0007 two\r\n\r\nnext\u001b paragraph\u009b\r'), 'crlf.txt');
    expectWellFormed(doc);
    expect(doc.text).toBe('Title\nline two\n\nnext paragraph');
  });

  it('loadFile names a missing file', async () => {
    const missing = path.join(FIXTURES, 'no-such-file.md');
    await expect(loadFile(missing)).rejects.toMatchObject({ code: 'not_found', message: `File not found: ${missing}` });
  });

  it('exposes one loader per supported type', () => {
    expect(Object.keys(LOADERS).sort()).toEqual([
      'application/epub+zip',
      'application/pdf',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/x-cfb',
      'image/jpeg',
      'image/png',
      'message/rfc822',
      'text/csv',
      'text/html',
      'text/markdown',
      'text/plain',
    ]);
    for (const [mime, loader] of Object.entries(LOADERS)) expect(loader.mimes).toContain(mime);
  });
});

describe('PDF text reconstruction (generated PDFs)', () => {
  it('joins words hyphenated across a line break and keeps real hyphens', async () => {
    const bytes = await makePdf([
      ['Hybrid search fuses dense and keyword retrie-', 'val with reciprocal rank fusion.', 'It is well-known and state-', 'Of the art.'],
    ]);
    const doc = await loadDocument(bytes, 'hyphens.pdf', FLAT_PDF);
    expect(doc.text).toContain('keyword retrieval with reciprocal');
    expect(doc.text).toContain('well-known');
    // A capital after the hyphen is not a split word.
    expect(doc.text).toContain('state-\nOf the art.');
  });

  it('accepts a PDF where some pages have no text, and lists them', async () => {
    const bytes = await makePdf([['First page text.'], [], ['Third page text.']]);
    const doc = await loadDocument(bytes, 'mixed.pdf', FLAT_PDF);
    expectWellFormed(doc);
    expect(doc.pageCount).toBe(3);
    expect(doc.metadata.emptyPages).toEqual([2]);
    expect(doc.sections.map((s) => [s.page, s.text])).toEqual([
      [1, 'First page text.'],
      [3, 'Third page text.'],
    ]);
    expect(doc.title).toBe('First page text.');
  });

  it('refuses a PDF whose pages are all without text when OCR is off', async () => {
    const blank = loadDocument(await makePdf([[], []]), 'blank.pdf', { limits: { ocr: 'off' } });
    await expectDocumentError(blank, /has no text layer .*OCR is turned off \(RAGLINE_OCR=off\)/);
  });

  it('refuses nonsensical limits', () => {
    expect(() => createPdfLoader({ maxPages: 0 })).toThrow(expect.objectContaining({ code: 'invalid_config' }));
    expect(() => createPdfLoader({ timeoutMs: -5 })).toThrow(/timeoutMs/);
  });

  it('reports a truncated or fake PDF as corrupt', async () => {
    const handbook = fs.readFileSync(path.join(FIXTURES, 'operations-handbook.pdf'));
    await expectDocumentError(loadDocument(handbook.subarray(0, 3000), 'cut.pdf'), /^is not a valid PDF \(corrupt or truncated\)/);
    await expectDocumentError(loadDocument(Buffer.from('%PDF-1.7\nnot really\n%%EOF\n'), 'fake.pdf'), /^is not a valid PDF/);
  });
});

describeShared('Markdown loader on the Rust book', () => {
  const rustBook = (file: string) => path.join(datasetPath('docs-markdown', 'rust-book', 'src'), file);

  it('keeps heading paths, code blocks and inline code (ch01-01-installation.md)', async () => {
    const doc = await loadFile(rustBook('ch01-01-installation.md'));
    expectWellFormed(doc);
    expect(doc.title).toBe('ch01-01-installation.md'); // the chapter has no level-1 heading
    const curl = sectionWith(doc, 'curl --proto');
    expect(curl?.kind).toBe('code');
    expect(curl?.headingPath).toEqual(['Installation', 'Installing rustup on Linux or macOS']);
    expect(sectionWith(doc, 'rustup update')?.headingPath).toEqual(['Installation', 'Updating and Uninstalling']);
    // A heading inside a blockquote is part of the quote, not a new section.
    expect(sectionWith(doc, 'Command Line Notation')?.headingPath).toEqual(['Installation']);
  });

  it('reads tables with their header and drops mdBook directives (ch03-02-data-types.md)', async () => {
    const doc = await loadFile(rustBook('ch03-02-data-types.md'));
    expectWellFormed(doc);
    const integers = doc.sections.find((s) => s.kind === 'table' && s.text.startsWith('Length | Signed | Unsigned'));
    expect(integers?.headingPath).toEqual(['Data Types', 'Scalar Types', 'Integer Types']);
    expect(integers?.text).toContain('\n8-bit | i8 | u8\n');
    expect(sectionWith(doc, 'IEEE-754')?.headingPath).toEqual(['Data Types', 'Scalar Types', 'Floating-Point Types']);
    expect(doc.text).not.toContain('{{#');
  });

  it('loads all 112 chapters with valid sections and no directives left', async () => {
    const dir = datasetPath('docs-markdown', 'rust-book', 'src');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.md'));
    expect(files).toHaveLength(112);
    let codeSections = 0;
    for (const file of files) {
      const doc = await loadFile(path.join(dir, file));
      expectWellFormed(doc);
      expect(doc.text).not.toMatch(/\{\{#(include|rustdoc_include)/);
      codeSections += doc.sections.filter((s) => s.kind === 'code').length;
    }
    expect(codeSections).toBeGreaterThan(100);
  });
});

describeShared('HTML loader on the go.dev docs', () => {
  const goDoc = (file: string) => path.join(datasetPath('docs-html', 'go-website-doc', 'doc'), file);

  it('takes the title from the JSON front-matter comment and builds heading paths (effective_go.html)', async () => {
    const doc = await loadFile(goDoc('effective_go.html'));
    expectWellFormed(doc);
    expect(doc.title).toBe('Effective Go');
    expect(sectionWith(doc, 'When a package is imported, the package name becomes an accessor')?.headingPath).toEqual([
      'Names',
      'Package names',
    ]);
    expect(sectionWith(doc, 'type T struct {\n    name string')?.kind).toBe('code');
  });

  it('removes Go template actions but prints string literals (effective_go.html is a template page)', async () => {
    const doc = await loadFile(goDoc('effective_go.html'));
    expect(doc.text).not.toContain('{{code');
    expect(doc.text).toContain('The piece from {{if .}} to {{end}} executes only if');
  });

  it('keeps braces on pages that are not templates: there they are content (tutorial/compile-install.html)', async () => {
    const doc = await loadFile(goDoc('tutorial/compile-install.html'));
    expect(sectionWith(doc, "go list -f '{{.Target}}'")?.kind).toBe('code');
  });

  it('nests h2–h4 and reads tables (gc-guide.html, cmd.html)', async () => {
    const gc = await loadFile(goDoc('gc-guide.html'));
    expect(sectionWith(gc, 'While the memory limit is a powerful tool')?.headingPath).toEqual([
      'The GC cycle',
      'Memory limit',
      'Suggested uses',
    ]);
    const cmd = await loadFile(goDoc('cmd.html'));
    const table = cmd.sections.find((s) => s.kind === 'table');
    expect(table?.text.split('\n')[0]).toBe('Name | Synopsis');
    expect(table?.text).toContain('\ncgo | Cgo enables the creation of Go packages that call C code.');
  });

  it('drops asides (tutorial/add-a-test.html)', async () => {
    const doc = await loadFile(goDoc('tutorial/add-a-test.html'));
    expect(doc.title).toBe('Add a test');
    expect(doc.text).not.toContain('This topic is part of a multi-part tutorial');
    expect(doc.text).toContain("Go's built-in support for unit testing");
  });

  it('loads all 31 pages with valid sections and front-matter titles', async () => {
    const dir = datasetPath('docs-html', 'go-website-doc', 'doc');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.html'));
    expect(files).toHaveLength(31);
    for (const file of files) {
      const doc = await loadFile(path.join(dir, file));
      expectWellFormed(doc);
      const frontMatter = doc.metadata.frontMatter as { Title?: string; title?: string };
      expect(doc.title).toBe(frontMatter.Title ?? frontMatter.title);
    }
  });
});

describeShared('PDF loader on real PDFs', () => {
  const pdfPath = (...parts: string[]) => datasetPath('pdfs', ...parts);
  const loaded = new Map<string, Promise<LoadedDocument>>();
  const load = (file: string) => {
    if (!loaded.has(file)) loaded.set(file, loadFile(pdfPath(file), FLAT_PDF));
    return loaded.get(file)!;
  };

  // Each phrase was checked with `pdftotext -f N -l N` to be on exactly that page.
  const PAGE_SAMPLES: [file: string, page: number, phrase: string][] = [
    [
      'arxiv-2004.04906-dense-passage-retrieval.pdf',
      6,
      'dense passage retriever trained using only 1,000 examples already outperforms BM25',
    ],
    ['nist-sp-800-207-zero-trust-architecture.pdf', 23, 'Cloud Security Alliance (CSA) Software Defined Perimeter (SDP)'],
    [
      'nist-sp-800-160v1-systems-security-engineering.pdf',
      150,
      'Bidirectional traceability is maintained between all identified security aspects and supporting data associated with the transition strategy',
    ],
    ['docling-multi-page-word-processor-history.pdf', 3, 'Specialized Word Processing Tools'],
    ['korean-nars-issue-brief-1695.pdf', 2, '코로나-19 관련 보험 현황'],
  ];

  it.each(PAGE_SAMPLES)("%s: the phrase on page %i is in that page's section only", async (file, page, phrase) => {
    const doc = await load(file);
    const pagesWithPhrase = doc.sections.filter((s) => squash(s.text).includes(phrase)).map((s) => s.page);
    expect(pagesWithPhrase).toEqual([page]);
  });

  it('joins line-break hyphenation in a real paper ("subop-/timal" in the DPR paper)', async () => {
    const doc = await load('arxiv-2004.04906-dense-passage-retrieval.pdf');
    expect(sectionWith(doc, 'the corresponding representations could be suboptimal.')?.page).toBe(2);
  });

  it('loads every PDF in the MANIFEST with the page count poppler reports', async () => {
    const manifest = fs
      .readFileSync(pdfPath('MANIFEST.tsv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split('\t'))
      .filter(([file]) => !file!.startsWith('edge-cases/'));
    expect(manifest).toHaveLength(21);
    for (const [file, , pages] of manifest) {
      const doc = await load(file!);
      expectWellFormed(doc);
      expect(doc.pageCount).toBe(Number(pages));
      expect(doc.title.trim()).not.toBe('');
      for (const section of doc.sections) expect(section.page).toBeGreaterThanOrEqual(1);
      expect(doc.sections.every((s, i) => i === 0 || s.page! > doc.sections[i - 1]!.page!)).toBe(true);
    }
    // The 2009 annual report's last page is a picture: accepted, and listed.
    expect((await load('nist-ir-7653-2009-annual-report.pdf')).metadata.emptyPages).toEqual([64]);
    // Metadata titles that are file names are ignored ("10811.exe").
    expect((await load('scotus-oral-argument-transcript-p1.pdf')).title).not.toMatch(/\.exe$/);
  });

  describe('edge cases', () => {
    it('password-protected: refused with what to do about it', async () => {
      const file = pdfPath('edge-cases', 'password-protected-user-password-test.pdf');
      await expectDocumentError(loadFile(file), /^is password-protected; remove the password and retry$/, file);
    });

    it('empty (0 bytes): refused', async () => {
      const file = pdfPath('edge-cases', 'empty-zero-bytes.pdf');
      await expectDocumentError(loadFile(file), /^is empty \(0 bytes\)$/, file);
    });

    it('image-only: refused with the OCR message when OCR is off (test/ocr.test.ts reads it with OCR)', async () => {
      const file = pdfPath('edge-cases', 'image-only-no-text-layer.pdf');
      const message = /^has no text layer \(scanned\/image-only pages\) and OCR is turned off \(RAGLINE_OCR=off\)$/;
      await expectDocumentError(loadFile(file, { limits: { ocr: 'off' } }), message, file);
    });

    it('malformed-recoverable: pdf.js recovers it, like poppler, with only a few words', async () => {
      const doc = await loadFile(pdfPath('edge-cases', 'malformed-recoverable.pdf'));
      expectWellFormed(doc);
      expect(doc.pageCount).toBe(1);
      expect(doc.text.split(/\s+/)).toEqual(['2021', '3', '31']);
    });

    it('rotated page: reads the same text as the unrotated original', async () => {
      const rotated = await loadFile(pdfPath('edge-cases', 'rotated-page-90.pdf'), FLAT_PDF);
      const original = await load('fbi-nics-firearm-background-checks-2015-11.pdf');
      expectWellFormed(rotated);
      expect(rotated.text).toContain('Alabama 18,870 23,022');
      expect(rotated.text).toBe(original.text);
    });
  });

  describe('guards against hostile files', () => {
    it('refuses documents over the page limit before reading them', async () => {
      const bytes = fs.readFileSync(pdfPath('arxiv-2004.04906-dense-passage-retrieval.pdf'));
      await expectDocumentError(createPdfLoader({ maxPages: 5 }).load(bytes, 'dpr.pdf'), /^has 13 pages, more than the limit of 5$/);
    });

    it('abandons a document that takes longer than the time limit', async () => {
      const bytes = fs.readFileSync(pdfPath('nist-sp-800-160v1-systems-security-engineering.pdf'));
      await expectDocumentError(
        createPdfLoader({ timeoutMs: 1 }).load(bytes, 'long.pdf'),
        /^took longer than 0.001 s to read and was abandoned/,
      );
    });
  });
});
