/** A deterministic unit vector of `dimensions` numbers for `seed` (the same on every machine and run). */
export function seededUnitVector(seed: number, dimensions: number): number[] {
  let s = (seed + 1) * 2654435761;
  const v = Array.from({ length: dimensions }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}
