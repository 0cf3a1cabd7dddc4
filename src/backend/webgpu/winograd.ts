// 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (kernels/winograd.wgsl): the weight transform, the input
// transform, 16 GEMMs [rows, channels] x [channels, tiles] as one batched matmul (matmul.ts, so the adapter's own
// tile choice applies), and the output transform with the bias and ReLU: 2.25 times fewer multiplications than
// the direct implicit GEMM, for four dispatches instead of one, a transformed input four times the input's size
// and a transformed weight 16/9 of the weight's, kept between calls until the weight changes (GpuContext.derivedFrom).
//
// Off unless asked for (ctx.convAlgorithm = 'winograd', or CONVIS_CONV=winograd). On lavapipe, VGG16 at 64 was a
// wash within the machine's noise: the batched GEMMs have K = the input channels (64..512), short loops that ran at
// 2.4-5 GFLOP/s against the direct kernel's 3.5-6 over K = 9 x channels, and the transforms of the 512-channel
// layers cost more than those layers' few tiles save (bench/RESULTS.md, notes — saliency on lavapipe). On a GPU it
// is unmeasured: `CONVIS_CONV=winograd npm run bench -- profile` compares it layer by layer.
//
// Backward-input of the same convolution is a Winograd convolution too: the gradient with the kernels turned by
// 180 degrees and their two channel axes swapped, padded by 2 - pad on the top and left.

import type { Conv2dParams, Operand, ReluMask } from '../interface.js';
import type { GpuContext, GpuStorage } from './context.js';
import { matmul } from './matmul.js';
import { reluRuleExpr } from './elementwise.js';
import { kernelSource, wgslRelu } from './source.js';

const WORKGROUP = 64;

export interface WinogradShape {
  batch: number;
  /** channels in and out of the Winograd convolution (for backward-input: the layer's O and C) */
  cin: number; cout: number;
  /** its input and output planes */
  h: number; w: number; oh: number; ow: number;
  padTop: number; padLeft: number;
}

/** Whether a layer with these parameters is a 3x3, stride-1, undilated, ungrouped convolution. */
export function winogradShapeFits(p: Conv2dParams, kh: number, kw: number): boolean {
  return kh === 3 && kw === 3 && p.strideH === 1 && p.strideW === 1 && p.dilationH === 1 && p.dilationW === 1 && p.groups === 1;
}

/** Whether this convolution can run through Winograd: padding within the transforms' reach and every buffer within one binding. */
export function winogradFits(ctx: GpuContext, s: WinogradShape): boolean {
  if (s.padTop < 0 || s.padLeft < 0 || s.padTop > 2 || s.padLeft > 2) return false;
  // every buffer within one binding (the matmul would split, the transforms do not)
  const tiles = s.batch * Math.ceil(s.oh / 2) * Math.ceil(s.ow / 2);
  const limit = ctx.maxWindowElements;
  if (16 * s.cin * tiles > limit || 16 * s.cout * tiles > limit || 16 * s.cout * s.cin > limit) return false;
  return s.batch * s.cin * s.h * s.w <= limit && s.batch * s.cout * s.oh * s.ow <= limit;
}

function pipeline(ctx: GpuContext, entry: 'weights' | 'input' | 'output', bias = false, relu = false,
                  mask: ReluMask['rule'] | null = null): GPUComputePipeline {
  const key = `winograd:${entry}:${bias}:${relu}:${mask ?? 'plain'}`;
  const readsY = entry === 'input' && mask !== null && mask !== 'reluDeconvnet';
  return ctx.pipeline(key, () => kernelSource('winograd.wgsl', {
    MASK_BINDING: readsY ? '@group(0) @binding(3) var<storage, read> mask_in: array<f32>;' : '',
    INPUT_LOAD: entry === 'input' && mask ? reluRuleExpr(mask, 'mask_in[i - PI.x_base + PI.mask_base]', 'x_in[i]') : 'x_in[i]',
    BIAS_BINDING: entry === 'output' && bias ? '@group(0) @binding(3) var<storage, read> bias_in: array<f32>;' : '',
    EPILOGUE: entry !== 'output' ? '' : [
      bias ? '    v0 += bias_in[PO.bias_base + r]; v1 += bias_in[PO.bias_base + r];' : '',
      relu ? `    v0 = ${wgslRelu('v0')}; v1 = ${wgslRelu('v1')};` : '',
    ].join('\n'),
  }), entry);
}

