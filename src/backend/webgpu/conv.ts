// conv2d on WebGPU as implicit GEMMs (gemm.wgsl main, three specialisations). The im2col matrix is never
// materialised: the loaders decode (channel, kh, kw) from k and (image, pixel) from the column. Every shape
// constant is baked into the shader, so the compiler turns the divisions into multiplications; the batch
// size stays a uniform. Groups run along workgroup z. planConv picks this direct GEMM, Winograd (winograd.ts) or,
// on adapters with 8-invocation subgroups, the subgroup kernel (subgroupconv.ts, lavapipe's default for stride 1).
//
//   forward          out[co, (n, p)]  = sum_{ci, kh, kw} W[co, (ci, kh, kw)] * X[(ci, kh, kw), (n, p)]
//   backward input   dX[ci, (n, q)]   = sum_{co, kh, kw} W[co, ci, kh, kw] * dY[co, n, q - k]    (flipped kernel)
//   backward weight  dW[co, (ci, kh, kw)] = sum_{(n, p)} dY[co, (n, p)] * X[(ci, kh, kw), (n, p)]

import type { Conv2dParams, Operand, ReluMask } from '../interface.js';
import { type GpuContext, kernelSource, type UniformField } from './context.js';
import { type ConvDirection, convKey, directCandidates, loadChoices } from './autotune.js';
import { elementwise, reluRuleExpr } from './elementwise.js';
import { gemmLabel, gemmSource, sliceLength, splitCount, type TileConfig, tileConfigs, tileKey, workgroupsFor } from './gemm.js';
import { pickTile } from './matmul.js';
import { wgslRelu } from './source.js';
import { finishSplit, gemmOutput, planSplit } from './splitk.js';
import { subgroupConv, subgroupConvAvailable, subgroupFits, type SubgroupShape, subgroupShapeFits } from './subgroupconv.js';
import { parseWinograd, winogradConv, winogradFits, winogradGemmTile, winogradImagesPerChunk, type WinogradShape,
  winogradShapeFits, type WinogradVariant } from './winograd.js';

// The geometry: baked into the shader as constants (the compiler then turns divisions into multiplications),
// or, for tiles with `bakeShapes: false`, read from the uniform block so one pipeline serves every shape.
const GEOMETRY_U32 = ['C', 'H', 'W', 'HW', 'O', 'OH', 'OW', 'OHW', 'KH', 'KW', 'KHW', 'CG', 'OG'] as const;
const GEOMETRY_I32 = ['SH', 'SW', 'PT', 'PL', 'DH', 'DW'] as const;
const GEOMETRY_NAME = new RegExp(`\\b(${[...GEOMETRY_U32, ...GEOMETRY_I32].join('|')})\\b`, 'g');

function paramsStruct(baked: boolean): string {
  const geometry = baked ? '' : `
  ${GEOMETRY_U32.map((n) => `g_${n}: u32`).join(', ')},
  ${GEOMETRY_I32.map((n) => `g_${n}: i32`).join(', ')},`;
  return `struct Params {
  M: u32, N: u32, K: u32, accumulate: u32,
  x_base: u32, w_base: u32, out_base: u32, bias_base: u32,
  splits: u32, k_slice: u32, split_stride: u32, aux_base: u32,${geometry}
}`;
}

function geometryValues(g: Geometry, p: Conv2dParams): UniformField[] {
  const u = [g.C, g.H, g.W, g.H * g.W, g.O, g.OH, g.OW, g.OH * g.OW, g.KH, g.KW, g.KH * g.KW, g.C / p.groups, g.O / p.groups];
  const i = [p.strideH, p.strideW, p.padTop, p.padLeft, p.dilationH, p.dilationW];
  return [...u, ...i.map((v) => ({ i: v }))];
}

/** The generated source, with geometry names turned into uniform reads when the tile does not bake them. */
function specialise(tile: TileConfig, code: string): string {
  if (tile.bakeShapes !== false) return code;
  const at = code.indexOf('struct Params');
  const end = code.indexOf('}', at) + 1;
  return code.slice(0, end) + code.slice(end).replace(GEOMETRY_NAME, 'P.g_$1');
}

