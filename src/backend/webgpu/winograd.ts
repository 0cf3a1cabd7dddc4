// 3x3 stride-1 convolutions by Winograd's F(m x m, 3x3), m = 2 or 4 (kernels/winograd.wgsl): the weight transform,
// the input transform, a² GEMMs [rows, channels] x [channels, tiles] (a = m + 2) as one batched matmul (matmul.ts,
// so the adapter's own tile choice applies unless the plan names a tile), and the output transform with the bias
// and ReLU.
//
//   F(2x2, 3x3): 16 products per 4 outputs, 2.25x fewer multiplications than the direct implicit GEMM; the
//                transformed input and output are 16/4 = 4 times the input's and output's size.
//   F(4x4, 3x3): 36 products per 16 outputs, 4x fewer; transformed tensors 36/16 = 2.25 times the size, but the
//                transforms' constants (1/6, 1/24, 8, ...) cost float32 accuracy: 1.4e-5 of the largest output of a
//                256 -> 256 layer, against 7e-7 for F(2x2) and 2e-6 for the direct GEMM (test/ops/conv, lavapipe).
//
// The transformed weight is kept between calls until the weight changes (GpuContext.derivedFrom). The batch runs
// in chunks of images whose transformed input and output each stay under a cap (256 MiB unless the plan names
// another; one image a chunk where one image is over it), within one binding, and whose GEMM's columns (tiles) fit
// a dispatch's workgroup grid: at batch 32 a layer at 224x224 with 64 channels would otherwise transform into
// 1.6 GB (F(2x2)) twice over. The sizes above (4x, 2.25x) are per chunk.
//
// Where it runs: the tuner's candidate on GPUs (autotune.ts), or pinned (ctx.convAlgorithm / CONVIS_CONV =
// 'winograd' for F(2x2), 'winograd4' for F(4x4)). On lavapipe the subgroup kernel is faster (bench/RESULTS.md).
//
// Backward-input of the same convolution is a Winograd convolution too: the gradient with the kernels turned by
// 180 degrees and their two channel axes swapped, padded by 2 - pad on the top and left.

import type { Conv2dParams, Operand, ReluMask } from '../interface.js';
import type { GpuContext, GpuStorage } from './context.js';
import { type TileConfig, tileConfigs } from './gemm.js';
import { matmul, pickTile } from './matmul.js';
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

/**
 * How a Winograd convolution runs: the output tile m, the cap on each chunk's transformed tensors (bytes), and
 * the GEMM's tile (a name in gemm.ts tileConfigs; null: matmul.ts pickTile's).
 */
export interface WinogradVariant { m: 2 | 4; chunkBytes: number; tile: string | null }

/** The chunk cap unless a plan names another (see the file's comment). */
const WINOGRAD_CHUNK_BYTES = 256 * 2 ** 20;

/**
 * The variant a choice names: 'winograd' (F(2x2, 3x3)) or 'winograd4' (F(4x4, 3x3)), optionally with '@<MiB>', the
 * chunk cap in MiB (the tuner's small-chunk candidates), then optionally ':<tile>', the GEMM's tile (the tuner's
 * other-tile candidates); null for anything else.
 */
export function parseWinograd(choice: string): WinogradVariant | null {
  const match = /^winograd(4?)(?:@([1-9]\d{0,5}))?(?::(\w+))?$/.exec(choice);
  if (!match || (match[3] !== undefined && !Object.hasOwn(tileConfigs, match[3]))) return null;
  return { m: match[1] === '4' ? 4 : 2, chunkBytes: match[2] ? Number(match[2]) * 2 ** 20 : WINOGRAD_CHUNK_BYTES, tile: match[3] ?? null };
}

/** Whether a layer with these parameters is a 3x3, stride-1, undilated, ungrouped convolution. */
export function winogradShapeFits(p: Conv2dParams, kh: number, kw: number): boolean {
  return kh === 3 && kw === 3 && p.strideH === 1 && p.strideW === 1 && p.dilationH === 1 && p.dilationW === 1 && p.groups === 1;
}

/** Tiles per image of this variant. */
function tilesPerImage(s: WinogradShape, m: number): number {
  return Math.ceil(s.oh / m) * Math.ceil(s.ow / m);
}

