// Stride-1 convolutions on adapters with 8-invocation subgroups (CPU adapters: lavapipe), forward and
// backward-input: the shifted input and the reordered weights of kernels/shift_pad.wgsl, then the GEMM of
// kernels/subgroup_gemm.wgsl, one subgroup per workgroup sharing its weight loads by subgroupBroadcast.
//
// On lavapipe (llvmpipe, 8-wide AVX2 lanes) every storage or workgroup-memory load whose address differs between
// lanes is compiled as a loop over the lanes, which is what held the implicit GEMM (gemm.wgsl: workgroup-memory
// tiles, per-lane reads of them) at 2.5-3.5 GFLOP/s there. This kernel makes each such load bring a vec4 the
// lane uses itself and replaces the rest by register shuffles: a 512^3 matmul written this way ran 2.5-3.2x as
// fast as the 128x256 GEMM tile on the same adapter (bench/RESULTS.md, notes — lavapipe, 2026-11-27).
//
// The weights' reordering depends on the weight alone and is kept until the weight changes (derivedFrom), as
// Winograd's transformed weights are. The shifted input is made for each call: KW times the input's memory.

import type { Conv2dParams, Operand, ReluMask } from '../interface.js';
import type { GpuContext, GpuStorage } from './context.js';
import { reluRuleExpr } from './elementwise.js';
import { gemmLabel } from './gemm.js';
import { kernelSource, wgslRelu } from './source.js';

/**
 * One workgroup's tile: TM = 8 RA rows (output channels) by TN columns (pixels). With `halves` 1, every lane owns
 * 4 CB columns of all TM rows (TN = 32 CB); with 2, lanes 0-3 own the first TM / 2 rows and lanes 4-7 the others,
 * over the same 16 CB columns (TN = 16 CB), for images too small to give all 8 lanes columns of their own.
 */
export interface SubgroupTile { RA: number; CB: number; halves: 1 | 2 }

export const subgroupTiles: Record<string, SubgroupTile> = {
  sg32x64: { RA: 4, CB: 2, halves: 1 },   // most layers
  sg32x32: { RA: 4, CB: 1, halves: 1 },   // 17 to 32 columns per image
  sg64x16: { RA: 8, CB: 1, halves: 2 },   // 16 columns or fewer per image (4x4 planes)
};

const tileSize = (t: SubgroupTile) => ({ TM: 8 * t.RA, TN: (32 / t.halves) * t.CB });

/** A stride-1 convolution in the kernel's terms: the layer's forward pass, or its backward-input turned into one. */
export interface SubgroupShape {
  batch: number;
  /** channels in (summed over) and out (GEMM rows) */
  cin: number; cout: number;
  h: number; w: number; oh: number; ow: number;
  kh: number; kw: number;
  padTop: number; padLeft: number;
}

const WORKGROUP = 64;
const round4 = (n: number) => Math.ceil(n / 4) * 4;

/** Whether the adapter runs this kernel: the subgroups feature with subgroups of exactly 8 invocations. */
export function subgroupConvAvailable(ctx: GpuContext): boolean {
  return ctx.subgroupSize === 8;
}

/** Whether a layer with these parameters is a stride-1, undilated, ungrouped convolution. */
export function subgroupShapeFits(p: Conv2dParams): boolean {
  return p.strideH === 1 && p.strideW === 1 && p.dilationH === 1 && p.dilationW === 1 && p.groups === 1;
}

function geometry(s: SubgroupShape) {
  const cp = round4(s.cin), hp = s.oh + s.kh - 1, wp = round4(s.ow);
  return { cp, hp, wp, image: s.kw * cp * hp * wp };
}

/** Whether one image's shifted input, the weights and the output each fit in one binding. */
export function subgroupFits(ctx: GpuContext, s: SubgroupShape): boolean {
  if (s.padTop < 0 || s.padLeft < 0 || s.oh <= 0 || s.ow <= 0) return false;
  const g = geometry(s);
  const limit = ctx.maxWindowElements;
  return g.image <= limit && s.cout * s.kh * s.kw * g.cp <= limit && s.cout * s.oh * s.ow <= limit &&
    s.cin * s.h * s.w <= limit;
}

/** The tile's name for an output of oh x ow pixels: narrower ones where an image has at most 32 or 16 columns. */
export function pickSubgroupTile(oh: number, ow: number): string {
  const cols = oh * round4(ow);
  return cols <= 16 ? 'sg64x16' : cols <= 32 ? 'sg32x32' : 'sg32x64';
}

