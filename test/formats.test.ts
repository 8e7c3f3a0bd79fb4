import path from 'node:path';
import CFB from 'cfb';
import JSZip from 'jszip';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Ragline } from '../facade/ragline.ts';
import { detectType, loadDocument, loadFile } from '../ingest/loaders/index.ts';
import { CellTagCounter } from '../ingest/loaders/spreadsheet.ts';
import type { LoadedDocument } from '../ingest/types.ts';
import { makeDocx, makeEmail, makeEpub, makePptx, makeXlsx } from '../testkit/format-fixtures.ts';
import { raglineWithCollection, refusal } from './helpers/formats.ts';
import { PROJECT_ROOT, describeShared } from './helpers/shared.ts';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const text = (s: string) => new TextEncoder().encode(s);
const sectionsUnder = (doc: LoadedDocument, heading: string) => doc.sections.filter((s) => s.headingPath.includes(heading));

/** An OLE compound file holding the two streams Office writes for a password-protected OOXML file. */
function encryptedOfficeFile(): Uint8Array {
  const container = CFB.utils.cfb_new();
  CFB.utils.cfb_add(container, '/EncryptionInfo', Buffer.from([4, 0, 4, 0, 0x40, 0, 0, 0]));
  CFB.utils.cfb_add(container, '/EncryptedPackage', Buffer.alloc(4096, 7));
  return new Uint8Array(CFB.write(container, { type: 'buffer' }) as Buffer);
}

describe('Word (.docx)', () => {
  let doc: LoadedDocument;
  beforeAll(async () => {
    doc = await loadDocument(await makeDocx(), 'reports/annual.docx');
  });

  it('takes the title from the document properties and headings as the heading path', () => {
    expect(doc.title).toBe('Wind Farm Annual Report');
    expect(doc.mime).toBe(DOCX);
    expect(doc.metadata.author).toBe('Operations Team');
    expect(sectionsUnder(doc, 'Maintenance')[0]!.headingPath).toEqual(['Wind Farm Annual Report', 'Maintenance']);
  });

  it('keeps list items and reads tracked changes as accepted, leaving comments out', () => {
    const maintenance = sectionsUnder(doc, 'Maintenance')
      .map((s) => s.text)
      .join('\n');
    expect(maintenance).toContain('- Blade inspections by drone');
    expect(maintenance).toContain('- Oil changes every six months');
    expect(maintenance).toContain('replaced on nine turbines');
    expect(doc.text).not.toContain('seven');
    expect(doc.text).not.toContain('Check this number with finance');
    expect(doc.metadata).toMatchObject({ trackedChanges: 'accepted', comments: 'omitted' });
  });

  it('keeps a table as rows with the header first', () => {
    const table = doc.sections.find((s) => s.kind === 'table')!;
    expect(table.headingPath).toEqual(['Wind Farm Annual Report', 'Output by site']);
    expect(table.text.split('\n')).toEqual(['Site | Turbines | Output GWh', 'Northern ridge | 24 | 312', 'Coastal flats | 18 | 207']);
  });

  it('is recognised by what is inside the zip, not by its name', async () => {
    const bytes = await makeDocx();
    await expect(detectType(bytes, 'upload.bin')).resolves.toEqual({ mime: DOCX, via: 'magic-bytes' });
    expect((await loadDocument(bytes, 'notes.txt')).mime).toBe(DOCX);
  });
});

describe('PowerPoint (.pptx)', () => {
  let doc: LoadedDocument;
  beforeAll(async () => {
    doc = await loadDocument(await makePptx(), 'deck.pptx');
  });

  it('makes one unit per slide with the slide number as page and the title as heading', () => {
    expect(doc.title).toBe('Quarterly Business Review');
    expect(doc.pageCount).toBe(3);
    expect(doc.sections.map((s) => [s.page, s.headingPath[0]])).toEqual([
      [1, 'Quarterly Business Review'],
      [2, 'Regional sales'],
      [2, 'Regional sales'],
      [3, 'Next steps 3'],
    ]);
    expect(doc.sections[0]!.text).toBe('Revenue grew in every region.');
  });

  it('reads slide tables and marks speaker notes', () => {
    const [table, notes] = doc.sections.filter((s) => s.page === 2);
    expect(table!.kind).toBe('table');
    expect(table!.text).toBe('Region | Sales\nNorth | 1200\nSouth | 950');
    expect(notes!.headingPath).toEqual(['Regional sales', 'Speaker notes']);
    expect(notes!.text).toBe('Speaker notes: Mention that the South region had a late start.');
    expect(doc.metadata.slidesWithNotes).toBe(1);
  });
});

