import type { TokenCounter } from '../types.ts';

interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
}

/**
 * Counts and truncates with the model's own tokenizer. WordPiece never merges across
 * whitespace, so a text's count is the sum of its words' counts: truncation walks words and
 * never cuts one in half. Per-word counts are memoised (word frequencies are Zipfian).
 */
export class WordPieceCounter implements TokenCounter {
  private readonly memo = new Map<string, number>();

  constructor(private readonly tokenizer: HfTokenizer) {}

  private wordCount(word: string): number {
    let n = this.memo.get(word);
    if (n === undefined) {
      n = this.tokenizer.encode(word, { add_special_tokens: false }).length;
      if (this.memo.size > 200_000) this.memo.clear();
      this.memo.set(word, n);
    }
    return n;
  }

  count(text: string): number {
    let total = 0;
    for (const word of text.split(/\s+/)) if (word) total += this.wordCount(word);
    return total;
  }

  truncate(text: string, maxTokens: number): string {
    let total = 0;
    const re = /\S+/g;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      total += this.wordCount(m[0]);
      if (total > maxTokens) return text.slice(0, m.index).trimEnd();
    }
    return text;
  }
}
