/**
 * Does the evidence an extractive answer quotes actually answer the question? A similarity
 * threshold cannot tell: an on-topic question that the documents do not answer ("the list price of
 * a 737 MAX 8" over an airworthiness directive) retrieves close text all the same. This checks the
 * question's specific content against the quoted chunks (their text, heading path, title and
 * source name):
 *   - dates: every month the question names must be there ("April 2016");
 *   - the asked-for quantity: in "what is/was the <…> X of …" with X a quantity ("list price",
 *     "total budget"), X must be there in some form (price/prices/pricing).
 * Deliberately narrow: paraphrased questions ("how many pieces…" for "21 million passages") must
 * stay answered, so words that are merely missing do not count. Keyword queries are not checked.
 */

export interface Evidence {
  text: string;
  title?: string;
  source?: string;
  headingPath?: readonly string[];
}

export interface Answerability {
  answerable: boolean;
  /** What the question asks for that the evidence does not hold. */
  missing: string[];
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const QUESTION_START =
  /^(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|should|would|will|has|have|had)\b/i;
/** "What is the X of …": the phrase naming what is asked for ends before one of these. */
const RELATION =
  /^(?:what|which)\s+(?:is|are|was|were)\s+(?:the|a|an)\s+(.+?)(?=\s+(?:of|in|on|at|by|for|per|from|to|that|which|who|when|where|between|with|under|during|does|did|do|was|were|is|are|has|had|have)\b|[?,]|$)/i;
/**
 * Heads naming a quantity the answer would have to state (a price, a budget, a population). Only
 * these count: an abstract head ("the translation of", "the goal of") is often answered without
 * its word, and refusing those cost 3.6 % of answerable SQuAD questions, against 0.8 % with this list.
 */
const MEASURE_HEADS = new Set(
  (
    'price prices cost costs budget budgets revenue revenues salary salaries wage wages income population ' +
    'fee fees tax taxes tariff rent profit profits sales spending funding expenditure expenditures debt ' +
    'value valuation worth amount sum total rate rates speed weight height length width depth capacity ' +
    'temperature distance duration age score attendance'
  ).split(' '),
);

const wordsOf = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** A crude stem: enough for price/prices/pricing, budget/budgets/budgeted, rate/rates. */
const stem = (word: string) => word.replace(/(?:ies|es|s|ing|ed|e)$/, '').slice(0, 7);

export function isQuestion(text: string): boolean {
  const t = text.trim();
  return t.endsWith('?') || QUESTION_START.test(t);
}

export function answerability(question: string, evidence: Evidence[]): Answerability {
  if (!isQuestion(question) || evidence.length === 0) return { answerable: true, missing: [] };
  const have = new Set(evidence.flatMap((e) => wordsOf([e.text, e.title ?? '', e.source ?? '', ...(e.headingPath ?? [])].join(' '))));
  const stems = new Set([...have].map(stem));
  const missing: string[] = [];

  // A month is specific; a year alone is not ("in 2015" is often the season the whole text is about).
  for (const word of new Set(wordsOf(question))) {
    const month = MONTHS.includes(word) && (word !== 'may' || /\bMay\b/.test(question));
    if (month && !have.has(word)) missing.push(word);
  }

  const relation = RELATION.exec(question.trim());
  if (relation) {
    const phrase = relation[1]!.split(/[’']s\s+/).pop()!;
    const head = wordsOf(phrase).at(-1);
    if (head && MEASURE_HEADS.has(head) && !stems.has(stem(head))) missing.push(head);
  }
  return { answerable: missing.length === 0, missing };
}