describe('spreadsheets (.xlsx, .csv)', () => {
  it('makes one table section per sheet with formulas as their values and dates as ISO dates', async () => {
    const doc = await loadDocument(await makeXlsx(), 'book.xlsx');
    expect(doc.metadata.sheets).toEqual(['Sales', 'Staff']);
    const [sales, staff] = doc.sections;
    expect(sales).toMatchObject({ kind: 'table', headingPath: ['Sales'], page: 1 });
    expect(sales!.text.split('\n')).toEqual([
      'Product | Units | Price | Revenue',
      'Widget 1 | 10 | 2.5 | 25',
      'Widget 2 | 20 | 2.5 | 50',
      'Widget 3 | 30 | 2.5 | 75',
    ]);
    expect(staff).toMatchObject({ kind: 'table', headingPath: ['Staff'], page: 2 });
    expect(staff!.text).toContain('Ada Moreno | Analyst | 2024-03-01');
  });

  it('refuses a workbook past the cell limit before reading its rows', async () => {
    const err = await refusal(loadDocument(await makeXlsx(50), 'big.xlsx', { limits: { sheetMaxCells: 100 } }));
    expect(err.message).toMatch(/more than 100 cells/);
  });

  it('counts cells while the sheets inflate, so a sheet over the limit is never built by exceljs', async () => {
    // makeXlsx(n): (n + 1) × 4 sales cells + 3 × 3 staff cells.
    const large = await makeXlsx(5_000);
    const cells = 4 * 5_001 + 9;
    const built = vi.spyOn(ExcelJS.Workbook.prototype, 'xlsx', 'get');
    try {
      const err = await refusal(loadDocument(large, 'huge.xlsx', { limits: { sheetMaxCells: cells - 1 } }));
      expect(err.message).toMatch(new RegExp(`more than ${cells - 1} cells`));
      expect(err.details).toMatchObject({ limit: cells - 1 });
      expect(built).not.toHaveBeenCalled();
      // The count is exact: at the limit the workbook loads.
      const doc = await loadDocument(large, 'huge.xlsx', { limits: { sheetMaxCells: cells } });
      expect(built).toHaveBeenCalled();
      expect(doc.sections[0]!.text.split('\n')).toHaveLength(5_001);
    } finally {
      built.mockRestore();
    }
  });

  it('counts a cell tag once when a chunk boundary cuts it', () => {
    const xml = '<sheetData><row r="1"><c r="A1"><v>1</v></c><x:c r="B1"/><col min="1"/><c>2</c></row></sheetData>';
    const whole = new CellTagCounter().count(text(xml));
    expect(whole).toBe(3);
    for (let size = 1; size <= 7; size++) {
      const counter = new CellTagCounter();
      let total = 0;
      for (let i = 0; i < xml.length; i += size) total += counter.count(text(xml.slice(i, i + size)));
      expect({ size, total }).toEqual({ size, total: whole });
    }
  });

  it('reads CSV with a detected delimiter and quoted fields', async () => {
    const doc = await loadDocument(text('city;note;population\nOslo;"cold; bright";709000\nLisbon;"warm, windy";545000\n'), 'cities.csv');
    expect(doc.mime).toBe('text/csv');
    expect(doc.sections[0]!.text.split('\n')).toEqual([
      'city | note | population',
      'Oslo | cold; bright | 709000',
      'Lisbon | warm, windy | 545000',
    ]);
    await refusal(loadDocument(text('a,b\n1,2\n3,4\n'), 'tiny.csv', { limits: { sheetMaxCells: 3 } }));
  });
});

describe('email (.eml)', () => {
  it('uses the subject as title, headers as metadata and hands back attachments', async () => {
    const pdfLike = text('Agenda: budget, hiring, travel');
    const doc = await loadDocument(makeEmail([{ name: 'agenda.txt', type: 'text/plain', content: pdfLike }]), 'inbox/budget.eml');
    expect(doc.title).toBe('Budget review moved to Thursday');
    expect(doc.metadata).toMatchObject({
      from: '"Priya Nair" <priya@example.com>',
      to: '"Team" <team@example.com>, "Lee Chen" <lee@example.com>',
      date: '2026-03-03T09:15:00.000Z',
      messageId: '<budget-42@example.com>',
      attachments: ['agenda.txt'],
    });
    expect(doc.text).toContain('The budget review moves to Thursday at 10:00 in room Fjord.');
    expect(doc.attachments).toHaveLength(1);
    expect(new TextDecoder().decode(doc.attachments![0]!.bytes)).toBe('Agenda: budget, hiring, travel');
  });

  it('dates the document by its Date header, never later than now', async () => {
    expect((await loadDocument(makeEmail(), 'm.eml')).contentDate).toBe('2026-03-03T09:15:00.000Z');
    const future = await loadDocument(makeEmail([], { date: new Date(Date.now() + 365 * 86_400_000) }), 'm.eml');
    expect(Date.parse(future.contentDate!)).toBeLessThanOrEqual(Date.now());
    expect(future.metadata.date).not.toBe(future.contentDate); // what the header claimed stays in metadata
  });

  it('is recognised by its headers without a file extension', async () => {
    await expect(detectType(makeEmail(), 'message-0042')).resolves.toEqual({ mime: 'message/rfc822', via: 'content' });
  });

  it('refuses more attachments than the limit', async () => {
    const file = { name: 'a.txt', type: 'text/plain', content: text('x') };
    const err = await refusal(loadDocument(makeEmail([file, { ...file, name: 'b.txt' }]), 'm.eml', { limits: { emailMaxAttachments: 1 } }));
    expect(err.message).toMatch(/2 attachments, more than the limit of 1/);
  });
});

