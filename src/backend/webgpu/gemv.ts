// Generator for kernels/gemv.wgsl: a matmul with at most 4 rows (batch-1 linear layers and their input
// gradient). On CPU adapters the GEMM's smallest register tile still computes 16 rows, 15 of them padding for a
// batch of one; this kernel gives each invocation 4 columns and every row instead (bench/RESULTS.md).
//
// Layouts: B contiguous along k (a linear layer's weight [out, in] as Wᵀ: 'k4') or along n (the weight itself,
// for the input gradient: 'n4') is read as vec4s when aligned; otherwise ('scalar') one float at a time.

import { gemmLabel } from './gemm.js';
import type { GpuContext, Window } from './context.js';
import { kernelSource, wgslRelu } from './source.js';
import { sumSlices } from './splitk.js';

export const GEMV_MAX_ROWS = 4;
const COLS = 4;

type BMode = 'k4' | 'n4' | 'scalar';

interface Variant { rows: number; aVec: boolean; bMode: BMode; bias: boolean; accumulate: boolean; relu: boolean }

function source(v: Variant): string {
  const ms = [...Array(v.rows).keys()];
  const js = [...Array(COLS).keys()];
  const vec = v.bMode !== 'scalar';
  const setup = [
    ...ms.map((m) => `  let arow${m} = P.a_base + min(${m}u, mlast) * P.sam;`),
    ...(v.bMode === 'n4' ? [] : js.map((j) => `  let bcol${j} = P.b_base + min(n0 + ${j}u, last) * P.sbn;`)),
    ...ms.map((m) => `  var acc${m} = vec4<f32>(0.0);`),
  ].join('\n');
  // four k's at once
  const aLoad = (m: number) => (v.aVec
    ? `    let a${m} = a[(arow${m} + k) / 4u];`
    : `    let a${m} = vec4<f32>(${[0, 1, 2, 3].map((d) => `a[arow${m} + (k + ${d}u) * P.sak]`).join(', ')});`);
  const step4: string[] = ms.map(aLoad);
  if (v.bMode === 'k4') {
    // b{j}: column j's four k's; the sums over k are dot products
    step4.push(...js.map((j) => `    let b${j} = b[(bcol${j} + k) / 4u];`));
    step4.push(...ms.map((m) => `    acc${m} += vec4<f32>(${js.map((j) => `dot(a${m}, b${j})`).join(', ')});`));
  } else if (v.bMode === 'n4') {
    // b{d}: row k + d's four columns
    step4.push(...[0, 1, 2, 3].map((d) => `    let b${d} = b[(P.b_base + (k + ${d}u) * P.sbk + n0) / 4u];`));
    for (const d of [0, 1, 2, 3]) step4.push(...ms.map((m) => `    acc${m} += a${m}[${d}] * b${d};`));
  } else {
    for (const d of [0, 1, 2, 3]) {
      step4.push(`    let b${d} = vec4<f32>(${js.map((j) => `b[bcol${j} + (k + ${d}u) * P.sbk]`).join(', ')});`);
      step4.push(...ms.map((m) => `    acc${m} += a${m}[${d}] * b${d};`));
    }
  }
  // the K % 4 tail (vec4 layouts require K % 4 == 0)
  const step1 = vec ? '' : [
    `    let b0 = vec4<f32>(${js.map((j) => `b[bcol${j} + k * P.sbk]`).join(', ')});`,
    ...ms.map((m) => `    acc${m} += a[arow${m} + k * P.sak] * b0;`),
  ].join('\n');
  const epilogue = ms.map((m) => js.map((j) => {
    const idx = `P.c_base + ${m}u * P.scm + n0 + ${j}u`;
    let s = `var v = acc${m}[${j}];`;
    if (v.bias) s += ` v += bias[P.bias_base + n0 + ${j}u];`;
    if (v.accumulate) s += ` v += out[${idx}];`;
    if (v.relu) s += ` v = ${wgslRelu('v')};`;
    return `  if (${m}u < P.M && n0 + ${j}u < P.N) { ${s} out[${idx}] = v; }`;
  }).join('\n')).join('\n');
  return kernelSource('gemv.wgsl', {
    COLS,
    A_TYPE: v.aVec ? 'vec4<f32>' : 'f32',
    B_TYPE: vec ? 'vec4<f32>' : 'f32',
    BIAS_BINDING: v.bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
    SETUP: setup,
    STEP4: step4.join('\n'),
    STEP1: step1,
    EPILOGUE: epilogue,
  });
}