interface Geometry {
  batch: number; C: number; H: number; W: number;
  O: number; OH: number; OW: number; KH: number; KW: number;
}

function geometry(x: Operand, w: Operand, out: Operand): Geometry {
  return {
    batch: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
    O: w.shape[0], KH: w.shape[2], KW: w.shape[3], OH: out.shape[2], OW: out.shape[3],
  };
}

function constants(g: Geometry, p: Conv2dParams, tile: TileConfig): string {
  if (tile.bakeShapes === false) return '';
  const cg = g.C / p.groups, og = g.O / p.groups;
  return `
const C = ${g.C}u; const H = ${g.H}u; const W = ${g.W}u; const HW = ${g.H * g.W}u;
const O = ${g.O}u; const OH = ${g.OH}u; const OW = ${g.OW}u; const OHW = ${g.OH * g.OW}u;
const KH = ${g.KH}u; const KW = ${g.KW}u; const KHW = ${g.KH * g.KW}u;
const CG = ${cg}u; const OG = ${og}u;
const SH = ${p.strideH}i; const SW = ${p.strideW}i; const PT = ${p.padTop}i; const PL = ${p.padLeft}i;
const DH = ${p.dilationH}i; const DW = ${p.dilationW}i;`;
}

function shapeKey(g: Geometry, p: Conv2dParams, tile: TileConfig): string {
  if (tile.bakeShapes === false) return `any-shape,${tileKey(tile)}`;
  return [g.C, g.H, g.W, g.O, g.OH, g.OW, g.KH, g.KW, p.strideH, p.strideW, p.padTop, p.padLeft,
    p.dilationH, p.dilationW, p.groups, tileKey(tile)].join(',');
}

/** Images per dispatch so that each binding stays under the device limit. */
function imagesPerChunk(ctx: GpuContext, perImage: number[], fn: string): number {
  const worst = Math.max(...perImage);
  const n = Math.floor(ctx.maxWindowElements / Math.max(1, worst));
  if (n < 1) throw new Error(`${fn}: one image needs ${worst} elements in one binding, over the device limit of ${ctx.maxWindowElements}`);
  return n;
}

/** How one convolution runs: through Winograd or the subgroup kernel (their shapes), or as a direct implicit GEMM with this tile. */
type ConvPlan = { algorithm: 'winograd'; shape: WinogradShape; variant: WinogradVariant } | { algorithm: 'subgroup'; shape: SubgroupShape }
  | { algorithm: 'direct'; tile: TileConfig };

/**
 * The Winograd candidates the tuner times for a 3x3 stride-1 shape: F(2x2) and F(4x4) where they fit, and on GPUs
 * F(4x4) in chunks of at most 16 MiB where that splits the batch more finely than the default cap (a chunk's
 * transformed tensors then may stay in the L2 cache between the transforms and the GEMM), and F(4x4) with its
 * GEMM on the other of the 64x64 and 128x128 tiles than pickTile's (which picks by counting tiles, not by timing;
 * the rule is asked about a full chunk at the default cap, and the small-chunk variant keeps the rule's tile).
 */
export function winogradCandidates(ctx: GpuContext, wino: WinogradShape): string[] {
  const out: string[] = [];
  for (const name of ['winograd', 'winograd4']) if (winogradFits(ctx, wino, parseWinograd(name)!)) out.push(name);
  if (ctx.isCpuAdapter || !out.includes('winograd4')) return out;
  const f4 = parseWinograd('winograd4')!;
  if (winogradImagesPerChunk(ctx, wino, parseWinograd('winograd4@16')!) < winogradImagesPerChunk(ctx, wino, f4)) out.push('winograd4@16');
  const ruled = winogradGemmTile(ctx, wino, f4);
  const other = ruled === tileConfigs.large ? 'medium' : ruled === tileConfigs.medium ? 'large' : null;
  if (other) out.push(`winograd4:${other}`);
  return out;
}

/**
 * The plan for a convolution, in this order: the tuner's forced candidate while it times one; a pinned algorithm
 * (ctx.convAlgorithm: tests and benchmarks; the direct GEMM where the pinned one does not apply); the tuner's
 * choice for this shape (autotune.ts); else the fixed rules, queueing the shape for the tuner where it runs. The
 * fixed rules: the subgroup kernel where the adapter runs it and the shape fits (subgroupconv.ts: CPU adapters),
 * else the direct GEMM with pickTile's tile (ctx.tileOverride pins that tile).
 */
