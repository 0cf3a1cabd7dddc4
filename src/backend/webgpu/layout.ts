// Layout kernels on WebGPU: concat's copy into a slab of a larger tensor and its adjoint slice (copyAxis),
// and constant spatial padding and its adjoint crop (pad2d). Entry points: kernels/layout.wgsl copy_rows, pad.
// Both split their work so that no binding exceeds ctx.maxWindowElements: over whole rows (copyAxis) or whole
// planes (pad2d) when those fit, otherwise over pieces of one row or rows of one plane.

import type { Operand } from '../interface.js';
import { type GpuContext, kernelSource, type Window } from './context.js';

const WORKGROUP = 256;

/** A binding for `count` elements of `op` from `start`; an empty range still binds one valid element. */
function windowOrEmpty(ctx: GpuContext, op: Operand, start: number, count: number): Window {
  if (count > 0) return ctx.window(op, start, count);
  return ctx.window(op, Math.max(0, Math.min(start, op.size - 1)), 0);
}

/**
 * x viewed as [outer, n, inner] into out viewed as [outer, m, inner] at middle offset `at` (concat), or with
 * `slice` the reverse: x is [outer, m, inner] and out [outer, n, inner] receives x[:, at:at+n, :].
 */
export function copyAxis(ctx: GpuContext, x: Operand, out: Operand, outer: number, n: number, m: number, inner: number,
                         at: number, slice: boolean): void {
  const small = slice ? out : x;
  const big = slice ? x : out;
  if (small.size !== outer * n * inner || big.size !== outer * m * inner || at < 0 || at + n > m) {
    throw new Error(`copyAxis: [${outer}, ${n}, ${inner}] at ${at} inside [${outer}, ${m}, ${inner}] does not match ` +
      `operands of ${small.size} and ${big.size} elements`);
  }
  if (small.size === 0) return;
  const key = 'layout:copy_rows';
  const pipeline = ctx.pipeline(key, () => kernelSource('layout.wgsl'), 'copy_rows');
  // every outer row copies one contiguous run of n * inner elements
  const run = n * inner;
  const bigRow = m * inner;
  const bigFirst = at * inner;
  const limit = ctx.maxWindowElements;
  const dispatch = (row0: number, rows: number, k0: number, len: number) => {
    const smallW = ctx.window(small, row0 * run + k0, (rows - 1) * run + len);
    const bigW = ctx.window(big, row0 * bigRow + bigFirst + k0, (rows - 1) * bigRow + len);
    const [dstW, srcW] = slice ? [smallW, bigW] : [bigW, smallW];
    const [dstStride, srcStride] = slice ? [run, bigRow] : [bigRow, run];
    ctx.dispatch(pipeline, [dstW, srcW], [rows, len, dstStride, srcStride, dstW.base, srcW.base, 0, 0],
      Math.ceil((rows * len) / WORKGROUP), key);
  };
  if (bigRow <= limit) {
    const rowsPerDispatch = Math.floor(limit / bigRow);
    for (let r0 = 0; r0 < outer; r0 += rowsPerDispatch) dispatch(r0, Math.min(rowsPerDispatch, outer - r0), 0, run);
  } else {
    // one row of the big tensor exceeds a binding: copy each row's run in pieces
    for (let r = 0; r < outer; r++) {
      for (let k0 = 0; k0 < run; k0 += limit) dispatch(r, 1, k0, Math.min(limit, run - k0));
    }
  }
}

/**
 * NCHW x padded by [top, left, bottom, right] with `value` into out, or with `crop` the adjoint: x is the padded
 * tensor and out receives its interior.
 */
export function pad2d(ctx: GpuContext, x: Operand, pads: readonly [number, number, number, number], value: number,
                      out: Operand, crop: boolean): void {
  const [top, left, bottom, right] = pads;
  if (x.shape.length !== 4 || out.shape.length !== 4) {
    throw new Error(`pad2d: x and out must be 4-D, got [${x.shape.join(', ')}] and [${out.shape.join(', ')}]`);
  }
  const [N, C, inH, inW] = x.shape;
  const [, , outH, outW] = out.shape;
  const grow = crop ? -1 : 1;
  if (out.shape[0] !== N || out.shape[1] !== C || outH !== inH + grow * (top + bottom) || outW !== inW + grow * (left + right)) {
    throw new Error(`pad2d: ${crop ? 'cropping' : 'padding'} [${x.shape.join(', ')}] by [${pads.join(', ')}] does not give [${out.shape.join(', ')}]`);
  }
  if (out.size === 0) return;
  const key = 'layout:pad';
  const pipeline = ctx.pipeline(key, () => kernelSource('layout.wgsl'), 'pad');
  const offH = grow * top, offW = grow * left;
  const planes = N * C;
  const inPlane = inH * inW, outPlane = outH * outW;
  const limit = ctx.maxWindowElements;
  // whole planes [p0, p0 + np), or output rows [row0, row0 + rows) of the single plane p0
  const dispatch = (p0: number, np: number, row0: number, rows: number, wholePlanes: boolean) => {
    // the input rows those output rows can read, clipped to the input
    const inRow0 = wholePlanes ? 0 : Math.min(Math.max(row0 - offH, 0), inH);
    const inRow1 = wholePlanes ? inH : Math.min(Math.max(row0 + rows - offH, 0), inH);
    const dstW = ctx.window(out, p0 * outPlane + row0 * outW, (np - 1) * outPlane + rows * outW);
    const srcW = windowOrEmpty(ctx, x, p0 * inPlane + inRow0 * inW, (np - 1) * inPlane + (inRow1 - inRow0) * inW);
    ctx.dispatch(pipeline, [dstW, srcW], [
      np, rows, row0, inRow0,
      outW, inH, inW, { f: value },
      { i: offH }, { i: offW }, dstW.base, srcW.base,
    ], Math.ceil((np * rows * outW) / WORKGROUP), key);
  };
  if (Math.max(inPlane, outPlane) <= limit) {
    const planesPerDispatch = Math.floor(limit / Math.max(inPlane, outPlane, 1));
    for (let p0 = 0; p0 < planes; p0 += planesPerDispatch) dispatch(p0, Math.min(planesPerDispatch, planes - p0), 0, outH, true);
  } else {
    // one plane exceeds a binding: go a band of rows at a time
    const rowsPerDispatch = Math.floor(limit / Math.max(inW, outW));
    if (rowsPerDispatch < 1) {
      throw new Error(`pad2d: one row of ${Math.max(inW, outW)} elements exceeds a storage binding (${limit} elements)`);
    }
    for (let p = 0; p < planes; p++) {
      for (let r0 = 0; r0 < outH; r0 += rowsPerDispatch) dispatch(p, 1, r0, Math.min(rowsPerDispatch, outH - r0), false);
    }
  }
}