describe('EPUB', () => {
  it('reads chapters in spine order with their headings', async () => {
    const doc = await loadDocument(await makeEpub(), 'lighthouse.epub');
    expect(doc.title).toBe('The Lighthouse Keeper');
    expect(doc.metadata).toMatchObject({ author: 'M. Harbour', chapters: 2 });
    expect(doc.sections.map((s) => s.headingPath)).toEqual([
      ['Chapter 1: Arrival'],
      ['Chapter 1: Arrival', 'The lamp'],
      ['Chapter 2: The storm'],
      ['Chapter 2: The storm', 'Rescue'],
    ]);
    expect(doc.sections[2]!.text).toBe('A fishing boat ran aground on the northern rocks.');
  });
});

describe('the demo fixtures', () => {
  it('reads the committed Word and Excel fixtures', async () => {
    const checklist = await loadFile(path.join(PROJECT_ROOT, 'fixtures', 'upgrade-checklist.docx'));
    expect(checklist.title).toBe('Ragline Upgrade Checklist');
    expect(checklist.sections.find((s) => s.kind === 'table')!.headingPath).toEqual(['Ragline Upgrade Checklist', 'What to check']);
    const planning = await loadFile(path.join(PROJECT_ROOT, 'fixtures', 'capacity-planning.xlsx'));
    expect(planning.sections[0]!.text).toContain('Engineering wiki | 5000 | 9 | 45000 | 65.9');
  });
});

