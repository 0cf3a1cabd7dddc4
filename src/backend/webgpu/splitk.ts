// Split-K for the GEMM family: run the K-slices into a scratch buffer, then add them up (splitk.wgsl main)
// with the bias and ReLU the single-pass epilogue would have applied.

import type { Operand } from '../interface.js';
import { type GpuContext, type GpuStorage, kernelSource, type Window } from './context.js';
import { wgslRelu } from './source.js';

export interface SplitPlan {
  splits: number;
  /** scratch for `splits` partial outputs, each `stride` elements, or null when not split */
  scratch: GpuStorage | null;
  stride: number;
}

/** Allocates the scratch for a split GEMM whose output has `outElements` elements, if it fits one binding. */
export function planSplit(ctx: GpuContext, splits: number, outElements: number): SplitPlan {
  if (splits <= 1 || splits * outElements > ctx.maxWindowElements) return { splits: 1, scratch: null, stride: 0 };
  return { splits, scratch: ctx.allocStorage(splits * outElements), stride: outElements };
}

export function finishSplit(ctx: GpuContext, plan: SplitPlan, out: Operand, bias: Operand | null,
                            biasDiv: number, biasMod: number, relu: boolean): void {
  if (!plan.scratch) return;
  const partial: Operand = { storage: plan.scratch, offset: 0, shape: [plan.splits * plan.stride], size: plan.splits * plan.stride };
  sumSlices(ctx, ctx.window(partial), ctx.window(out), {
    n: out.size, splits: plan.splits, stride: plan.stride, cols: out.size, rowStride: out.size,
    bias: bias ? ctx.window(bias) : null, biasDiv, biasMod, accumulate: false, relu,
  });
  // the scratch goes back to the pool; commands already recorded keep their order with later users
  ctx.releaseStorage(plan.scratch);
}

/**
 * The sum of `splits` partial outputs of n elements each, `stride` apart in `partial`, into `out` (rows of `cols`
 * elements, `rowStride` apart), with the bias (of element i: bias[(i / biasDiv) % biasMod]), the prior output
 * (accumulate) and the ReLU: kernels/splitk.wgsl, for split-K GEMMs and the row blocks of gemv.ts.
 */
export function sumSlices(ctx: GpuContext, partial: Window, out: Window, o: {
  n: number; splits: number; stride: number; cols: number; rowStride: number;
  bias: Window | null; biasDiv: number; biasMod: number; accumulate: boolean; relu: boolean;
}): void {
  const key = `splitk:${o.bias !== null}:${o.accumulate}:${o.relu}`;
  const pipeline = ctx.pipeline(key, () => kernelSource('splitk.wgsl', {
    BIAS_BINDING: o.bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : '',
    BIAS: o.bias ? '  v += bias[P.bias_base + (i / P.bias_div) % P.bias_mod];' : '',
    ACCUMULATE: o.accumulate ? '  v += out[at];' : '',
    RELU: o.relu ? `  v = ${wgslRelu('v')};` : '',
  }));
  ctx.dispatch(pipeline, o.bias ? [out, partial, o.bias] : [out, partial], [
    o.n, o.splits, o.stride, partial.base, out.base, o.bias?.base ?? 0, o.biasDiv, o.biasMod, o.cols, o.rowStride,
  ], Math.ceil(o.n / 256), key);
}

/** The scratch as a window for the GEMM pass (or the real output when not split). */
export function gemmOutput(ctx: GpuContext, plan: SplitPlan, out: Operand) {
  if (!plan.scratch) return ctx.window(out);
  return ctx.window({ storage: plan.scratch, offset: 0, shape: [plan.splits * plan.stride], size: plan.splits * plan.stride });
}
