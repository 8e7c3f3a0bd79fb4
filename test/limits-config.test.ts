import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardrailsFromConfig } from '../answer/guardrails.ts';
import { RequestLimits } from '../api/limits/request-limits.ts';
import { configSchema, loadConfig } from '../core/config.ts';

describe('guardrail and limit settings', () => {
  it('reads every variable, with defaults in one place', () => {
    const defaults = loadConfig({});
    expect(defaults.guardrails).toMatchObject({
      chunkInjection: 'fence',
      questionInjection: 'flag',
      redactIngest: false,
      redactAnswers: false,
      redactTraces: false,
    });
    expect(defaults.rateLimits).toMatchObject({ tenantRequestsPerMinute: 3000, keyTokensPerMinute: 100_000, authFailuresPerWindow: 10 });
    expect(defaults.redisUrl).toBeUndefined();

    const set = loadConfig({
      RAGLINE_REDACT_KINDS: 'email, card',
      RAGLINE_REDACT_TRACES: 'true',
      RAGLINE_OUTPUT_BLOCKLIST: 'Project Falcon,/secret-\\d+/',
      RAGLINE_CHUNK_INJECTION: 'drop',
      REDIS_URL: 'redis://127.0.0.1:6379',
      RAGLINE_KEY_TOKENS_PER_MINUTE: '2500',
    });
    expect(set.guardrails).toMatchObject({
      redactKinds: ['email', 'card'],
      redactTraces: true,
      outputBlocklist: ['Project Falcon', '/secret-\\d+/'],
      chunkInjection: 'drop',
    });
    expect(set.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(set.rateLimits).toMatchObject({ keyTokensPerMinute: 2500 });
  });

  it.each([
    ['RAGLINE_REDACT_KINDS', 'email,passport'],
    ['RAGLINE_CHUNK_INJECTION', 'hide'],
    ['RAGLINE_REDACT_ANSWERS', 'maybe'],
    ['REDIS_URL', 'not a url'],
    ['RAGLINE_TENANT_TOKENS_PER_MINUTE', '0'],
    ['RAGLINE_AUTH_FAILURES_PER_WINDOW', '-3'],
  ])('refuses %s=%j naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`Invalid configuration: ${name}`));
  });

  it('refuses a blocklist regex that does not compile, and reads a blocklist file', () => {
    const parse = (guardrails: object) => configSchema.parse({ guardrails }).guardrails;
    expect(() => guardrailsFromConfig(parse({ outputBlocklist: ['/(/'] }))).toThrow(/RAGLINE_OUTPUT_BLOCKLIST/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-blocklist-')), 'blocklist.txt');
    fs.writeFileSync(file, '# codenames\nProject Falcon\n\n/ticket-\\d{4}/\n');
    const { blocklist } = guardrailsFromConfig(parse({ outputBlocklistFile: file }));
    expect([blocklist.check('see TICKET-1234'), blocklist.check('project falcon'), blocklist.check('# codenames')]).toEqual([
      ['/ticket-\\d{4}/'],
      ['Project Falcon'],
      [],
    ]);
    expect(() => guardrailsFromConfig(parse({ outputBlocklistFile: `${file}.missing` }))).toThrow(/RAGLINE_OUTPUT_BLOCKLIST_FILE/);
  });
});

describe('rate limits while Redis is unreachable', () => {
  it('keep counting in process (the insurance limiter) instead of failing open or refusing everything', async () => {
    const config = configSchema.parse({
      server: { rateLimitPerMinute: 2 },
      redisUrl: 'redis://127.0.0.1:1',
      rateLimits: { redisPrefix: 'ragline-test:unreachable' },
    });
    const limits = RequestLimits.fromConfig(config);
    try {
      const who = { keyId: 'k', tenantId: 't' };
      const outcomes = [await limits.request(who), await limits.request(who), await limits.request(who)];
      expect(outcomes.map((o) => o.allowed)).toEqual([true, true, false]);
      expect(outcomes[2]!.state).toMatchObject({ scope: 'key', limit: 2, remaining: 0 });
    } finally {
      await limits.close();
    }
  });
});