function planConv(ctx: GpuContext, direction: ConvDirection, g: Geometry, p: Conv2dParams, M: number, N: number,
                  wino: WinogradShape | null, sub: SubgroupShape | null): ConvPlan {
  const subFits = sub !== null && subgroupConvAvailable(ctx) && subgroupFits(ctx, sub);
  const direct: ConvPlan = { algorithm: 'direct', tile: pickTile(ctx, M, N) };
  const winogradPlan = (choice: string): ConvPlan | null => {
    const variant = parseWinograd(choice);
    return variant && wino !== null && winogradFits(ctx, wino, variant) ? { algorithm: 'winograd', shape: wino, variant } : null;
  };
  const apply = (choice: string): ConvPlan | null => {
    if (choice.startsWith('winograd')) return winogradPlan(choice);
    if (choice === 'subgroup') return subFits ? { algorithm: 'subgroup', shape: sub! } : null;
    if (choice === 'direct') return direct;
    const tile = tileConfigs[choice.slice('direct:'.length)];
    return tile ? { algorithm: 'direct', tile } : null;
  };
  if (ctx.forcedConv !== null) return apply(ctx.forcedConv) ?? direct;
  if (ctx.convAlgorithm !== null) return apply(ctx.convAlgorithm) ?? direct;
  const fixed: ConvPlan = subFits ? { algorithm: 'subgroup', shape: sub! } : direct;
  if (ctx.tileOverride !== null || !ctx.autotune) return fixed;
  const x = [g.batch, g.C, g.H, g.W], w = [g.O, g.C / p.groups, g.KH, g.KW], y = [g.batch, g.O, g.OH, g.OW];
  const key = convKey(direction, x, w, y, p);
  loadChoices(ctx);
  const tuned = ctx.convChoices.get(key);
  if (tuned !== undefined) {
    const plan = apply(tuned);
    if (plan) return plan;
    ctx.convChoices.delete(key); // (an algorithm chosen under a larger binding limit): tuned again
  }
  if (!ctx.tuning && !ctx.pendingConv.has(key)) {
    const fixedName = Object.keys(tileConfigs).find((n) => tileConfigs[n] === direct.tile) ?? 'medium';
    const candidates = directCandidates(ctx, fixedName);
    if (wino !== null) candidates.push(...winogradCandidates(ctx, wino));
    if (subFits) candidates.push('subgroup');
    ctx.pendingConv.set(key, { direction, x, w, y, p, candidates });
  }
  return fixed;
}

