// Elementwise ops, forward and backward side by side. Kernels: the backend's op table
// (webgpu: kernels/elementwise.wgsl main, one pipeline per operator).

import type { ElementwiseOp, ReluMask } from '../backend/interface.js';
import { type BackwardContext, needsGrad, record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, checkNumber, checkTensor, fmt, op, out, sameShape, sumOverAxes } from './util.js';

/** Runs one op-table kernel with no graph recording. */
export function kernel(name: ElementwiseOp, inputs: Tensor[], shape: readonly number[], scalars?: number[]): Tensor {
  const y = out(shape);
  backend().elementwise(name, inputs.map(op), op(y), scalars);
  return y;
}

/** Sums g over the axes along which `shape` was broadcast to g's shape (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g.share();
  const lead = g.shape.length - shape.length;
  const axes = g.shape.map((_, d) => d).filter((d) => d < lead || shape[d - lead] === 1);
  const kept = sumOverAxes(g, axes);
  const result = kept.share(shape);
  kept.dispose();
  return result;
}

function unary(name: string, kernelOp: ElementwiseOp, x: Tensor, scalars: number[],
               back: ((g: Tensor, x: Tensor, y: Tensor, ctx: BackwardContext) => Tensor) | null,
               saveOutput = false): Tensor {
  checkTensor(name, 'x', x);
  const y = kernel(kernelOp, [x], x.shape, scalars);
  if (!back) return y;
  return record(name, y, [x], saveOutput ? [y] : [x], (g, [s], ctx) =>
    [saveOutput ? back(g, x, s, ctx) : back(g, s, y, ctx)]);
}

export const neg = (x: Tensor): Tensor => unary('neg', 'neg', x, [], (g) => kernel('neg', [g], g.shape));
export const exp = (x: Tensor): Tensor =>
  unary('exp', 'exp', x, [], (g, _x, y) => kernel('mul', [g, y], g.shape), true);
export const log = (x: Tensor): Tensor => unary('log', 'log', x, [], (g, x) => kernel('div', [g, x], g.shape));
export const sqrt = (x: Tensor): Tensor =>
  unary('sqrt', 'sqrt', x, [], (g, _x, y) => {
    const t = kernel('div', [g, y], g.shape);
    const r = kernel('affine', [t], g.shape, [0.5, 0]);
    t.dispose();
    return r;
  }, true);
export const square = (x: Tensor): Tensor =>
  unary('square', 'square', x, [], (g, x) => {
    const t = kernel('mul', [g, x], g.shape);
    const r = kernel('affine', [t], g.shape, [2, 0]);
    t.dispose();
    return r;
  });
export const abs = (x: Tensor): Tensor => unary('abs', 'abs', x, [], (g, x) => kernel('absGrad', [x, g], g.shape));
export const sigmoid = (x: Tensor): Tensor =>
  unary('sigmoid', 'sigmoid', x, [], (g, _x, y) => kernel('sigmoidGrad', [y, g], g.shape), true);

/** x * s */
export function scale(x: Tensor, s: number): Tensor {
  checkNumber('scale', 's', s);
  return unary('scale', 'affine', x, [s, 0], (g) => kernel('affine', [g], g.shape, [s, 0]));
}

/** x * s + t */
export function affine(x: Tensor, s: number, t: number): Tensor {
  checkNumber('affine', 's', s);
  checkNumber('affine', 't', t);
  return unary('affine', 'affine', x, [s, t], (g) => kernel('affine', [g], g.shape, [s, 0]));
}

/**
 * ReLU. Its backward rule is chosen by the backward pass (Sect. 4 of the paper): 'gradient' 1(X > 0),
 * 'deconvnet' 1(R > 0) on the signal coming down, 'guided' both.
 */
export const relu = (x: Tensor): Tensor => unary('relu', 'relu', x, [], (g, x, _y, ctx) => reluBackward(g, x, ctx));

/**
 * ReLU's backward under the pass's rule. `a` is the ReLU's input or its output: the rules read only which of
 * its elements are > 0, the same for both (a NaN stays a NaN through ReLU).
 */
export function reluBackward(g: Tensor, a: Tensor, ctx: BackwardContext): Tensor {
  return kernel(reluRuleOp(ctx), [a, g], g.shape);
}

/** The elementwise op of the pass's ReLU rule: (a, g) -> g where the rule lets it through, else 0. */
export function reluRuleOp(ctx: BackwardContext): ReluMask['rule'] {
  return ctx.reluRule === 'deconvnet' ? 'reluDeconvnet' : ctx.reluRule === 'guided' ? 'reluGuided' : 'reluGradient';
}

export function clip(x: Tensor, min: number, max: number): Tensor {
  checkNumber('clip', 'min', min);
  checkNumber('clip', 'max', max);
  if (min > max) throw new Error(`clip: min ${min} is greater than max ${max}`);
  return unary('clip', 'clip', x, [min, max], (g, x) => kernel('clipGrad', [x, g], g.shape, [min, max]));
}

function binary(name: 'add' | 'sub' | 'mul' | 'div', a: Tensor, b: Tensor): Tensor {
  checkTensor(name, 'a', a);
  checkTensor(name, 'b', b);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const y = kernel(name, [a, b], shape);
  const needA = needsGrad(a), needB = needsGrad(b);
  const save = name === 'mul' || name === 'div' ? [a, b] : [];
  return record(name, y, [a, b], save, (g, s) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    const reduceTo = (t: Tensor, target: readonly number[]) => {
      const r = sumTo(t, target);
      t.dispose();
      return r;
    };
    if (name === 'add' || name === 'sub') {
      if (needA) ga = sumTo(g, a.shape);
      if (needB) gb = reduceTo(name === 'add' ? g.share() : kernel('neg', [g], g.shape), b.shape);
    } else if (name === 'mul') {
      if (needA) ga = reduceTo(kernel('mul', [g, s[1]], g.shape), a.shape);
      if (needB) gb = reduceTo(kernel('mul', [g, s[0]], g.shape), b.shape);
    } else {
      if (needA) ga = reduceTo(kernel('div', [g, s[1]], g.shape), a.shape);
      if (needB) gb = reduceTo(kernel('divGradB', [s[0], s[1], g], g.shape), b.shape);
    }
    return [ga, gb];
  });
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

/** A copy of x broadcast to `shape`; backward sums back. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('broadcastTo', 'x', x);
  const s = broadcastShapes('broadcastTo', x.shape, shape);
  if (!sameShape(s, shape)) throw new Error(`broadcastTo: ${fmt(x.shape)} does not broadcast to ${fmt(shape)}`);
  const y = kernel('copy', [x], shape);
  return record('broadcastTo', y, [x], [], (g) => [sumTo(g, x.shape)]);
}
