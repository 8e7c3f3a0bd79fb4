import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Fixture sets for the guardrails (testkit/guardrails/*.json), read by tests and by the figures in docs/guardrails.md. */
export function readGuardrailFixture<T>(name: 'pii' | 'injection' | 'blocklist'): T {
  const file = fileURLToPath(new URL(`./guardrails/${name}.json`, import.meta.url));
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export interface DetectionScore {
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number;
  recall: number;
}

/** Precision and recall over expected vs found items (each a string key such as "kind:text"). */
export function scoreDetections(cases: Array<{ expected: string[]; found: string[] }>): DetectionScore {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const { expected, found } of cases) {
    const remaining = [...expected];
    for (const item of found) {
      const at = remaining.indexOf(item);
      if (at >= 0) {
        tp++;
        remaining.splice(at, 1);
      } else fp++;
    }
    fn += remaining.length;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 1 : Math.round((a / b) * 1000) / 1000);
  return { truePositives: tp, falsePositives: fp, falseNegatives: fn, precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn) };
}
