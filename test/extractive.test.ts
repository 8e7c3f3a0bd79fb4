import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerService } from '../answer/service.ts';
import { ExtractiveGenerator, NOT_COVERED, answerTypeOf, hasAnswerCandidate } from '../answer/generators/extractive.ts';
import type { ContextChunk } from '../answer/types.ts';
import { loadConfig } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { TEST_MODEL_DIR, describeShared } from './helpers/shared.ts';

/** The sample questions of fixtures/README.md, with the file that answers each and a phrase the answer needs. */
const FIXTURE_QUESTIONS: Array<[question: string, source: string, mustContain: RegExp]> = [
  [
    'What constant k does Reciprocal Rank Fusion usually use, and what does a chunk ranked first by both retrievers score?',
    'fixtures/retrieval-tuning.html',
    /k = 60|0\.033|2 \/ 61/,
  ],
  ['Which HNSW setting can I raise without rebuilding the index when recall is too low?', 'fixtures/retrieval-tuning.html', /ef_search/],
  ['How big are chunks by default, and why are tokens counted with the model’s tokenizer?', 'fixtures/getting-started.md', /256/],
  ['Why was my scanned PDF rejected?', 'fixtures/faq.txt', /text layer|OCR/],
  [
    'How do I back up Ragline when it uses the embedded database?',
    'fixtures/operations-handbook.pdf',
    /copy the whole directory|data directory/,
  ],
  [
    'What happens if I ingest into a collection with a different embedding model?',
    'fixtures/operations-handbook.pdf',
    /model_mismatch|refused/,
  ],
  ['Does search still work when the language model provider is down?', 'fixtures/operations-handbook.pdf', /retrieval|local|search/i],
];

// Two SQuAD v1.1 dev paragraphs (CC BY-SA 4.0), shortened.
const SUPER_BOWL =
  'Super Bowl 50 was an American football game to determine the champion of the National Football League (NFL) for the 2015 season. ' +
  'The American Football Conference (AFC) champion Denver Broncos defeated the National Football Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title. ' +
  "The game was played on February 7, 2016, at Levi's Stadium in the San Francisco Bay Area at Santa Clara, California.";
const WARSAW =
  'Warsaw is the capital and largest city of Poland. It stands on the Vistula River in east-central Poland, roughly 260 kilometres from the Baltic Sea. ' +
  'Its population is officially estimated at 1.740 million residents within a greater metropolitan area of 2.666 million residents, which makes Warsaw the 9th most-populous capital city in the European Union.';

const squadContext: ContextChunk[] = [
  { marker: 1, chunk: chunkRecord('warsaw', WARSAW), denseScore: null },
  { marker: 2, chunk: chunkRecord('super-bowl', SUPER_BOWL), denseScore: null },
];

describe('answer-type cues', () => {
  it.each([
    ['When was the game played?', 'date'],
    ['In what year did the war end?', 'date'],
    ['How many residents does Warsaw have?', 'number'],
    ['What percentage of voters agreed?', 'number'],
    ['Who defeated the Panthers?', 'person'],
    ['Where was the game played?', 'place'],
    ['Why is the sky blue?', null],
  ])('%s → %s', (question, type) => {
    expect(answerTypeOf(question)).toBe(type);
  });

  it('counts a candidate only when it is not already in the question', () => {
    expect(hasAnswerCandidate('The game was played on February 7, 2016.', 'date', 'When was the game played?')).toBe(true);
    expect(hasAnswerCandidate('Super Bowl 50 decided the 2015 season.', 'date', 'Which team won in 2015?')).toBe(false);
    expect(hasAnswerCandidate('Its population is 1.740 million.', 'number', 'How many people live in Warsaw?')).toBe(true);
  });
});

describeShared('extractive answers', () => {
  it('picks the sentence that answers the question and cites its chunk (SQuAD paragraphs)', async () => {
    const generator = new ExtractiveGenerator(testEmbedder);
    const when = await generator.generate({ question: 'When was Super Bowl 50 played?', context: squadContext });
    expect(when.model).toBe('extractive');
    expect(when.text).toContain('[2]');
    expect(when.text).not.toContain('[1]');

    const many = await generator.generate({ question: 'How many residents live in the Warsaw metropolitan area?', context: squadContext });
    expect(many.text).toContain('2.666 million');
    expect(many.text).toMatch(/\[1\]/);
  });

  it('still answers, from word overlap alone, when the embedder is unavailable', async () => {
    const generator = new ExtractiveGenerator(() => Promise.reject(new Error('embedding provider down')));
    const result = await generator.generate({ question: 'Which team did the Denver Broncos defeat?', context: squadContext });
    expect(result.text).toMatch(/Denver Broncos defeated .* Carolina Panthers/);
    expect(result.text).toContain('[2]');
  });

  it('says the documents do not cover the question when there is nothing to quote', async () => {
    const generator = new ExtractiveGenerator(testEmbedder);
    const result = await generator.generate({
      question: 'Anything?',
      context: [{ marker: 1, chunk: chunkRecord('h', 'Contents'), denseScore: null }],
    });
    expect(result.text).toBe(NOT_COVERED);
  });

  it('streams the same answer it generates', async () => {
    const generator = new ExtractiveGenerator(testEmbedder);
    const input = { question: 'When was Super Bowl 50 played?', context: squadContext };
    let streamed = '';
    for await (const e of generator.stream(input)) if ('delta' in e) streamed += e.delta;
    expect(streamed).toBe((await generator.generate(input)).text);
  });

  describe('over the fixtures (ingested, retrieved with hybrid search)', () => {
    let ragline: Ragline;
    let service: AnswerService;

    beforeAll(async () => {
      ragline = await Ragline.open(loadConfig({ RAG_MODEL_DIR: TEST_MODEL_DIR }), {
        store: await openPgliteStore(),
        embedder: await testEmbedder(),
      });
      await ragline.createCollection('guide');
      for (const f of ['faq.txt', 'getting-started.md', 'operations-handbook.pdf', 'retrieval-tuning.html']) {
        const [outcome] = await ragline.ingest('guide', [
          { source: `fixtures/${f}`, bytes: fs.readFileSync(new URL(`../fixtures/${f}`, import.meta.url)) },
        ]);
        expect(outcome!.status).toBe('ingested');
      }
      service = new AnswerService(ragline, { fallback: new ExtractiveGenerator(() => ragline.embedder()) });
    });

    afterAll(() => ragline?.close());

    it.each(FIXTURE_QUESTIONS)('%s', async (question, source, mustContain) => {
      const response = await service.answer('guide', { question });
      expect(response.kind).toBe('extractive');
      expect(response.grounded).toBe(true);
      expect(response.answer).toMatch(mustContain);
      expect(response.citations[0]!.source).toBe(source);
      for (const c of response.citations) {
        expect(response.chunks.find((k) => k.chunkId === c.chunkId)!.text).toContain(c.quote);
      }
    });
  });
});
