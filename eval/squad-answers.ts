#!/usr/bin/env -S npx tsx
/**
 * How good is the extractive answer? SQuAD v1.1 dev: its paragraphs become a scratch collection (one
 * Markdown document per paragraph, titled with the article), a fixed-seed sample of questions is
 * answered through AnswerService, and we report
 *   (a) answer quality: how often a gold answer string is contained in the answer (SQuAD-normalised),
 *       and the SQuAD token F1 / exact match of the answer against the gold answers;
 *   (b) citations: how often a cited chunk comes from the gold paragraph;
 *   (c) retrieval hit@1 / hit@k of the gold paragraph, for context;
 * plus the calibration of the "documents do not cover this" gate: the best dense similarity for the
 * same questions asked in-corpus and out-of-corpus (their article filtered out of the search).
 *
 *   npx tsx eval/squad-answers.ts [--articles 48] [--questions 500] [--tune 300] [--seed 7] [--db DIR]
 *
 * The scratch database and an embedding cache live in --db (default: the OS temp folder), so a second
 * run skips ingestion. Weights are tuned on --tune questions disjoint from the reported ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AnswerService } from '../answer/service.ts';
import {
  DEFAULT_EXTRACTIVE_OPTIONS,
  ExtractiveGenerator,
  pickSentences,
  type ExtractiveOptions,
  type SentenceFeatures,
} from '../answer/generators/extractive.ts';
import type { ContextChunk } from '../answer/types.ts';
import { printTable, writeResults } from './results.ts';
import { loadConfig } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { mulberry32, shuffled } from '../core/random.ts';
import { MODELS_DIR, datasetPath } from '../core/shared-data.ts';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import { createEmbedder } from '../models/embedders/index.ts';
import { openPgliteStore } from '../store/pglite.ts';

const { values: args } = parseArgs({
  options: {
    articles: { type: 'string', default: '48' },
    questions: { type: 'string', default: '500' },
    tune: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    topK: { type: 'string', default: '6' },
    db: { type: 'string', default: path.join(os.tmpdir(), 'ragline-squad-answers') },
  },
});
const N_ARTICLES = Number(args.articles);
const N_REPORT = Number(args.questions);
const N_TUNE = Number(args.tune);
const SEED = Number(args.seed);
const TOP_K = Number(args.topK);
const COLLECTION = 'squad-dev';

// ---------- SQuAD data and its official answer normalisation ----------

interface SquadQuestion {
  id: string;
  question: string;
  answers: string[];
  article: string;
  source: string;
}

interface SquadFile {
  data: Array<{
    title: string;
    paragraphs: Array<{ context: string; qas: Array<{ id: string; question: string; answers: Array<{ text: string }> }> }>;
  }>;
}

/** SQuAD's normalize_answer: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}

export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const n = counts.get(t) ?? 0;
    if (n > 0) {
      same++;
      counts.set(t, n - 1);
    }
  }
  if (!same) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

const stripMarkers = (text: string) =>
  text
    .replace(/\[\d+\]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

// ---------- per-question measurement ----------

interface Measured {
  q: SquadQuestion;
  context: ContextChunk[];
  /** Source (paragraph) of each retrieved chunk, by marker. */
  sources: Map<number, string>;
  features: SentenceFeatures[];
  goldRank: number | null;
  inCorpusBestDense: number | null;
  outOfCorpusBestDense: number | null;
  bm25MatchedOutOfCorpus: boolean;
  /** The answer AnswerService returned (default options, gate disabled). */
  answer: string;
  citedSources: string[];
  answerMs: number;
}

function answerMetrics(answer: string, gold: string[]) {
  const plain = stripMarkers(answer);
  const norm = normalizeAnswer(plain);
  return {
    contains: gold.some((g) => normalizeAnswer(g) && norm.includes(normalizeAnswer(g))),
    f1: Math.max(...gold.map((g) => tokenF1(plain, g))),
    em: gold.some((g) => normalizeAnswer(g) === norm),
    words: plain.split(' ').length,
  };
}

function hitAtK(ms: Measured[], k: number): number {
  return ms.filter((m) => m.goldRank !== null && m.goldRank <= k).length / (ms.length || 1);
}

