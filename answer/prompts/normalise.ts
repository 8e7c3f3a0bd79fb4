/**
 * Text as a screen should read it: the same words however they were disguised. Used only for
 * matching; what the model and the user see is never rewritten by this.
 */

/** Latin look-alikes from Cyrillic and Greek that NFKC leaves alone (the common subset of Unicode's confusables). */
const CONFUSABLES: Record<string, string> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  һ: 'h',
  ɡ: 'g',
  ı: 'i',
  А: 'A',
  В: 'B',
  Е: 'E',
  К: 'K',
  М: 'M',
  Н: 'H',
  О: 'O',
  Р: 'P',
  С: 'C',
  Т: 'T',
  У: 'Y',
  Х: 'X',
  І: 'I',
  Ј: 'J',
  Ѕ: 'S',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ω: 'w',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
  Ζ: 'Z',
};
const CONFUSABLE_RE = new RegExp(`[${Object.keys(CONFUSABLES).join('')}]`, 'g');

/** Digits and symbols written for letters ("1gn0re"); only in words that also have letters, so numbers stay numbers. */
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/** Invisible characters (zero-width spaces and joiners, bidi controls, soft hyphens, BOM) and the grapheme joiner. */
const INVISIBLE = /\p{Cf}|\u034F/gu;

/** NFKC (full-width and styled letters, ligatures), no invisible characters, no accents, single spaces. */
export function plainForm(text: string): string {
  return text
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .normalize('NFC')
    .replace(/[^\S\n]+/g, ' ');
}

/** plainForm, then look-alike letters mapped to Latin, leetspeak undone (1 read as i) and s.p.a.c.e.d letters joined. */
export function disguiseFreeForm(text: string, one: 'i' | 'l' = 'i'): string {
  const leet: Record<string, string> = { ...LEET, '1': one };
  return plainForm(text)
    .replace(CONFUSABLE_RE, (ch) => CONFUSABLES[ch] ?? ch)
    .replace(/\S+/g, (word) => (/\p{L}/u.test(word) ? word.replace(/[013457@$]/g, (ch) => leet[ch] ?? ch) : word))
    .replace(/\b(?:\p{L}[ ._*-]){3,}\p{L}\b/gu, (spaced) => spaced.replace(/[ ._*-]/g, ''));
}

/** Every distinct form a screen should match against: plain, and with disguises undone (1 as i, and as l). */
export function matchForms(text: string): string[] {
  return [...new Set([plainForm(text), disguiseFreeForm(text, 'i'), disguiseFreeForm(text, 'l')])];
}