function gemmPipeline(ctx: GpuContext, t: SubgroupTile, bias: boolean, relu: boolean): GPUComputePipeline {
  const { TM, TN } = tileSize(t);
  const rows = TM / t.halves;   // rows per lane
  return ctx.pipeline(`subgroupGemm:${TM}x${TN}:${bias}:${relu}`, () => {
    const setup: string[] = [], step: string[] = [], store: string[] = [];
    for (let i = 0; i < t.RA; i++) setup.push(`  let arow${i} = min(m0 + ${8 * i}u + lane, P.M - 1u) * P.row4;`);
    // split lanes: `half` picks the rows, `slot` the columns
    setup.push(t.halves === 2 ? '  let half = lane >> 2u;\n  let slot = lane & 3u;' : '  let slot = lane;');
    for (let j = 0; j < t.CB; j++) {
      setup.push(`  let n${j} = c0 + ${(32 / t.halves) * j}u + 4u * slot;`);
      setup.push(`  let col${j} = min(n${j}, P.cols - 4u) / 4u;`);
    }
    for (let r = 0; r < rows; r++) for (let j = 0; j < t.CB; j++) setup.push(`  var acc${r}_${j} = vec4<f32>(0.0);`);
    for (let i = 0; i < t.RA; i++) step.push(`        let a${i} = wr[arow${i} + t];`);
    for (let c = 0; c < 4; c++) {
      for (let j = 0; j < t.CB; j++) step.push(`        let b${c}_${j} = xs[xb + ${c}u * P.plane4 + col${j}];`);
    }
    for (let r = 0; r < rows; r++) {
      // row r of this lane's half: loaded by lane r % 8 (rows / 8 is whole, so both halves' rows have that lane)
      const w = t.halves === 1 ? `subgroupBroadcast(a${r >> 3}, ${r & 7}u)`
        : `select(subgroupBroadcast(a${r >> 3}, ${r & 7}u), subgroupBroadcast(a${(rows + r) >> 3}, ${r & 7}u), half == 1u)`;
      step.push(`        { let w = ${w};`);
      for (let j = 0; j < t.CB; j++) {
        step.push(`          acc${r}_${j} += w.x * b0_${j} + w.y * b1_${j} + w.z * b2_${j} + w.w * b3_${j};`);
      }
      step.push('        }');
    }
    // the epilogue: each column group's place once; each row's bias loaded by one lane and broadcast like its weights
    const row0 = t.halves === 2 ? `m0 + half * ${rows}u` : 'm0';
    for (let j = 0; j < t.CB; j++) {
      store.push(`  let x${j} = n${j} % P.wp;`);
      store.push(`  let at${j} = P.out_base + image * P.out_image + (n${j} / P.wp) * P.ow + x${j};`);
      store.push(`  let ok${j} = n${j} < P.cols;`);
      store.push(`  let e${j} = vec3<bool>(x${j} + 1u < P.ow, x${j} + 2u < P.ow, x${j} + 3u < P.ow);`);
    }
    if (bias) for (let i = 0; i < t.RA; i++) store.push(`  let bias${i} = bias[P.bias_base + min(m0 + ${8 * i}u + lane, P.M - 1u)];`);
    for (let r = 0; r < rows; r++) {
      const b = !bias ? '0.0' : t.halves === 1 ? `subgroupBroadcast(bias${r >> 3}, ${r & 7}u)`
        : `select(subgroupBroadcast(bias${r >> 3}, ${r & 7}u), subgroupBroadcast(bias${(rows + r) >> 3}, ${r & 7}u), half == 1u)`;
      store.push(`  { let m = ${row0} + ${r}u; let b = ${b};`);
      for (let j = 0; j < t.CB; j++) {
        store.push(`    if (m < P.M && ok${j}) { store4(at${j} + m * P.ohw, finish(acc${r}_${j}, b), e${j}.x, e${j}.y, e${j}.z); }`);
      }
      store.push('  }');
    }
    const epilogue: string[] = [];
    if (bias) epilogue.push('  r += vec4<f32>(b);');
    if (relu) epilogue.push(`  r = ${wgslRelu('r', 4)};`);
    return kernelSource('subgroup_gemm.wgsl', {
      TM, TN,
      BIAS_BINDING: bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
      EPILOGUE: epilogue.join('\n'),
      SETUP: setup.join('\n'), STEP: step.join('\n'), STORE: store.join('\n'),
    });
  }, 'main');
}

function padPipeline(ctx: GpuContext, kw: number, rule: ReluMask['rule'] | null): GPUComputePipeline {
  const readsY = rule !== null && rule !== 'reluDeconvnet';
  return ctx.pipeline(`subgroupConv:pad:${kw}:${rule ?? 'plain'}`, () => {
    // the KW + 3 values of this row that the KW shifted vec4s read, then the vec4s
    const body = [...Array(kw + 3).keys()].map((e) => `  let v${e} = padded(plane, row_ok, iy, ix + ${e});`);
    for (let kx = 0; kx < kw; kx++) body.push(`  xs[at + ${kx}u * PP.copy4] = vec4<f32>(v${kx}, v${kx + 1}, v${kx + 2}, v${kx + 3});`);
    return kernelSource('shift_pad.wgsl', {
      KW: kw,
      BODY: body.join('\n'),
      MASK_BINDING: readsY ? '@group(0) @binding(3) var<storage, read> mask_in: array<f32>;' : '',
      LOAD: rule ? reluRuleExpr(rule, 'mask_in[i - PP.x_base + PP.mask_base]', 'x_in[i]') : 'x_in[i]',
    });
  }, 'pad');
}

