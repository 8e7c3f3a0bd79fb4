import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { ProviderError } from '../../core/resilience.ts';
import { createEmbedder } from '../../models/embedders/index.ts';
import { EMBEDDING_LIMITS, OpenAIEmbedder, type OpenAIEmbedderOptions } from '../../models/embedders/openai.ts';
import { FakeOpenAI, countTokensCl100k, fakeVector, respond } from './fake-openai.ts';

/** Contract tests for the OpenAI embedder: the real SDK against a local fake of the embeddings endpoint. */

const EMB = '/v1/embeddings';
const fake = new FakeOpenAI();

function embedder(overrides: Partial<OpenAIEmbedderOptions> = {}) {
  return OpenAIEmbedder.fromOptions({
    apiKey: 'sk-test',
    baseURL: fake.baseURL,
    model: 'text-embedding-3-small',
    concurrency: 4,
    policy: { timeoutMs: 20_000, retries: 2, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5_000 },
    breaker: { minRequests: 100, resetMs: 60_000 },
    ...overrides,
  });
}

/** A text of about `n` cl100k tokens (" word" is one token). */
const textOfTokens = (n: number, tag: string) => `${tag}:${' word'.repeat(n)}`;
const inputsOf = (req: { body: Record<string, unknown> }) => req.body.input as string[];

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

