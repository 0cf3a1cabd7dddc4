// Layout ops, forward and backward side by side. Kernels: backend pad2d and copyAxis
// (webgpu: kernels/layout.wgsl pad, copy_rows).
//   pad    forward: pad2d (constant border)       backward: pad2d with crop (the interior of the gradient)
//   concat forward: copyAxis into a slab of y     backward: copyAxis with slice (each input's slab of the gradient)

import { needsGrad, record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkNumber, checkRank, checkTensor, fmt, normAxis, op, out, padding4 } from './util.js';

/** Spatial padding of NCHW x: n, [h, w] or [top, left, bottom, right], filled with `value`. */
export function pad(x: Tensor, pads: number | [number, number] | [number, number, number, number], value = 0): Tensor {
  checkTensor('pad', 'x', x);
  checkRank('pad', 'x', x, 4);
  const p = padding4('pad', pads);
  checkNumber('pad', 'value', value);
  const [N, C, H, W] = x.shape;
  const y = out([N, C, H + p[0] + p[2], W + p[1] + p[3]]);
  backend().pad2d(op(x), p, value, op(y), false);
  return record('pad', y, [x], [], (g) => {
    const gx = out(x.shape);
    backend().pad2d(op(g), p, 0, op(gx), true);
    return [gx];
  });
}

/** Joins tensors along `axis` (negative counts from the end); all other sizes must agree. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) {
    throw new Error(`concat: xs must be a non-empty array of Tensors, got ${Array.isArray(xs) ? 'an empty array' : typeof xs}`);
  }
  xs.forEach((x, i) => checkTensor('concat', `xs[${i}]`, x));
  const first = xs[0].shape;
  const rank = first.length;
  const a = normAxis('concat', axis, rank);
  xs.forEach((x, i) => {
    if (x.shape.length !== rank || x.shape.some((d, k) => k !== a && d !== first[k])) {
      throw new Error(`concat: xs[${i}] has shape ${fmt(x.shape)} but xs[0] has ${fmt(first)}; ` +
        `they must agree on every axis except axis ${axis}`);
    }
  });
  const outer = first.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = first.slice(a + 1).reduce((p, d) => p * d, 1);
  const sizes = xs.map((x) => x.shape[a]);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((p, d) => p + d, 0));
  const total = sizes.reduce((p, d) => p + d, 0);
  const shape = [...first];
  shape[a] = total;
  const y = out(shape);
  xs.forEach((x, i) => backend().copyAxis(op(x), op(y), outer, sizes[i], total, inner, offsets[i], false));
  const wanted = xs.map(needsGrad);
  return record('concat', y, xs, [], (g) => xs.map((x, i) => {
    if (!wanted[i]) return null;
    const gx = out(x.shape);
    backend().copyAxis(op(g), op(gx), outer, sizes[i], total, inner, offsets[i], true);
    return gx;
  }));
}
