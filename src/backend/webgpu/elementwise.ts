// Elementwise operators and reductions on WebGPU. The operators are data: one WGSL expression each,
// compiled into kernels/elementwise.wgsl. Entry points: elementwise.wgsl main, reduce.wgsl main,
// softmax.wgsl forward / backward.

import { elementwiseArity, type ElementwiseOp, type Operand, type ReluMask } from '../interface.js';
import { broadcastStrides } from '../strides.js';
import { type GpuContext, kernelSource, type UniformField } from './context.js';
import { wgslIsNan, wgslRelu } from './source.js';

const EXPR: Record<ElementwiseOp, string> = {
  fill: 's0',
  copy: 'a',
  neg: '-a',
  relu: wgslRelu('a'),
  exp: 'exp(a)',
  log: 'log(a)',
  sqrt: 'sqrt(a)',
  rsqrt: 'inverseSqrt(a)',
  square: 'a * a',
  abs: 'abs(a)',
  sigmoid: '1.0 / (1.0 + exp(-a))',
  affine: 'a * s0 + s1',
  clip: `select(min(max(a, s0), s1), a, ${wgslIsNan('a')})`,
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: `select(select(max(a, b), b, ${wgslIsNan('b')}), a, ${wgslIsNan('a')})`,
  reluGradient: 'select(0.0, b, a > 0.0)',
  reluDeconvnet: 'select(0.0, b, b > 0.0)',
  reluGuided: 'select(0.0, b, a > 0.0 && b > 0.0)',
  clipGrad: 'select(0.0, b, a >= s0 && a <= s1)',
  sigmoidGrad: 'b * a * (1.0 - a)',
  absGrad: 'select(select(0.0, -b, a < 0.0), b, a > 0.0)',
  divGradB: '-c * a / (b * b)',
  dropout: 'select(0.0, a / (1.0 - s1), uniform01(P.seed, gi) >= s1)',
};

/**
 * A fused ReLU's backward rule (reluGradient, reluDeconvnet, reluGuided: the operators above, with the fused op's
 * output as a and the gradient as b) as a WGSL expression of `y` and `g`, for a kernel's loader to apply as it reads.
 */
export function reluRuleExpr(rule: ReluMask['rule'], y: string, g: string): string {
  return EXPR[rule].replace(/\b[ab]\b/g, (n) => `(${n === 'a' ? y : g})`);
}

const NAMES = ['a', 'b', 'c'];
const MAX_RANK = 8;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function pack(values: readonly number[]): number[] {
  const v = new Array<number>(MAX_RANK).fill(0);
  values.forEach((x, i) => (v[i] = x));
  return v;
}

export function elementwise(ctx: GpuContext, op: ElementwiseOp, inputs: readonly Operand[], out: Operand,
                            scalars: readonly number[] = []): void {
  const arity = elementwiseArity[op];
  if (out.size === 0) return;
  const outShape = [...out.shape];
  if (outShape.length > MAX_RANK) throw new Error(`elementwise ${op}: rank ${outShape.length} exceeds ${MAX_RANK}`);
  const modes = inputs.map((x) => (sameShape(x.shape, outShape) ? 0 : x.size === 1 ? 1 : 2));
  const key = `elementwise:${op}`;
  const pipeline = ctx.pipeline(key, () => kernelSource('elementwise.wgsl', {
    EXPR: EXPR[op],
    INPUT_BINDINGS: NAMES.slice(0, arity)
      .map((n, i) => `@group(0) @binding(${i + 2}) var<storage, read> in_${n}: array<f32>;`).join('\n'),
    INPUT_LOADS: NAMES.slice(0, arity)
      .map((n) => `  let ${n} = in_${n}[P.base_${n} + input_index(P.mode_${n}, li, gi, P.stride_${n})];`).join('\n'),
  }));
  const strides = inputs.map((x, i) => (modes[i] === 2 ? broadcastStrides(x.shape, outShape) : []));
  const chunk = ctx.maxWindowElements;
  for (let start = 0; start < out.size; start += chunk) {
    const n = Math.min(chunk, out.size - start);
    const windows = [ctx.window(out, start, n)];
    const bases = [0, 0, 0];
    inputs.forEach((x, i) => {
      const w = modes[i] === 0 ? ctx.window(x, start, n) : ctx.window(x);
      windows.push(w);
      bases[i] = w.base;
    });
    const u: UniformField[] = [
      n, windows[0].base, start, outShape.length,
      bases[0], bases[1], bases[2], (scalars[0] ?? 0) >>> 0,
      modes[0] ?? 0, modes[1] ?? 0, modes[2] ?? 0, 0,
      { f: scalars[0] ?? 0 }, { f: scalars[1] ?? 0 }, 0, 0,
      ...pack(outShape), ...pack(strides[0] ?? []), ...pack(strides[1] ?? []), ...pack(strides[2] ?? []),
    ];
    ctx.dispatch(pipeline, windows, u, Math.ceil(n / 256), key);
  }
}

