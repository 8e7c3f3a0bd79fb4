import fs from 'node:fs';
import { z } from 'zod';
import { RaglineError } from '../../core/errors.ts';
import type { ContextChunk } from '../types.ts';
import { matchForms } from './normalise.ts';

/**
 * Heuristics for text that tries to instruct the model, matched against the text with its
 * disguises removed (normalise.ts). Patterns are written in lower-case ASCII without accents.
 */
export interface InjectionPattern {
  name: string;
  re: RegExp;
}

const pattern = (name: string, source: string): InjectionPattern => ({ name, re: new RegExp(source, 'imu') });

/** Not right after a modal verb or a negation: "will override", "don't forget", "vergessen Sie nicht". */
const NOT_AFTER_MODAL = String.raw`(?<!\b(?:will|would|shall|should\s+not|could|might|may|can|does|did|not|never|don't|n't)\s+)`;

export const BUILTIN_INJECTION_PATTERNS: InjectionPattern[] = [
  // An imperative: after a modal or a negation ("will override the previous rules", "don't forget the
  // previous instructions") the sentence describes or reminds rather than commands.
  pattern(
    'ignore-instructions',
    String.raw`${NOT_AFTER_MODAL}\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|any|your|the|system)\b[^.\n]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b|${NOT_AFTER_MODAL}\b(?:forget|ignore|disregard)\s+(?:everything|all)\s+(?:(?:that\s+)?you\s+(?:were|have\s+been|'ve\s+been)\s+(?:told|taught|instructed|given)|(?:above|before|so\s+far))`,
  ),
  pattern(
    'ignore-instructions-de',
    String.raw`\b(?:ignorier(?:e|en sie)?|vergiss|vergessen sie|missachte|uberschreibe)\b(?!,?\s+nicht\b)[^.\n]{0,40}?\b(?:vorherigen?|bisherigen?|obigen?|vorigen?|alle|alten|deine)\b[^.\n]{0,20}?\b(?:anweisungen|instruktionen|befehle|regeln|vorgaben)\b`,
  ),
  pattern(
    'ignore-instructions-fr',
    String.raw`\b(?:ignore[rz]?|oublie[rz]?|ne tiens? pas compte)\b[^.\n]{0,40}?\b(?:instructions?|consignes?|regles|directives)\b[^.\n]{0,30}?\b(?:precedentes?|anterieures?|ci-dessus)\b`,
  ),
  pattern(
    // Spanish, and its neighbours Italian and Portuguese, which share the verbs and the word order.
    'ignore-instructions-es',
    String.raw`\b(?:ignora[rd]?|ignore|olvida[rd]?|olvide|omite|dimentica|esqueca|esquece)\b[^.\n]{0,40}?\b(?:instrucciones|indicaciones|reglas|ordenes|istruzioni|regole|instrucoes|regras)\b[^.\n]{0,30}?\b(?:anteriores|previas|de arriba|precedenti|anteriori|previe)\b`,
  ),
  pattern(
    'new-instructions',
    String.raw`\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions?\s*:|\b(?:system|admin|developer|security)\s+override\b`,
  ),
  // Text in a document that speaks to the model reading it: the shape of indirect injection.
  pattern(
    'addressed-to-model',
    String.raw`\b(?:if\s+you\s+are|note\s+(?:to|for)|attention|dear)\s+(?:an?\s+|the\s+|all\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|chatbot)(?:\s+(?:assistant|model|agent|system|bot))?s?\s*(?:[,:]|\b(?:reading|processing|summari[sz]ing|parsing|that|who)\b)`,
  ),
  pattern(
    'role-change',
    String.raw`\byou\s+are\s+now\s+(?:a|an|the|my|dan|no\s+longer|free|unrestricted|jailbroken|in\s+\w+\s+mode)\b|\bfrom\s+now\s+on,?\s+you\b|\bpretend\s+(?:to\s+be|you\s+are)\b|\bdu bist (?:jetzt|nun|ab sofort)\b|\btu es (?:maintenant|desormais)\b|\bahora eres\b|\ba partir de ahora,? (?:eres|tu)\b`,
  ),
  pattern(
    'prompt-exfiltration',
    String.raw`\b(?:reveal|print|show|repeat|output|zeig\w*|verrate|gib|affiche|revele|montre|muestra|revela|dime)\b[^.\n]{0,30}?(?:\bsystem\s*prompt|\byour\s+(?:instructions|prompt|rules)|\bprompt (?:systeme|du systeme|del sistema)|\binstrucciones del sistema)\b`,
  ),
  pattern(
    'chat-markup',
    String.raw`<\|im_(?:start|end)\|>|\[\/?INST\]|<<\/?SYS>>|(?:^|[([{<"'])\s*(?:system|assistant|developer)\s*:\s*(?:you|ignore|disregard|forget|from now|new|always|never|do not|don't)\b`,
  ),
  pattern('delimiter-escape', String.raw`<\s*\/?\s*documents?\b`),
];

