// Generator for kernels/gemv.wgsl: a matmul with at most 4 rows (batch-1 linear layers and their input
// gradient). On CPU adapters the GEMM's smallest register tile still computes 16 rows, 15 of them padding for a
// batch of one; this kernel gives each invocation 4 columns and every row instead (bench/RESULTS.md).

import type { GpuContext, Window } from './context.js';
import { kernelSource, wgslRelu } from './source.js';

export const GEMV_MAX_ROWS = 4;
const COLS = 4;

function source(rows: number, bias: boolean, accumulate: boolean, relu: boolean): string {
  const ms = [...Array(rows).keys()];
  const js = [...Array(COLS).keys()];
  const setup = [
    ...ms.map((m) => `  let arow${m} = P.a_base + min(${m}u, mlast) * P.sam;`),
    ...js.map((j) => `  let bcol${j} = P.b_base + min(n0 + ${j}u, last) * P.sbn;`),
    ...ms.map((m) => `  var acc${m} = vec4<f32>(0.0);`),
  ].join('\n');
  // one k: B's row k for the invocation's columns times each row's A[m, k]
  const step = (k: string, name: string) => [
    `    let ${name} = vec4<f32>(${js.map((j) => `b[bcol${j} + (${k}) * P.sbk]`).join(', ')});`,
    ...ms.map((m) => `    acc${m} += a[arow${m} + (${k}) * P.sak] * ${name};`),
  ].join('\n');
  const step4 = [0, 1, 2, 3].map((d) => step(`k + ${d}u`, `b${d}`)).join('\n');
  const epilogue = ms.map((m) => js.map((j) => {
    const idx = `P.c_base + ${m}u * P.N + n0 + ${j}u`;
    let s = `var v = acc${m}[${j}];`;
    if (bias) s += ` v += bias[P.bias_base + n0 + ${j}u];`;
    if (accumulate) s += ` v += out[${idx}];`;
    if (relu) s += ` v = ${wgslRelu('v')};`;
    return `  if (${m}u < P.M && n0 + ${j}u < P.N) { ${s} out[${idx}] = v; }`;
  }).join('\n')).join('\n');
  return kernelSource('gemv.wgsl', {
    COLS,
    BIAS_BINDING: bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
    SETUP: setup,
    STEP4: step4,
    STEP1: step('k', 'b0'),
    EPILOGUE: epilogue,
  });
}

/**
 * out[m, n] = sum_k A[m, k] B[k, n] for M <= 4 over windows already bound by the caller (same strides and
 * epilogue options as the GEMM's `run`).
 */
export function gemv(ctx: GpuContext, windows: { out: Window; a: Window; b: Window; bias: Window | null },
                     dims: { M: number; N: number; K: number }, strides: { sam: number; sak: number; sbk: number; sbn: number },
                     opts: { accumulate: boolean; relu: boolean }): void {
  const rows = dims.M <= 1 ? 1 : dims.M <= 2 ? 2 : 4;
  const bias = windows.bias !== null;
  const key = `gemv:${rows}:${bias}:${opts.accumulate}:${opts.relu}`;
  const pipeline = ctx.pipeline(key, () => source(rows, bias, opts.accumulate, opts.relu), 'main');
  const list = [windows.out, windows.a, windows.b];
  if (windows.bias) list.push(windows.bias);
  ctx.dispatch(pipeline, list, [
    dims.M, dims.N, dims.K, 0,
    windows.a.base, windows.b.base, windows.out.base, windows.bias?.base ?? 0,
    strides.sam, strides.sak, strides.sbk, strides.sbn,
  ], Math.ceil(dims.N / (COLS * 64)), 'gemv');
}
