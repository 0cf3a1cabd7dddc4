// Creating tensors: from values, constants and seeded random numbers (generated on the host, so every
// backend sees the same values for the same seed).

import { backend } from '../runtime.js';
import { checkShape, empty, fmt, shapeSize, type Tensor } from './tensor.js';

export interface CreateOptions { requiresGrad?: boolean }

export function tensor(values: Float32Array | number[], shape: number[], opts: CreateOptions = {}): Tensor {
  const s = checkShape('tensor', 'shape', shape);
  if (!(values instanceof Float32Array) && !Array.isArray(values)) {
    throw new Error(`tensor: values must be a Float32Array or an array of numbers, got ${typeof values}`);
  }
  const n = shapeSize(s);
  if (values.length !== n) {
    throw new Error(`tensor: ${values.length} values do not fill shape ${fmt(s)} (${n} elements)`);
  }
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  const b = backend();
  const t = empty(b, s);
  if (n > 0) b.upload(t.operand.storage, 0, data);
  t.requiresGrad = opts.requiresGrad ?? false;
  return t;
}

export function full(shape: number[], value: number, opts: CreateOptions = {}): Tensor {
  const s = checkShape('full', 'shape', shape);
  if (typeof value !== 'number') throw new Error(`full: value must be a number, got ${typeof value}`);
  const b = backend();
  const t = empty(b, s);
  if (t.size > 0) b.fill(t.operand, value);
  t.requiresGrad = opts.requiresGrad ?? false;
  return t;
}

export const zeros = (shape: number[], opts?: CreateOptions): Tensor => full(shape, 0, opts);
export const ones = (shape: number[], opts?: CreateOptions): Tensor => full(shape, 1, opts);

/** A small, fast, seedable generator (SplitMix32 seeding a xoshiro128**). */
export function rng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`rng: seed must be a finite number, got ${seed}`);
  let z = (Math.floor(seed) >>> 0) ^ 0x9e3779b9;
  const split = () => {
    z = (z + 0x9e3779b9) >>> 0;
    let t = z;
    t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
    t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
    return (t ^ (t >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  return () => {
    const r = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
    d = (d << 11) | (d >>> 21);
    return r / 4294967296;
  };
}

export interface RandomOptions extends CreateOptions { seed?: number }

function randomValues(fn: string, shape: number[], opts: RandomOptions, draw: (next: () => number) => number): Tensor {
  const s = checkShape(fn, 'shape', shape);
  const next = rng(opts.seed ?? 0);
  const v = new Float32Array(shapeSize(s));
  for (let i = 0; i < v.length; i++) v[i] = draw(next);
  return tensor(v, s, opts);
}

/** Uniform on [0, 1). */
export function rand(shape: number[], opts: RandomOptions = {}): Tensor {
  return randomValues('rand', shape, opts, (next) => next());
}

/** Standard normal (Box–Muller). */
export function randn(shape: number[], opts: RandomOptions = {}): Tensor {
  return randomValues('randn', shape, opts, (next) => {
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  });
}
