import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { OpenAIChatGenerator } from '../../answer/generators/openai-chat.ts';
import { chatOptionsFromConfig } from '../../answer/generators/openai-chat.ts';
import type { ContextChunk } from '../../answer/types.ts';
import { configSchema } from '../../core/config.ts';
import type { ProviderError } from '../../core/resilience.ts';
import { chunkRecord } from '../../testkit/chunk-record.ts';
import { FakeOpenAI, respond } from './fake-openai.ts';

/** Contract test: the real openai SDK against a fake that hangs, called one request at a time. */

const CHAT = '/v1/chat/completions';
const fake = new FakeOpenAI();
const context: ContextChunk[] = [{ marker: 1, chunk: chunkRecord('a', 'The default port is 8787.'), denseScore: 0.7 }];
const question = 'What is the default port?';

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

it('opens on consecutive failures of slow sequential calls, so later calls fail at once without reaching the provider', async () => {
  // The configured defaults (5 calls in 10 s for the rate rule), with a short timeout and no retries.
  const config = configSchema.parse({ openai: { apiKey: 'sk-test', baseUrl: fake.baseURL, timeoutMs: 1000, maxRetries: 0 } });
  const generator = new OpenAIChatGenerator(chatOptionsFromConfig(config));
  expect(config.openai.breakerConsecutiveFailures).toBe(3);
  fake.setDefault(CHAT, respond.delayed(60_000, respond.chat()));
  try {
    for (let i = 0; i < 3; i++) {
      const err = (await generator.generate({ question, context }).catch((e: unknown) => e)) as ProviderError;
      expect(err.reason).toBe('timeout');
    }
    expect(generator.breaker.opened).toBe(true);
    const reached = fake.to(CHAT).length;
    expect(reached).toBe(3);
    const err = (await generator.generate({ question, context }).catch((e: unknown) => e)) as ProviderError;
    expect(err.reason).toBe('circuit_open');
    expect(fake.to(CHAT).length).toBe(reached);
  } finally {
    fake.setDefault(CHAT, respond.chat());
  }
});

it('a success in between starts the count again', async () => {
  const config = configSchema.parse({ openai: { apiKey: 'sk-test', baseUrl: fake.baseURL, timeoutMs: 300, maxRetries: 0 } });
  const generator = new OpenAIChatGenerator(chatOptionsFromConfig(config));
  // Four calls stay under the rate rule's five; without the reset, the three failures would open it.
  fake.enqueue(CHAT, respond.error(500), respond.chat(), respond.error(500), respond.error(500));
  for (let i = 0; i < 4; i++) await generator.generate({ question, context }).catch(() => undefined);
  expect(generator.breaker.closed).toBe(true);
});