/** The GEMM tiles' narrowest column count (gemm.ts tileConfigs: cpuTall): a chunk's tiles stay within this many per workgroup column. */
const NARROWEST_TILE_COLUMNS = 16;

/**
 * Images per chunk: as many as keep the chunk's transformed input and output under the variant's cap (at least
 * one image), every chunk's operands within one binding and its GEMM's columns within the workgroup grid of any
 * tile; 0 where one image does not fit a binding or the grid (the variant cannot run).
 */
export function winogradImagesPerChunk(ctx: GpuContext, s: WinogradShape, v: WinogradVariant): number {
  const a2 = (v.m + 2) ** 2;
  const tiles = tilesPerImage(s, v.m);
  const transformed = a2 * Math.max(s.cin, s.cout) * tiles;
  const binding = Math.max(transformed, s.cin * s.h * s.w, s.cout * s.oh * s.ow);
  const limit = ctx.maxWindowElements;
  if (binding > limit || a2 * s.cout * s.cin > limit) return 0;
  const byCap = Math.max(1, Math.floor(v.chunkBytes / (4 * transformed)));
  const byGrid = Math.floor((ctx.maxWorkgroups * NARROWEST_TILE_COLUMNS) / tiles);
  return Math.min(s.batch, Math.floor(limit / binding), byCap, byGrid);
}

/**
 * The tile pickTile's rule gives the variant's GEMM on a full chunk (a² products of [cout, cin] x [cin, tiles]),
 * or the one the variant names.
 */
export function winogradGemmTile(ctx: GpuContext, s: WinogradShape, v: WinogradVariant): TileConfig {
  if (v.tile) return tileConfigs[v.tile];
  return pickTile(ctx, s.cout, winogradImagesPerChunk(ctx, s, v) * tilesPerImage(s, v.m), 'k', 'mn', (v.m + 2) ** 2);
}

/** Whether this convolution can run through this Winograd variant: padding within the transforms' reach and one image within a binding. */
export function winogradFits(ctx: GpuContext, s: WinogradShape, v: WinogradVariant): boolean {
  if (s.padTop < 0 || s.padLeft < 0 || s.padTop > 2 || s.padLeft > 2) return false;
  return winogradImagesPerChunk(ctx, s, v) >= 1;
}

// ------------------------------------------------------------------ the transforms, written out

interface Transform {
  /** Bᵀ (a x a), G (a x 3), Aᵀ (m x a) */
  BT: number[][]; G: number[][]; AT: number[][];
}

// Lavin & Gray's matrices for the interpolation points 0, ±1 (F(2x2)) and 0, ±1, ±2 (F(4x4)), and infinity
const TRANSFORMS: Record<2 | 4, Transform> = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
};

/** A WGSL f32 literal for a coefficient. */
function literal(c: number): string {
  if (Number.isInteger(c)) return `${c}.0`;
  const text = c.toPrecision(9);
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

/** The WGSL expression sum_k coefficients[k] * names[k], with the zero terms left out. */
function combination(coefficients: readonly number[], names: readonly string[]): string {
  let out = '';
  coefficients.forEach((c, k) => {
    if (c === 0) return;
    const magnitude = Math.abs(c) === 1 ? names[k] : `${literal(Math.abs(c))} * ${names[k]}`;
    out += out === '' ? (c < 0 ? `-${magnitude}` : magnitude) : (c < 0 ? ` - ${magnitude}` : ` + ${magnitude}`);
  });
  return out === '' ? '0.0' : out;
}

/**
 * Statements computing L X Rᵀ for the matrix X whose element (k, l) is named by `x(k, l)`: `let` bindings
 * `${out}_i_j`, first the rows of L X (`${out}h_i_l`), then each times Rᵀ.
 */
function product(L: number[][], R: number[][], cols: number, x: (k: number, l: number) => string, out: string): string {
  const lines: string[] = [];
  for (let i = 0; i < L.length; i++) {
    for (let l = 0; l < cols; l++) lines.push(`  let ${out}h_${i}_${l} = ${combination(L[i], L[i].map((_, k) => x(k, l)))};`);
  }
  for (let i = 0; i < L.length; i++) {
    for (let j = 0; j < R.length; j++) {
      lines.push(`  let ${out}_${i}_${j} = ${combination(R[j], R[j].map((_, l) => `${out}h_${i}_${l}`))};`);
    }
  }
  return lines.join('\n');
}

function weightBody(t: Transform): string {
  const a = t.BT.length;
  const lines: string[] = [];
  for (let k = 0; k < 3; k++) for (let l = 0; l < 3; l++) lines.push(`  let g_${k}_${l} = tap(r, c, ${k}u, ${l}u);`);
  lines.push(product(t.G, t.G, 3, (k, l) => `g_${k}_${l}`, 'u'));
  for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) lines.push(`  u_out[base + ${a * i + j}u * count] = u_${i}_${j};`);
  return lines.join('\n');
}

