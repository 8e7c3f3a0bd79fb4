/**
 * BM25 quality probe on BEIR SciFact, no embeddings needed: indexes corpus.jsonl (one doc = one
 * chunk), scores nDCG@10 on the train split for a grid of settings, then reports the chosen
 * settings (and the published references) on the test split. Also times long pasted-paragraph
 * queries with and without the query-term cap.
 *
 *   npx tsx eval/probe/bm25-scifact.ts           # defaults, train + test, long-query timing
 *   npx tsx eval/probe/bm25-scifact.ts --grid    # also the tuning grid on train
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { printTable } from '../results.ts';
import { datasetPath } from '../../core/shared-data.ts';
import MiniSearch from 'minisearch';
import { Bm25Index, DEFAULT_BM25_OPTIONS, type Bm25Options } from '../../retrieval/bm25.ts';
import type { ChunkRecord } from '../../store/types.ts';
import { EXTENDED_STOP_WORDS, LUCENE_STOP_WORDS, createTokenizer } from '../../retrieval/tokenize.ts';
import { loadCorpus, loadQrels, loadQueries, meanNdcg, recallAtK, type Qrels, type SciFactDoc } from './scifact.ts';

/** A SciFact abstract as a chunk record: `flat` puts the title into the text field too. */
export function sciFactChunk(doc: SciFactDoc, layout: 'multifield' | 'flat' = 'multifield'): ChunkRecord {
  return {
    id: doc.id,
    collectionId: 'scifact',
    documentId: doc.id,
    ordinal: 0,
    text: layout === 'flat' ? `${doc.title} ${doc.text}` : doc.text,
    tokenCount: 0,
    pageStart: null,
    pageEnd: null,
    headingPath: [],
    charStart: 0,
    charEnd: 0,
    kind: 'text',
    metadata: {},
    source: doc.id,
    title: layout === 'flat' ? '' : doc.title,
    mime: 'text/plain',
    documentMetadata: {},
    createdAt: '2020-01-01T00:00:00.000Z',
    updatedAt: '2020-01-01T00:00:00.000Z',
    documentVersion: 1,
  };
}

export function buildSciFactIndex(
  corpus: SciFactDoc[],
  options: Partial<Bm25Options> = {},
  layout: 'multifield' | 'flat' = 'multifield',
): Bm25Index {
  const index = new Bm25Index(options);
  index.add(corpus.map((d) => sciFactChunk(d, layout)));
  return index;
}

/** SQuAD v1.1 dev: paragraphs as documents (article title as title), first two questions per paragraph. */
function loadSquadQuestions() {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as {
    data: { title: string; paragraphs: { context: string; qas: { id: string; question: string }[] }[] }[];
  };
  const paragraphs: SciFactDoc[] = [];
  const questions = new Map<string, string>();
  const qrels: Qrels = new Map();
  squad.data.forEach((article, a) =>
    article.paragraphs.forEach((p, i) => {
      const id = `${a}-${i}`;
      paragraphs.push({ id, title: article.title.replace(/_/g, ' '), text: p.context });
      for (const qa of p.qas.slice(0, 2)) {
        questions.set(qa.id, qa.question);
        qrels.set(qa.id, new Set([id]));
      }
    }),
  );
  return { paragraphs, questions, qrels };
}

function evaluate(index: Bm25Index, queries: Map<string, string>, qrels: Qrels) {
  const runs = new Map<string, string[]>();
  let recall = 0;
  for (const queryId of qrels.keys()) {
    const ids = index.search(queries.get(queryId)!, { limit: 101 }).map((h) => h.id);
    runs.set(queryId, ids);
    recall += recallAtK(queryId, ids, qrels.get(queryId)!, 100);
  }
  return { ndcg10: meanNdcg(runs, qrels), recall100: recall / qrels.size };
}