const operand = (storage: GpuStorage, shape: number[]): Operand =>
  ({ storage, offset: 0, shape, size: shape.reduce((a, b) => a * b, 1) });

/**
 * out = conv(x, w) (+ bias, ReLU) for a 3x3 stride-1 convolution, or with `flip` its backward-input: x is then the
 * output gradient, w the layer's [O, C, 3, 3] weight read turned and transposed, and out the input gradient.
 */
export function winogradConv(ctx: GpuContext, s: WinogradShape, x: Operand, w: Operand, bias: Operand | null,
                             out: Operand, opts: { flip: boolean; relu: boolean; mask?: ReluMask }): void {
  const th = Math.ceil(s.oh / 2), tw = Math.ceil(s.ow / 2);
  const tiles = s.batch * th * tw;
  // the transformed weight depends on the weight alone: kept by the context until the weight's buffer is written
  // (saliency, class models and inference reuse it every call; a training step's update makes it anew)
  const wBuffer = (w.storage as GpuStorage).buffer;
  const uKey = `winograd:${w.offset}:${s.cout}x${s.cin}:${opts.flip ? 'flip' : 'fwd'}`;
  let u = ctx.derivedFrom(wBuffer, uKey);
  const uOp = () => operand(u!, [16, s.cout, s.cin]);
  if (!u) {
    u = ctx.allocStorage(16 * s.cout * s.cin);
    const ww = ctx.window(w), uw = ctx.window(uOp());
    ctx.dispatch(pipeline(ctx, 'weights'), [uw, ww], [s.cout, s.cin, opts.flip ? 1 : 0, ww.base, uw.base, 0, 0, 0],
      Math.ceil((s.cout * s.cin) / WORKGROUP), 'winograd:weights');
    ctx.keepDerived(wBuffer, uKey, u);
  }
  const v = ctx.allocStorage(16 * s.cin * tiles);
  const m = ctx.allocStorage(16 * s.cout * tiles);
  try {
    const vOp = operand(v, [16, s.cin, tiles]);
    const mOp = operand(m, [16, s.cout, tiles]);
    const xw = ctx.window(x), vw = ctx.window(vOp);
    // with a mask, x is an output gradient and the fused ReLU's rule is applied as it is read
    const rule = opts.mask?.rule ?? null;
    const yw = rule !== null && rule !== 'reluDeconvnet' ? ctx.window(opts.mask!.y) : null;
    ctx.dispatch(pipeline(ctx, 'input', false, false, rule), yw ? [vw, xw, yw] : [vw, xw], [
      s.cin * tiles, tiles, th, tw, s.h, s.w, { i: s.padTop }, { i: s.padLeft }, xw.base, vw.base, yw?.base ?? 0, 0,
    ], Math.ceil((s.cin * tiles) / WORKGROUP), 'winograd:input');
    matmul(ctx, uOp(), vOp, mOp, { transA: false, transB: false, accumulate: false, label: 'winogradGemm' });
    const mw = ctx.window(mOp), ow = ctx.window(out);
    const bw = bias ? ctx.window(bias) : null;
    ctx.dispatch(pipeline(ctx, 'output', bias !== null, opts.relu), bw ? [ow, mw, bw] : [ow, mw], [
      s.cout * tiles, tiles, th, tw, s.oh, s.ow, s.cout, mw.base, ow.base, bw?.base ?? 0, 0, 0,
    ], Math.ceil((s.cout * tiles) / WORKGROUP), 'winograd:output');
  } finally {
    // back to the pool; work already recorded keeps its order with later users
    ctx.releaseStorage(v);
    ctx.releaseStorage(m);
  }
}