export function conv2d(ctx: GpuContext, x: Operand, w: Operand, bias: Operand | null, p: Conv2dParams,
                       out: Operand, fuseRelu = false): void {
  const g = geometry(x, w, out);
  if (out.size === 0) return;
  const og = g.O / p.groups;
  const M = og, K = (g.C / p.groups) * g.KH * g.KW;
  const wino: WinogradShape | null = winogradShapeFits(p, g.KH, g.KW)
    ? { batch: g.batch, cin: g.C, cout: g.O, h: g.H, w: g.W, oh: g.OH, ow: g.OW, padTop: p.padTop, padLeft: p.padLeft }
    : null;
  const sub: SubgroupShape | null = subgroupShapeFits(p)
    ? { batch: g.batch, cin: g.C, cout: g.O, h: g.H, w: g.W, oh: g.OH, ow: g.OW, kh: g.KH, kw: g.KW, padTop: p.padTop, padLeft: p.padLeft }
    : null;
  const plan = planConv(ctx, 'forward', g, p, M, g.OH * g.OW * g.batch, wino, sub);
  if (plan.algorithm === 'winograd') {
    winogradConv(ctx, plan.shape, plan.variant, x, w, bias, out, { flip: false, relu: fuseRelu });
    return;
  }
  if (plan.algorithm === 'subgroup') {
    subgroupConv(ctx, plan.shape, x, w, bias, out, { turned: false, relu: fuseRelu });
    return;
  }
  const tile = plan.tile;
  const per = imagesPerChunk(ctx, [g.C * g.H * g.W, g.O * g.OH * g.OW], 'conv2d');
  // split-K only when one dispatch covers the batch; the slices' sum then takes the bias and ReLU
  const split = per >= g.batch ? planSplit(ctx, splitCount(ctx, tile, M, g.OH * g.OW * g.batch, p.groups, K), out.size)
    : planSplit(ctx, 1, 0);
  const epilogueBias = split.scratch ? null : bias;
  const epilogueRelu = split.scratch ? false : fuseRelu;
  const pipeline = conv2dPipeline(ctx, g, p, tile, epilogueBias !== null, epilogueRelu);
  const ww = ctx.window(w);
  const bw = epilogueBias ? ctx.window(epilogueBias) : null;
  const kSlice = sliceLength(tile, K, split.splits);
  for (let n0 = 0; n0 < g.batch; n0 += per) {
    const nb = Math.min(per, g.batch - n0);
    const xw = ctx.window(x, n0 * g.C * g.H * g.W, nb * g.C * g.H * g.W);
    const ow = split.scratch ? gemmOutput(ctx, split, out) : ctx.window(out, n0 * g.O * g.OH * g.OW, nb * g.O * g.OH * g.OW);
    const N = nb * g.OH * g.OW;
    ctx.dispatch(pipeline, bw ? [ow, ww, xw, bw] : [ow, ww, xw],
      [M, N, K, 0, xw.base, ww.base, ow.base, bw?.base ?? 0, split.splits, kSlice, split.stride, 0, ...geometryValues(g, p)],
      workgroupsFor(tile, M, N, p.groups * split.splits), gemmLabel(ctx, `conv2d ${g.KH}x${g.KW}`, M, N, K, p.groups, tile, split.splits));
  }
  finishSplit(ctx, split, out, bias, g.OH * g.OW, g.O, fuseRelu);
}

function conv2dPipeline(ctx: GpuContext, g: Geometry, p: Conv2dParams, tile: TileConfig, bias: boolean, fuseRelu: boolean) {
  const key = `conv2d:${shapeKey(g, p, tile)}:${bias}:${fuseRelu}`;
  return ctx.pipeline(key, () => specialise(tile, gemmSource({
    tile,
    params: paramsStruct(tile.bakeShapes !== false),
    extraBindings: bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
    helpers: constants(g, p, tile) + `
struct Column { valid: bool, base: u32, ih0: i32, iw0: i32 }
fn column(n: u32, grp: u32) -> Column {
  let img = n / OHW; let q = n % OHW;
  let oh = i32(q / OW); let ow = i32(q % OW);
  return Column(n < P.N, P.x_base + (img * C + grp * CG) * HW, oh * SH - PT, ow * SW - PL);
}
fn load_x(c: Column, k: u32) -> f32 {
  if (!c.valid || k >= P.K) { return 0.0; }
  let ci = k / KHW; let r = k % KHW;
  let ih = c.ih0 + i32(r / KW) * DH; let iw = c.iw0 + i32(r % KW) * DW;
  if (ih < 0 || iw < 0 || ih >= i32(H) || iw >= i32(W)) { return 0.0; }
  return b[c.base + ci * HW + u32(ih) * W + u32(iw)];
}
fn load_w(m: u32, k: u32, grp: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  return a[P.w_base + (grp * OG + m) * P.K + k];
}`,
    a: { fast: 'k', load: (m, k) => `load_w(${m}, ${k}, batch)` },
    b: { fast: 'mn', prologue: 'let col = column(FIX, batch);', load: (_n, k) => `load_x(col, ${k})` },
    storeColumn: (n) => `let img = ${n} / OHW; let q = ${n} % OHW;`,
    store: (m, _n, v) => {
      const co = `batch * OG + ${m}`;
      let s = `var v = ${v};`;
      if (bias) s += ` v += bias[P.bias_base + ${co}];`;
      if (fuseRelu) s += ` v = ${wgslRelu('v')};`;
      return s + ` out[P.out_base + split * P.split_stride + (img * O + ${co}) * OHW + q] = v;`;
    },
  })), 'main');
}

