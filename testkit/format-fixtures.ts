/**
 * Small documents in every office format, written with real writers (docx, pptxgenjs, exceljs,
 * JSZip for EPUB, hand-built RFC 822 for email). Tests, the demo fixture script and the ingest
 * benchmark build on them. Dev-only: not re-exported, as the writers are dev dependencies.
 */
import { createCanvas } from '@napi-rs/canvas';
import {
  CommentRangeEnd,
  CommentRangeStart,
  CommentReference,
  DeletedTextRun,
  Document,
  HeadingLevel,
  InsertedTextRun,
  Packer,
  Paragraph,
  Table,
  TableCell,
  TableRow,
  TextRun,
} from 'docx';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import pptxgen from 'pptxgenjs';

// pptxgenjs's typings declare the module as a namespace; its default export is the class.
const PptxGenJS = pptxgen as unknown as typeof pptxgen.default;

const REVISION = { author: 'Reviewer', date: '2026-01-15T10:00:00Z' };

/** A Word report: two heading levels, a bullet list, a table, a comment and tracked changes. */
export async function makeDocx(options: { title?: string; extraSections?: number } = {}): Promise<Uint8Array> {
  const extra = Array.from({ length: options.extraSections ?? 0 }, (_, i) => [
    new Paragraph({ text: `Appendix ${i + 1}`, heading: HeadingLevel.HEADING_2 }),
    new Paragraph(`Appendix ${i + 1} records the maintenance log of turbine ${i + 1}, inspected every quarter by the field crew.`),
  ]).flat();
  const doc = new Document({
    title: options.title ?? 'Wind Farm Annual Report',
    creator: 'Operations Team',
    comments: {
      children: [
        { id: 0, author: REVISION.author, date: new Date(REVISION.date), children: [new Paragraph('Check this number with finance.')] },
      ],
    },
    sections: [
      {
        children: [
          new Paragraph({ text: 'Wind Farm Annual Report', heading: HeadingLevel.HEADING_1 }),
          new Paragraph('The farm produced more power than planned this year.'),
          new Paragraph({ text: 'Maintenance', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({
            children: [
              new TextRun('Gearboxes were replaced on '),
              new DeletedTextRun({ id: 1, ...REVISION, text: 'seven' }),
              new InsertedTextRun({ id: 2, ...REVISION, text: 'nine' }),
              new TextRun(' turbines.'),
            ],
          }),
          new Paragraph({ text: 'Blade inspections by drone', bullet: { level: 0 } }),
          new Paragraph({ text: 'Oil changes every six months', bullet: { level: 0 } }),
          new Paragraph({ text: 'Output by site', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({
            children: [
              new CommentRangeStart(0),
              new TextRun('Northern ridge led all sites.'),
              new CommentRangeEnd(0),
              new TextRun({ children: [new CommentReference(0)] }),
            ],
          }),
          new Table({
            rows: [
              ['Site', 'Turbines', 'Output GWh'],
              ['Northern ridge', '24', '312'],
              ['Coastal flats', '18', '207'],
            ].map((cells) => new TableRow({ children: cells.map((text) => new TableCell({ children: [new Paragraph(text)] })) })),
          }),
          ...extra,
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(doc));
}

/** A deck of three slides with title placeholders, a table and speaker notes on slide 2. */
export async function makePptx(slideCount = 3): Promise<Uint8Array> {
  const pptx = new PptxGenJS();
  pptx.title = 'Quarterly Business Review';
  pptx.defineSlideMaster({
    title: 'TITLED',
    objects: [{ placeholder: { options: { name: 'title', type: 'title', x: 0.5, y: 0.2, w: 9, h: 1 }, text: '' } }],
  });
  for (let n = 1; n <= slideCount; n++) {
    const slide = pptx.addSlide({ masterName: 'TITLED' });
    if (n === 1) {
      slide.addText('Quarterly Business Review', { placeholder: 'title' });
      slide.addText('Revenue grew in every region.', { x: 0.5, y: 1.5, w: 9, h: 1 });
    } else if (n === 2) {
      slide.addText('Regional sales', { placeholder: 'title' });
      slide.addTable(
        [
          [{ text: 'Region' }, { text: 'Sales' }],
          [{ text: 'North' }, { text: '1200' }],
          [{ text: 'South' }, { text: '950' }],
        ],
        { x: 0.5, y: 1.5, w: 9 },
      );
      slide.addNotes('Mention that the South region had a late start.');
    } else {
      slide.addText(`Next steps ${n}`, { placeholder: 'title' });
      slide.addText(`Hire two engineers for the platform team in quarter ${n}.`, { x: 0.5, y: 1.5, w: 9, h: 1 });
    }
  }
  return new Uint8Array((await pptx.write({ outputType: 'nodebuffer' })) as Buffer);
}

/** A workbook with two sheets: sales rows with a formula total, and a staff list with dates. */
export async function makeXlsx(salesRows = 3): Promise<Uint8Array> {
  const workbook = new ExcelJS.Workbook();
  workbook.title = 'Sales Workbook';
  const sales = workbook.addWorksheet('Sales');
  sales.addRow(['Product', 'Units', 'Price', 'Revenue']);
  for (let i = 1; i <= salesRows; i++) {
    const row = sales.addRow([`Widget ${i}`, i * 10, 2.5, null]);
    row.getCell(4).value = { formula: `B${row.number}*C${row.number}`, result: i * 10 * 2.5 };
  }
  const staff = workbook.addWorksheet('Staff');
  staff.addRow(['Name', 'Role', 'Start date']);
  staff.addRow(['Ada Moreno', 'Analyst', new Date(Date.UTC(2024, 2, 1))]);
  staff.addRow(['Bo Lindqvist', 'Engineer', new Date(Date.UTC(2023, 8, 15))]);
  return new Uint8Array(await workbook.xlsx.writeBuffer());
}

/** An EPUB 3 with two chapters in spine order. */
export async function makeEpub(): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('mimetype', 'application/epub+zip', { compression: 'STORE' });
  zip.file(
    'META-INF/container.xml',
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>',
  );
  zip.file(
    'OEBPS/content.opf',
    `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:1</dc:identifier><dc:title>The Lighthouse Keeper</dc:title><dc:creator>M. Harbour</dc:creator><dc:language>en</dc:language></metadata><manifest><item id="c2" href="text/chapter2.xhtml" media-type="application/xhtml+xml"/><item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/><item id="css" href="style.css" media-type="text/css"/></manifest><spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>`,
  );
  const chapter = (title: string, section: string, body: string) =>
    `<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>${title}</title></head><body><h1>${title}</h1><p>${body}</p><h2>${section}</h2><p>${body} Again, at night.</p></body></html>`;
  zip.file('OEBPS/text/chapter1.xhtml', chapter('Chapter 1: Arrival', 'The lamp', 'The keeper climbed the tower and lit the great lamp.'));
  zip.file('OEBPS/text/chapter2.xhtml', chapter('Chapter 2: The storm', 'Rescue', 'A fishing boat ran aground on the northern rocks.'));
  zip.file('OEBPS/style.css', 'p { margin: 0 }');
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}

/** A multipart RFC 822 message with a plain-text body and the given attachments; `message` overrides its date, subject and body. */
export function makeEmail(
  attachments: { name: string; type: string; content: Uint8Array }[] = [],
  message: { date?: Date; subject?: string; body?: string } = {},
): Uint8Array {
  const boundary = 'ragline-boundary-42';
  const body = message.body ?? 'Hi team,\r\n\r\nThe budget review moves to Thursday at 10:00 in room Fjord.\r\n\r\nRegards,\r\nPriya';
  const parts = [
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`,
    ...attachments.map(
      (a) =>
        `--${boundary}\r\nContent-Type: ${a.type}; name="${a.name}"\r\nContent-Disposition: attachment; filename="${a.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(a.content).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`,
    ),
  ];
  const date = message.date ? message.date.toUTCString().replace('GMT', '+0000') : 'Tue, 03 Mar 2026 09:15:00 +0000';
  const raw =
    `From: Priya Nair <priya@example.com>\r\nTo: Team <team@example.com>, Lee Chen <lee@example.com>\r\nSubject: ${message.subject ?? 'Budget review moved to Thursday'}\r\n` +
    `Date: ${date}\r\nMessage-ID: <budget-42@example.com>\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${parts.join('')}--${boundary}--\r\n`;
  return new TextEncoder().encode(raw);
}

/** A PNG of black text lines on white, as a phone photo of a notice would be, for OCR. */
export function textPng(lines: string[], options: { width?: number; fontPx?: number } = {}): Uint8Array {
  const fontPx = options.fontPx ?? 40;
  const lineHeight = Math.round(fontPx * 2);
  const width = options.width ?? 900;
  const height = lineHeight * lines.length + fontPx;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = 'black';
  ctx.font = `${fontPx}px sans-serif`;
  lines.forEach((line, i) => ctx.fillText(line, 30, fontPx + 35 + i * lineHeight));
  return new Uint8Array(canvas.toBuffer('image/png'));
}