export interface InjectionMatch {
  patterns: string[];
  /** The first matching text (disguises removed), for a human to judge. */
  excerpt: string;
}

export interface InjectionFlag extends InjectionMatch {
  marker: number;
  chunkId: string;
  source: string;
  /** fenced: sent to the model labelled untrusted; dropped: left out of the prompt. */
  action: 'fenced' | 'dropped';
  reason: string;
}

export const describeMatch = (m: InjectionMatch) => `looks like prompt injection (${m.patterns.join(', ')})`;

/** A configured set of patterns: matches text in two normal forms (plain, and with look-alikes undone). */
export class InjectionScreen {
  constructor(readonly patterns: InjectionPattern[] = BUILTIN_INJECTION_PATTERNS) {}

  detect(text: string): InjectionMatch | null {
    const forms = matchForms(text);
    const names: string[] = [];
    let excerpt = '';
    for (const p of this.patterns) {
      for (const form of forms) {
        const m = p.re.exec(form);
        if (!m) continue;
        names.push(p.name);
        excerpt ||= m[0].trim().slice(0, 160);
        break;
      }
    }
    return names.length ? { patterns: names, excerpt } : null;
  }

  flag(context: ContextChunk[], action: InjectionFlag['action'] = 'fenced'): InjectionFlag[] {
    const flags: InjectionFlag[] = [];
    for (const item of context) {
      const found = this.detect(item.chunk.text);
      if (found)
        flags.push({
          marker: item.marker,
          chunkId: item.chunk.id,
          source: item.chunk.source,
          ...found,
          action,
          reason: describeMatch(found),
        });
    }
    return flags;
  }
}

const patternFileSchema = z
  .object({
    /** When true the file's patterns are the whole set; by default they are added to the built-in ones. */
    replaceBuiltins: z.boolean().default(false),
    patterns: z.array(z.object({ name: z.string().min(1).max(80), pattern: z.string().min(1).max(2_000) }).strict()).max(500),
  })
  .strict();

/** The screen from a JSON pattern file (RAGLINE_INJECTION_PATTERNS_FILE), or the built-in set without one. */
export function loadInjectionScreen(file: string | undefined): InjectionScreen {
  if (!file) return new InjectionScreen();
  const fail = (message: string) =>
    new RaglineError('invalid_config', `Invalid configuration: RAGLINE_INJECTION_PATTERNS_FILE: ${file}: ${message}`, {
      variable: 'RAGLINE_INJECTION_PATTERNS_FILE',
      file,
    });
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw fail((err as Error).message);
  }
  const parsed = patternFileSchema.safeParse(raw);
  if (!parsed.success) throw fail(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const own = parsed.data.patterns.map((p) => {
    try {
      return pattern(p.name, p.pattern);
    } catch (err) {
      throw fail(`pattern "${p.name}": ${(err as Error).message}`);
    }
  });
  return new InjectionScreen(parsed.data.replaceBuiltins ? own : [...BUILTIN_INJECTION_PATTERNS, ...own]);
}

const builtinScreen = new InjectionScreen();

export function detectInjection(text: string): InjectionMatch | null {
  return builtinScreen.detect(text);
}

export function flagInjections(context: ContextChunk[]): InjectionFlag[] {
  return builtinScreen.flag(context);
}