const operand = (storage: GpuStorage, size: number): Operand => ({ storage, offset: 0, shape: [size], size });

/**
 * out = conv(x, w) (+ bias, ReLU) for a stride-1 convolution, or with `turned` its backward-input: x is then the
 * output gradient (put through `mask`'s ReLU rule as it is read), w the layer's [O, C, KH, KW] weight read turned
 * by 180 degrees with its channel axes swapped, and out the input gradient.
 */
export function subgroupConv(ctx: GpuContext, s: SubgroupShape, x: Operand, w: Operand, bias: Operand | null,
                             out: Operand, opts: { turned: boolean; relu: boolean; mask?: ReluMask }): void {
  const g = geometry(s);
  const wBuffer = (w.storage as GpuStorage).buffer;
  const key = `subgroupConv:${w.offset}:${s.cout}x${s.cin}x${s.kh}x${s.kw}:${opts.turned ? 'turned' : 'fwd'}`;
  const rows = s.cout * s.kh * s.kw * g.cp;
  let wr = ctx.derivedFrom(wBuffer, key);
  if (!wr) {
    wr = ctx.allocStorage(rows);
    const ww = ctx.window(w), rw = ctx.window(operand(wr, rows));
    ctx.dispatch(ctx.pipeline('subgroupConv:weights', () => kernelSource('shift_pad.wgsl', { KW: 1, BODY: '', MASK_BINDING: '', LOAD: '0.0' }), 'weights'),
      [rw, ww], [rows, s.cout, s.cin, g.cp, s.kh, s.kw, opts.turned ? 1 : 0, ww.base], Math.ceil(rows / WORKGROUP),
      'subgroupConv:weights');
    ctx.keepDerived(wBuffer, key, wr);
  }
  const name = pickSubgroupTile(s.oh, s.ow);
  const tile = subgroupTiles[name];
  const { TM, TN } = tileSize(tile);
  const gemm = gemmPipeline(ctx, tile, bias !== null, opts.relu);
  const rule = opts.mask?.rule ?? null;
  const pad = padPipeline(ctx, s.kw, rule);
  const readsY = rule !== null && rule !== 'reluDeconvnet';
  const inImage = s.cin * s.h * s.w, outImage = s.cout * s.oh * s.ow;
  const per = Math.max(1, Math.min(s.batch, Math.floor(ctx.maxWindowElements / Math.max(g.image, inImage, outImage))));
  const cols = s.oh * g.wp;
  const rw = ctx.window(operand(wr, rows));
  const bw = bias ? ctx.window(bias) : null;
  const xs = ctx.allocStorage(per * g.image);
  try {
    for (let n0 = 0; n0 < s.batch; n0 += per) {
      const nb = Math.min(per, s.batch - n0);
      const xw = ctx.window(x, n0 * inImage, nb * inImage);
      const yw = readsY ? ctx.window(opts.mask!.y, n0 * inImage, nb * inImage) : null;
      const sw = ctx.window(operand(xs, nb * g.image));
      const copy4 = (g.cp * g.hp * g.wp) / 4;
      const count = nb * copy4;
      ctx.dispatch(pad, yw ? [sw, xw, yw] : [sw, xw], [
        count, s.cin, s.h, s.w, g.cp, g.hp, g.wp / 4, copy4, { i: s.padTop }, { i: s.padLeft }, xw.base, yw?.base ?? 0,
      ], Math.ceil(count / WORKGROUP), 'subgroupConv:pad');
      const ow = ctx.window(out, n0 * outImage, nb * outImage);
      ctx.dispatch(gemm, bw ? [ow, rw, sw, bw] : [ow, rw, sw], [
        s.cout, (s.kh * s.kw * g.cp) / 4, g.cp / 4, s.kh, s.kw, (g.hp * g.wp) / 4, g.wp / 4, cols, g.wp, s.ow,
        s.oh * s.ow, g.image / 4, ow.base, outImage, bw?.base ?? 0, 0,
      ], [Math.ceil(cols / TN), Math.ceil(s.cout / TM), nb],
      gemmLabel(ctx, `${opts.turned ? 'conv2dBackwardInput' : 'conv2d'} ${s.kh}x${s.kw}`, s.cout, nb * s.oh * s.ow, s.cin * s.kh * s.kw, 1, name));
    }
  } finally {
    ctx.releaseStorage(xs);
  }
}
