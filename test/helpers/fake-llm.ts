import { OpenAIChatGenerator } from '../../answer/generators/openai-chat.ts';

/** The real OpenAI-compatible generator pointed at a local FakeOpenAI: no retries, a breaker that stays closed. */
export function fakeChatGenerator(baseURL: string): OpenAIChatGenerator {
  return new OpenAIChatGenerator({
    apiKey: 'sk-test',
    baseURL,
    model: 'gpt-4o-mini',
    temperature: 0.1,
    maxOutputTokens: 300,
    policy: { timeoutMs: 3_000, retries: 0, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5_000 },
    breaker: { minRequests: 100, resetMs: 60_000 },
  });
}
