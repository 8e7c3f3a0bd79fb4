import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBeir, readQrels } from '../eval/beir.ts';
import { evaluateRun, ndcgAt, queryMetrics, recallAt, reciprocalRankAt, type Qrels } from '../eval/metrics.ts';

const judged = (entries: Record<string, number>) => new Map(Object.entries(entries));
const log2 = Math.log2;

describe('metrics (hand-computed, trec_eval semantics)', () => {
  it('scores one relevant document at rank 2', () => {
    const m = queryMetrics(['a', 'b', 'c'], judged({ b: 1 }));
    expect(m.ndcg10).toBeCloseTo(1 / log2(3), 10); // 0.6309
    expect(m.recall10).toBe(1);
    expect(m.recall100).toBe(1);
    expect(m.mrr10).toBe(0.5);
  });

  it('uses grades as linear gains and the ideal order of all judged documents', () => {
    // DCG = 1/log2(2) + 2/log2(4) = 2; IDCG = 2/1 + 1/log2(3) + 1/log2(4) = 3.1309
    const j = judged({ a: 2, b: 1, x: 1 });
    expect(ndcgAt(['b', 'c', 'a'], j, 10)).toBeCloseTo(2 / (2 + 1 / log2(3) + 0.5), 10);
    expect(recallAt(['b', 'c', 'a'], j, 10)).toBeCloseTo(2 / 3, 10);
    expect(reciprocalRankAt(['b', 'c', 'a'], j, 10)).toBe(1);
  });

  it('cuts at k: a relevant document at rank 11 counts for recall@100 only', () => {
    const ranked = Array.from({ length: 10 }, (_, i) => `n${i}`).concat('hit');
    const m = queryMetrics(ranked, judged({ hit: 1, other: 1 }));
    expect(m).toEqual({ ndcg10: 0, recall10: 0, recall100: 0.5, mrr10: 0 });
  });

  it('treats grade 0 as not relevant', () => {
    const m = queryMetrics(['z', 'r'], judged({ z: 0, r: 1 }));
    expect(m.mrr10).toBe(0.5);
    expect(m.ndcg10).toBeCloseTo(1 / log2(3), 10);
  });

  it('drops the query id itself and duplicate ids before ranking', () => {
    const m = queryMetrics(['q1', 'd0', 'd0', 'd1'], judged({ d1: 1 }), 'q1');
    // after cleaning: d0, d1 → the relevant document is at rank 2
    expect(m.mrr10).toBe(0.5);
    expect(m.ndcg10).toBeCloseTo(1 / log2(3), 10);
  });

  it('averages per query over judged queries; a missing run scores 0; unjudged queries are not scored', () => {
    const qrels: Qrels = new Map([
      ['q1', judged({ d1: 1 })],
      ['q2', judged({ d2: 1 })],
      ['q3', judged({ d3: 0 })], // no relevant document: not scored
    ]);
    const run = new Map([
      ['q1', ['d1']],
      ['q9', ['d9']], // not in the qrels: ignored
    ]);
    const { mean, queries, perQuery } = evaluateRun(run, qrels);
    expect(queries).toBe(2);
    expect(perQuery.get('q2')!.ndcg10).toBe(0);
    expect(mean).toEqual({ ndcg10: 0.5, recall10: 0.5, recall100: 0.5, mrr10: 0.5 });
  });
});

describe('BEIR reader', () => {
  function fixture(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-beir-'));
    const docs = Array.from({ length: 40 }, (_, i) => ({ _id: `d${i}`, title: `T${i}`, text: `text ${i}`, metadata: {} }));
    fs.writeFileSync(path.join(dir, 'corpus.jsonl'), `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const queries = Array.from({ length: 10 }, (_, i) => ({ _id: `q${i}`, text: `query ${i}`, metadata: {} }));
    fs.writeFileSync(path.join(dir, 'queries.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n'));
    fs.mkdirSync(path.join(dir, 'qrels'));
    const rows = ['query-id\tcorpus-id\tscore', ...queries.map((_, i) => `q${i}\td${i * 3}\t1`), 'q0\td1\t2'];
    fs.writeFileSync(path.join(dir, 'qrels', 'test.tsv'), `${rows.join('\r\n')}\r\n`);
    return dir;
  }

  it('reads CRLF qrels with a header row and graded scores', () => {
    const dir = fixture();
    const qrels = readQrels(path.join(dir, 'qrels', 'test.tsv'));
    expect(qrels.size).toBe(10);
    expect([...qrels.get('q0')!]).toEqual([
      ['d0', 1],
      ['d1', 2],
    ]);
    expect(qrels.has('query-id')).toBe(false);
  });

  it('slices consistently: every judged document of a kept query is kept, the same for the same seed', () => {
    const dir = fixture();
    const a = loadBeir(dir, { splits: ['test'], limit: 12 });
    const b = loadBeir(dir, { splits: ['test'], limit: 12 });
    const c = loadBeir(dir, { splits: ['test'], limit: 12, seed: 7 });
    expect(a.corpus).toHaveLength(12);
    expect(a.corpus.map((d) => d.id)).toEqual(b.corpus.map((d) => d.id));
    expect(c.corpus.map((d) => d.id)).not.toEqual(a.corpus.map((d) => d.id));
    const kept = new Set(a.corpus.map((d) => d.id));
    const qrels = a.qrels.get('test')!;
    expect(qrels.size).toBeGreaterThan(0);
    for (const judgements of qrels.values()) for (const id of judgements.keys()) expect(kept.has(id)).toBe(true);
  });

  it('names the missing file', () => {
    expect(() => loadBeir('/nonexistent/beir', { splits: ['test'] })).toThrow(/dataset folder not found: \/nonexistent\/beir/);
  });
});
