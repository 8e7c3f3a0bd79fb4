import { errorFunction, probit } from 'simple-statistics';

/**
 * Proportions with honest uncertainty, for experiment reports. The error function comes from
 * simple-statistics; its table-based normal CDF (2 decimals) and its probit (1.957 for 97.5 %) are
 * too coarse for p-values and intervals, so the CDF is taken from erf and the quantile is polished
 * with Newton steps on it. The two formulas on top are the textbook ones.
 */

/** Standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/** Standard normal quantile: simple-statistics' probit as the start, then Newton steps on normalCdf. */
export function normalQuantile(p: number): number {
  let z = probit(p);
  for (let i = 0; i < 4; i++) z -= (normalCdf(z) - p) / (Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI));
  return z;
}

export interface Interval {
  low: number;
  high: number;
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

/** Wilson score interval of `successes` out of `n` (null when n is 0): sound even for small n and rates near 0 or 1. */
export function wilsonInterval(successes: number, n: number, confidence = 0.95): Interval | null {
  if (n <= 0) return null;
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const margin = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return { low: round(Math.max(0, centre - margin)), high: round(Math.min(1, centre + margin)) };
}

export interface ProportionTest {
  /** Rate of b minus rate of a. */
  difference: number;
  z: number;
  /** Two-sided. */
  pValue: number;
}

/** Two-proportion z-test (pooled variance) of b against a; null when either side has no trials or the pooled rate is 0 or 1. */
export function twoProportionTest(aSuccesses: number, aN: number, bSuccesses: number, bN: number): ProportionTest | null {
  if (aN <= 0 || bN <= 0) return null;
  const pooled = (aSuccesses + bSuccesses) / (aN + bN);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / aN + 1 / bN));
  if (se === 0) return null;
  const difference = bSuccesses / bN - aSuccesses / aN;
  const z = difference / se;
  const pValue = 2 * (1 - normalCdf(Math.abs(z)));
  return { difference: round(difference), z: round(z), pValue: round(Math.max(0, pValue)) };
}