/**
 * Whether backward-input runs the narrow kernel instead of a GEMM: at most 4 input channels per group, where
 * a GEMM tile's rows would be mostly padding (VGG16's first layer: 3 of 16 rows on lavapipe's thinnest tile;
 * 4.2x faster there, bench/RESULTS.md).
 */
export function usesNarrowBackwardInput(channels: number, groups: number): boolean {
  return channels / groups <= 4;
}

/** Pixels per invocation of the narrow kernel: on CPU adapters 4 share each weight load (8 measured no better). */
function narrowPixels(ctx: GpuContext): number {
  return ctx.isCpuAdapter ? 4 : 1;
}

/** Backward-input for at most 4 channels per group (kernels/conv_dx_narrow.wgsl): no GEMM tile to waste. */
function conv2dBackwardInputNarrow(ctx: GpuContext, g: Geometry, gy: Operand, w: Operand, p: Conv2dParams, dx: Operand): void {
  const PX = narrowPixels(ctx);
  const pipeline = ctx.pipeline(`conv2dBackwardInputNarrow:${PX}`, () => kernelSource('conv_dx_narrow.wgsl', { PX }), 'main');
  const per = imagesPerChunk(ctx, [g.C * g.H * g.W, g.O * g.OH * g.OW], 'conv2dBackwardInput');
  const ww = ctx.window(w);
  const chunks = Math.ceil((g.H * g.W) / PX);
  for (let n0 = 0; n0 < g.batch; n0 += per) {
    const nb = Math.min(per, g.batch - n0);
    const gw = ctx.window(gy, n0 * g.O * g.OH * g.OW, nb * g.O * g.OH * g.OW);
    const xw = ctx.window(dx, n0 * g.C * g.H * g.W, nb * g.C * g.H * g.W);
    const planes = nb * p.groups;
    ctx.dispatch(pipeline, [xw, ww, gw], [
      planes, p.groups, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.C / p.groups, g.O / p.groups,
      { i: p.strideH }, { i: p.strideW }, { i: p.padTop }, { i: p.padLeft }, { i: p.dilationH }, { i: p.dilationW },
      xw.base, ww.base, gw.base, 0,
    ], Math.ceil((planes * chunks) / 64), gemmLabel(ctx, `conv2dBackwardInput ${g.KH}x${g.KW}`, g.C / p.groups, nb * g.H * g.W,
      (g.O / p.groups) * g.KH * g.KW, p.groups, `narrow${PX}`));
  }
}

/** Workgroup memory the tiled narrow kernel may use: WebGPU's default maxComputeWorkgroupStorageSize. */
const NARROW_TILED_BYTES = 16384;

/**
 * Output channels the tiled narrow kernel stages per step (the most of 8, 4, 2, 1 whose dY windows and weights fit
 * in workgroup memory: 8 for 3x3 and 5x5 kernels, 4 for 7x7, 2 for 11x11, 1 up to 24x24), or 0 where it does not
 * run: strided or dilated layers, CPU adapters unless forced (ctx.narrowTiled), kernels of 25x25 and more.
 */
export function narrowTiledChannels(ctx: GpuContext, p: Conv2dParams, kh: number, kw: number): number {
  if (!(ctx.narrowTiled ?? !ctx.isCpuAdapter)) return 0;
  if (p.strideH !== 1 || p.strideW !== 1 || p.dilationH !== 1 || p.dilationW !== 1) return 0;
  for (const co of [8, 4, 2, 1]) if (co * ((16 + kh - 1) * (16 + kw - 1) * 4 + kh * kw * 16) <= NARROW_TILED_BYTES) return co;
  return 0;
}

/**
 * Backward-input for at most 4 channels per group, stride 1, no dilation, on GPUs (kernels/conv_dx_narrow_tiled.wgsl):
 * a 16x16 tile of dX per workgroup from dY windows staged in workgroup memory, with a fused ReLU's rule applied as
 * they are staged. On an H100 at batch 32, VGG16's first layer took 1.88 ms in the plain narrow kernel, plus about
 * 0.4 ms for the masked copy of dY, where one read of its 411 MB of dY takes about 0.12 ms.
 */
