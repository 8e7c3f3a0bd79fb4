import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingEmbedder } from '../models/embedders/cache.ts';
import type { EmbedKind, Embedder, TokenStates } from '../models/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';

/** The real model, with a count of the windows whose token vectors it computed. */
function counting(inner: Embedder): Embedder & { windows: number } {
  const spy = {
    windows: 0,
    modelId: inner.modelId,
    dimensions: inner.dimensions,
    maxTokens: inner.maxTokens,
    tokenizer: inner.tokenizer,
    embed: (texts: string[], kind: EmbedKind) => inner.embed(texts, kind),
    embedTokens: (inputs: string[][], kind: EmbedKind): Promise<TokenStates[]> => {
      spy.windows += inputs.length;
      return inner.embedTokens!(inputs, kind);
    },
  };
  return spy;
}

describe('CachingEmbedder with cacheTokenStates', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-token-cache-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const windows = [
    ['Bone health', 'Vitamin D helps the body absorb calcium.', 'Low levels weaken bones.'],
    ['Aspirin lowers fever.', 'It also thins the blood.'],
  ];

  it('returns the same token vectors from disk, computes only new windows, and cuts a torn tail', async () => {
    const inner = counting(await testEmbedder());
    const first = new CachingEmbedder(inner, dir, { closeInner: false, cacheTokenStates: true });
    const computed = await first.embedTokens!(windows, 'passage');
    expect(inner.windows).toBe(2);
    await first.close();
    const file = first.file.replace(/\.bin$/, '.tokens.bin');
    const intact = fs.statSync(file).size;
    expect(intact).toBeGreaterThan(0);
    // A crash mid-append: half a record.
    fs.appendFileSync(file, fs.readFileSync(file).subarray(0, Math.floor(intact / 4)));

    const reopened = new CachingEmbedder(inner, dir, { closeInner: false, cacheTokenStates: true });
    const [again, other] = [await reopened.embedTokens!(windows, 'passage'), await reopened.embedTokens!([windows[0]!], 'query')];
    expect(inner.windows).toBe(3); // the query-kind window is another input
    expect(fs.statSync(file).size).toBeGreaterThan(intact);
    expect(again).toHaveLength(2);
    again.forEach((states, i) => {
      expect(states.tokens).toBe(computed[i]!.tokens);
      expect(states.pieces).toEqual(computed[i]!.pieces);
      expect(Array.from(states.vectors)).toEqual(Array.from(computed[i]!.vectors));
    });
    expect(other[0]!.tokens).toBeGreaterThan(0);
    await reopened.close();
  });

  it('passes token vectors through uncached without the option', async () => {
    const inner = counting(await testEmbedder());
    const plain = new CachingEmbedder(inner, fs.mkdtempSync(path.join(dir, 'plain-')), { closeInner: false });
    await plain.embedTokens!(windows, 'passage');
    await plain.embedTokens!(windows, 'passage');
    expect(inner.windows).toBe(4);
    expect(fs.existsSync(plain.file.replace(/\.bin$/, '.tokens.bin'))).toBe(false);
  });
});
