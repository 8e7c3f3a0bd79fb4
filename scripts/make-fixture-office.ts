/**
 * Writes fixtures/upgrade-checklist.docx and fixtures/capacity-planning.xlsx, the demo's Word
 * and Excel documents, with the real writers (docx, exceljs). Run
 * `npx tsx scripts/make-fixture-office.ts` after editing the content below and commit the files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow } from 'docx';
import ExcelJS from 'exceljs';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const FIXED_DATE = new Date('2025-01-15T09:00:00Z');

const cell = (text: string) => new TableCell({ children: [new Paragraph(text)] });

async function writeDocx(): Promise<void> {
  const doc = new Document({
    title: 'Ragline Upgrade Checklist',
    creator: 'Ragline operations',
    sections: [
      {
        children: [
          new Paragraph({ text: 'Ragline Upgrade Checklist', heading: HeadingLevel.HEADING_1 }),
          new Paragraph('Follow these steps when moving a Ragline installation to a new release.'),
          new Paragraph({ text: 'Before you upgrade', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({ text: 'Stop Ragline and copy the data directory (./.ragline by default) as a backup.', bullet: { level: 0 } }),
          new Paragraph({
            text: 'Note the embedding model of every collection: a different model needs a new collection.',
            bullet: { level: 0 },
          }),
          new Paragraph({ text: 'After the upgrade', heading: HeadingLevel.HEADING_2 }),
          new Paragraph(
            'Start Ragline and run a search against each collection. Documents whose content did not change are skipped when ingested again, so re-running an ingest is cheap.',
          ),
          new Paragraph({ text: 'What to check', heading: HeadingLevel.HEADING_2 }),
          new Table({
            rows: [
              ['Check', 'Command', 'Expected result'],
              ['Collections listed', 'ragline collections', 'every collection with its model'],
              ['Search answers', 'ragline search "backup"', 'hits with sources and pages'],
              ['Model mismatch refused', 'ingest with another model', 'HTTP 409 model_mismatch'],
            ].map((cells) => new TableRow({ children: cells.map(cell) })),
          }),
        ],
      },
    ],
  });
  fs.writeFileSync(path.join(FIXTURES, 'upgrade-checklist.docx'), await Packer.toBuffer(doc));
}

async function writeXlsx(): Promise<void> {
  const workbook = new ExcelJS.Workbook();
  workbook.title = 'Ragline Capacity Planning';
  workbook.creator = 'Ragline operations';
  workbook.created = FIXED_DATE;
  workbook.modified = FIXED_DATE;
  const sheet = workbook.addWorksheet('Vector storage');
  sheet.addRow(['Corpus', 'Documents', 'Chunks per document', 'Chunks', 'Vector MiB (384 dims, fp32)']);
  const corpora: [string, number, number][] = [
    ['Support articles', 1200, 6],
    ['Product manuals', 300, 40],
    ['Engineering wiki', 5000, 9],
  ];
  for (const [name, documents, perDocument] of corpora) {
    const row = sheet.addRow([name, documents, perDocument]);
    const r = row.number;
    const chunks = documents * perDocument;
    row.getCell(4).value = { formula: `B${r}*C${r}`, result: chunks };
    row.getCell(5).value = { formula: `ROUND(D${r}*384*4/1048576,1)`, result: Math.round((chunks * 384 * 4) / 104857.6) / 10 };
  }
  const notes = workbook.addWorksheet('Notes');
  notes.addRow(['Topic', 'Note']);
  notes.addRow(['Vector size', 'all-MiniLM-L6-v2 vectors have 384 dimensions of 4 bytes each (fp32).']);
  notes.addRow(['Chunks', 'Chunks hold at most 256 tokens by default, so long documents make many chunks.']);
  await workbook.xlsx.writeFile(path.join(FIXTURES, 'capacity-planning.xlsx'));
}

await writeDocx();
await writeXlsx();
console.log('wrote fixtures/upgrade-checklist.docx and fixtures/capacity-planning.xlsx');
