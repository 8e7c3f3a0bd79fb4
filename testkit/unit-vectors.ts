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

/** A random unit vector drawn from `random` (a seeded PRNG such as core/random.ts's mulberry32). */
export function randomUnitVector(random: () => number, dimensions: number): Float32Array {
  const v = Float32Array.from({ length: dimensions }, () => random() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}
