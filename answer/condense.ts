import { errorMessage } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { ProviderError } from '../core/resilience.ts';
import type { GenerateResult, TokenUsage } from './types.ts';

/**
 * A chat's last question made standalone, so retrieval sees "How do I rotate the Redis password?"
 * and not "and for Redis?". With an LLM: one short rewrite call (bounded output, temperature 0).
 * Without one, or when that call fails: a deterministic rule (below).
 */

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface Condensed {
  question: string;
  /** none: there were no earlier turns, or the rule kept the question; rule / llm: how it was rewritten. */
  method: 'none' | 'rule' | 'llm';
  /** Tokens of the rewrite call (zero without one). */
  usage: TokenUsage;
  /** The model that rewrote the question (null without a rewrite call). */
  model: string | null;
}

export interface Rewriter {
  rewrite(messages: { role: 'system' | 'user'; content: string }[], maxTokens: number, signal?: AbortSignal): Promise<GenerateResult>;
}

export interface CondenseOptions {
  rewriter?: Rewriter;
  maxTokens: number;
  signal?: AbortSignal;
}

/** Words that only make sense with what was said before. */
const ANAPHORA = /\b(it|its|it's|they|them|their|this|that|these|those|he|she|him|her|his|there|one|ones|same|former|latter|above|else)\b/i;
/** Openings of a follow-up ("and for Redis?", "what about PDFs?"). */
const FOLLOW_UP = /^\s*(and|also|or|but|so|then|what about|how about|why|why not|how so)\b/i;
/** At most this many words and the question is taken to lean on the previous one. */
const SHORT_QUESTION_WORDS = 4;
/** Earlier turns shown to the rewrite call, and characters of each. */
const REWRITE_TURNS = 6;
const REWRITE_TURN_CHARS = 1_000;
const MAX_QUESTION_CHARS = 8_000;

const REWRITE_SYSTEM =
  'Rewrite the final user question of a conversation as one standalone question that can be understood without the conversation. ' +
  'Keep its language and meaning; resolve pronouns and ellipsis from the earlier turns; do not answer it. Reply with the question only.';

const ZERO: TokenUsage = { promptTokens: 0, completionTokens: 0 };

/**
 * The rule: when the last question is short (≤ 4 words), opens like a follow-up ("and…", "what
 * about…") or uses a pronoun that points back ("it", "that", "they"…), the previous user question
 * is put in front of it; otherwise it stands as it is.
 */
export function condenseByRule(turns: ChatTurn[]): string {
  const users = turns.filter((t) => t.role === 'user').map((t) => t.content.trim());
  const last = users.at(-1) ?? '';
  const previous = users.at(-2);
  if (!previous) return last;
  const words = last.split(/\s+/).filter(Boolean).length;
  const leans = words <= SHORT_QUESTION_WORDS || FOLLOW_UP.test(last) || ANAPHORA.test(last);
  return leans ? `${previous} ${last}`.slice(0, MAX_QUESTION_CHARS) : last;
}

function transcript(turns: ChatTurn[]): string {
  const earlier = turns.slice(0, -1).slice(-REWRITE_TURNS);
  const lines = earlier.map((t) => `${t.role === 'user' ? 'User' : 'Assistant'}: ${t.content.trim().slice(0, REWRITE_TURN_CHARS)}`);
  return `${lines.join('\n')}\n\nFinal user question: ${turns.at(-1)!.content.trim().slice(0, MAX_QUESTION_CHARS)}`;
}

/** `turns` ends with the user's question; earlier turns (if any) are what it may lean on. */
export async function condenseQuestion(turns: ChatTurn[], options: CondenseOptions): Promise<Condensed> {
  const last = turns.at(-1)?.content.trim() ?? '';
  if (turns.length < 2) return { question: last, method: 'none', usage: ZERO, model: null };
  if (options.rewriter) {
    try {
      const result = await options.rewriter.rewrite(
        [
          { role: 'system', content: REWRITE_SYSTEM },
          { role: 'user', content: transcript(turns) },
        ],
        options.maxTokens,
        options.signal,
      );
      const question = result.text
        .trim()
        .split('\n')[0]!
        .replace(/^["'“]+|["'”]+$/g, '')
        .trim()
        .slice(0, MAX_QUESTION_CHARS);
      if (question) return { question, method: 'llm', usage: result.usage, model: result.model };
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      logger.warn({ reason: err.reason, err: errorMessage(err) }, 'question rewrite failed: condensing by rule');
    }
  }
  const question = condenseByRule(turns);
  return { question, method: question === last ? 'none' : 'rule', usage: ZERO, model: null };
}
