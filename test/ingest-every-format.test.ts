import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeDocx, makeEmail, makeEpub, makePptx, makeXlsx, textPng } from '../testkit/format-fixtures.ts';
import { runCli } from './helpers/cli-process.ts';
import { PROJECT_ROOT, datasetPath, describeShared } from './helpers/shared.ts';

const noticePng = () => textPng(['Lift service on Tuesday morning']);

/** `ragline <args>` to its end: exit code and output. */
async function cli(args: string[], env: Record<string, string>) {
  const run = runCli(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describeShared('`ragline ingest` of a folder holding every supported format (real CLI processes, OCR included)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-formats-'));
  const folder = path.join(root, 'mixed');
  const env = { RAGLINE_DATA_DIR: path.join(root, 'data') };
  const files: Record<string, Uint8Array | Buffer> = {};

  beforeAll(async () => {
    const docx = await makeDocx();
    Object.assign(files, {
      'report.docx': docx,
      'deck.pptx': await makePptx(3),
      'book.xlsx': await makeXlsx(),
      'cities.csv': Buffer.from('city,population\nOslo,709000\nLisbon,545000\n'),
      'budget.eml': makeEmail([{ name: 'notes.txt', type: 'text/plain', content: Buffer.from('Agenda: budget lines for the flats.') }]),
      'novel.epub': await makeEpub(),
      'notice.png': noticePng(),
      'scan.pdf': fs.readFileSync(datasetPath('pdfs', 'edge-cases', 'image-only-no-text-layer.pdf')),
      'fips.pdf': fs.readFileSync(datasetPath('pdfs', 'nist-fips-199.pdf')),
      'guide.md': fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'getting-started.md')),
      'tuning.html': fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'retrieval-tuning.html')),
      'faq.txt': fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'faq.txt')),
    });
    fs.mkdirSync(folder, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), bytes);
  });

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  // Two CLI processes, eleven formats and an OCR'd page: minutes on a busy two-core machine.
  it('ingests them all with a line per file, and a search for "Chipper" finds the scanned table row', { timeout: 360_000 }, async () => {
    const ingest = await cli(['ingest', folder, '--collection', 'mixed'], env);
    expect(ingest.code, ingest.stdout + ingest.stderr).toBe(0);
    const names = Object.keys(files);
    const lines = ingest.stdout.split('\n').filter((line) => /^\[\d+\/\d+\] /.test(line));
    expect(lines).toHaveLength(names.length);
    for (const name of names) {
      const line = lines.find((l) => l.includes(`mixed/${name}`));
      expect({ name, line }).toEqual({ name, line: expect.stringMatching(/\] ingested .*\(\d+ chunks/) });
    }
    expect(ingest.stdout).toMatch(/attachment ingested\s+\S*budget\.eml\/notes\.txt/);
    expect(ingest.stdout).toMatch(new RegExp(`${names.length} ingested, 0 updated, 0 skipped \\(unchanged\\), 0 failed`));

    const search = await cli(['search', 'Chipper', '--collection', 'mixed', '--top-k', '3', '--json'], env);
    expect(search.code, search.stderr).toBe(0);
    const [first] = (JSON.parse(search.stdout) as { hits: { chunk: { source: string; pageStart: number; text: string } }[] }).hits;
    expect(first!.chunk.source).toMatch(/mixed\/scan\.pdf$/);
    expect(first!.chunk.pageStart).toBe(1);
    expect(first!.chunk.text).toMatch(/Chipper[ |]+20,843/);
  });
});
