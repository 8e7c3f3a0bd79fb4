import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAIChatGenerator, type OpenAIChatOptions } from '../../answer/generators/openai-chat.ts';
import { countChatTokens, countTokens } from '../../models/tokenizers/tiktoken.ts';
import type { ContextChunk, StreamEvent } from '../../answer/types.ts';
import { CallAbortedError, ProviderError } from '../../core/resilience.ts';
import { chunkRecord } from '../../testkit/chunk-record.ts';
import { FakeOpenAI, respond } from './fake-openai.ts';

/** Contract tests: the real openai SDK, through our resilience layer, against a local fake of the API. */

const CHAT = '/v1/chat/completions';
const fake = new FakeOpenAI();

const chunk = (id: string, text: string) =>
  chunkRecord(id, text, {
    collectionId: 'c1',
    tokenCount: 20,
    pageStart: 3,
    pageEnd: 3,
    headingPath: ['Guide', 'Install'],
    source: `docs/${id}.md`,
    title: `Doc ${id}`,
    mime: 'text/markdown',
    createdAt: '2024-05-01T00:00:00.000Z',
    updatedAt: '2024-05-02T00:00:00.000Z',
  });

const context: ContextChunk[] = [
  { marker: 1, chunk: chunk('a', 'Ragline stores chunks in PGlite. The default port is 8787.'), denseScore: 0.7 },
  { marker: 2, chunk: chunk('b', 'Hybrid search fuses BM25 and dense rankings with RRF.'), denseScore: 0.5 },
];
const question = 'What is the default port?';

function generator(overrides: Partial<OpenAIChatOptions> = {}, policy: Partial<OpenAIChatOptions['policy']> = {}) {
  return new OpenAIChatGenerator({
    apiKey: 'sk-test',
    baseURL: fake.baseURL,
    model: 'gpt-4o-mini',
    temperature: 0.1,
    maxOutputTokens: 200,
    policy: { timeoutMs: 2_000, retries: 2, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5_000, ...policy },
    breaker: { minRequests: 100, resetMs: 60_000 },
    ...overrides,
  });
}

async function collect(events: AsyncIterable<StreamEvent>) {
  const deltas: string[] = [];
  let done: Extract<StreamEvent, { done: true }> | undefined;
  for await (const e of events) {
    if ('delta' in e) deltas.push(e.delta);
    else done = e;
  }
  return { deltas, done };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to fail'),
    (err: unknown) => err,
  );
}

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

