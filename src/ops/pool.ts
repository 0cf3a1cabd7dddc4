// Pooling: max (with its switches), max-unpooling, average and global average, forward and backward side
// by side. Kernels (webgpu): kernels/pool.wgsl, dispatched by src/backend/webgpu/pool.ts:
//   maxPool2d                forward max_pool_forward (max_pool_forward_switches when a gradient is needed)
//                            backward max_unpool: the gradient goes back through the switches
//   maxPool2dWithSwitches    forward max_pool_forward_switches, backward max_unpool
//   maxUnpool2d              forward max_unpool, backward gather_switches
//   avgPool2d                forward avg_pool_forward, backward avg_pool_backward
//   globalAvgPool2d          mean over H and W (kernels/reduce.wgsl)
//
// Switches are the argmax of each window as a flat index h * W + w inside its (n, c) input plane, stored as
// float32 (exact for planes under 2^24 pixels). Ties go to the first maximum in row-major window order, as in
// PyTorch. NaN counts as larger than every number, so a window holding NaN outputs NaN (as PyTorch does)
// and its switch names the window's first NaN (PyTorch's loop keeps the last one; the value is the same).
// This is Zeiler & Fergus' DeconvNet unpooling: the paper's Sect. 4 reconstruction through a max-pooling
// layer is exactly maxPool2d's backward.

import type { Pool2dParams } from '../backend/interface.js';
import { needsGrad, record } from '../autograd/graph.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { mean } from './reduce.js';
import { checkTensor, fmt, op, out, padding4, pair, sameShape } from './util.js';

export interface MaxPool2dOptions {
  kernel: number | [number, number];
  /** defaults to the kernel */
  stride?: number | [number, number];
  /** n, [h, w] or [top, left, bottom, right]; at most half the kernel on each side */
  padding?: number | [number, number] | [number, number, number, number];
  /** round the output size up (PyTorch's ceil_mode): a last, partial window is kept */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** divide by the window including its padding (default true, as in PyTorch) or by its valid part only */
  countIncludePad?: boolean;
}

/** Largest plane whose flat pixel indices float32 holds exactly. */
const MAX_SWITCH_PLANE = 2 ** 24;

/**
 * Output size along one axis, PyTorch's rule: floor (or ceil) of (size + pads - kernel) / stride, plus one;
 * in ceil mode a last window that would start in the trailing padding is dropped.
 */
export function poolOutputSize(size: number, kernel: number, stride: number, padBefore: number, padAfter: number,
                               ceilMode: boolean): number {
  const span = size + padBefore + padAfter - kernel;
  let n = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (n - 1) * stride >= size + padBefore) n--;
  return n;
}

interface PoolGeometry { params: Pool2dParams; outH: number; outW: number }