function renderPicked(features: SentenceFeatures[], options: ExtractiveOptions): string {
  return pickSentences(features, options)
    .map((s) => `${s.text} [${s.marker}]`)
    .join(' ');
}

function summarise(label: string, ms: Measured[], options: ExtractiveOptions) {
  let contains = 0;
  let f1 = 0;
  let em = 0;
  let words = 0;
  let containsGivenRetrieved = 0;
  let retrieved = 0;
  let citesGold = 0;
  for (const m of ms) {
    const picked = pickSentences(m.features, options);
    citesGold += +picked.some((s) => m.sources.get(s.marker) === m.q.source);
    const r = answerMetrics(renderPicked(m.features, options), m.q.answers);
    contains += +r.contains;
    f1 += r.f1;
    em += +r.em;
    words += r.words;
    if (m.goldRank !== null) {
      retrieved++;
      containsGivenRetrieved += +r.contains;
    }
  }
  const n = ms.length || 1;
  return {
    variant: label,
    containment: contains / n,
    'containment | gold retrieved': containsGivenRetrieved / (retrieved || 1),
    tokenF1: f1 / n,
    exactMatch: em / n,
    'cites gold paragraph': citesGold / n,
    'mean words': words / n,
  };
}

// ---------- main ----------

async function main() {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as SquadFile;
  const articles = shuffled(squad.data, mulberry32(SEED)).slice(0, N_ARTICLES);
  const questions: SquadQuestion[] = [];
  const docs: Array<{ source: string; markdown: string; article: string; paragraph: number }> = [];
  for (const a of articles) {
    const title = a.title.replace(/_/g, ' ');
    a.paragraphs.forEach((p, i) => {
      const source = `squad/${a.title}/${i}`;
      docs.push({ source, markdown: `# ${title}\n\n${p.context}\n`, article: a.title, paragraph: i });
      for (const qa of p.qas)
        questions.push({ id: qa.id, question: qa.question, answers: qa.answers.map((x) => x.text), article: a.title, source });
    });
  }
  const sample = shuffled(questions, mulberry32(SEED + 1));
  const tuneSet = sample.slice(0, N_TUNE);
  const reportSet = sample.slice(N_TUNE, N_TUNE + N_REPORT);
  console.log(
    `${articles.length} articles, ${docs.length} paragraphs, ${questions.length} questions; tuning on ${tuneSet.length}, reporting on ${reportSet.length} (seed ${SEED})`,
  );

  // The shared offline model unless RAG_MODEL_DIR (or another embedder) is configured.
  const config = loadConfig({ RAG_MODEL_DIR: MODELS_DIR, ...process.env });
  fs.mkdirSync(args.db!, { recursive: true });
  const embedder = new CachingEmbedder(await createEmbedder(config), path.join(args.db!, 'embeddings'), { dtype: config.embedding.dtype });
  const ragline = await Ragline.open(config, { store: await openPgliteStore(path.join(args.db!, 'pglite')), embedder });
  try {
    await ragline.ensureCollection(COLLECTION);
    const ingestStart = performance.now();
    let done = 0;
    let failed = 0;
    const outcomes = await ragline.ingest(
      COLLECTION,
      docs.map((d) => ({
        source: d.source,
        bytes: Buffer.from(d.markdown),
        mime: 'text/markdown',
        metadata: { article: d.article, paragraph: d.paragraph },
      })),
      (_p, outcome) => {
        if (!outcome) return;
        done++;
        if (outcome.status === 'failed') failed++;
        if (done % 200 === 0) console.log(`  ingested ${done}/${docs.length} (${((performance.now() - ingestStart) / 1000).toFixed(0)} s)`);
      },
    );
    const ingestSeconds = (performance.now() - ingestStart) / 1000;
    const skipped = outcomes.filter((o) => o.status === 'skipped').length;
    const chunks = await ragline.store.countChunks((await ragline.collection(COLLECTION)).id);
    console.log(
      `ingest: ${docs.length} documents (${skipped} unchanged, ${failed} failed) → ${chunks} chunks in ${ingestSeconds.toFixed(0)} s`,
    );

    const extractive = new ExtractiveGenerator(() => ragline.embedder());
    // Gate off: every question gets an answer, so the generator is measured on all of them.
    const service = new AnswerService(ragline, { fallback: extractive, minDenseSimilarity: -1 });

    const measure = async (q: SquadQuestion): Promise<Measured> => {
      const t0 = performance.now();
      const response = await service.answer(COLLECTION, { question: q.question, topK: TOP_K, allowAnyTopK: true });
      const answerMs = performance.now() - t0;
      const context: ContextChunk[] = response.chunks.map((c) => ({
        marker: c.marker,
        denseScore: c.denseScore,
        chunk: { id: c.chunkId, text: c.text } as ContextChunk['chunk'],
      }));
      const [qv] = await embedder.embed([q.question], 'query');
      const features = await extractive.features(q.question, context, qv);
      const goldIndex = response.chunks.findIndex((c) => c.source === q.source);
      const outside = await ragline.search(
        COLLECTION,
        { query: q.question, topK: TOP_K, filter: { 'metadata.article': { ne: q.article } } },
        { queryVector: qv },
      );
      const outsideDense = outside.hits.map((h) => h.explanation.denseScore).filter((s): s is number => s !== null);
      return {
        q,
        context,
        sources: new Map(response.chunks.map((c) => [c.marker, c.source])),
        features,
        goldRank: goldIndex < 0 ? null : goldIndex + 1,
        inCorpusBestDense: response.confidence.bestDenseSimilarity,
        outOfCorpusBestDense: outsideDense.length ? Math.max(...outsideDense) : null,
        bm25MatchedOutOfCorpus: outside.hits.some((h) => h.explanation.bm25Rank !== null),
        answer: response.answer,
        citedSources: response.citations.map((c) => c.source),
        answerMs,
      };
    };

    const run = async (set: SquadQuestion[], label: string) => {
      const out: Measured[] = [];
      const start = performance.now();
      for (const q of set) {
        out.push(await measure(q));
        if (out.length % 100 === 0)
          console.log(`  ${label}: ${out.length}/${set.length} (${((performance.now() - start) / 1000).toFixed(0)} s)`);
      }
      return out;
    };

    // ----- tune weights and the sentence count on the tuning questions -----
    const tuned = await run(tuneSet, 'tune');
    const grid: ExtractiveOptions[] = [];
    for (const dense of [0.3, 0.5, 0.7])
      for (const lexical of [0.2, 0.35, 0.5])
        for (const previous of [0, 0.1, 0.2])
          for (const answerType of [0, 0.05, 0.1, 0.2])
            for (const rank of [0, 0.05, 0.1, 0.2])
              grid.push({ ...DEFAULT_EXTRACTIVE_OPTIONS, maxSentences: 1, weights: { dense, lexical, previous, answerType, rank } });
    const best1 = grid
      .map((o) => ({ o, s: summarise('', tuned, o) }))
      .sort((a, b) => b.s.containment - a.s.containment || b.s.tokenF1 - a.s.tokenF1)[0]!;
    const ratios = [0.8, 0.85, 0.9, 0.95];
    const bestRatio = ratios
      .map((r) => ({ r, s: summarise('', tuned, { ...best1.o, maxSentences: 2, secondSentenceRatio: r }) }))
      .sort((a, b) => b.s.containment - a.s.containment)[0]!;
    console.log(`tuned weights (1 sentence): ${JSON.stringify(best1.o.weights)}; best second-sentence ratio: ${bestRatio.r}`);

    // ----- report on the held-out questions -----
    const measured = await run(reportSet, 'report');
    const n = measured.length;
    const variants: Array<[string, ExtractiveOptions]> = [
      ['shipped default (≤2 sentences)', DEFAULT_EXTRACTIVE_OPTIONS],
      ['tuned, 1 sentence', { ...best1.o, maxSentences: 1 }],
      [`tuned, ≤2 sentences (ratio ${bestRatio.r})`, { ...best1.o, maxSentences: 2, secondSentenceRatio: bestRatio.r }],
      ['tuned, always 2 sentences', { ...best1.o, maxSentences: 2, secondSentenceRatio: 0 }],
      ['tuned, always 3 sentences', { ...best1.o, maxSentences: 3, secondSentenceRatio: 0 }],
      [
        'dense only, 1 sentence',
        { ...DEFAULT_EXTRACTIVE_OPTIONS, maxSentences: 1, weights: { dense: 1, lexical: 0, previous: 0, answerType: 0, rank: 0 } },
      ],
      [
        'lexical only, 1 sentence',
        { ...DEFAULT_EXTRACTIVE_OPTIONS, maxSentences: 1, weights: { dense: 0, lexical: 1, previous: 0, answerType: 0, rank: 0 } },
      ],
    ];
    const answerRows = variants.map(([label, o]) => summarise(label, measured, o));
    // The whole context, for scale: an upper bound on containment for any extractive method with this retrieval.
    const allText = measured.map((m) => answerMetrics(m.context.map((c) => c.chunk.text).join(' '), m.q.answers));
    answerRows.push({
      variant: `(bound) all ${TOP_K} chunks`,
      containment: allText.filter((r) => r.contains).length / n,
      'containment | gold retrieved': NaN,
      tokenF1: allText.reduce((s, r) => s + r.f1, 0) / n,
      exactMatch: 0,
      'cites gold paragraph': hitAtK(measured, TOP_K),
      'mean words': allText.reduce((s, r) => s + r.words, 0) / n,
    });
    printTable(`(a) answer quality, extractive, ${n} held-out questions`, answerRows);

    const served = measured.map((m) => answerMetrics(m.answer, m.q.answers));
    const citationRows = [
      {
        metric: 'a cited chunk is from the gold paragraph',
        value: measured.filter((m) => m.citedSources.includes(m.q.source)).length / n,
      },
      { metric: 'first citation is from the gold paragraph', value: measured.filter((m) => m.citedSources[0] === m.q.source).length / n },
      { metric: 'served answer contains a gold answer', value: served.filter((r) => r.contains).length / n },
      { metric: 'served answer token F1', value: served.reduce((s, r) => s + r.f1, 0) / n },
      { metric: 'mean answer latency ms (retrieval + extractive)', value: measured.reduce((s, m) => s + m.answerMs, 0) / n },
    ];
    printTable('(b) citations of the served answer (shipped defaults)', citationRows);

    const hitAt = (k: number) => hitAtK(measured, k);
    const retrievalRows = [1, 3, 5, TOP_K].filter((k, i, a) => a.indexOf(k) === i).map((k) => ({ metric: `hit@${k}`, value: hitAt(k) }));
    retrievalRows.push({ metric: `MRR@${TOP_K}`, value: measured.reduce((s, m) => s + (m.goldRank ? 1 / m.goldRank : 0), 0) / n });
    printTable('(c) retrieval of the gold paragraph (hybrid, default settings)', retrievalRows);

    // ----- the confidence gate -----
    const all = [...tuned, ...measured];
    const gateRows = [0.1, 0.15, 0.2, 0.25, 0.275, 0.3, 0.325, 0.35, 0.4, 0.45, 0.5].map((t) => {
      const answered = all.filter((m) => (m.inCorpusBestDense ?? -1) >= t).length / all.length;
      const refused = all.filter((m) => (m.outOfCorpusBestDense ?? -1) < t).length / all.length;
      const keptCorrect =
        measured.filter((m) => (m.inCorpusBestDense ?? -1) >= t && answerMetrics(m.answer, m.q.answers).contains).length / n;
      return {
        minDenseSimilarity: t,
        'in-corpus answered': answered,
        'out-of-corpus refused': refused,
        'balanced accuracy': (answered + refused) / 2,
        'answered & contains gold': keptCorrect,
      };
    });
    const bm25Refused = all.filter((m) => !m.bm25MatchedOutOfCorpus).length / all.length;
    printTable(
      `confidence gate: ${all.length} questions asked in-corpus and with their article filtered out (BM25 matched nothing for ${(bm25Refused * 100).toFixed(1)} % of out-of-corpus questions)`,
      gateRows,
    );

    writeResults('squad-answers', {
      settings: {
        articles: articles.length,
        paragraphs: docs.length,
        chunks,
        tuneQuestions: tuneSet.length,
        reportQuestions: n,
        seed: SEED,
        topK: TOP_K,
        model: embedder.modelId,
      },
      ingestSeconds,
      tuned: { weights: best1.o.weights, secondSentenceRatio: bestRatio.r },
      answerQuality: answerRows,
      citations: citationRows,
      retrieval: retrievalRows,
      gate: { rows: gateRows, bm25NoMatchOutOfCorpus: bm25Refused },
    });
  } finally {
    await ragline.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