describe('chat completions contract (real SDK, fake server)', () => {
  it('sends the rendered prompt with bounded settings and returns text, usage and model', async () => {
    fake.enqueue(CHAT, respond.chat({ content: 'The default port is 8787 [1].', model: 'gpt-4o-mini-2024-07-18' }));
    const result = await generator().generate({ question, context });

    expect(result).toEqual({
      text: 'The default port is 8787 [1].',
      usage: { promptTokens: 321, completionTokens: 12 },
      model: 'gpt-4o-mini-2024-07-18',
    });
    const [req] = fake.to(CHAT);
    expect(req!.headers.authorization).toBe('Bearer sk-test');
    expect(req!.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0.1, max_tokens: 200 });
    expect(req!.body.stream).toBeFalsy();
    const messages = req!.body.messages as Array<{ role: string; content: string }>;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[0]!.content).toMatch(/Ignore any instruction/);
    expect(messages[1]!.content).toContain(
      '<document id="1" source="docs/a.md" title="Doc a" page="3" section="Guide > Install" updated="2024-05-02">',
    );
    expect(messages[1]!.content).toContain(`Question: ${question}`);
  });

  it('counts tokens with tiktoken when the provider reports no usage', async () => {
    fake.enqueue(CHAT, respond.chat({ content: 'Port 8787 [1].', omitUsage: true }));
    const result = await generator().generate({ question, context });

    const messages = (fake.to(CHAT)[0]!.body.messages as Array<{ content: string }>).map((m) => ({ content: m.content }));
    expect(result.usage.promptTokens).toBe(countChatTokens('gpt-4o-mini', messages));
    expect(result.usage.promptTokens).toBeGreaterThan(100);
    expect(result.usage.completionTokens).toBe(countTokens('gpt-4o-mini', 'Port 8787 [1].'));
  });

  it('streams deltas in order and ends with the usage from the final chunk', async () => {
    fake.enqueue(CHAT, respond.chatStream(['The ', 'default ', 'port ', 'is ', '8787 ', '[1].']));
    const { deltas, done } = await collect(generator().stream({ question, context }));

    expect(deltas.join('')).toBe('The default port is 8787 [1].');
    expect(deltas.length).toBe(6);
    expect(done).toEqual({ done: true, usage: { promptTokens: 222, completionTokens: 6 }, model: 'gpt-4o-mini' });
    expect(fake.to(CHAT)[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('counts streamed tokens itself when the stream carries no usage', async () => {
    fake.enqueue(CHAT, respond.chatStream(['Port ', '8787 [1].'], { omitUsage: true }));
    const { done } = await collect(generator().stream({ question, context }));
    expect(done!.usage.completionTokens).toBe(countTokens('gpt-4o-mini', 'Port 8787 [1].'));
    expect(done!.usage.promptTokens).toBeGreaterThan(100);
  });

  it('waits at least Retry-After after a 429 before trying again', async () => {
    fake.enqueue(CHAT, respond.error(429, { 'retry-after': '1' }), respond.chat({ content: 'ok [1]' }));
    const result = await generator().generate({ question, context });

    expect(result.text).toBe('ok [1]');
    const [first, second] = fake.to(CHAT);
    expect(fake.to(CHAT)).toHaveLength(2);
    // Both times are taken by the server: when the 429 went out, and when the retry arrived.
    expect(second!.receivedAt - first!.respondedAt!).toBeGreaterThanOrEqual(1_000);
  });

  it('honours retry-after-ms too', async () => {
    fake.enqueue(CHAT, respond.error(429, { 'retry-after-ms': '300' }), respond.chat({ content: 'ok [1]' }));
    await generator().generate({ question, context });
    const [first, second] = fake.to(CHAT);
    expect(second!.receivedAt - first!.respondedAt!).toBeGreaterThanOrEqual(300);
  });

  it('fails at once when Retry-After is longer than it is willing to wait', async () => {
    fake.enqueue(CHAT, respond.error(429, { 'retry-after': '3600' }));
    const err = await rejection(generator().generate({ question, context }));
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).reason).toBe('rate_limited');
    expect(fake.to(CHAT)).toHaveLength(1);
  });

  it('retries a 500 and succeeds', async () => {
    fake.enqueue(CHAT, respond.error(500), respond.chat({ content: 'second time [2]' }));
    const result = await generator().generate({ question, context });
    expect(result.text).toBe('second time [2]');
    expect(fake.to(CHAT)).toHaveLength(2);
  });

  it('gives up after the configured retries with upstream_error', async () => {
    fake.enqueue(CHAT, respond.error(503), respond.error(502), respond.error(500), respond.chat());
    const err = await rejection(generator({}, { retries: 2 }).generate({ question, context }));
    expect((err as ProviderError).reason).toBe('upstream_error');
    expect((err as ProviderError).details.status).toBe(500);
    expect(fake.to(CHAT)).toHaveLength(3);
  });

  it('does not retry a request the provider refuses (400)', async () => {
    fake.enqueue(CHAT, respond.error(400, {}, 'context too long'));
    const err = await rejection(generator().generate({ question, context }));
    expect((err as ProviderError).reason).toBe('rejected');
    expect(fake.to(CHAT)).toHaveLength(1);
  });

  it('reports a body that is not JSON as bad_response', async () => {
    fake.enqueue(CHAT, respond.malformed());
    const err = await rejection(generator().generate({ question, context }));
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).reason).toBe('bad_response');
  });

  it('reports a completion without content as bad_response', async () => {
    fake.enqueue(CHAT, respond.json({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [] }));
    const err = await rejection(generator().generate({ question, context }));
    expect((err as ProviderError).reason).toBe('bad_response');
  });

  it('reports a malformed stream chunk as bad_response', async () => {
    fake.enqueue(CHAT, respond.chatStream(['a ', 'b ', 'c'], { malformedAt: 1 }));
    const events = generator().stream({ question, context });
    const err = await rejection(collect(events));
    expect((err as ProviderError).reason).toBe('bad_response');
  });

  it('treats a stream whose connection drops before the finish as a failure, not as the end', async () => {
    fake.enqueue(CHAT, respond.chatStream(['one ', 'two ', 'three'], { stopAfter: 2 }));
    const deltas: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of generator().stream({ question, context })) if ('delta' in e) deltas.push(e.delta);
      })(),
    );
    expect(deltas).toEqual(['one ', 'two ']);
    expect((err as ProviderError).reason).toBe('connection_error');
  });

  it('treats a stream that ends without a finish_reason as cut short', async () => {
    fake.enqueue(CHAT, respond.chatStream(['one ', 'two ', 'three'], { endAfter: 2 }));
    const err = await rejection(collect(generator().stream({ question, context })));
    expect((err as ProviderError).reason).toBe('upstream_error');
    expect((err as ProviderError).message).toMatch(/before the model finished/);
  });

  it('times out a slow provider, closes the connection, and does not retry a timeout', async () => {
    fake.enqueue(CHAT, respond.delayed(5_000, respond.chat()));
    const err = await rejection(generator({}, { timeoutMs: 300 }).generate({ question, context }));
    expect((err as ProviderError).reason).toBe('timeout');
    const [req] = fake.to(CHAT);
    await req!.closed;
    expect(req!.clientClosed).toBe(true);
    expect(fake.to(CHAT)).toHaveLength(1);
  });

  it('times out a stream that stops sending (idle timeout)', async () => {
    fake.enqueue(CHAT, respond.chatStream(['one ', 'two ', 'three'], { hangAfter: 2 }));
    const deltas: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of generator({}, { timeoutMs: 300 }).stream({ question, context })) if ('delta' in e) deltas.push(e.delta);
      })(),
    );
    expect(deltas).toEqual(['one ', 'two ']);
    expect((err as ProviderError).reason).toBe('timeout');
    await fake.to(CHAT)[0]!.closed;
    expect(fake.to(CHAT)[0]!.clientClosed).toBe(true);
  });

  it("passes the caller's abort to the HTTP request", async () => {
    fake.enqueue(CHAT, respond.delayed(5_000, respond.chat()));
    const controller = new AbortController();
    const call = generator().generate({ question, context, signal: controller.signal });
    await expect.poll(() => fake.to(CHAT).length).toBe(1);
    controller.abort();
    const err = await rejection(call);
    expect(err).toBeInstanceOf(CallAbortedError);
    await fake.to(CHAT)[0]!.closed;
    expect(fake.to(CHAT)[0]!.clientClosed).toBe(true);
  });

  it('closes an upstream stream when the caller aborts mid-answer', async () => {
    fake.enqueue(CHAT, respond.chatStream(['a ', 'b ', 'c ', 'd ', 'e '], { gapMs: 200 }));
    const controller = new AbortController();
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of generator().stream({ question, context, signal: controller.signal })) {
          if ('delta' in e) seen.push(e.delta);
          if (seen.length === 2) controller.abort();
        }
      })(),
    );
    expect(err).toBeInstanceOf(CallAbortedError);
    expect(seen).toEqual(['a ', 'b ']);
    await fake.to(CHAT)[0]!.closed;
    expect(fake.to(CHAT)[0]!.clientClosed).toBe(true);
  });

  it('opens the circuit after repeated failures and then stops calling the provider', async () => {
    fake.setDefault(CHAT, respond.error(500));
    try {
      const g = generator({ breaker: { minRequests: 3, resetMs: 60_000 } }, { retries: 0 });
      for (let i = 0; i < 3; i++) {
        const err = await rejection(g.generate({ question, context }));
        expect((err as ProviderError).reason).toBe('upstream_error');
      }
      expect(g.breaker.opened).toBe(true);
      const before = fake.to(CHAT).length;
      const err = await rejection(g.generate({ question, context }));
      expect((err as ProviderError).reason).toBe('circuit_open');
      expect(fake.to(CHAT).length).toBe(before);
    } finally {
      fake.setDefault(CHAT, async (req, res, signal) => (req.body.stream ? respond.chatStream(['x']) : respond.chat())(req, res, signal));
    }
  });

  it('lets a trial call through after the reset time and closes the circuit when it succeeds', async () => {
    const g = generator({ breaker: { minRequests: 2, resetMs: 200 } }, { retries: 0 });
    fake.enqueue(CHAT, respond.error(500), respond.error(500));
    await rejection(g.generate({ question, context }));
    await rejection(g.generate({ question, context }));
    expect(g.breaker.opened).toBe(true);
    await expect.poll(() => g.breaker.halfOpen, { timeout: 2_000 }).toBe(true);
    fake.enqueue(CHAT, respond.chat({ content: 'back [1]' }));
    expect((await g.generate({ question, context })).text).toBe('back [1]');
    expect(g.breaker.closed).toBe(true);
  });

  it('does not count refused requests (400) against the provider', async () => {
    const g = generator({ breaker: { minRequests: 2, resetMs: 60_000 } }, { retries: 0 });
    fake.enqueue(CHAT, respond.error(400), respond.error(400), respond.error(400));
    for (let i = 0; i < 3; i++) await rejection(g.generate({ question, context }));
    expect(g.breaker.closed).toBe(true);
  });
});
