/**
 * PII redaction: finds e-mail addresses, phone numbers, payment card numbers (Luhn-checked), IBANs
 * (mod-97-checked) and US social security numbers, and replaces each with a label naming its kind.
 * Ingestion, answers and the request ledger call it; it lives in core/ because all of them may.
 * Checksums keep look-alikes (order numbers, invalid IBANs) intact: a false redaction destroys data.
 */
export const PII_KINDS = ['email', 'phone', 'card', 'iban', 'national_id'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
}

export interface RedactOptions {
  /** Kinds to find; every kind by default. */
  kinds?: readonly PiiKind[];
  /** The replacement text for one match; `[REDACTED <KIND>]` by default. */
  mask?: (kind: PiiKind) => string;
}

const defaultMask = (kind: PiiKind) => `[REDACTED ${kind.toUpperCase()}]`;

const digitsOf = (s: string) => s.replace(/\D/g, '');

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616: move the first four characters to the end, letters become 10..35, the number mod 97 is 1. */
export function ibanValid(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= 'A' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return remainder === 1;
}

type Finder = (text: string) => Array<{ start: number; end: number }>;

function regexFinder(re: RegExp, accept: (match: string) => boolean = () => true): Finder {
  return (text) => {
    const found: Array<{ start: number; end: number }> = [];
    for (const m of text.matchAll(re)) if (accept(m[0])) found.push({ start: m.index, end: m.index + m[0].length });
    return found;
  };
}

/** Candidates may run into a following uppercase word; the longest valid prefix (by whole characters) wins. */
const findIbans: Finder = (text) => {
  const found: Array<{ start: number; end: number }> = [];
  for (const m of text.matchAll(/\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,34}/g)) {
    const positions: number[] = [];
    for (let i = 0; i < m[0].length; i++) if (m[0][i] !== ' ') positions.push(i);
    const compact = m[0].replace(/ /g, '');
    for (let length = Math.min(34, compact.length); length >= 15; length--) {
      const endsAtBoundary = !/[A-Za-z0-9]/.test(text[m.index + positions[length - 1]! + 1] ?? '');
      if (endsAtBoundary && ibanValid(compact.slice(0, length))) {
        found.push({ start: m.index, end: m.index + positions[length - 1]! + 1 });
        break;
      }
    }
  }
  return found;
};

const FILE_EXTENSION = /\.(?:png|jpe?g|gif|svg|webp|avif|bmp|ico|tiff?|pdf|css|js|json)$/i;

const FINDERS: Record<PiiKind, Finder> = {
  // A file-type "domain" (logo@2x.png, the retina-image convention) is a file name, not an address.
  email: regexFinder(/\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g, (s) => !FILE_EXTENSION.test(s)),
  // 13–19 digits, optionally grouped by spaces or dashes, passing the Luhn check.
  card: regexFinder(/(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, (s) => luhnValid(digitsOf(s))),
  iban: findIbans,
  // US SSN as written: AAA-GG-SSSS, excluding the ranges the SSA never issues.
  national_id: regexFinder(/(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g),
  // +country-code numbers, and North American (NNN) NNN-NNNN; 7–15 digits in all (E.164).
  phone: regexFinder(
    /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-])/g,
    (s) => {
      const n = digitsOf(s).length;
      return n >= 7 && n <= 15;
    },
  ),
};

/** Checked in this order, so a card number is not also read as a phone number; overlaps keep the first. */
const PRECEDENCE: PiiKind[] = ['email', 'iban', 'card', 'national_id', 'phone'];

export function findPii(text: string, options: RedactOptions = {}): PiiMatch[] {
  const kinds = new Set(options.kinds ?? PII_KINDS);
  const taken: PiiMatch[] = [];
  for (const kind of PRECEDENCE) {
    if (!kinds.has(kind)) continue;
    for (const span of FINDERS[kind](text)) {
      if (!taken.some((t) => span.start < t.end && t.start < span.end)) taken.push({ kind, ...span });
    }
  }
  return taken.sort((a, b) => a.start - b.start);
}

/** The text with every PII match replaced by its mask. */
export function redact(text: string, options: RedactOptions = {}): string {
  const matches = findPii(text, options);
  if (!matches.length) return text;
  const mask = options.mask ?? defaultMask;
  let out = '';
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + mask(m.kind);
    at = m.end;
  }
  return out + text.slice(at);
}

/** Every string inside a JSON-like value redacted (objects and arrays copied, other values kept): for stored traces. */
export function redactDeep<T>(value: T, options: RedactOptions = {}): T {
  if (typeof value === 'string') return redact(value, options) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, options)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, options)])) as T;
  }
  return value;
}
