// conv2d: forward, backward-input and backward-weight side by side. Kernels (webgpu): the implicit-GEMM
// specialisations of kernels/gemm.wgsl main built in src/backend/webgpu/conv.ts:
// conv2d, conv2dBackwardInput (the flipped kernel: Sect. 4's DeconvNet reconstruction), conv2dBackwardWeight.

import type { Conv2dParams } from '../backend/interface.js';
import { needsGrad, record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { reluBackward, reluRuleOp } from './elementwise.js';
import { sum } from './reduce.js';
import { checkInt, checkTensor, fmt, op, out, padding4, pair } from './util.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** n, [h, w] or [top, left, bottom, right] */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
  /**
   * relu(conv2d(x, w, b)) with the ReLU in the kernel's epilogue: one pass over the output instead of two. On the
   * tape it is one node whose backward applies the pass's ReLU rule (Sect. 4) to the incoming gradient, from the
   * saved output, before the convolution's backward.
   */
  fuseRelu?: boolean;
}

export function convParams(name: string, opts: Conv2dOptions): Conv2dParams {
  if (opts === null || typeof opts !== 'object') throw new Error(`${name}: opts must be an object`);
  const [strideH, strideW] = pair(name, 'stride', opts.stride ?? 1, 1);
  const [padTop, padLeft, padBottom, padRight] = padding4(name, opts.padding ?? 0);
  const [dilationH, dilationW] = pair(name, 'dilation', opts.dilation ?? 1, 1);
  const groups = checkInt(name, 'groups', opts.groups ?? 1, 1);
  return { strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW, groups };
}

export function convOutputSize(size: number, k: number, stride: number, dilation: number, padA: number, padB: number): number {
  return Math.floor((size + padA + padB - dilation * (k - 1) - 1) / stride) + 1;
}

/** x [N, C, H, W], w [O, C / groups, KH, KW], b [O] */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  checkTensor('conv2d', 'x', x);
  checkTensor('conv2d', 'w', w);
  const p = convParams('conv2d', opts);
  if (x.shape.length !== 4) throw new Error(`conv2d: x must be 4-D [N, C, H, W], got ${fmt(x.shape)}`);
  if (w.shape.length !== 4) throw new Error(`conv2d: w must be 4-D [O, C/groups, KH, KW], got ${fmt(w.shape)}`);
  const [N, C, H, W] = x.shape;
  const [O, CG, KH, KW] = w.shape;
  if (C % p.groups !== 0 || O % p.groups !== 0) {
    throw new Error(`conv2d: groups ${p.groups} must divide the input channels ${C} and the output channels ${O}`);
  }
  if (CG !== C / p.groups) {
    throw new Error(`conv2d: w ${fmt(w.shape)} expects ${CG} input channels per group, x ${fmt(x.shape)} has ${C} / ${p.groups} = ${C / p.groups}`);
  }
  const bias = b ?? null;
  if (bias) {
    checkTensor('conv2d', 'b', bias);
    if (bias.shape.length !== 1 || bias.shape[0] !== O) throw new Error(`conv2d: b must have shape [${O}], got ${fmt(bias.shape)}`);
  }
  const OH = convOutputSize(H, KH, p.strideH, p.dilationH, p.padTop, p.padBottom);
  const OW = convOutputSize(W, KW, p.strideW, p.dilationW, p.padLeft, p.padRight);
  if (OH < 1 || OW < 1) {
    throw new Error(`conv2d: the ${KH}x${KW} kernel (dilation ${p.dilationH}x${p.dilationW}) does not fit the padded ${H}x${W} input of x ${fmt(x.shape)}`);
  }
  const y = out([N, O, OH, OW]);
  const fuse = opts.fuseRelu === true;
  backend().conv2d(op(x), op(w), bias ? op(bias) : null, p, op(y), fuse);
  const needX = needsGrad(x), needW = needsGrad(w), needB = bias !== null && needsGrad(bias);
  const inputs = bias ? [x, w, bias] : [x, w];
  // saved: [y if fused] [x if w needs its gradient] w
  const save = [fuse ? y : null, needW ? x : null, w].filter((t): t is Tensor => t !== null);
  return record(fuse ? 'conv2dRelu' : 'conv2d', y, inputs, save, (gy, saved, ctx) => {
    if (fuse && needX && !needW && !needB) {
      // only the input's gradient (saliency, class models): the rule is applied by the backward-input kernel's
      // loader as it reads gy, without a masked copy of it
      const gx = out(x.shape);
      backend().conv2dBackwardInput(op(gy), op(saved[saved.length - 1]), p, op(gx), { y: op(saved[0]), rule: reluRuleOp(ctx) });
      return [gx, null, null];
    }
    const g = fuse ? reluBackward(gy, saved[0], ctx) : gy;
    try {
      return convBackward(g, saved);
    } finally {
      if (fuse) g.dispose();
    }
  });
  function convBackward(g: Tensor, saved: Tensor[]): (Tensor | null)[] {
    const sw = saved[saved.length - 1];
    const sx = needW ? saved[saved.length - 2] : null;
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (needX) {
      gx = out(x.shape);
      backend().conv2dBackwardInput(op(g), op(sw), p, op(gx));
    }
    if (needW && sx) {
      gw = out(w.shape);
      backend().conv2dBackwardWeight(op(sx), op(g), p, op(gw));
    }
    return [gx, gw, needB ? sum(g, [0, 2, 3]) : null];
  }
}
