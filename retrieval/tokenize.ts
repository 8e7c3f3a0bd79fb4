import { createRequire } from 'node:module';

/**
 * The BM25 analyzer, used for documents and queries alike: Unicode word split, lower case,
 * accents folded on Latin letters, English stop words dropped, Porter2 stems, numbers kept,
 * and identifiers ("PO.1", "RS.CO-2") kept whole beside their parts.
 */

// wink-porter2-stemmer is CommonJS without type definitions.
const porter2 = createRequire(import.meta.url)('wink-porter2-stemmer') as (word: string) => string;

/** Lucene's English stop set (what Anserini's BM25 baselines use). */
export const LUCENE_STOP_WORDS: readonly string[] = [
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
];

/** A broader list (NLTK's English list, without negations): function words only. */
export const EXTENDED_STOP_WORDS: readonly string[] = [
  ...LUCENE_STOP_WORDS,
  'i',
  'me',
  'my',
  'myself',
  'we',
  'our',
  'ours',
  'ourselves',
  'you',
  'your',
  'yours',
  'yourself',
  'yourselves',
  'he',
  'him',
  'his',
  'himself',
  'she',
  'her',
  'hers',
  'herself',
  'its',
  'itself',
  'them',
  'theirs',
  'themselves',
  'what',
  'which',
  'who',
  'whom',
  'those',
  'am',
  'were',
  'been',
  'being',
  'have',
  'has',
  'had',
  'having',
  'do',
  'does',
  'did',
  'doing',
  'because',
  'until',
  'while',
  'about',
  'between',
  'through',
  'during',
  'before',
  'after',
  'above',
  'below',
  'from',
  'up',
  'down',
  'out',
  'off',
  'over',
  'under',
  'again',
  'further',
  'once',
  'here',
  'when',
  'where',
  'why',
  'how',
  'all',
  'any',
  'both',
  'each',
  'few',
  'more',
  'most',
  'other',
  'some',
  'nor',
  'only',
  'own',
  'same',
  'so',
  'than',
  'too',
  'very',
  's',
  't',
  'can',
  'just',
  'should',
  'now',
  'would',
  'could',
  'also',
];

export interface TokenizerOptions {
  stopWords?: readonly string[];
  stem?: boolean;
  /** Also emit each identifier as one term (see `identifiersIn`); on by default. */
  identifiers?: boolean;
}

export type Tokenizer = (text: string) => string[];

// A word is a run of letters, marks and digits; dots or commas between digits ("1.5", "10,000")
// and apostrophes inside words ("don't") stay inside. Han/kana characters become one token each,
// since those scripts do not separate words with spaces.
const WORD =
  /\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|[\p{L}\p{M}\p{N}]+(?:(?:['’][\p{L}\p{M}]+)|(?:(?<=\p{N})[.,](?=\p{N})[\p{N}]+))*/gu;
const LATIN_WORD = /^[a-z]/;
const LATIN_ACCENTS = /(\p{Script=Latin})\p{Mn}+/gu;
// A code such as "PO.1", "PS.3.2", "RS.CO-2", "DS-1.4": letter-led segments of letters and digits
// joined by dots or dashes, not inside a longer run of them. The word split alone turns "PO.1"
// into "po" + "1", which every "PO.1.1" and every list item "1" also match.
const IDENTIFIER = /(?<![\p{L}\p{N}.\-\u2010\u2011\u2013])\p{L}[\p{L}\p{N}]*(?:[.\-\u2010\u2011\u2013][\p{L}\p{N}]+)+/gu;
const DASHES = /[\u2010\u2011\u2013]/g;
const LETTER = /\p{L}/u;
const DIGIT = /\p{N}/u;
/** Letters in a row that still read as a code rather than a word ("PR.AC-4" yes, "Section.3" no). */
const MAX_CODE_LETTERS = 4;
// Only codes with a dotted hierarchy count: a letter part before a dot ("PO.1", "RS.CO-2") or a
// dash before a dotted number ("DS-1.4"). Dash-only names ("IL-6", "HIV-1") are left to the word
// split: on SciFact, keeping them whole as well lowered BM25 nDCG@10 (eval/probe/bm25-identifiers.ts).
const DOTTED_HIERARCHY = /\p{L}\.[\p{L}\p{N}]|-\p{N}+\.\p{N}/u;
// A numbered clause with lettered or roman sub-parts in brackets: "4e(vii)", "164.308(a)(1)". Sub-parts
// are one letter, a roman numeral or a number, so gene and assay names ("p75(NTR)", "25(OH)D") are not.
const SUBSECTION =
  /(?<![\p{L}\p{N}.\-\u2010\u2011\u2013])[\p{L}\p{N}]*\p{N}[\p{L}\p{N}]*(?:\.[\p{L}\p{N}]+)*(?:\((?:[a-z]|[ivxl]{1,6}|\p{N}{1,3})\))+(?![\p{L}\p{N}])/gu;

/**
 * The identifiers of already lower-cased text, dashes unified: runs of at least two parts with a
 * digit, a letter and a dotted hierarchy, no letter part longer than MAX_CODE_LETTERS (so "e.g."
 * and "end-to-end" are not codes), and more than one word to the word split ("v1.1" is one already).
 */
export function identifiersIn(folded: string): string[] {
  const out: string[] = [];
  for (const match of folded.matchAll(IDENTIFIER)) {
    const code = match[0].replace(DASHES, '-');
    if (!DIGIT.test(code) || !LETTER.test(code) || !DOTTED_HIERARCHY.test(code)) continue;
    const parts = code.split(/[.-]/);
    if (parts.some((p) => !DIGIT.test(p) && p.length > MAX_CODE_LETTERS)) continue;
    if ((code.match(WORD) ?? []).length < 2) continue;
    out.push(code);
  }
  for (const match of folded.matchAll(SUBSECTION)) if (/\(\p{L}/u.test(match[0])) out.push(match[0]);
  return out;
}

export function createTokenizer(options: TokenizerOptions = {}): Tokenizer {
  const stopWords = new Set(options.stopWords ?? EXTENDED_STOP_WORDS);
  const stem = options.stem ?? true;
  const identifiers = options.identifiers ?? true;
  // Word frequencies are Zipfian: memoising stems makes indexing several times faster.
  const memo = new Map<string, string>();
  const stemOf = (word: string): string => {
    let s = memo.get(word);
    if (s === undefined) {
      s = LATIN_WORD.test(word) ? porter2(word).replace(/['’]/g, '') : word;
      if (memo.size > 100_000) memo.clear();
      memo.set(word, s);
    }
    return s;
  };
  return (text: string) => {
    const folded = /[^\x00-\x7f]/.test(text)
      ? text.normalize('NFD').replace(LATIN_ACCENTS, '$1').normalize('NFC').toLowerCase()
      : text.toLowerCase();
    const out: string[] = [];
    for (const match of folded.matchAll(WORD)) {
      const word = match[0].replace(/’/g, "'");
      if (stopWords.has(word)) continue;
      const term = stem ? stemOf(word) : word;
      if (term && !stopWords.has(term)) out.push(term);
    }
    if (identifiers && /[.\-\u2010\u2011\u2013(]/.test(folded)) out.push(...identifiersIn(folded));
    return out;
  };
}

/** The default analyzer (settings chosen with eval/probe/bm25-scifact.ts). */
export const tokenize: Tokenizer = createTokenizer();

/** The analyzer without identifier terms: what generated query sets were built with, kept stable. */
export const tokenizeWords: Tokenizer = createTokenizer({ identifiers: false });
