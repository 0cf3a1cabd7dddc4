// Split-K for the GEMM family: run the K-slices into a scratch buffer, then add them up (splitk.wgsl main)
// with the bias and ReLU the single-pass epilogue would have applied.

import type { Operand } from '../interface.js';
import { type GpuContext, type GpuStorage, kernelSource } from './context.js';
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
  const key = `splitk:${bias !== null}:${relu}`;
  const pipeline = ctx.pipeline(key, () => kernelSource('splitk.wgsl', {
    BIAS_BINDING: bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : '',
    BIAS: bias ? '  v += bias[P.bias_base + (i / P.bias_div) % P.bias_mod];' : '',
    RELU: relu ? `  v = ${wgslRelu('v')};` : '',
  }));
  const partial: Operand = { storage: plan.scratch, offset: 0, shape: [plan.splits * plan.stride], size: plan.splits * plan.stride };
  const pw = ctx.window(partial);
  const ow = ctx.window(out);
  const windows = [ow, pw];
  let biasBase = 0;
  if (bias) {
    const bw = ctx.window(bias);
    windows.push(bw);
    biasBase = bw.base;
  }
  ctx.dispatch(pipeline, windows, [out.size, plan.splits, plan.stride, pw.base, ow.base, biasBase, biasDiv, biasMod],
    Math.ceil(out.size / 256), key);
  // the scratch goes back to the pool; commands already recorded keep their order with later users
  ctx.releaseStorage(plan.scratch);
}

/** The scratch as a window for the GEMM pass (or the real output when not split). */
export function gemmOutput(ctx: GpuContext, plan: SplitPlan, out: Operand) {
  if (!plan.scratch) return ctx.window(out);
  return ctx.window({ storage: plan.scratch, offset: 0, shape: [plan.splits * plan.stride], size: plan.splits * plan.stride });
}