function conv2dBackwardInputNarrowTiled(ctx: GpuContext, g: Geometry, gy: Operand, w: Operand, p: Conv2dParams, dx: Operand,
                                        co: number, mask?: ReluMask): void {
  const readsY = mask !== undefined && mask.rule !== 'reluDeconvnet';
  const value = mask ? reluRuleExpr(mask.rule, 'ym[i - P.gy_base + P.y_base]', 'gy[i]') : 'gy[i]';
  const pipeline = ctx.pipeline(`conv2dBackwardInputNarrowTiled:${g.KH}x${g.KW}:${co}:${mask?.rule ?? 'plain'}`, () => kernelSource('conv_dx_narrow_tiled.wgsl', {
    KH: g.KH, KW: g.KW, CO: co, VALUE: value,
    MASK_BINDING: readsY ? '@group(0) @binding(4) var<storage, read> ym: array<f32>;' : '',
  }), 'main');
  const per = imagesPerChunk(ctx, [g.C * g.H * g.W, g.O * g.OH * g.OW], 'conv2dBackwardInput');
  const ww = ctx.window(w);
  const tilesW = Math.ceil(g.W / 16), tiles = Math.ceil(g.H / 16) * tilesW;
  const gySize = g.O * g.OH * g.OW;
  for (let n0 = 0; n0 < g.batch; n0 += per) {
    const nb = Math.min(per, g.batch - n0);
    const gw = ctx.window(gy, n0 * gySize, nb * gySize);
    const xw = ctx.window(dx, n0 * g.C * g.H * g.W, nb * g.C * g.H * g.W);
    const yw = readsY ? ctx.window(mask!.y, n0 * gySize, nb * gySize) : null;
    const planes = nb * p.groups;
    ctx.dispatch(pipeline, yw ? [xw, ww, gw, yw] : [xw, ww, gw], [
      planes, p.groups, g.H, g.W, g.OH, g.OW, g.C / p.groups, g.O / p.groups,
      { i: p.padTop }, { i: p.padLeft }, tilesW, tiles,
      xw.base, ww.base, gw.base, yw ? yw.base : 0,
    ], planes * tiles, gemmLabel(ctx, `conv2dBackwardInput ${g.KH}x${g.KW}`, g.C / p.groups, nb * g.H * g.W,
      (g.O / p.groups) * g.KH * g.KW, p.groups, `narrowTiled${co}`));
  }
}

/**
 * The input gradient dx of a convolution from its output gradient gy; with `mask`, gy first goes through a fused
 * ReLU's rule, which the GEMM's, the subgroup kernel's, Winograd's and the tiled narrow kernel's loaders apply as
 * they read gy (one pass over the activation fewer). The plain narrow kernel takes it from a masked copy: it reads
 * each element of gy at up to KH x KW taps, and with the rule in its loads (tried on lavapipe, VGG16 at 64) it took
 * 17.5 ms against 11.1 ms plus 7.6 ms for the copy.
 */
