import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { detectInjection } from '../answer/prompts/injection.ts';
import { PII_KINDS, findPii } from '../core/redact.ts';
import { scoreDetections } from '../testkit/guardrail-fixtures.ts';
import { PROJECT_ROOT } from './helpers/shared.ts';

/** fixtures/guardrails/*.json: labelled cases, read through a schema so a typo in a fixture fails loudly. */
const injectionFixture = z.object({
  cases: z.array(
    z.object({
      label: z.enum(['attack', 'benign']),
      category: z.string().min(1),
      text: z.string().min(1),
    }),
  ),
});
const piiFixture = z.object({
  cases: z.array(
    z.object({
      category: z.string().min(1),
      text: z.string().min(1),
      expect: z.array(z.tuple([z.enum(PII_KINDS), z.string().min(1)])),
    }),
  ),
});
const read = <T>(schema: z.ZodType<T>, name: string): T =>
  schema.parse(JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'guardrails', name), 'utf8')));

const injection = read(injectionFixture, 'injection.json');
const pii = read(piiFixture, 'pii.json');

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

describe('prompt-injection screen on fixtures/guardrails/injection.json', () => {
  const results = injection.cases.map((c) => ({ ...c, flagged: detectInjection(c.text) !== null }));

  it('reports precision and recall per category', () => {
    const rows = [...groupBy(results, (r) => r.category)].map(([category, cases]) => {
      const score = scoreDetections(
        cases.map((c) => ({ expected: c.label === 'attack' ? ['injection'] : [], found: c.flagged ? ['injection'] : [] })),
      );
      return { category, cases: cases.length, ...score };
    });
    console.info(`[guardrails] injection fixtures by category\n${rows.map((r) => JSON.stringify(r)).join('\n')}`);
    // Every category is covered, and a benign category cannot hide behind an empty denominator.
    expect(rows.map((r) => r.category).sort()).toEqual(
      ['benign-document', 'benign-prose', 'direct', 'hidden-in-document', 'multilingual', 'obfuscated'].sort(),
    );
  });

  it.each(results.filter((r) => r.label === 'attack'))('flags the attack ($category): $text', ({ flagged }) => {
    expect(flagged).toBe(true);
  });

  it.each(results.filter((r) => r.label === 'benign'))('leaves benign text alone ($category): $text', ({ flagged }) => {
    expect(flagged).toBe(false);
  });
});

describe('PII detection on fixtures/guardrails/pii.json', () => {
  const results = pii.cases.map((c) => ({
    ...c,
    expected: c.expect.map(([kind, value]) => `${kind}:${value}`),
    found: findPii(c.text).map((m) => `${m.kind}:${c.text.slice(m.start, m.end)}`),
  }));

  it('reports precision and recall per PII kind (near misses count as false positives of the kind found)', () => {
    const rows = PII_KINDS.map((kind) => {
      const ofKind = (items: string[]) => items.filter((item) => item.startsWith(`${kind}:`));
      return { kind, ...scoreDetections(results.map((r) => ({ expected: ofKind(r.expected), found: ofKind(r.found) }))) };
    });
    console.info(`[guardrails] PII fixtures by kind\n${rows.map((r) => JSON.stringify(r)).join('\n')}`);
    for (const kind of ['email', 'phone', 'card', 'iban'] as const) {
      expect(pii.cases.some((c) => c.expect.some(([k]) => k === kind))).toBe(true);
    }
    expect(pii.cases.filter((c) => c.category === 'near-miss').length).toBeGreaterThan(10);
  });

  it.each(results)('finds exactly the labelled items ($category): $text', ({ expected, found }) => {
    expect(found).toEqual(expected);
  });
});
