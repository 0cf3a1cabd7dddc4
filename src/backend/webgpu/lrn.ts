// Local response normalisation on WebGPU. Entry points: kernels/lrn.wgsl forward, backward (one thread per
// element; the derivation of the backward is in the kernel's header). x is viewed as [N, C, S] with S the
// product of the spatial sizes; work is split over whole samples so that no binding exceeds one window.

import type { LrnParams, Operand } from '../interface.js';
import { type GpuContext, kernelSource, type UniformField } from './context.js';

const WORKGROUP = 256;

/**
 * The channel window of `size` around c: [c - lo, c + hi] with lo = floor((size - 1) / 2) and hi = the rest, as
 * ONNX and Caffe define it. (PyTorch puts the extra channel of an even size before c instead; odd sizes agree.)
 */
export function lrnWindow(size: number): { lo: number; hi: number } {
  const lo = Math.floor((size - 1) / 2);
  return { lo, hi: size - 1 - lo };
}

function geometry(fn: string, ctx: GpuContext, x: Operand, others: readonly Operand[]) {
  if (x.shape.length < 2) throw new Error(`${fn}: x must be at least [N, C], got [${x.shape.join(', ')}]`);
  for (const o of others) {
    if (o.size !== x.size) throw new Error(`${fn}: operands of ${o.size} and ${x.size} elements differ`);
  }
  const [N, C] = x.shape;
  const spatial = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const sample = C * spatial;
  // the channel window spans a whole sample, so a sample is the smallest piece that can be split off
  if (sample > ctx.maxWindowElements) {
    throw new Error(`${fn}: one sample of ${sample} elements ([${x.shape.slice(1).join(', ')}]) exceeds a storage ` +
      `binding (${ctx.maxWindowElements} elements)`);
  }
  return { N, C, spatial, sample, samplesPerDispatch: Math.floor(ctx.maxWindowElements / Math.max(sample, 1)) };
}

function params(p: LrnParams, C: number, spatial: number, count: number): UniformField[] {
  const { lo, hi } = lrnWindow(p.size);
  return [count, C, spatial, lo, hi, { f: p.alpha / p.size }, { f: p.beta }, { f: p.k }];
}

/** out = x / (k + alpha / size * windowed sum of x^2)^beta */
export function lrn(ctx: GpuContext, x: Operand, p: LrnParams, out: Operand): void {
  if (out.size === 0) return;
  const { N, C, spatial, sample, samplesPerDispatch } = geometry('lrn', ctx, x, [out]);
  const key = 'lrn:forward';
  const pipeline = ctx.pipeline(key, () => kernelSource('lrn.wgsl'), 'forward');
  for (let n0 = 0; n0 < N; n0 += samplesPerDispatch) {
    const count = Math.min(samplesPerDispatch, N - n0) * sample;
    const ow = ctx.window(out, n0 * sample, count);
    const xw = ctx.window(x, n0 * sample, count);
    ctx.dispatch(pipeline, [ow, xw], [...params(p, C, spatial, count), ow.base, xw.base, 0, 0],
      Math.ceil(count / WORKGROUP), key);
  }
}

/** The gradient of lrn with respect to x, given x, the forward's output y and the upstream gradient g. */
export function lrnBackward(ctx: GpuContext, x: Operand, y: Operand, g: Operand, p: LrnParams, out: Operand): void {
  if (out.size === 0) return;
  const { N, C, spatial, sample, samplesPerDispatch } = geometry('lrnBackward', ctx, x, [y, g, out]);
  const key = 'lrn:backward';
  const pipeline = ctx.pipeline(key, () => kernelSource('lrn.wgsl'), 'backward');
  for (let n0 = 0; n0 < N; n0 += samplesPerDispatch) {
    const count = Math.min(samplesPerDispatch, N - n0) * sample;
    const [ow, xw, yw, gw] = [out, x, y, g].map((o) => ctx.window(o, n0 * sample, count));
    ctx.dispatch(pipeline, [ow, xw, yw, gw], [...params(p, C, spatial, count), ow.base, xw.base, yw.base, gw.base],
      Math.ceil(count / WORKGROUP), key);
  }
}