export function conv2dBackwardInput(ctx: GpuContext, gy: Operand, w: Operand, p: Conv2dParams, dx: Operand, mask?: ReluMask): void {
  const g = geometry(dx, w, gy);
  if (dx.size === 0) return;
  if (usesNarrowBackwardInput(g.C, p.groups)) {
    const co = narrowTiledChannels(ctx, p, g.KH, g.KW);
    if (co > 0) {
      conv2dBackwardInputNarrowTiled(ctx, g, gy, w, p, dx, co, mask);
      return;
    }
    if (!mask) {
      conv2dBackwardInputNarrow(ctx, g, gy, w, p, dx);
      return;
    }
    const s = ctx.allocStorage(gy.size);
    const masked: Operand = { storage: s, offset: 0, shape: gy.shape, size: gy.size };
    try {
      elementwise(ctx, mask.rule, [mask.y, gy], masked);
      conv2dBackwardInputNarrow(ctx, g, masked, w, p, dx);
    } finally {
      ctx.releaseStorage(s);
    }
    return;
  }
  const M = g.C / p.groups, K = (g.O / p.groups) * g.KH * g.KW;
  // the gradient convolved with the turned, transposed kernels, padded by 2 - pad (winograd.ts)
  const wino: WinogradShape | null = winogradShapeFits(p, g.KH, g.KW)
    ? { batch: g.batch, cin: g.O, cout: g.C, h: g.OH, w: g.OW, oh: g.H, ow: g.W, padTop: 2 - p.padTop, padLeft: 2 - p.padLeft }
    : null;
  // likewise a stride-1 convolution of the gradient, padded by K - 1 - pad (subgroupconv.ts)
  const sub: SubgroupShape | null = subgroupShapeFits(p)
    ? { batch: g.batch, cin: g.O, cout: g.C, h: g.OH, w: g.OW, oh: g.H, ow: g.W, kh: g.KH, kw: g.KW,
      padTop: g.KH - 1 - p.padTop, padLeft: g.KW - 1 - p.padLeft }
    : null;
  const chosen = planConv(ctx, 'backwardInput', g, p, M, g.H * g.W * g.batch, wino, sub);
  if (chosen.algorithm === 'winograd') {
    winogradConv(ctx, chosen.shape, chosen.variant, gy, w, null, dx, { flip: true, relu: false, mask });
    return;
  }
  if (chosen.algorithm === 'subgroup') {
    subgroupConv(ctx, chosen.shape, gy, w, null, dx, { turned: true, relu: false, mask });
    return;
  }
  const tile = chosen.tile;
  // the mask (the fused op's output, laid out as gy) is bound where the rule reads it: at aux_base of binding 4
  const readsY = mask !== undefined && mask.rule !== 'reluDeconvnet';
  const value = mask ? reluRuleExpr(mask.rule, 'ymask[i - P.x_base + P.aux_base]', 'b[i]') : 'b[i]';
  const key = `conv2dBackwardInput:${shapeKey(g, p, tile)}:${mask?.rule ?? 'plain'}`;
  const pipeline = ctx.pipeline(key, () => specialise(tile, gemmSource({
    tile,
    params: paramsStruct(tile.bakeShapes !== false),
    extraBindings: readsY ? '@group(0) @binding(4) var<storage, read> ymask: array<f32>;' : '',
    helpers: constants(g, p, tile) + `
struct Pixel { valid: bool, base: u32, th: i32, tw: i32 }
fn pixel(n: u32, grp: u32) -> Pixel {
  let img = n / HW; let q = n % HW;
  return Pixel(n < P.N, P.x_base + (img * O + grp * OG) * OHW, i32(q / W) + PT, i32(q % W) + PL);
}
fn load_gy(px: Pixel, k: u32) -> f32 {
  if (!px.valid || k >= P.K) { return 0.0; }
  let co = k / KHW; let r = k % KHW;
  let sh = px.th - i32(r / KW) * DH; let sw = px.tw - i32(r % KW) * DW;
  if (sh < 0 || sw < 0 || sh % SH != 0 || sw % SW != 0) { return 0.0; }
  let oh = sh / SH; let ow = sw / SW;
  if (oh >= i32(OH) || ow >= i32(OW)) { return 0.0; }
  let i = px.base + co * OHW + u32(oh) * OW + u32(ow);
  return ${value};
}
fn load_wt(m: u32, k: u32, grp: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  let co = k / KHW; let r = k % KHW;
  return a[P.w_base + ((grp * OG + co) * CG + m) * KHW + r];
}`,
    a: { fast: 'k', load: (m, k) => `load_wt(${m}, ${k}, batch)` },
    b: { fast: 'mn', prologue: 'let px = pixel(FIX, batch);', load: (_n, k) => `load_gy(px, ${k})` },
    storeColumn: (n) => `let img = ${n} / HW; let q = ${n} % HW;`,
    store: (m, _n, v) => `out[P.out_base + split * P.split_stride + (img * C + batch * CG + ${m}) * HW + q] = ${v};`,
  })), 'main');
  const per = imagesPerChunk(ctx, [g.C * g.H * g.W, g.O * g.OH * g.OW], 'conv2dBackwardInput');
  const plan = per >= g.batch ? planSplit(ctx, splitCount(ctx, tile, M, g.H * g.W * g.batch, p.groups, K), dx.size)
    : planSplit(ctx, 1, 0);
  const kSlice = sliceLength(tile, K, plan.splits);
  const ww = ctx.window(w);
  for (let n0 = 0; n0 < g.batch; n0 += per) {
    const nb = Math.min(per, g.batch - n0);
    const gw = ctx.window(gy, n0 * g.O * g.OH * g.OW, nb * g.O * g.OH * g.OW);
    const yw = readsY ? ctx.window(mask!.y, n0 * g.O * g.OH * g.OW, nb * g.O * g.OH * g.OW) : null;
    const xw = plan.scratch ? gemmOutput(ctx, plan, dx) : ctx.window(dx, n0 * g.C * g.H * g.W, nb * g.C * g.H * g.W);
    const N = nb * g.H * g.W;
    ctx.dispatch(pipeline, yw ? [xw, ww, gw, yw] : [xw, ww, gw],
      [M, N, K, 0, gw.base, ww.base, xw.base, 0, plan.splits, kSlice, plan.stride, yw?.base ?? 0, ...geometryValues(g, p)],
      workgroupsFor(tile, M, N, p.groups * plan.splits), gemmLabel(ctx, `conv2dBackwardInput ${g.KH}x${g.KW}`, M, N, K, p.groups, tile, plan.splits));
  }
  finishSplit(ctx, plan, dx, null, 1, 1, false);
}

