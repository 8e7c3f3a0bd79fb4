/**
 * Writes fixtures/operations-handbook.pdf: a small three-page PDF with a real text layer,
 * used by the demo and the loader tests. Run `npx tsx scripts/make-fixture-pdf.ts` after
 * editing the text below and commit both files. The output is byte-for-byte reproducible.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';

type Block = { heading: string } | { paragraph: string };

const TITLE = 'Ragline Operations Handbook';
const FIXED_DATE = new Date('2025-01-15T09:00:00Z');

const PAGES: Block[][] = [
  [
    {
      paragraph:
        'This handbook is for the people who run Ragline in production. Each section covers one task, ' +
        'with the commands and settings it needs.',
    },
    { heading: '1. Backups and restore' },
    {
      paragraph:
        'With the embedded database (PGlite), everything Ragline stores lives in one data directory, ' +
        './.ragline unless RAGLINE_DATA_DIR says otherwise. To back it up, stop Ragline and copy the whole ' +
        'directory, for example with tar. To restore, stop Ragline, replace the directory with the copy and start again. ' +
        'Never copy the directory while Ragline is running: the copy may be inconsistent.',
    },
    {
      paragraph:
        'With an external PostgreSQL server, take nightly dumps with pg_dump -Fc (the custom format) and restore ' +
        'them with pg_restore into an empty database. The pgvector extension must be installed on the target server. ' +
        'The dump holds the vectors and the definition of the HNSW index, which pg_restore rebuilds, so restoring a ' +
        'large collection takes noticeably longer than dumping it.',
    },
    {
      paragraph:
        'Restore a backup into a scratch database at least once a month and run a few searches against it. ' +
        'A backup that has never been restored is only a hope.',
    },
  ],
  [
    { heading: '2. Rebuilding the HNSW index' },
    {
      paragraph:
        'Rebuild the vector index after a bulk ingestion that adds more than about a third of the collection, ' +
        'or after changing the index parameters m or ef_construction. An HNSW index builds much faster when the ' +
        'whole graph fits into maintenance_work_mem; pgvector prints a notice when it no longer does, and raising ' +
        'maintenance_work_mem for the session that builds the index is the usual fix.',
    },
    {
      paragraph:
        'Use REINDEX INDEX CONCURRENTLY so that searches keep running during the rebuild. It needs roughly twice ' +
        'the disk space of the index while it runs, and it cannot be run inside a transaction block.',
    },
    { heading: '3. Changing the embedding model' },
    {
      paragraph:
        'A collection records the embedding model and the vector dimensions it was created with. Ingesting into it ' +
        'with a different model is refused with the error code model_mismatch (HTTP 409), because vectors from ' +
        'different models are not comparable and mixing them would silently ruin search results.',
    },
    {
      paragraph:
        'To switch models, create a new collection, ingest the documents into it, compare retrieval quality on your ' +
        'own evaluation questions, then point clients at the new collection and delete the old one.',
    },
  ],
  [
    { heading: '4. When the language model provider is down' },
    {
      paragraph:
        'Search does not depend on the language model provider: with the local embedding model, retrieval runs ' +
        'entirely inside Ragline. Only answer generation calls the provider. After repeated failures a circuit ' +
        'breaker opens and answers fall back at once to the extractive answer, marked with a fallback reason, instead of ' +
        'piling up; the breaker tries the provider again after RAGLINE_LLM_BREAKER_RESET_MS, 30 seconds by default.',
    },
    { heading: '5. Rate limits and API keys' },
    {
      paragraph:
        'When RAGLINE_API_KEYS is set, every API request needs one of those keys. Requests are limited per API key, ' +
        'or per client address for unauthenticated requests, to RAGLINE_RATE_LIMIT_PER_MINUTE, 600 per minute by ' +
        'default. A client over the limit receives HTTP 429 with the error code rate_limited and the number of ' +
        'seconds to wait before retrying.',
    },
  ],
];

const PAGE_SIZE: [number, number] = [595.28, 841.89]; // A4 in points
const MARGIN = 64;
const BODY = { size: 11, leading: 15 };
const HEADING = { size: 14, spaceBefore: 14, spaceAfter: 8 };

export async function buildOperationsHandbook(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create({ updateMetadata: false });
  pdf.setTitle(TITLE);
  pdf.setAuthor('Ragline contributors');
  pdf.setSubject('Running Ragline: backups, index maintenance, model changes, outages, rate limits');
  pdf.setCreator('scripts/make-fixture-pdf.ts');
  pdf.setProducer('pdf-lib');
  pdf.setCreationDate(FIXED_DATE);
  pdf.setModificationDate(FIXED_DATE);

  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);

  PAGES.forEach((blocks, index) => {
    const page = pdf.addPage(PAGE_SIZE);
    let y = PAGE_SIZE[1] - MARGIN;
    if (index === 0) {
      page.drawText(TITLE, { x: MARGIN, y, size: 20, font: bold });
      y -= 36;
    }
    for (const block of blocks) {
      if ('heading' in block) {
        y -= HEADING.spaceBefore;
        page.drawText(block.heading, { x: MARGIN, y, size: HEADING.size, font: bold });
        y -= HEADING.size + HEADING.spaceAfter;
      } else {
        y = drawParagraph(page, block.paragraph, regular, y) - BODY.leading / 2;
      }
    }
    const footer = `${TITLE} - page ${index + 1} of ${PAGES.length}`;
    page.drawText(footer, { x: MARGIN, y: MARGIN / 2, size: 8, font: regular, color: rgb(0.4, 0.4, 0.4) });
  });
  return pdf.save({ useObjectStreams: false });
}

/** Draws word-wrapped text starting at baseline y; returns the baseline below the last line. */
function drawParagraph(page: PDFPage, text: string, font: PDFFont, y: number): number {
  const maxWidth = PAGE_SIZE[0] - 2 * MARGIN;
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
    if (font.widthOfTextAtSize(candidate, BODY.size) > maxWidth && line) {
      page.drawText(line, { x: MARGIN, y, size: BODY.size, font });
      y -= BODY.leading;
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line) page.drawText(line, { x: MARGIN, y, size: BODY.size, font });
  return y - BODY.leading;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'operations-handbook.pdf');
  fs.writeFileSync(out, await buildOperationsHandbook());
  console.log(`wrote ${out}`);
}