function checkBool(name: string, arg: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new Error(`${name}: ${arg} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function checkInput4d(name: string, arg: string, x: Tensor): void {
  if (x.shape.length !== 4) throw new Error(`${name}: ${arg} must be 4-D [N, C, H, W], got shape ${fmt(x.shape)}`);
}

/** Validates the options against an input of `inputShape` ([N, C, H, W]) and sizes the output. */
function poolGeometry(name: string, inputShape: readonly number[], opts: unknown, countIncludePad: boolean): PoolGeometry {
  if (opts === null || typeof opts !== 'object' || !('kernel' in opts)) {
    throw new Error(`${name}: opts must be an object with a kernel, e.g. { kernel: 2 }, got ${JSON.stringify(opts)}`);
  }
  const o = opts as AvgPool2dOptions;
  const [kernelH, kernelW] = pair(name, 'kernel', o.kernel, 1);
  const [strideH, strideW] = pair(name, 'stride', o.stride ?? [kernelH, kernelW], 1);
  const [padTop, padLeft, padBottom, padRight] = padding4(name, o.padding ?? 0);
  const ceilMode = checkBool(name, 'ceilMode', o.ceilMode, false);
  const pads = [padTop, padLeft, padBottom, padRight];
  // PyTorch's rule; it also guarantees that every window holds at least one input pixel
  if (2 * Math.max(padTop, padBottom) > kernelH || 2 * Math.max(padLeft, padRight) > kernelW) {
    throw new Error(`${name}: padding ${fmt(pads)} must be at most half the ${kernelH}x${kernelW} kernel on each side`);
  }
  const [, , H, W] = inputShape;
  if (H + padTop + padBottom < kernelH || W + padLeft + padRight < kernelW) {
    throw new Error(`${name}: the ${kernelH}x${kernelW} kernel does not fit the ${H}x${W} input ${fmt(inputShape)} ` +
      `padded by ${fmt(pads)} (${H + padTop + padBottom}x${W + padLeft + padRight})`);
  }
  return {
    params: { kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight, countIncludePad },
    outH: poolOutputSize(H, kernelH, strideH, padTop, padBottom, ceilMode),
    outW: poolOutputSize(W, kernelW, strideW, padLeft, padRight, ceilMode),
  };
}

function checkSwitchPlane(name: string, shape: readonly number[]): void {
  const [, , H, W] = shape;
  if (H * W > MAX_SWITCH_PLANE) {
    throw new Error(`${name}: a ${H}x${W} plane (${H * W} pixels) is too large for float32 switches (at most 2^24 pixels)`);
  }
}

// ------------------------------------------------------------------ max pooling and its switches

/** Forward with switches, recording the backward that routes the gradient through them (max_unpool). */
function maxPoolWithSwitches(name: string, x: Tensor, geom: PoolGeometry): { y: Tensor; switches: Tensor } {
  checkSwitchPlane(name, x.shape);
  const [N, C] = x.shape;
  const { params } = geom;
  const y = out([N, C, geom.outH, geom.outW]);
  const switches = out(y.shape);
  backend().maxPool2d(op(x), params, op(y), op(switches));
  record(name, y, [x], [switches], (g, [savedSwitches]) => {
    const gx = out(x.shape);
    backend().maxUnpool2d(op(g), op(savedSwitches), op(gx), params);
    return [gx];
  });
  return { y, switches };
}

/** Max pooling over each (n, c) plane; padding counts as -infinity. */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  checkTensor('maxPool2d', 'x', x);
  checkInput4d('maxPool2d', 'x', x);
  const geom = poolGeometry('maxPool2d', x.shape, opts, false);
  if (needsGrad(x)) {
    const { y, switches } = maxPoolWithSwitches('maxPool2d', x, geom);
    switches.dispose();   // the graph keeps its own reference for the backward
    return y;
  }
  const y = out([x.shape[0], x.shape[1], geom.outH, geom.outW]);
  backend().maxPool2d(op(x), geom.params, op(y), null);
  return y;
}

/**
 * Max pooling that also returns its switches: the argmax of each output as a flat index h * W + w inside its
 * input plane, float32, shaped like y. y is differentiable (through the switches); the switches are not.
 */
export function maxPool2dWithSwitches(x: Tensor, opts: MaxPool2dOptions): { y: Tensor; switches: Tensor } {
  checkTensor('maxPool2dWithSwitches', 'x', x);
  checkInput4d('maxPool2dWithSwitches', 'x', x);
  const geom = poolGeometry('maxPool2dWithSwitches', x.shape, opts, false);
  return maxPoolWithSwitches('maxPool2dWithSwitches', x, geom);
}

/**
 * Places each value of y at its switch in a zero tensor of `inputShape`, summing values whose switches
 * collide (overlapping windows). It is maxPool2d's backward as an op.
 *
 * `opts` (the pooling's options) tells the kernel which outputs can name each input pixel, so each pixel scans
 * only the windows covering it; switches outside their own window are then ignored. Without `opts` every
 * pixel scans its whole output plane: exact for any switches, but O(H W OH OW) per plane.
 * Switches that are not an integer in [0, H W) name no pixel and are dropped.
 * Backward (gather_switches): the gradient read at the switches; none flows to the switches.
 */
export function maxUnpool2d(y: Tensor, switches: Tensor, inputShape: readonly number[], opts?: MaxPool2dOptions): Tensor {
  checkTensor('maxUnpool2d', 'y', y);
  checkTensor('maxUnpool2d', 'switches', switches);
  checkInput4d('maxUnpool2d', 'y', y);
  if (!sameShape(switches.shape, y.shape)) {
    throw new Error(`maxUnpool2d: switches shape ${fmt(switches.shape)} differs from y's ${fmt(y.shape)}`);
  }
  if (!Array.isArray(inputShape) || inputShape.length !== 4 ||
      inputShape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 1)) {
    throw new Error(`maxUnpool2d: inputShape must be 4 positive integers [N, C, H, W], got ${JSON.stringify(inputShape)}`);
  }
  const [N, C, H, W] = inputShape;
  const [, , OH, OW] = y.shape;
  if (N !== y.shape[0] || C !== y.shape[1]) {
    throw new Error(`maxUnpool2d: inputShape ${fmt(inputShape)} must have y's batch and channels, y is ${fmt(y.shape)}`);
  }
  checkSwitchPlane('maxUnpool2d', inputShape);
  let params: Pool2dParams;
  if (opts !== undefined) {
    const geom = poolGeometry('maxUnpool2d', inputShape, opts, false);
    if (geom.outH !== OH || geom.outW !== OW) {
      throw new Error(`maxUnpool2d: pooling an input of ${fmt(inputShape)} with these options gives ${geom.outH}x${geom.outW} ` +
        `outputs, but y is ${fmt(y.shape)}`);
    }
    params = geom.params;
  } else {
    // a window of H + OH rows at stride 1, padded by OH, covers every output row from every input row
    params = {
      kernelH: H + OH, kernelW: W + OW, strideH: 1, strideW: 1,
      padTop: OH, padLeft: OW, padBottom: 0, padRight: 0, countIncludePad: false,
    };
  }
  const x = out([N, C, H, W]);
  backend().maxUnpool2d(op(y), op(switches), op(x), params);
  const needY = needsGrad(y);
  return record('maxUnpool2d', x, [y, switches], [switches], (g, [savedSwitches]) => {
    if (!needY) return [null, null];
    const gy = out(y.shape);
    backend().gatherSwitches(op(g), op(savedSwitches), op(gy));
    return [gy, null];
  });
}

