import { describe, expect, it } from 'vitest';
import { answerability, isQuestion } from '../answer/answerability.ts';
import { ExtractiveGenerator, NOT_COVERED } from '../answer/generators/extractive.ts';
import type { ContextChunk } from '../answer/types.ts';
import type { Embedder } from '../models/types.ts';
import { chunkRecord } from '../testkit/chunk-record.ts';

const WARN =
  'Notice Date | Effective | Company | City | No. Of Employees\n03/28/2016 | 02/02/2016 | Blue Shield of California | Lodi | 99\n' +
  '11/02/2015 | 12/31/2015 | Rdio, Inc. | San Francisco | 123';
const AD =
  'We estimate that this proposed AD affects 72 airplanes of U.S. registry. Estimated costs: up to $10,505 per airplane for the ' +
  'stabilizer wiring change on Boeing 737 MAX 8 and 737 MAX 9 airplanes.';

describe('answerability of a question by quoted text', () => {
  it('refuses an on-topic question whose month the text does not have', () => {
    expect(answerability('How many WARN layoff notices were received in California in April 2016?', [{ text: WARN }])).toEqual({
      answerable: false,
      missing: ['april'],
    });
    expect(answerability('How many employees were affected by the Rdio, Inc. closure in San Francisco?', [{ text: WARN }]).answerable).toBe(
      true,
    );
  });

  it('refuses when the asked-for quantity is not there, in any form', () => {
    expect(answerability('What is the list price of a new Boeing 737 MAX 8?', [{ text: AD }])).toEqual({
      answerable: false,
      missing: ['price'],
    });
    expect(answerability('What is the estimated cost per airplane of the stabilizer wiring change?', [{ text: AD }]).answerable).toBe(true);
    expect(
      answerability('What is the list price of a new Boeing 737 MAX 8?', [{ text: `${AD} Prices are not published.` }]).answerable,
    ).toBe(true);
  });

  it('looks at the title, source name and heading path too', () => {
    const evidence = [{ text: 'Identify, Protect, Detect, Respond, and Recover.', headingPath: ['Framework budget'] }];
    expect(answerability('What was the total budget of the framework?', evidence).answerable).toBe(true);
    expect(answerability('What was the total budget of the framework?', [{ text: 'Identify and Protect.' }]).answerable).toBe(false);
  });

  it('leaves paraphrases, abstract heads and keyword queries alone', () => {
    const dpr = [{ text: 'We split Wikipedia into 21,015,324 passages of 100 words each.' }];
    expect(answerability('How many pieces did the encyclopedia get chopped into, and how big was each piece?', dpr).answerable).toBe(true);
    expect(answerability('What is the translation of Oude Maas?', [{ text: 'The Oude Maas (Old Meuse) flows west.' }]).answerable).toBe(
      true,
    );
    expect(isQuestion('SSDF PO.1')).toBe(false);
    expect(answerability('CSF price April', [{ text: 'RS.CO-2' }]).answerable).toBe(true);
    // "may" is a month only when capitalised as one.
    expect(answerability('Which rules may apply?', [{ text: 'Rules apply.' }]).answerable).toBe(true);
  });
});

describe('the extractive answer with the check', () => {
  // No embedder: the generator falls back to lexical scores, which is all this needs.
  const noEmbedder = () => Promise.reject(new Error('no model in this test')) as Promise<Embedder>;
  const context: ContextChunk[] = [{ marker: 1, chunk: chunkRecord('ad', AD), denseScore: null }];

  it('answers "not covered" when the quoted chunk lacks what is asked, and quotes otherwise', async () => {
    const checked = new ExtractiveGenerator(noEmbedder);
    expect((await checked.generate({ question: 'What is the list price of a new Boeing 737 MAX 8?', context })).text).toBe(NOT_COVERED);
    expect((await checked.generate({ question: 'What is the estimated cost per airplane?', context })).text).toContain('$10,505');
    expect(checked.promptVersion).toBe('extractive-v1+answerability');
  });

  it('quotes as before with the check off', async () => {
    const unchecked = new ExtractiveGenerator(noEmbedder, { checkAnswerability: false });
    expect((await unchecked.generate({ question: 'What is the list price of a new Boeing 737 MAX 8?', context })).text).toContain('[1]');
    expect(unchecked.promptVersion).toBe('extractive-v1');
  });
});
