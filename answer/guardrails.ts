import fs from 'node:fs';
import type { Config } from '../core/config.ts';
import { RaglineError } from '../core/errors.ts';
import { redact, type RedactOptions } from '../core/redact.ts';
import { type InjectionMatch, type InjectionScreen, loadInjectionScreen } from './prompts/injection.ts';
import { matchForms, plainForm } from './prompts/normalise.ts';

/** Why an answer was not given: a question that looks like injection, or an answer that hit the blocklist. */
export type Refusal =
  | { reason: 'prompt_injection'; message: string; patterns: string[] }
  | { reason: 'output_blocklist'; message: string; matched: string[] };

export const BLOCKED_ANSWER = 'This answer was withheld because it contains content this service is configured not to return.';
export const REFUSED_QUESTION = 'This question was not answered because it looks like an attempt to instruct the model.';

/** How much of a stream a regex entry may need to see at once (its matches are assumed shorter). */
const REGEX_HOLD_BACK = 100;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Terms and patterns an answer must not contain. A term matches as whole words, whatever the case
 * and however it is disguised (the injection screen's normal forms); "/…/" entries are regexes.
 */
export class OutputBlocklist {
  private readonly entries: Array<{ entry: string; re: RegExp }>;

  constructor(entries: readonly string[]) {
    this.entries = entries.map((entry) => {
      const literal = /^\/(.+)\/$/.exec(entry);
      try {
        return { entry, re: new RegExp(literal ? literal[1]! : `(?<![\\p{L}\\d])${escapeRegExp(plainForm(entry))}(?![\\p{L}\\d])`, 'iu') };
      } catch (err) {
        throw new RaglineError('invalid_config', `Invalid configuration: RAGLINE_OUTPUT_BLOCKLIST: "${entry}": ${(err as Error).message}`, {
          variable: 'RAGLINE_OUTPUT_BLOCKLIST',
        });
      }
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Characters a stream holds back so no entry is sent in part: the longest term, or 100 for a pattern. */
  get holdBack(): number {
    return Math.max(0, ...this.entries.map((e) => (e.entry.startsWith('/') ? REGEX_HOLD_BACK : e.entry.length)));
  }

  /** The entries the text matches (empty when it is clean). */
  check(text: string): string[] {
    if (!this.entries.length) return [];
    const forms = matchForms(text);
    return this.entries.filter((e) => forms.some((f) => e.re.test(f))).map((e) => e.entry);
  }
}

function readBlocklistFile(file: string): string[] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
  } catch (err) {
    throw new RaglineError('invalid_config', `Invalid configuration: RAGLINE_OUTPUT_BLOCKLIST_FILE: ${(err as Error).message}`, {
      variable: 'RAGLINE_OUTPUT_BLOCKLIST_FILE',
      file,
    });
  }
}

export interface AnswerGuardrails {
  screen: InjectionScreen;
  chunkInjection: 'fence' | 'drop';
  questionInjection: 'flag' | 'refuse';
  blocklist: OutputBlocklist;
  /** Redaction of answers, returned chunk texts and quotes; null when off. */
  redaction: RedactOptions | null;
}

export function guardrailsFromConfig(guardrails: Config['guardrails']): AnswerGuardrails {
  const terms = [
    ...guardrails.outputBlocklist,
    ...(guardrails.outputBlocklistFile ? readBlocklistFile(guardrails.outputBlocklistFile) : []),
  ];
  return {
    screen: loadInjectionScreen(guardrails.injectionPatternsFile),
    chunkInjection: guardrails.chunkInjection,
    questionInjection: guardrails.questionInjection,
    blocklist: new OutputBlocklist(terms),
    redaction: guardrails.redactAnswers ? { kinds: guardrails.redactKinds } : null,
  };
}

export const questionRefusal = (m: InjectionMatch): Refusal => ({
  reason: 'prompt_injection',
  message: `the question looks like prompt injection (${m.patterns.join(', ')})`,
  patterns: m.patterns,
});

export const blocklistRefusal = (matched: string[]): Refusal => ({
  reason: 'output_blocklist',
  message: `the answer matched ${matched.length} blocklist ${matched.length === 1 ? 'entry' : 'entries'}`,
  matched,
});

/**
 * Streams answer text through the blocklist and redaction. With a blocklist, the last `holdBack`
 * characters are held back (a term is seen whole before any of it is sent); with redaction, text is released a
 * sentence at a time so a phone number or IBAN split across deltas is redacted whole.
 */
export class OutputGate {
  private pending = '';
  private released = '';
  blocked: string[] = [];

  constructor(
    private readonly blocklist: OutputBlocklist,
    private readonly redaction: RedactOptions | null,
  ) {}

  push(delta: string): string {
    if (this.blocked.length) return '';
    this.pending += delta;
    return this.release(this.cut());
  }

  flush(): string {
    if (this.blocked.length) return '';
    return this.release(this.pending.length);
  }

  private cut(): number {
    let end = this.pending.length;
    if (this.blocklist.size) {
      // Only text at least holdBack characters before the end, up to a word boundary.
      const safe = this.pending.length - this.blocklist.holdBack;
      end = safe > 0 ? this.pending.slice(0, safe).search(/\S*$/) : 0;
    }
    if (this.redaction) {
      let sentenceEnd = 0;
      for (const m of this.pending.slice(0, end).matchAll(/[.!?](?=\s)|\n/g)) sentenceEnd = m.index + m[0].length;
      end = sentenceEnd;
    }
    return end;
  }

  private release(upTo: number): string {
    this.blocked = this.blocklist.check(this.released + this.pending);
    if (this.blocked.length || upTo === 0) return '';
    const out = this.pending.slice(0, upTo);
    this.pending = this.pending.slice(upTo);
    this.released += out;
    return this.redaction ? redact(out, this.redaction) : out;
  }
}
