// Reductions over axes. Kernel: backend reduce (webgpu: kernels/reduce.wgsl main). Backward broadcasts
// the upstream gradient back over the reduced axes (elementwise copy with broadcast strides).

import { record } from '../autograd/graph.js';
import type { Tensor } from '../tensor/tensor.js';
import { kernel } from './elementwise.js';
import { checkTensor, normAxis, sumOverAxes } from './util.js';

function axesOf(name: string, x: Tensor, axis: number | number[] | undefined): number[] {
  if (axis === undefined) return x.shape.map((_, i) => i);
  const list = Array.isArray(axis) ? axis : [axis];
  const norm = list.map((a) => normAxis(name, a, x.shape.length));
  if (new Set(norm).size !== norm.length) throw new Error(`${name}: axis ${JSON.stringify(axis)} repeats an axis`);
  return norm.sort((a, b) => a - b);
}

/** Sum over one axis or several (all when omitted). keepDims leaves the reduced axes as size 1. */
export function sum(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  checkTensor('sum', 'x', x);
  const axes = axesOf('sum', x, axis);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const reduced = sumOverAxes(x, axes);
  const y = reduced.share(keepDims ? kept : x.shape.filter((_, i) => !axes.includes(i)));
  reduced.dispose();
  return record('sum', y, [x], [], (g) => {
    const view = g.share(kept);
    const gx = kernel('copy', [view], x.shape);
    view.dispose();
    return [gx];
  });
}

export function mean(x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  checkTensor('mean', 'x', x);
  const axes = axesOf('mean', x, axis);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const s = sum(x, axis, keepDims);
  if (count === 1) return s;
  const y = kernel('affine', [s], s.shape, [1 / count, 0]);
  const r = record('mean', y, [s], [], (g) => [kernel('affine', [g], g.shape, [1 / count, 0])]);
  s.dispose();
  return r;
}
