// Pooling on WebGPU: the entry points of kernels/pool.wgsl, one invocation per element written.
// Entry points: max_pool_forward, max_pool_forward_switches, max_unpool and max_unpool_disjoint (also maxPool2d's
// backward), gather_switches, avg_pool_forward, avg_pool_backward. Shapes and window geometry travel as uniforms, so
// each entry point is one pipeline whatever the layer. Tensors larger than one storage binding are split
// into runs of whole (n, c) planes: every kernel reads and writes inside the planes of its own thread.

import type { Operand, Pool2dParams } from '../interface.js';
import { type GpuContext, kernelSource, type UniformField, type Window } from './context.js';

type EntryPoint =
  | 'max_pool_forward' | 'max_pool_forward_switches' | 'max_unpool' | 'max_unpool_disjoint' | 'gather_switches'
  | 'avg_pool_forward' | 'avg_pool_backward';

/** Zero geometry for the kernels that only index through switches. */
const NO_WINDOW: Pool2dParams = {
  kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, countIncludePad: false,
};

function pipelineFor(ctx: GpuContext, entry: EntryPoint): GPUComputePipeline {
  return ctx.pipeline(`pool:${entry}`, () => kernelSource('pool.wgsl'), entry);
}

interface PlaneOperand {
  operand: Operand;
  /** elements per (n, c) plane */
  planeSize: number;
}

/**
 * Dispatches `entry` with one invocation per element of `written` (operands[0]), or `threadsPerPlane` per plane,
 * in runs of whole planes that fit one binding. `inHW` / `outHW` are the spatial sizes of the pooling input and
 * output.
 */
function dispatchPlanes(ctx: GpuContext, entry: EntryPoint, operands: PlaneOperand[], p: Pool2dParams,
                        inHW: readonly [number, number], outHW: readonly [number, number], label: string,
                        threadsPerPlane = operands[0].planeSize): void {
  const written = operands[0];
  if (written.operand.size === 0) return;
  const planes = written.operand.size / written.planeSize;
  const largestPlane = Math.max(1, ...operands.map((o) => o.planeSize));
  const planesPerRun = Math.floor(ctx.maxWindowElements / largestPlane);
  if (planesPerRun < 1) {
    throw new Error(`${label}: one plane of ${largestPlane} elements exceeds a storage binding ` +
      `(${ctx.maxWindowElements} elements)`);
  }
  const pipeline = pipelineFor(ctx, entry);
  for (let first = 0; first < planes; first += planesPerRun) {
    const count = Math.min(planesPerRun, planes - first);
    const windows: Window[] = operands.map((o) => ctx.window(o.operand, first * o.planeSize, count * o.planeSize));
    const threads = count * threadsPerPlane;
    const uniforms: UniformField[] = [
      threads, inHW[0], inHW[1], outHW[0], outHW[1],
      p.kernelH, p.kernelW, p.strideH, p.strideW,
      p.padTop, p.padLeft, p.padBottom, p.padRight,
      p.countIncludePad ? 1 : 0,
      windows[0].base, windows[1]?.base ?? 0, windows[2]?.base ?? 0,
      0, 0, 0,
    ];
    ctx.dispatch(pipeline, windows, uniforms, Math.ceil(threads / 256), label);
  }
}

const hw = (op: Operand): [number, number] => [op.shape[2], op.shape[3]];
const planeOf = (op: Operand): PlaneOperand => ({ operand: op, planeSize: op.shape[2] * op.shape[3] });

/** x [N, C, H, W] -> out [N, C, OH, OW]; the output size (ceil mode included) comes with `out`. */
export function maxPool2d(ctx: GpuContext, x: Operand, p: Pool2dParams, out: Operand, switches: Operand | null): void {
  if (switches) {
    dispatchPlanes(ctx, 'max_pool_forward_switches', [planeOf(out), planeOf(x), planeOf(switches)], p, hw(x), hw(out), 'maxPool2d');
  } else {
    dispatchPlanes(ctx, 'max_pool_forward', [planeOf(out), planeOf(x)], p, hw(x), hw(out), 'maxPool2d');
  }
}

/** g and switches [N, C, OH, OW] -> out [N, C, H, W]; `p` bounds which outputs can name each input pixel. */
export function maxUnpool2d(ctx: GpuContext, g: Operand, switches: Operand, out: Operand, p: Pool2dParams): void {
  const [h, w] = hw(out), [oh, ow] = hw(g);
  const operands = [planeOf(out), planeOf(g), planeOf(switches)];
  // windows that tile the input: one invocation per window (its cells' grid covers every pixel once)
  const cellsH = Math.ceil(h / p.kernelH), cellsW = Math.ceil(w / p.kernelW);
  const disjoint = p.kernelH === p.strideH && p.kernelW === p.strideW && p.padTop === 0 && p.padLeft === 0 &&
    p.padBottom === 0 && p.padRight === 0 && oh <= cellsH && ow <= cellsW;
  if (disjoint) {
    dispatchPlanes(ctx, 'max_unpool_disjoint', operands, p, [h, w], [oh, ow], 'maxUnpool2d', cellsH * cellsW);
    return;
  }
  dispatchPlanes(ctx, 'max_unpool', operands, p, [h, w], [oh, ow], 'maxUnpool2d');
}

/** x [N, C, H, W], switches [N, C, OH, OW] -> out [N, C, OH, OW] = x at the switches. */
export function gatherSwitches(ctx: GpuContext, x: Operand, switches: Operand, out: Operand): void {
  dispatchPlanes(ctx, 'gather_switches', [planeOf(out), planeOf(x), planeOf(switches)], NO_WINDOW, hw(x), hw(out), 'gatherSwitches');
}

export function avgPool2d(ctx: GpuContext, x: Operand, p: Pool2dParams, out: Operand): void {
  dispatchPlanes(ctx, 'avg_pool_forward', [planeOf(out), planeOf(x)], p, hw(x), hw(out), 'avgPool2d');
}

/** g [N, C, OH, OW] -> out [N, C, H, W]: the adjoint of avgPool2d. */
export function avgPool2dBackward(ctx: GpuContext, g: Operand, p: Pool2dParams, out: Operand): void {
  dispatchPlanes(ctx, 'avg_pool_backward', [planeOf(out), planeOf(g)], p, hw(out), hw(g), 'avgPool2dBackward');
}
