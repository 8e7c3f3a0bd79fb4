#!/usr/bin/env -S npx tsx
/**
 * Calibration of the extractive answerability check (answer/answerability.ts) on SQuAD v1.1 dev.
 * Every sampled question is checked twice: against its own paragraph (answerable: refusing it is a
 * false refusal) and against another paragraph of the same article that holds none of its gold
 * answers (on topic but not answering: refusing it is right). Reports refusal precision and recall.
 *
 *   npx tsx eval/answerability-squad.ts [--questions 3000] [--seed 7]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { answerability } from '../answer/answerability.ts';
import { mulberry32, shuffled } from '../core/random.ts';
import { datasetPath } from '../core/shared-data.ts';
import { printTable, writeResults } from './results.ts';

interface SquadFile {
  data: Array<{
    title: string;
    paragraphs: Array<{ context: string; qas: Array<{ id: string; question: string; answers: Array<{ text: string }> }> }>;
  }>;
}

const { values: args } = parseArgs({ options: { questions: { type: 'string', default: '3000' }, seed: { type: 'string', default: '7' } } });

export function runAnswerabilityCalibration(questions: number, seed: number) {
  const squad = JSON.parse(fs.readFileSync(datasetPath('squad-v1.1-dev', 'dev-v1.1.json'), 'utf8')) as SquadFile;
  const random = mulberry32(seed);
  const items = squad.data.flatMap((article) =>
    article.paragraphs.flatMap((paragraph, p) => paragraph.qas.map((qa) => ({ article, p, qa }))),
  );
  const sample = shuffled(items, random).slice(0, questions);
  let falseRefusals = 0;
  let rightRefusals = 0;
  let negatives = 0;
  const examples: Array<{ question: string; missing: string[]; own: boolean }> = [];
  for (const { article, p, qa } of sample) {
    const title = article.title.replace(/_/g, ' ');
    const own = answerability(qa.question, [{ text: article.paragraphs[p]!.context, title }]);
    if (!own.answerable) {
      falseRefusals++;
      if (examples.length < 40) examples.push({ question: qa.question, missing: own.missing, own: true });
    }
    const others = article.paragraphs.filter((other, i) => i !== p && !qa.answers.some((a) => other.context.includes(a.text)));
    const other = others[Math.floor(random() * others.length)];
    if (!other) continue;
    negatives++;
    if (!answerability(qa.question, [{ text: other.context, title }]).answerable) rightRefusals++;
  }
  const refused = falseRefusals + rightRefusals;
  const report = {
    questions: sample.length,
    unanswerablePairs: negatives,
    refusalRecall: rightRefusals / negatives,
    refusalPrecision: refused ? rightRefusals / refused : 1,
    falseRefusalRate: falseRefusals / sample.length,
  };
  printTable('answerability on SQuAD v1.1 dev (answer/answerability.ts)', [
    {
      pairs: 'question + its own paragraph (answerable)',
      refused: falseRefusals,
      share: `${((100 * falseRefusals) / sample.length).toFixed(2)} %`,
    },
    {
      pairs: 'question + another paragraph of its article (not answering)',
      refused: rightRefusals,
      share: `${((100 * rightRefusals) / negatives).toFixed(2)} %`,
    },
  ]);
  console.log(`refusal precision ${report.refusalPrecision.toFixed(3)}, recall ${report.refusalRecall.toFixed(3)}`);
  for (const e of examples.slice(0, 15)) console.log(`  false refusal: ${e.question}  (missing: ${e.missing.join(', ')})`);
  writeResults('answerability-squad', { report, seed, examples });
  return report;
}

runAnswerabilityCalibration(Number(args.questions), Number(args.seed));
