import { describe, expect, it } from 'vitest';
import { findPii, ibanValid, luhnValid, redact, redactDeep } from '../core/redact.ts';
import { readGuardrailFixture, scoreDetections } from '../testkit/guardrail-fixtures.ts';

interface PiiFixture {
  cases: Array<{ text: string; expect: Array<[string, string]> }>;
}
const fixture = readGuardrailFixture<PiiFixture>('pii');

describe('PII redaction on the fixture set', () => {
  const scored = fixture.cases.map((c) => ({
    text: c.text,
    expected: c.expect.map(([kind, value]) => `${kind}:${value}`),
    found: findPii(c.text).map((m) => `${m.kind}:${c.text.slice(m.start, m.end)}`),
  }));

  it('finds every planted item and nothing else (precision and recall 1.0)', () => {
    const score = scoreDetections(scored);
    console.info('[guardrails] PII fixture score', JSON.stringify(score));
    expect(scored.filter((s) => s.found.join() !== s.expected.join())).toEqual([]);
    expect(score).toMatchObject({ precision: 1, recall: 1 });
    expect(score.truePositives).toBe(fixture.cases.reduce((n, c) => n + c.expect.length, 0));
  });

  it.each(fixture.cases.filter((c) => c.expect.length === 0).map((c) => c.text))('leaves a look-alike unchanged: %j', (text) => {
    expect(redact(text)).toBe(text);
  });

  it('replaces each match with a label naming its kind and keeps the rest of the text', () => {
    expect(redact('Mail jane@example.com, card 4111-1111-1111-1111.')).toBe('Mail [REDACTED EMAIL], card [REDACTED CARD].');
    expect(redact('SSN 123-45-6789', { mask: () => '***' })).toBe('SSN ***');
  });

  it('redacts only the kinds asked for', () => {
    const text = 'jane@example.com 4111 1111 1111 1111';
    expect(redact(text, { kinds: ['card'] })).toBe('jane@example.com [REDACTED CARD]');
    expect(redact(text, { kinds: [] })).toBe(text);
  });

  it('redacts strings anywhere inside a trace-like value and keeps other values', () => {
    const trace = { question: 'mail jane@example.com', hits: [{ text: 'SSN 123-45-6789', score: 0.5 }], at: null };
    expect(redactDeep(trace)).toEqual({
      question: 'mail [REDACTED EMAIL]',
      hits: [{ text: 'SSN [REDACTED NATIONAL_ID]', score: 0.5 }],
      at: null,
    });
    expect(trace.question).toBe('mail jane@example.com');
  });

  it('checks Luhn and mod-97 check digits', () => {
    expect([luhnValid('79927398713'), luhnValid('79927398710')]).toEqual([true, false]);
    expect([ibanValid('GB82WEST12345698765432'), ibanValid('GB82WEST12345698765433'), ibanValid('GB82')]).toEqual([true, false, false]);
  });

  it('stays linear on long digit runs (bounded work per text)', () => {
    const text = `${'1 '.repeat(50_000)}end`;
    expect(redact(text)).toBe(text);
  });
});
