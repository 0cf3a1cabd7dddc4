// What the visualisation methods share: argument checks that name the method, the model's preprocessing as a
// differentiable affine map (so gradients can be taken with respect to the image the user passed), class
// targets, and the channel-wise maximum of |gradient| that turns a gradient into a map.

import { Model, type Preprocess } from '../models/model.js';
import * as ops from '../ops/index.js';
import { kernel } from '../ops/elementwise.js';
import { fmt, op, out } from '../ops/util.js';
import { backend } from '../runtime.js';
import { tensor } from '../tensor/create.js';
import { Tensor } from '../tensor/tensor.js';

export function checkModel(fn: string, model: unknown): Model {
  if (!(model instanceof Model)) {
    throw new Error(`${fn}: model must be a Model (from loadOnnx, nn.sequential or models.*), got ${model === null ? 'null' : typeof model}`);
  }
  return model;
}

export function checkOptions<T extends object>(fn: string, opts: unknown, keys: readonly string[]): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new Error(`${fn}: opts must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
  for (const k of Object.keys(opts)) {
    if (!keys.includes(k)) throw new Error(`${fn}: unknown option ${JSON.stringify(k)}; options are ${keys.join(', ')}`);
  }
  return opts as T;
}

export function checkIntOption(fn: string, arg: string, v: unknown, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${fn}: ${arg} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export function checkNumberOption(fn: string, arg: string, v: unknown, min: number, fallback: number, exclusiveMin = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (exclusiveMin && v === min)) {
    throw new Error(`${fn}: ${arg} must be a finite number ${exclusiveMin ? '>' : '>='} ${min}, got ${String(v)}`);
  }
  return v;
}

/** The number of classes K: the model's output must be class scores [N, K] (or [N, K, 1, 1]). */
export function classCount(fn: string, model: Model): number {
  const s = model.outputShape;
  if (s.length === 2 || (s.length === 4 && s[2] === 1 && s[3] === 1)) return s[1];
  throw new Error(`${fn}: model ${model.name} outputs ${fmt(s)} per image, not class scores [1, K]`);
}

/** Checks a batch of images for the model: a live 4-D tensor with the model's channels (and size, unless anySize). */
export function checkImages(fn: string, arg: string, model: Model, images: unknown, anySize: boolean): Tensor {
  if (!(images instanceof Tensor)) throw new Error(`${fn}: ${arg} must be a Tensor [N, C, H, W], got ${images === null ? 'null' : typeof images}`);
  if (images.disposed) throw new Error(`${fn}: ${arg} (shape ${fmt(images.shape)}) was disposed`);
  if (images.backend !== backend()) throw new Error(`${fn}: ${arg} lives on a backend that was closed; create it again after init()`);
  const [C, H, W] = model.inputShape;
  const s = images.shape;
  if (s.length !== 4) throw new Error(`${fn}: ${arg} must be 4-D [N, ${C}, H, W], got shape ${fmt(s)}`);
  if (s[0] === 0) throw new Error(`${fn}: ${arg} is an empty batch (shape ${fmt(s)})`);
  if (s[1] !== C) throw new Error(`${fn}: ${arg} has ${s[1]} channels, model ${model.name} wants ${C} (shape ${fmt(s)})`);
  if (!anySize && (s[2] !== H || s[3] !== W)) {
    throw new Error(`${fn}: ${arg} is ${s[2]}x${s[3]}, model ${model.name} wants ${H}x${W} images ([N, ${C}, ${H}, ${W}], got ${fmt(s)})`);
  }
  if (s[2] === 0 || s[3] === 0) throw new Error(`${fn}: ${arg} has no pixels (shape ${fmt(s)})`);
  return images;
}

/** Resolves class targets for n images: one per image, one for all, or null for 'top1' (decided from the scores). */
export function checkTargets(fn: string, target: unknown, n: number, classes: number): number[] | null {
  if (target === undefined || target === 'top1') return null;
  const one = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`${fn}: ${where} must be a class index in 0..${classes - 1} (the model has ${classes} classes), got ${String(v)}`);
    }
    return v;
  };
  if (typeof target === 'number') return new Array(n).fill(one(target, 'target'));
  if (Array.isArray(target)) {
    if (target.length !== n) throw new Error(`${fn}: target lists ${target.length} classes for ${n} images`);
    return target.map((v, i) => one(v, `target[${i}]`));
  }
  throw new Error(`${fn}: target must be a class index, an array of them (one per image) or 'top1', got ${JSON.stringify(target)}`);
}

/** argmax over each row of a [n, k] score matrix (the first maximum on ties). */
export function argmaxRows(scores: Float32Array, n: number, k: number): number[] {
  const r: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (scores[i * k + j] > scores[i * k + best]) best = j;
    r.push(best);
  }
  return r;
}

/** A [n, k] tensor with 1 at (i, targets[i]): the seed of the backward pass through the class scores. */
export function oneHot(targets: readonly number[], k: number, value = 1): Tensor {
  const v = new Float32Array(targets.length * k);
  targets.forEach((c, i) => { v[i * k + c] = value; });
  return tensor(v, [targets.length, k]);
}

// ----------------------------------------------------------------------------- preprocessing

/**
 * The preprocessing as a per-pixel affine map from the image (0..255 RGB, what loadImage returns) to the model's
 * input: model channel o reads image channel src(o) (reversed for 'BGR'), and
 *   input_o = (image_src(o) * k - mean_o) / std_o,   k = 1/255 for scale 1 and 1 for scale 255,
 * with mean and std listed in the model's channel order. Returned as the matrix A [C, C] and offset b [C].
 */
export function preprocessAffine(p: Preprocess, channels: number): { a: Float32Array; b: Float32Array } {
  const a = new Float32Array(channels * channels);
  const b = new Float32Array(channels);
  const k = p.scale === 255 ? 1 : 1 / 255;
  for (let o = 0; o < channels; o++) {
    const src = p.channelOrder === 'BGR' ? channels - 1 - o : o;
    a[o * channels + src] = k / p.std[o];
    b[o] = -p.mean[o] / p.std[o];
  }
  return { a, b };
}

function checkPreprocess(model: Model): Preprocess | undefined {
  const p = model.preprocess;
  const C = model.inputShape[0];
  if (!p) return undefined;
  if (p.mean.length !== C || p.std.length !== C || p.std.some((s) => !(s > 0)) || (p.scale !== 1 && p.scale !== 255)) {
    throw new Error(`model ${model.name}: preprocess must hold ${C} means and ${C} positive stds and scale 1 or 255, got ${JSON.stringify(p)}`);
  }
  return p;
}

/** The model's input for images in 0..255 RGB: the preprocessing as a 1x1 convolution (differentiable). */
export function toModelInput(model: Model, images: Tensor): Tensor {
  const p = checkPreprocess(model);
  if (!p) return ops.reshape(images, [...images.shape]);
  const C = model.inputShape[0];
  const { a, b } = preprocessAffine(p, C);
  const w = tensor(a, [C, C, 1, 1]);
  const bias = tensor(b, [C]);
  const y = ops.conv2d(images, w, bias);
  w.dispose();
  bias.dispose();
  return y;
}

/** The inverse map on the host: model input [N, C, H, W] back to 0..255 RGB images; `mean` replaces the offset. */
export function fromModelInput(model: Model, input: Float32Array, n: number, mean?: Float32Array): Float32Array {
  const [C, H, W] = model.inputShape;
  const plane = H * W;
  const out = new Float32Array(input.length);
  const p = checkPreprocess(model);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < C; o++) {
      const src = p?.channelOrder === 'BGR' ? C - 1 - o : o;
      const k = p ? (p.scale === 255 ? 1 : 255) * p.std[o] : 1;
      const offset = p ? (p.scale === 255 ? 1 : 255) * p.mean[o] : 0;
      const from = (i * C + o) * plane, to = (i * C + src) * plane;
      for (let j = 0; j < plane; j++) {
        out[to + j] = input[from + j] * k + (mean ? mean[src * plane + j] : offset);
      }
    }
  }
  return out;
}

// ----------------------------------------------------------------------------- maps

/** max over the channel axis of |g| for g [N, C, H, W]: a tensor [N, H, W]. No graph is recorded. */
export function channelMaxAbs(g: Tensor): Tensor {
  const [N, C, H, W] = g.shape;
  const a = kernel('abs', [g], g.shape);
  const m = out([N, H, W]);
  backend().reduce('max', op(a), N, C, H * W, op(m));
  a.dispose();
  return m;
}
