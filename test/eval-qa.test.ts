import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containsPhrase, loadQaQuestions, scoreQa, type QaQuestion } from '../eval/qa.ts';
import { measureNoise } from '../eval/noise.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-qa-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeQuestions(lines: string[]): string {
  const file = path.join(dir, `q-${Math.random().toString(36).slice(2)}.jsonl`);
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

const q = (id: string, over: Partial<QaQuestion>): QaQuestion => ({
  id,
  question: `question ${id}`,
  source: 'a.pdf',
  pages: [3],
  also_ok_pages: [],
  answer: 'the answer',
  kind: 'natural',
  ...over,
});

describe('eval --qa scoring', () => {
  it('scores hits at page level, MRR@10, containment on a gold page, refusals and false refusals, overall and per kind', () => {
    const questions = [
      q('1', {}),
      q('2', { pages: [7, 8], kind: 'table', answer: '212' }),
      q('3', { also_ok_pages: [20] }),
      q('4', { source: null, pages: [], answer: null, kind: 'unanswerable' }),
    ];
    const report = scoreQa(questions, [
      { id: '1', refused: false, hits: [{ source: 'docs/a.pdf', pageStart: 2, pageEnd: 3, text: 'Here is The  Answer.' }] },
      {
        id: '2',
        refused: false,
        hits: [
          { source: 'b.pdf', pageStart: 7, pageEnd: 7, text: '212' },
          { source: 'a.pdf', pageStart: 8, pageEnd: 8, text: 'total 2121' },
        ],
      },
      { id: '3', refused: true, hits: [{ source: 'a.pdf', pageStart: 20, pageEnd: 20, text: 'no phrase' }] },
      { id: '4', refused: true, hits: [] },
    ]);
    expect(report.overall).toMatchObject({ answerable: 3, unanswerable: 1, refused: 1, falseRefusals: 1 });
    expect(report.overall.hit1).toBeCloseTo(2 / 3);
    expect(report.overall.hit5).toBe(1);
    expect(report.overall.mrr10).toBeCloseTo((1 + 0.5 + 1) / 3);
    // "212" glued to "2121" does not count; the wrong file's "212" is no hit.
    expect(report.overall.containment5).toBeCloseTo(1 / 3);
    expect(report.byKind.table).toMatchObject({ answerable: 1, hit1: 0, hit5: 1, mrr10: 0.5, containment5: 0 });
    expect(report.misses.map((m) => [m.id, m.problems])).toEqual([
      ['2', ['first hit at rank 2', 'answer phrase not in a top-5 hit']],
      ['3', ['answer phrase not in a top-5 hit', 'refused an answerable question']],
    ]);
  });

  it('compares answer phrases the way the pdf-qa README says', () => {
    expect(containsPhrase('It’s “zero\u00ADtrust” — done', '"zerotrust" - done')).toBe(true);
    expect(containsPhrase('ABC 2121', '212')).toBe(false);
  });

  it('refuses a bad questions file with the line and the field', () => {
    expect(() => loadQaQuestions(path.join(dir, 'missing.jsonl'))).toThrow(expect.objectContaining({ code: 'dataset_missing' }));
    const ok = JSON.stringify({ id: 'a', question: 'Q?', source: 'x.pdf', pages: [1], kind: 'natural', answer: 'x' });
    expect(() => loadQaQuestions(writeQuestions([ok, '{oops']))).toThrow(/line 2: not valid JSON/);
    expect(() => loadQaQuestions(writeQuestions([ok, JSON.stringify({ id: 'b', question: 'Q?', source: 'x.pdf', pages: [] })]))).toThrow(
      /line 2: pages: an answerable question needs gold pages/,
    );
    expect(() => loadQaQuestions(writeQuestions([ok, ok]))).toThrow(/line 2: duplicate id "a"/);
    expect(() => loadQaQuestions(writeQuestions(['']))).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(loadQaQuestions(writeQuestions([ok]))[0]).toMatchObject({ id: 'a', also_ok_pages: [] });
  });
});

describe('noise share', () => {
  it('counts contents lines, page numbers and lines repeated across a document’s chunks', () => {
    const header = 'ACME REPORT 2026 CONFIDENTIAL';
    const chunks = [
      { documentId: 'd', text: `${header}\n1 Introduction ........ 2\n2 Methods ........ 4\n7` },
      { documentId: 'd', text: `${header}\nA real paragraph that says something useful about the methods used.` },
      { documentId: 'd', text: `${header}\nAnother paragraph with plenty of content to read and cite.` },
      { documentId: 'e', text: 'A different document without furniture.' },
    ];
    expect(measureNoise(chunks)).toEqual({ chunks: 4, mostlyNoise: 1, withNoise: 3, withDotLeaders: 1 });
  });
});