function inputBody(t: Transform): string {
  const a = t.BT.length;
  const lines: string[] = [];
  for (let k = 0; k < a; k++) for (let l = 0; l < a; l++) lines.push(`  let d_${k}_${l} = input_px(plane, y0 + ${k}, x0 + ${l});`);
  lines.push(product(t.BT, t.BT, a, (k, l) => `d_${k}_${l}`, 'v'));
  for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) lines.push(`  v_out[base + ${a * i + j}u * stride] = v_${i}_${j};`);
  return lines.join('\n');
}

function outputBody(t: Transform, bias: boolean, relu: boolean): string {
  const a = t.BT.length, m = t.AT.length;
  const lines: string[] = [];
  for (let k = 0; k < a; k++) for (let l = 0; l < a; l++) lines.push(`  let s_${k}_${l} = m_in[base + ${a * k + l}u * stride];`);
  lines.push(product(t.AT, t.AT, a, (k, l) => `s_${k}_${l}`, 'o'));
  if (bias) lines.push('  let bias_r = bias_in[PO.bias_base + r];');
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const value = [`var v = o_${i}_${j};`, bias ? ' v += bias_r;' : '', relu ? ` v = ${wgslRelu('v')};` : ''].join('');
      const inside = [i > 0 ? `oy + ${i}u < PO.oh` : '', j > 0 ? `ox + ${j}u < PO.ow` : ''].filter((c) => c !== '').join(' && ');
      const store = `${value} y_out[plane + (oy + ${i}u) * PO.ow + ox + ${j}u] = v;`;
      lines.push(inside === '' ? `  { ${store} }` : `  if (${inside}) { ${store} }`);
    }
  }
  return lines.join('\n');
}

function pipeline(ctx: GpuContext, m: 2 | 4, entry: 'weights' | 'input' | 'output', bias = false, relu = false,
                  mask: ReluMask['rule'] | null = null): GPUComputePipeline {
  const key = `winograd${m}:${entry}:${bias}:${relu}:${mask ?? 'plain'}`;
  const readsY = entry === 'input' && mask !== null && mask !== 'reluDeconvnet';
  const t = TRANSFORMS[m];
  return ctx.pipeline(key, () => kernelSource('winograd.wgsl', {
    M: m,
    MASK_BINDING: readsY ? '@group(0) @binding(3) var<storage, read> mask_in: array<f32>;' : '',
    INPUT_LOAD: entry === 'input' && mask ? reluRuleExpr(mask, 'mask_in[i - PI.x_base + PI.mask_base]', 'x_in[i]') : 'x_in[i]',
    BIAS_BINDING: entry === 'output' && bias ? '@group(0) @binding(3) var<storage, read> bias_in: array<f32>;' : '',
    // only the entry point compiled needs its body; the others' are left empty (their functions are not compiled)
    WEIGHT_BODY: entry === 'weights' ? weightBody(t) : '',
    INPUT_BODY: entry === 'input' ? inputBody(t) : '',
    OUTPUT_BODY: entry === 'output' ? outputBody(t, bias, relu) : '',
  }), entry);
}

/** The dispatch labels' prefix: 'winograd' for F(2x2, 3x3), 'winograd4' for F(4x4, 3x3) (profiles, tests). */
function winogradLabel(m: 2 | 4): string {
  return m === 2 ? 'winograd' : 'winograd4';
}

const operand = (storage: GpuStorage, shape: number[]): Operand =>
  ({ storage, offset: 0, shape, size: shape.reduce((p, q) => p * q, 1) });

/**
 * out = conv(x, w) (+ bias, ReLU) for a 3x3 stride-1 convolution, or with `flip` its backward-input: x is then the
 * output gradient, w the layer's [O, C, 3, 3] weight read turned and transposed, and out the input gradient.
 */