/**
 * out[m, n] = sum_k A[m, k] B[k, n] for M <= 4 over windows already bound by the caller (same strides and
 * epilogue options as the GEMM's `run`).
 */
export function gemv(ctx: GpuContext, windows: { out: Window; a: Window; b: Window; bias: Window | null },
                     dims: { M: number; N: number; K: number }, strides: { sam: number; sak: number; sbk: number; sbn: number; scm: number },
                     opts: { accumulate: boolean; relu: boolean }): void {
  const { M, N, K } = dims;
  const { sam, sak, sbk, sbn, scm } = strides;
  const rows = M <= 1 ? 1 : M <= 2 ? 2 : 4;
  const kAligned = K % 4 === 0;
  const bMode: BMode = sbk === 1 && kAligned && sbn % 4 === 0 && windows.b.base % 4 === 0 ? 'k4'
    : sbn === 1 && kAligned && N % 4 === 0 && sbk % 4 === 0 && windows.b.base % 4 === 0 ? 'n4' : 'scalar';
  const aVec = bMode !== 'scalar' && sak === 1 && (M === 1 || sam % 4 === 0) && windows.a.base % 4 === 0;
  if (bMode === 'n4' && ctx.isCpuAdapter && K > BLOCK_K) {
    blockedGemv(ctx, windows, dims, strides, opts, rows, aVec);
    return;
  }
  const v: Variant = { rows, aVec, bMode, bias: windows.bias !== null, accumulate: opts.accumulate, relu: opts.relu };
  const key = `gemv:${rows}:${aVec}:${bMode}:${v.bias}:${v.accumulate}:${v.relu}`;
  const pipeline = ctx.pipeline(key, () => source(v), 'main');
  const list = [windows.out, windows.a, windows.b];
  if (windows.bias) list.push(windows.bias);
  ctx.dispatch(pipeline, list, [
    M, N, K, scm,
    windows.a.base, windows.b.base, windows.out.base, windows.bias?.base ?? 0,
    sam, sak, sbk, sbn,
  ], Math.ceil(N / (COLS * 64)), gemmLabel(ctx, 'gemv', M, N, K, 1, `${rows}${aVec ? 'v' : ''}${bMode}`));
}

// ---------------------------------------------------------------- B contiguous along n, on CPU adapters

/** Rows of B per workgroup of kernels/gemv_blocks.wgsl (each writes one partial sum per output). */
const BLOCK_K = 256;
/** vec4 columns per invocation there (16 columns; a workgroup of 64 covers 1,024) */
const BLOCK_COLS4 = 4;