export function reduce(ctx: GpuContext, op: 'sum' | 'max', x: Operand, outer: number, r: number, inner: number,
                       out: Operand): void {
  if (out.size === 0) return;
  const source = () => kernelSource('reduce.wgsl', {
    INIT: op === 'sum' ? '0.0' : '-3.402823e38',
    COMBINE: op === 'sum' ? 'acc + v' : 'max(acc, v)',
    COMBINE_PARTIAL: op === 'sum' ? 'a + v' : 'max(a, v)',
  });
  const limit = ctx.maxWindowElements;
  const run = (src: Operand, srcStart: number, rows: number, rr: number, dst: Operand, dstStart: number) => {
    const xw = ctx.window(src, srcStart, rows * rr * inner);
    const ow = ctx.window(dst, dstStart, rows * inner);
    // a row of at most 64: an invocation per output (reduce.wgsl lanes); else a workgroup per output
    const lanes = rr <= 64;
    const key = `reduce:${op}:${lanes ? 'lanes' : 'workgroup'}`;
    const pipeline = ctx.pipeline(key, source, lanes ? 'lanes' : 'main');
    ctx.dispatch(pipeline, [ow, xw], [rows, rr, inner, xw.base, ow.base, 0, 0, 0], lanes ? Math.ceil((rows * inner) / 256) : rows * inner, key);
  };
  if (r * inner <= limit) {
    const rowsPerChunk = Math.max(1, Math.floor(limit / (r * inner)));
    for (let o0 = 0; o0 < outer; o0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, outer - o0);
      run(x, o0 * r * inner, rows, r, out, o0 * inner);
    }
    return;
  }
  // one row is larger than a binding: reduce slabs of the row into partial results, then the partials
  if (inner > limit) throw new Error(`reduce: an inner extent of ${inner} elements exceeds one binding`);
  const slab = Math.max(1, Math.floor(limit / inner));
  const slabs = Math.ceil(r / slab);
  const partial = ctx.allocStorage(slabs * inner);
  const partialOp: Operand = { storage: partial, offset: 0, shape: [slabs, inner], size: slabs * inner };
  try {
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < slabs; s++) {
        const rr = Math.min(slab, r - s * slab);
        run(x, (o * r + s * slab) * inner, 1, rr, partialOp, s * inner);
      }
      reduce(ctx, op, partialOp, 1, slabs, inner, { storage: out.storage, offset: out.offset + o * inner, shape: [inner], size: inner });
    }
  } finally {
    ctx.releaseStorage(partial);
  }
}

export function softmax(ctx: GpuContext, x: Operand, outer: number, n: number, inner: number, log: boolean,
                        out: Operand): void {
  if (out.size === 0) return;
  const key = `softmax:forward:${log}`;
  const pipeline = ctx.pipeline(key, () => kernelSource('softmax.wgsl', { LOG: log ? 'true' : 'false' }), 'forward');
  forRowChunks(ctx, outer, n * inner, 'softmax', (o0, rows) => {
    const xw = ctx.window(x, o0 * n * inner, rows * n * inner);
    const ow = ctx.window(out, o0 * n * inner, rows * n * inner);
    ctx.dispatch(pipeline, [ow, xw], [rows, n, inner, xw.base, ow.base, 0, 0, 0], rows * inner, key);
  });
}

/** Calls fn(firstRow, rowCount) over chunks of rows of `rowElements` each that fit one binding. */
function forRowChunks(ctx: GpuContext, outer: number, rowElements: number, fn: string,
                      body: (o0: number, rows: number) => void): void {
  const perChunk = Math.floor(ctx.maxWindowElements / Math.max(1, rowElements));
  if (perChunk < 1) throw new Error(`${fn}: one row of ${rowElements} elements exceeds the device's binding limit`);
  for (let o0 = 0; o0 < outer; o0 += perChunk) body(o0, Math.min(perChunk, outer - o0));
}

export function softmaxBackward(ctx: GpuContext, y: Operand, g: Operand, outer: number, n: number, inner: number,
                                log: boolean, out: Operand): void {
  if (out.size === 0) return;
  const key = `softmax:backward:${log}`;
  const pipeline = ctx.pipeline(key, () => kernelSource('softmax.wgsl', { LOG: log ? 'true' : 'false' }), 'backward');
  forRowChunks(ctx, outer, n * inner, 'softmaxBackward', (o0, rows) => {
    const at = o0 * n * inner, count = rows * n * inner;
    const yw = ctx.window(y, at, count), gw = ctx.window(g, at, count), ow = ctx.window(out, at, count);
    ctx.dispatch(pipeline, [ow, yw, gw], [rows, n, inner, yw.base, ow.base, gw.base, 0, 0], rows * inner, key);
  });
}