describe('embeddings contract (real SDK, fake server)', () => {
  it('returns unit vectors in input order, decoding the base64 the SDK asks for', async () => {
    const e = await embedder();
    const texts = ['alpha', 'beta', 'gamma'];
    const vectors = await e.embed(texts, 'passage');

    expect(e.modelId).toBe('text-embedding-3-small');
    expect(e.dimensions).toBe(1536);
    expect(e.maxTokens).toBe(8191);
    expect(vectors.map((v) => Array.from(v.slice(0, 4)))).toEqual(texts.map((t) => Array.from(fakeVector(t, 1536).slice(0, 4))));
    for (const v of vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const [req] = fake.to(EMB);
    expect(req!.body).toMatchObject({ model: 'text-embedding-3-small', input: texts, encoding_format: 'base64' });
    expect(req!.body.dimensions).toBeUndefined();
  });

  it('never sends more than 2,048 inputs in one request', async () => {
    const e = await embedder({ dimensions: 16 }); // small vectors keep the fake server quick
    const texts = Array.from({ length: 5_000 }, (_, i) => `text number ${i}`);
    const vectors = await e.embed(texts, 'passage');

    const requests = fake.to(EMB);
    expect(requests.length).toBe(3);
    for (const r of requests) expect(inputsOf(r).length).toBeLessThanOrEqual(EMBEDDING_LIMITS.maxInputs);
    expect(requests.flatMap(inputsOf).sort()).toEqual([...texts].sort());
    // Order survives batching and concurrency.
    expect(Array.from(vectors[4_321]!)).toEqual(Array.from(fakeVector('text number 4321', 16)));
  });

  it('never sends more than 300,000 tokens in one request', async () => {
    const e = await embedder();
    const texts = Array.from({ length: 45 }, (_, i) => textOfTokens(8_000, `doc ${i}`));
    await e.embed(texts, 'passage');

    const requests = fake.to(EMB);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    for (const r of requests) {
      const tokens = inputsOf(r).reduce((s, t) => s + countTokensCl100k(t), 0);
      expect(tokens).toBeLessThanOrEqual(EMBEDDING_LIMITS.maxRequestTokens);
    }
    expect(requests.flatMap(inputsOf)).toHaveLength(45);
  });

  it('truncates an input over 8,191 tokens to 8,191 and leaves the others alone', async () => {
    const e = await embedder();
    const long = textOfTokens(10_000, 'long');
    await e.embed(['short one', long], 'passage');

    const [sent] = fake.to(EMB).map(inputsOf);
    expect(sent![0]).toBe('short one');
    expect(countTokensCl100k(sent![1]!)).toBe(8_191);
    expect(long.startsWith(sent![1]!)).toBe(true);
  });

  it('asks for shortened vectors and records the size in the model id', async () => {
    const e = await embedder({ dimensions: 256 });
    const [v] = await e.embed(['short'], 'query');

    expect(e.modelId).toBe('text-embedding-3-small@256');
    expect(v).toHaveLength(256);
    expect(Math.hypot(...v!)).toBeCloseTo(1, 5);
    expect(fake.to(EMB)[0]!.body.dimensions).toBe(256);
  });

  it('refuses dimensions the model cannot give', async () => {
    await expect(embedder({ dimensions: 4_096 })).rejects.toThrow(/RAGLINE_EMBEDDING_DIMENSIONS/);
  });

  it('sends an empty text as a space (the API refuses empty strings)', async () => {
    const e = await embedder();
    const vectors = await e.embed(['', 'x'], 'passage');
    expect(inputsOf(fake.to(EMB)[0]!)).toEqual([' ', 'x']);
    expect(vectors).toHaveLength(2);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    fake.setDefault(EMB, respond.delayed(300, respond.embeddings()));
    try {
      const e = await embedder({ concurrency: 2, limits: { maxInputs: 10 } });
      await e.embed(
        Array.from({ length: 60 }, (_, i) => `t${i}`),
        'passage',
      );
      expect(fake.to(EMB)).toHaveLength(6);
      expect(fake.maxInFlight).toBe(2);
    } finally {
      fake.setDefault(EMB, respond.embeddings());
    }
  });

  it('an abort sends none of the requests still waiting for a slot and rejects with its reason', async () => {
    fake.setDefault(EMB, respond.delayed(200, respond.embeddings()));
    try {
      const e = await embedder({ concurrency: 1, limits: { maxInputs: 10 } });
      const controller = new AbortController();
      const call = e.embed(
        Array.from({ length: 60 }, (_, i) => `t${i}`),
        'passage',
        { signal: controller.signal },
      );
      await new Promise((r) => setTimeout(r, 50)); // the first request is at the server
      controller.abort(new Error('job cancelled'));
      await expect(call).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 300));
      expect(fake.to(EMB)).toHaveLength(1);
    } finally {
      fake.setDefault(EMB, respond.embeddings());
    }
  });

  it('waits at least Retry-After after a 429, then succeeds', async () => {
    fake.enqueue(EMB, respond.error(429, { 'retry-after': '1' }));
    const e = await embedder();
    const vectors = await e.embed(['a', 'b'], 'passage');

    expect(vectors).toHaveLength(2);
    const [first, second] = fake.to(EMB);
    expect(second!.receivedAt - first!.respondedAt!).toBeGreaterThanOrEqual(1_000);
  });

  it('retries a 500', async () => {
    fake.enqueue(EMB, respond.error(500));
    const e = await embedder();
    await e.embed(['a'], 'passage');
    expect(fake.to(EMB)).toHaveLength(2);
  });

  it('fails clearly when the response has the wrong number of embeddings', async () => {
    fake.enqueue(EMB, respond.json({ object: 'list', data: [], model: 'm', usage: { prompt_tokens: 0, total_tokens: 0 } }));
    const e = await embedder();
    const err = await e.embed(['a'], 'passage').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).reason).toBe('bad_response');
  });

  it('is what createEmbedder builds for RAGLINE_EMBEDDER=openai', async () => {
    const config = loadConfig({
      RAGLINE_EMBEDDER: 'openai',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.baseURL,
      RAGLINE_EMBEDDING_DIMENSIONS: '512',
    });
    const e = await createEmbedder(config);
    expect(e).toBeInstanceOf(OpenAIEmbedder);
    expect(e.modelId).toBe('text-embedding-3-small@512');
    const [v] = await e.embed(['hello'], 'query');
    expect(v).toHaveLength(512);
    expect(e.tokenizer.count('hello world')).toBe(2);
  });

  it('asks an unknown model (e.g. on a local server) for its vector size once', async () => {
    const e = await embedder({ model: 'nomic-embed-text' });
    expect(e.dimensions).toBe(1536);
    expect(e.modelId).toBe('nomic-embed-text@1536');
    expect(fake.to(EMB)).toHaveLength(1);
  });
});