// ------------------------------------------------------------------ average pooling

/**
 * Average pooling. With countIncludePad (default) the divisor is the window clipped to input + padding
 * (ceil mode may run past it), otherwise the number of input pixels in the window: PyTorch's semantics.
 * Backward (avg_pool_backward): each input pixel gathers g / divisor from every window covering it.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  checkTensor('avgPool2d', 'x', x);
  checkInput4d('avgPool2d', 'x', x);
  const countIncludePad = checkBool('avgPool2d', 'countIncludePad', (opts as AvgPool2dOptions | null)?.countIncludePad, true);
  const { params, outH, outW } = poolGeometry('avgPool2d', x.shape, opts, countIncludePad);
  const y = out([x.shape[0], x.shape[1], outH, outW]);
  backend().avgPool2d(op(x), params, op(y));
  return record('avgPool2d', y, [x], [], (g) => {
    const gx = out(x.shape);
    backend().avgPool2dBackward(op(g), params, op(gx));
    return [gx];
  });
}

/** The mean of each (n, c) plane: [N, C, H, W] -> [N, C, 1, 1]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  checkTensor('globalAvgPool2d', 'x', x);
  checkInput4d('globalAvgPool2d', 'x', x);
  if (x.shape[2] * x.shape[3] === 0) throw new Error(`globalAvgPool2d: x ${fmt(x.shape)} has empty planes`);
  return mean(x, [2, 3], true);
}