async function main() {
  const grid = process.argv.includes('--grid');
  const corpus = loadCorpus();
  const queries = new Map(loadQueries().map((q) => [q.id, q.text]));
  const train = loadQrels('train');
  const test = loadQrels('test');

  if (grid) {
    const squad = loadSquadQuestions();
    const rows: Record<string, string | number>[] = [];
    for (const stop of ['lucene', 'extended'] as const) {
      const tokenizer = createTokenizer({ stopWords: stop === 'lucene' ? LUCENE_STOP_WORDS : EXTENDED_STOP_WORDS });
      for (const layout of ['multifield', 'flat'] as const) {
        const index = buildSciFactIndex(corpus, { tokenizer }, layout);
        const squadIndex = buildSciFactIndex(squad.paragraphs, { tokenizer }, layout);
        for (const coordination of layout === 'flat' ? [false, true] : [false]) {
          for (const k1 of [0.9, 1.2, 1.5]) {
            for (const b of [0.4, 0.6, 0.75]) {
              for (const titleBoost of layout === 'flat' ? [1] : [0.25, 0.5, 1]) {
                for (const delta of coordination ? [0] : [0, 0.5]) {
                  const settings = { k1, b, titleBoost, delta, coordination };
                  Object.assign(index.options, settings);
                  Object.assign(squadIndex.options, settings);
                  rows.push({
                    stop,
                    layout,
                    coordination: String(coordination),
                    k1,
                    b,
                    titleBoost,
                    delta,
                    trainNdcg10: evaluate(index, queries, train).ndcg10,
                    squadNdcg10: evaluate(squadIndex, squad.questions, squad.qrels).ndcg10,
                  });
                }
              }
            }
          }
        }
      }
    }
    rows.sort((x, y) => Number(y.trainNdcg10) - Number(x.trainNdcg10));
    printTable(
      `BM25 grid: SciFact train (809 queries) and SQuAD dev questions; ${rows.length} settings, best on SciFact train first (top 20)`,
      rows.slice(0, 20),
    );
    const bestOf = (pred: (r: Record<string, string | number>) => boolean) => rows.find(pred)!;
    printTable('Best per variant (by SciFact train)', [
      { variant: 'multifield (title field + text)', ...bestOf((r) => r.layout === 'multifield') },
      { variant: 'multifield, title boost 1', ...bestOf((r) => r.layout === 'multifield' && r.titleBoost === 1) },
      { variant: 'flat (title inside the text field)', ...bestOf((r) => r.layout === 'flat' && r.coordination === 'false') },
      { variant: "minisearch's coordination factor kept", ...bestOf((r) => r.coordination === 'true') },
      { variant: 'Lucene stop list', ...bestOf((r) => r.stop === 'lucene') },
      { variant: 'extended stop list', ...bestOf((r) => r.stop === 'extended') },
      { variant: 'Lucene k1=0.9 b=0.4, multifield', ...bestOf((r) => r.layout === 'multifield' && r.k1 === 0.9 && r.b === 0.4) },
    ]);
  }

  // The shipped defaults against minisearch used as it comes (its own search(), no stemming).
  const plain = new MiniSearch<{ id: string; title: string; text: string }>({ fields: ['title', 'text'] });
  plain.addAll(corpus);
  const plainRun = (qrels: Qrels) => {
    const runs = new Map<string, string[]>();
    let recall = 0;
    for (const queryId of qrels.keys()) {
      const ids = plain
        .search(queries.get(queryId)!)
        .slice(0, 101)
        .map((r) => String(r.id));
      runs.set(queryId, ids);
      recall += recallAtK(queryId, ids, qrels.get(queryId)!, 100);
    }
    return { ndcg10: meanNdcg(runs, qrels), recall100: recall / qrels.size };
  };
  const chosen = buildSciFactIndex(corpus);
  const rows: Record<string, string | number>[] = [];
  {
    const tr = plainRun(train);
    const te = plainRun(test);
    rows.push({
      system: 'minisearch as it comes (defaults, no stemming)',
      trainNdcg10: tr.ndcg10,
      testNdcg10: te.ndcg10,
      testRecall100: te.recall100,
    });
  }
  {
    const tr = evaluate(chosen, queries, train);
    const te = evaluate(chosen, queries, test);
    const settings = JSON.stringify({ ...DEFAULT_BM25_OPTIONS, tokenizer: undefined });
    rows.push({ system: `Ragline default ${settings}`, trainNdcg10: tr.ndcg10, testNdcg10: te.ndcg10, testRecall100: te.recall100 });
  }
  rows.push({ system: 'Anserini BM25 multifield (published)', trainNdcg10: '', testNdcg10: 0.6647, testRecall100: 0.9076 });
  rows.push({ system: 'Anserini BM25 flat (published)', trainNdcg10: '', testNdcg10: 0.6789, testRecall100: 0.9253 });
  printTable('BM25 on SciFact (nDCG@10, Recall@100)', rows);

  // Long pasted paragraphs: the first 150 words of abstracts, as queries over an index of ~9k chunks
  // (the corpus plus its abstracts' second halves as extra chunks).
  const big = buildSciFactIndex(corpus);
  big.add(
    corpus.slice(0, 4000).map((d) => {
      const words = d.text.split(' ');
      return { ...sciFactChunk(d), id: `${d.id}#2`, documentId: `${d.id}#2`, text: words.slice(words.length / 2).join(' ') };
    }),
  );
  const paragraphs = corpus
    .filter((d) => d.text.split(' ').length >= 150)
    .slice(0, 50)
    .map((d) => d.text.split(' ').slice(0, 150).join(' '));
  // Quality of capped paragraph queries: PubMedQA abstract bodies (first 150 words) → their conclusion.
  const pqal = JSON.parse(fs.readFileSync(datasetPath('pubmedqa-pqal', 'ori_pqal.json'), 'utf8')) as Record<
    string,
    { CONTEXTS: string[]; LONG_ANSWER: string }
  >;
  const conclusions = buildSciFactIndex(Object.entries(pqal).map(([id, e]) => ({ id, title: '', text: e.LONG_ANSWER })));
  const pasted = new Map(Object.entries(pqal).map(([id, e]) => [`q${id}`, e.CONTEXTS.join(' ').split(/\s+/).slice(0, 150).join(' ')]));
  const pastedQrels: Qrels = new Map(Object.keys(pqal).map((id) => [`q${id}`, new Set([id])]));

  const timing: Record<string, string | number>[] = [];
  for (const cap of [Infinity, 64, 32, 16]) {
    big.options.maxQueryTerms = cap;
    const samples: number[] = [];
    for (const q of paragraphs) {
      const t0 = performance.now();
      big.search(q, { limit: 100 });
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    chosen.options.maxQueryTerms = cap;
    conclusions.options.maxQueryTerms = cap;
    timing.push({
      maxQueryTerms: String(cap),
      chunks: big.size,
      queries: samples.length,
      p50ms: samples[Math.floor(samples.length / 2)]!,
      maxMs: samples[samples.length - 1]!,
      sciFactTestNdcg10: evaluate(chosen, queries, test).ndcg10,
      pastedParagraphNdcg10: evaluate(conclusions, pasted, pastedQrels).ndcg10,
    });
  }
  printTable('Query-term cap: 150-word paragraph query latency (BM25 search only, this machine, unloaded or not) and quality', timing);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
