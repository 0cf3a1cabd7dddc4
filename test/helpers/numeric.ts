// Numerical checks: relative error, float64 central finite differences, seeded data.

import { rng } from '../../src/tensor/create.js';

export type F64 = Float64Array;

/** ||a - b|| / ||b|| (absolute when b is zero). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Seeded values in [lo, hi), rounded to float32 so both sides see identical inputs. */
export function uniform(shape: readonly number[], seed: number, lo = -1, hi = 1): Float32Array {
  const next = rng(seed);
  const v = new Float32Array(size(shape));
  for (let i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * next();
  return v;
}

/** Seeded values that stay at least `gap` away from zero (keeps ReLU / abs / clip away from their kinks). */
export function awayFromZero(shape: readonly number[], seed: number, gap = 0.05): Float32Array {
  const v = uniform(shape, seed);
  for (let i = 0; i < v.length; i++) v[i] = Math.sign(v[i] || 1) * (gap + Math.abs(v[i]));
  return v;
}

/**
 * Central finite differences of the scalar L(xs) = Σ f(xs) ⊙ r with respect to input `which`, in float64.
 * The step is relative to each element's magnitude.
 */
export function finiteDifference(f: (xs: F64[]) => F64, xs: F64[], r: F64, which: number, h = 1e-6): F64 {
  const x = xs[which];
  const g = new Float64Array(x.length);
  const loss = () => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const orig = x[i];
    const step = h * Math.max(1, Math.abs(orig));
    x[i] = orig + step;
    const up = loss();
    x[i] = orig - step;
    const down = loss();
    x[i] = orig;
    g[i] = (up - down) / (2 * step);
  }
  return g;
}

/** Seeded standard-normal values drawn on the host (the same on every backend and machine). */
export function normals(n: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}