export function conv2dBackwardWeight(ctx: GpuContext, x: Operand, gy: Operand, p: Conv2dParams, dw: Operand): void {
  const g = geometry(x, dw, gy);
  if (dw.size === 0) return;
  const M = g.O / p.groups, N = (g.C / p.groups) * g.KH * g.KW;
  const tile = pickTile(ctx, M, N);
  const key = `conv2dBackwardWeight:${shapeKey(g, p, tile)}`;
  const pipeline = ctx.pipeline(key, () => specialise(tile, gemmSource({
    tile,
    params: paramsStruct(tile.bakeShapes !== false),
    helpers: constants(g, p, tile) + `
fn load_gy(m: u32, k: u32, grp: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  let img = k / OHW; let q = k % OHW;
  return a[P.w_base + (img * O + grp * OG + m) * OHW + q];
}
struct Tap { valid: bool, ci: u32, dh: i32, dw: i32 }
fn tap(n: u32) -> Tap {
  let r = n % KHW;
  return Tap(n < P.N, n / KHW, i32(r / KW) * DH - PT, i32(r % KW) * DW - PL);
}
fn load_x(t: Tap, k: u32, grp: u32) -> f32 {
  if (!t.valid || k >= P.K) { return 0.0; }
  let img = k / OHW; let q = k % OHW;
  let ih = i32(q / OW) * SH + t.dh; let iw = i32(q % OW) * SW + t.dw;
  if (ih < 0 || iw < 0 || ih >= i32(H) || iw >= i32(W)) { return 0.0; }
  return b[P.x_base + (img * C + grp * CG + t.ci) * HW + u32(ih) * W + u32(iw)];
}`,
    a: { fast: 'k', load: (m, k) => `load_gy(${m}, ${k}, batch)` },
    b: { fast: 'k', load: (n, k) => `load_x(tap(${n}), ${k}, batch)` },
    store: (m, n, v) => {
      const idx = `P.out_base + (batch * OG + ${m}) * P.N + ${n}`;
      return `var v = ${v}; if (P.accumulate != 0u) { v += out[${idx}]; } out[${idx}] = v;`;
    },
  })), 'main');
  const per = imagesPerChunk(ctx, [g.C * g.H * g.W, g.O * g.OH * g.OW], 'conv2dBackwardWeight');
  const outW = ctx.window(dw);
  for (let n0 = 0; n0 < g.batch; n0 += per) {
    const nb = Math.min(per, g.batch - n0);
    const gw = ctx.window(gy, n0 * g.O * g.OH * g.OW, nb * g.O * g.OH * g.OW);
    const xw = ctx.window(x, n0 * g.C * g.H * g.W, nb * g.C * g.H * g.W);
    const K = nb * g.OH * g.OW;
    ctx.dispatch(pipeline, [outW, gw, xw], [M, N, K, n0 > 0 ? 1 : 0, xw.base, gw.base, outW.base, 0, 1, K, 0, 0, ...geometryValues(g, p)],
      workgroupsFor(tile, M, N, p.groups), gemmLabel(ctx, `conv2dBackwardWeight ${g.KH}x${g.KW}`, M, N, K, p.groups, tile));
  }
}