/** gemv() for B contiguous along n on CPU adapters: blocks of BLOCK_K rows into partial sums, then their sum (splitk.ts). */
function blockedGemv(ctx: GpuContext, windows: { out: Window; a: Window; b: Window; bias: Window | null },
                     dims: { M: number; N: number; K: number }, strides: { sam: number; sak: number; sbk: number; scm: number },
                     opts: { accumulate: boolean; relu: boolean }, rows: number, aVec: boolean): void {
  const { M, N, K } = dims;
  const ms = [...Array(rows).keys()];
  const js = [...Array(BLOCK_COLS4).keys()];
  const blockKey = `gemv_blocks:block:${rows}:${aVec}`;
  const blockPipeline = ctx.pipeline(blockKey, () => kernelSource('gemv_blocks.wgsl', {
    SETUP: [
      ...ms.map((m) => `  let arow${m} = PB.a_base + min(${m}u, mlast) * PB.sam;`),
      ...js.map((j) => `  let col${j} = min(c4 + ${j}u, n4 - 1u);`),
      ...ms.flatMap((m) => js.map((j) => `  var acc${m}_${j} = vec4<f32>(0.0);`)),
    ].join('\n'),
    STEP: [
      ...ms.map((m) => (aVec ? `    let a${m} = a4[(arow${m} + k) / 4u];`
        : `    let a${m} = vec4<f32>(${[0, 1, 2, 3].map((d) => `a[arow${m} + (k + ${d}u) * PB.sak]`).join(', ')});`)),
      ...[0, 1, 2, 3].flatMap((d) => js.map((j) => `    let b${d}_${j} = b[brow + ${d}u * bstep + col${j}];`)),
      ...ms.flatMap((m) => js.map((j) => `    acc${m}_${j} += a${m}.x * b0_${j} + a${m}.y * b1_${j} + a${m}.z * b2_${j} + a${m}.w * b3_${j};`)),
    ].join('\n'),
    STORE: ms.flatMap((m) => js.map((j) =>
      `  if (${m}u < PB.M && c4 + ${j}u < n4) { partial_out[(wid.y * PB.M + ${m}u) * n4 + c4 + ${j}u] = acc${m}_${j}; }`)).join('\n'),
    A_BINDING: aVec ? '@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;' : '@group(0) @binding(2) var<storage, read> a: array<f32>;',
  }), 'block');
  const splits = Math.ceil(K / BLOCK_K);
  const partial = ctx.allocStorage(splits * M * N);
  try {
    const pw = ctx.window({ storage: partial, offset: 0, shape: [splits * M * N], size: splits * M * N });
    ctx.dispatch(blockPipeline, [pw, windows.a, windows.b], [
      M, N, K, BLOCK_K, windows.a.base, windows.b.base, strides.sam, strides.sak, strides.sbk, 0, 0, 0,
    ], [Math.ceil(N / (4 * BLOCK_COLS4 * 64)), splits, 1], gemmLabel(ctx, 'gemv', M, N, K, 1, `${rows}${aVec ? 'v' : ''}blocks`));
    sumSlices(ctx, pw, windows.out, {
      n: M * N, splits, stride: M * N, cols: N, rowStride: strides.scm,
      bias: windows.bias, biasDiv: 1, biasMod: N, accumulate: opts.accumulate, relu: opts.relu,
    });
  } finally {
    ctx.releaseStorage(partial);
  }
}

// ---------------------------------------------------------------- GPU adapters

/** Invocations along n in mode 'n' (each 4 columns): 64 columns per workgroup, 16 invocations along k. */
const WG_TN = 16;

interface WgVariant { rows: number; mode: 'k' | 'n'; bias: boolean; accumulate: boolean; relu: boolean }