export function winogradConv(ctx: GpuContext, s: WinogradShape, v: WinogradVariant, x: Operand, w: Operand, bias: Operand | null,
                             out: Operand, opts: { flip: boolean; relu: boolean; mask?: ReluMask }): void {
  const m = v.m, a2 = (m + 2) ** 2, label = winogradLabel(m);
  const th = Math.ceil(s.oh / m), tw = Math.ceil(s.ow / m);
  const per = winogradImagesPerChunk(ctx, s, v);
  if (per < 1) throw new Error(`conv2d: Winograd F(${m}x${m}, 3x3) cannot hold one image of this convolution in a binding`);
  // the transformed weight depends on the weight alone: kept by the context until the weight's buffer is written
  // (saliency, class models and inference reuse it every call; a training step's update makes it anew)
  const wBuffer = (w.storage as GpuStorage).buffer;
  const uKey = `${label}:${w.offset}:${s.cout}x${s.cin}:${opts.flip ? 'flip' : 'fwd'}`;
  let u = ctx.derivedFrom(wBuffer, uKey);
  const uOp = () => operand(u!, [a2, s.cout, s.cin]);
  if (!u) {
    u = ctx.allocStorage(a2 * s.cout * s.cin);
    const ww = ctx.window(w), uw = ctx.window(uOp());
    ctx.dispatch(pipeline(ctx, m, 'weights'), [uw, ww], [s.cout, s.cin, opts.flip ? 1 : 0, ww.base, uw.base, 0, 0, 0],
      Math.ceil((s.cout * s.cin) / WORKGROUP), `${label}:weights`);
    ctx.keepDerived(wBuffer, uKey, u);
  }
  const maxTiles = per * th * tw;
  const vStorage = ctx.allocStorage(a2 * s.cin * maxTiles);
  const mStorage = ctx.allocStorage(a2 * s.cout * maxTiles);
  // with a mask, x is an output gradient and the fused ReLU's rule is applied as it is read
  const rule = opts.mask?.rule ?? null;
  const readsY = rule !== null && rule !== 'reluDeconvnet';
  const inPlane = s.cin * s.h * s.w, outPlane = s.cout * s.oh * s.ow;
  const bw = bias ? ctx.window(bias) : null;
  try {
    // chunk by chunk through the same two buffers: the GPU orders each chunk's transforms after the last one's reads
    for (let n0 = 0; n0 < s.batch; n0 += per) {
      const nb = Math.min(per, s.batch - n0);
      const tiles = nb * th * tw;
      const vOp = operand(vStorage, [a2, s.cin, tiles]);
      const mOp = operand(mStorage, [a2, s.cout, tiles]);
      const xw = ctx.window(x, n0 * inPlane, nb * inPlane), vw = ctx.window(vOp);
      const yw = readsY ? ctx.window(opts.mask!.y, n0 * inPlane, nb * inPlane) : null;
      ctx.dispatch(pipeline(ctx, m, 'input', false, false, rule), yw ? [vw, xw, yw] : [vw, xw], [
        s.cin * tiles, tiles, th, tw, s.h, s.w, { i: s.padTop }, { i: s.padLeft }, xw.base, vw.base, yw?.base ?? 0, 0,
      ], Math.ceil((s.cin * tiles) / WORKGROUP), `${label}:input`);
      matmul(ctx, uOp(), vOp, mOp, {
        transA: false, transB: false, accumulate: false, label: `winogradGemm:${m}x${nb}`, tile: v.tile ? tileConfigs[v.tile] : undefined,
      });
      const mw = ctx.window(mOp), ow = ctx.window(out, n0 * outPlane, nb * outPlane);
      ctx.dispatch(pipeline(ctx, m, 'output', bias !== null, opts.relu), bw ? [ow, mw, bw] : [ow, mw], [
        s.cout * tiles, tiles, th, tw, s.oh, s.ow, s.cout, mw.base, ow.base, bw?.base ?? 0, 0, 0,
      ], Math.ceil((s.cout * tiles) / WORKGROUP), `${label}:output`);
    }
  } finally {
    // back to the pool; work already recorded keeps its order with later users
    ctx.releaseStorage(vStorage);
    ctx.releaseStorage(mStorage);
  }
}