describe('broken and hostile containers', () => {
  it('names a corrupt zip as corrupt', async () => {
    const bytes = await makeDocx();
    const err = await refusal(loadDocument(bytes.subarray(0, Math.floor(bytes.length * 0.6)), 'broken.docx'));
    expect(err.message).toMatch(/^broken\.docx: .*(corrupt|truncated)/);
  });

  it('says a password-protected Office file is password-protected', async () => {
    const err = await refusal(loadDocument(encryptedOfficeFile(), 'secret.xlsx'));
    expect(err.message).toBe('secret.xlsx: is a password-protected Office document; remove the password and retry');
  });

  it('refuses a zip bomb from its directory, before inflating it', async () => {
    const zip = new JSZip();
    zip.file('[Content_Types].xml', '<Types/>');
    zip.file('word/document.xml', new Uint8Array(12 * 1024 * 1024));
    const bomb = await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
    const err = await refusal(loadDocument(bomb, 'bomb.docx'));
    expect(err.message).toMatch(/word\/document\.xml inflates \d+× \(limit 200×\)/);
  });

  it('refuses a zip whose entries inflate past the sizes its directory declares', async () => {
    const zip = new JSZip();
    zip.file('mimetype', 'application/epub+zip');
    zip.file('META-INF/container.xml', 'x'.repeat(5000));
    const bytes = Buffer.from(await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' }));
    // Rewrite the uncompressed size (offset 24) of the central directory entry for container.xml to 10 bytes.
    const name = Buffer.from('META-INF/container.xml');
    const central = bytes.indexOf(Buffer.concat([Buffer.from([0x50, 0x4b, 0x01, 0x02])]), bytes.indexOf(name) + 1);
    const entry = bytes.indexOf(name, central) - 46;
    bytes.writeUInt32LE(10, entry + 24);
    const err = await refusal(loadDocument(new Uint8Array(bytes), 'liar.epub'));
    expect(err.message).toMatch(/inflates past its declared size|container limit|corrupt/);
  });

  it('refuses archives with more entries than the limit', async () => {
    const zip = new JSZip();
    for (let i = 0; i < 20; i++) zip.file(`ppt/slides/slide${i + 1}.xml`, '<x/>');
    const bytes = await zip.generateAsync({ type: 'uint8array' });
    const err = await refusal(loadDocument(bytes, 'many.pptx', { limits: { zipMaxEntries: 10 } }));
    expect(err.message).toMatch(/holds 20 zip entries, more than the limit of 10/);
  });
});

describeShared('office formats through the pipeline (PGlite + real model)', () => {
  let ragline: Ragline;
  beforeAll(async () => {
    ragline = await raglineWithCollection('office');
  });
  afterAll(async () => {
    await ragline?.close();
  });

  it('ingests an email and each attachment as its own document linked to the message', async () => {
    const message = makeEmail([
      { name: 'report.docx', type: 'application/octet-stream', content: await makeDocx() },
      { name: 'agenda.txt', type: 'text/plain', content: text('Agenda for Thursday: budget lines for the coastal flats site.') },
    ]);
    const outcome = (await ragline.ingest('office', [{ source: 'inbox/budget.eml', bytes: message }]))[0]!;
    expect(outcome.status).toBe('ingested');
    if (outcome.status !== 'ingested') return;
    expect(outcome.attachments?.map((a) => [a.source, a.status])).toEqual([
      ['inbox/budget.eml/report.docx', 'ingested'],
      ['inbox/budget.eml/agenda.txt', 'ingested'],
    ]);
    const report = outcome.attachments![0]!;
    if (report.status !== 'ingested') return;
    expect(report.document.mime).toBe(DOCX);
    expect(report.document.metadata).toMatchObject({ attachmentOf: 'inbox/budget.eml', attachmentName: 'report.docx' });

    const { hits } = await ragline.search('office', { query: 'gearboxes replaced on turbines', topK: 3 });
    expect(hits[0]!.chunk.text).toContain('nine turbines');
  });

  it("an email's Date header is its document's updatedAt, so recency ranks newer mail higher", async () => {
    const day = 86_400_000;
    const sentOld = new Date(Math.floor((Date.now() - 400 * day) / 1000) * 1000);
    const sentNew = new Date(Math.floor((Date.now() - 2 * day) / 1000) * 1000);
    // The older message matches the query better, so it leads until recency is asked for.
    const old = makeEmail([{ name: 'rota.txt', type: 'text/plain', content: text('Rota for the kiln shifts.') }], {
      date: sentOld,
      subject: 'Kiln maintenance schedule',
      body: 'The kiln maintenance schedule: kiln maintenance runs every Monday, kiln inspections on Friday.',
    });
    const recent = makeEmail([], { date: sentNew, subject: 'Kiln update', body: 'New kiln maintenance plan from next week.' });
    const outcomes = await ragline.ingest('office', [
      { source: 'inbox/kiln-old.eml', bytes: old },
      { source: 'inbox/kiln-new.eml', bytes: recent },
    ]);
    const [o, n] = outcomes.map((x) => (x.status === 'ingested' ? x : undefined));
    expect(o!.document.updatedAt).toBe(sentOld.toISOString());
    expect(n!.document.updatedAt).toBe(sentNew.toISOString());
    const rota = o!.attachments![0]!;
    expect(rota.status === 'ingested' && rota.document.updatedAt).toBe(sentOld.toISOString()); // as old as its message

    const query = { query: 'kiln maintenance schedule', topK: 2, mode: 'bm25' as const, filter: { source: { prefix: 'inbox/kiln-' } } };
    const plain = await ragline.search('office', query);
    expect(plain.hits.map((h) => h.chunk.source)).toEqual(['inbox/kiln-old.eml', 'inbox/kiln-new.eml']);
    const recentFirst = await ragline.search('office', { ...query, recency: { halfLifeDays: 30, weight: 0.8 } });
    expect(recentFirst.hits.map((h) => h.chunk.source)).toEqual(['inbox/kiln-new.eml', 'inbox/kiln-old.eml']);
    expect(recentFirst.hits[1]!.chunk.updatedAt).toBe(sentOld.toISOString());
  });

  it('repeats the header row in every chunk of a long sheet', async () => {
    const [outcome] = await ragline.ingest('office', [{ source: 'sales.xlsx', bytes: await makeXlsx(150) }]);
    expect(outcome!.status).toBe('ingested');
    const { hits } = await ragline.search('office', { query: 'Widget 137 units revenue', topK: 5, mode: 'bm25' });
    const sheetChunks = hits.filter((h) => h.chunk.headingPath[0] === 'Sales');
    expect(sheetChunks.length).toBeGreaterThan(1);
    for (const hit of sheetChunks) expect(hit.chunk.text.startsWith('Product | Units | Price | Revenue\n')).toBe(true);
    expect(sheetChunks.some((h) => h.chunk.text.includes('Widget 137 | 1370 | 2.5 | 3425'))).toBe(true);
  });

  it('reports a corrupt file as a failed outcome with the reason, not a crash', async () => {
    const bytes = await makeXlsx();
    const [outcome] = await ragline.ingest('office', [{ source: 'broken.xlsx', bytes: bytes.subarray(0, 900) }]);
    expect(outcome).toMatchObject({ status: 'failed', error: { code: 'unprocessable_document' } });
  });
});