function wgSource(v: WgVariant): string {
  const ms = [...Array(v.rows).keys()];
  const tn = v.mode === 'k' ? 1 : WG_TN;
  const setup: string[] = ms.map((m) => `  var acc${m} = vec4<f32>(0.0);`);
  let loop: string;
  if (v.mode === 'k') {
    // columns past N read the last column again; they are not stored
    setup.push(...[0, 1, 2, 3].map((j) => `  let bcol${j} = (P.b_base + min(n0 + ${j}u, P.N - 1u) * P.sbn) / 4u;`));
    setup.push(...ms.map((m) => `  let arow${m} = (P.a_base + min(${m}u, mlast) * P.sam) / 4u;`));
    loop = [
      '  for (var k4 = tk; k4 < P.K / 4u; k4 += TK) {',
      ...ms.map((m) => `    let a${m} = a[arow${m} + k4];`),
      ...[0, 1, 2, 3].map((j) => `    let b${j} = b[bcol${j} + k4];`),
      ...ms.map((m) => `    acc${m} += vec4<f32>(dot(a${m}, b0), dot(a${m}, b1), dot(a${m}, b2), dot(a${m}, b3));`),
      '  }',
    ].join('\n');
  } else {
    // columns past N read the last four again; they are not stored
    setup.push(`  let col4 = (P.b_base + min(n0, P.N - 4u)) / 4u;`);
    setup.push(...ms.map((m) => `  let arow${m} = P.a_base + min(${m}u, mlast) * P.sam;`));
    loop = [
      '  for (var k = tk; k < P.K; k += TK) {',
      '    let bk = b[col4 + k * (P.sbk / 4u)];',
      ...ms.map((m) => `    acc${m} += a[arow${m} + k * P.sak] * bk;`),
      '  }',
    ].join('\n');
  }
  const storeRed = ms.map((m) => `  red[${m}u * WG + lid] = acc${m};`).join('\n');
  const reduce = ms.map((m) => `      red[${m}u * WG + lid] += red[${m}u * WG + lid + s * TN];`).join('\n');
  const epilogue = ms.map((m) => [0, 1, 2, 3].map((j) => {
    const idx = `P.c_base + ${m}u * P.scm + n0 + ${j}u`;
    let s = `var v = red[${m}u * WG + lid][${j}];`;
    if (v.bias) s += ` v += bias[P.bias_base + n0 + ${j}u];`;
    if (v.accumulate) s += ` v += out[${idx}];`;
    if (v.relu) s += ` v = ${wgslRelu('v')};`;
    return `    if (${m}u < P.M && n0 + ${j}u < P.N) { ${s} out[${idx}] = v; }`;
  }).join('\n')).join('\n');
  return kernelSource('gemv_wg.wgsl', {
    TN: tn,
    ROWS: v.rows,
    RED: v.rows * 256,
    A_TYPE: v.mode === 'k' ? 'vec4<f32>' : 'f32',
    BIAS_BINDING: v.bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
    SETUP: setup.join('\n'),
    LOOP: loop,
    STORE_RED: storeRed,
    REDUCE: reduce,
    EPILOGUE: epilogue,
  });
}

/**
 * The workgroup GEMV's mode for these operands, or null where it does not apply (it reads B as vec4s: 'k' needs
 * B and A contiguous and 16-byte aligned along k, 'n' needs B contiguous and aligned along n).
 */
export function workgroupGemvMode(windows: { a: Window; b: Window }, dims: { M: number; N: number; K: number },
                                  strides: { sam: number; sak: number; sbk: number; sbn: number }): 'k' | 'n' | null {
  const { M, N, K } = dims;
  const { sam, sak, sbk, sbn } = strides;
  if (M > GEMV_MAX_ROWS) return null;
  if (sbk === 1 && sak === 1 && K % 4 === 0 && sbn % 4 === 0 && (M === 1 || sam % 4 === 0) &&
      windows.b.base % 4 === 0 && windows.a.base % 4 === 0) return 'k';
  if (sbn === 1 && N % 4 === 0 && sbk % 4 === 0 && windows.b.base % 4 === 0) return 'n';
  return null;
}

/** The GPU GEMV (kernels/gemv_wg.wgsl) in the given mode; same windows, strides and epilogue as gemv(). */
export function workgroupGemv(ctx: GpuContext, mode: 'k' | 'n', windows: { out: Window; a: Window; b: Window; bias: Window | null },
                              dims: { M: number; N: number; K: number }, strides: { sam: number; sak: number; sbk: number; sbn: number; scm: number },
                              opts: { accumulate: boolean; relu: boolean }): void {
  const { M, N, K } = dims;
  const { sam, sak, sbk, sbn, scm } = strides;
  const rows = M <= 1 ? 1 : M <= 2 ? 2 : 4;
  const v: WgVariant = { rows, mode, bias: windows.bias !== null, accumulate: opts.accumulate, relu: opts.relu };
  const key = `gemv_wg:${rows}:${mode}:${v.bias}:${v.accumulate}:${v.relu}`;
  const pipeline = ctx.pipeline(key, () => wgSource(v), 'main');
  const list = [windows.out, windows.a, windows.b];
  if (windows.bias) list.push(windows.bias);
  const columnsPerGroup = mode === 'k' ? 4 : 4 * WG_TN;
  ctx.dispatch(pipeline, list, [
    M, N, K, scm,
    windows.a.base, windows.b.base, windows.out.base, windows.bias?.base ?? 0,
    sam, sak, sbk, sbn,
  ], Math.ceil(N / columnsPerGroup), gemmLabel(ctx, 'gemv', M, N, K, 1, `wg-${mode}${rows}`));
}
