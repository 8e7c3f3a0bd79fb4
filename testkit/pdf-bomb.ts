import { PDFDocument, PDFName, StandardFonts } from 'pdf-lib';

/**
 * A "decompression bomb" PDF: one page whose single Flate-compressed content stream repeats a
 * line of text `lines` times. A few tens of KB on disk extract to millions of characters, the
 * shape of the file that once queued 15,724 chunks from 68 KB (issue #10).
 */
const SENTENCE = 'Tides rise and fall twice a day as the moon pulls the oceans around the earth.';

export async function pdfBomb(lines = 180_000): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([612, 792]);
  page.drawText('Bomb', { font, size: 12, x: 10, y: 780 }); // registers the font in the page resources
  const fontKey = page.node.newFontDictionary(font.name, font.ref).asString().replace(/^\//, '');
  // 60 lines fill the page; the block then starts again at the top, over the previous one.
  const rows = Array.from({ length: 60 }, (_, i) => `1 0 0 1 10 ${760 - 12 * i} Tm (${SENTENCE}) Tj\n`).join('');
  const content = `BT /${fontKey} 10 Tf\n${rows.repeat(Math.ceil(lines / 60))}ET\n`;
  const stream = doc.context.flateStream(content);
  page.node.set(PDFName.of('Contents'), doc.context.register(stream));
  return doc.save();
}
