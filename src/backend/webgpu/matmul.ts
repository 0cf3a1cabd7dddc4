// Dense matmul on WebGPU through the GEMM generator (gemm.wgsl main). Operands are strided, so transposes
// cost nothing; operands larger than one storage binding are split into M / N / K chunks (K chunks
// accumulate into the output), which is how VGG16's 25088 x 4096 weight runs under a 128 MiB binding limit.

import type { Operand } from '../interface.js';
import type { GpuContext } from './context.js';
import { canLoad, gemmLabel, gemmSource, sliceLength, splitCount, type TileConfig, tileConfigs, tileKey, workgroupsFor } from './gemm.js';
import { GEMV_MAX_ROWS, gemv, workgroupGemv, workgroupGemvMode } from './gemv.js';
import { wgslRelu } from './source.js';
import { finishSplit, gemmOutput, planSplit } from './splitk.js';

const PARAMS = `struct Params {
  M: u32, N: u32, K: u32, accumulate: u32,
  a_base: u32, b_base: u32, c_base: u32, bias_base: u32,
  sam: u32, sak: u32, sbk: u32, sbn: u32,
  sab: u32, sbb: u32, scb: u32, scm: u32,
  splits: u32, k_slice: u32, split_stride: u32, _p0: u32,
}`;

export interface MatmulOptions {
  transA: boolean; transB: boolean; accumulate: boolean; bias?: Operand | null; relu?: boolean;
  /** the dispatch label's kind (profiles): 'matmul' unless given */
  label?: string;
  /** the GEMM tile where it can load these operands' layout, over a pinned one (a conv plan's: the tuner's Winograd candidates); else pickTile's */
  tile?: TileConfig;
}

/**
 * The tile for `batch` M x N GEMMs in one dispatch whose A and B tiles are contiguous along aFast and bFast (a
 * conv's: k and mn).
 */
export function pickTile(ctx: GpuContext, M: number, N: number, aFast: 'k' | 'mn' = 'k', bFast: 'k' | 'mn' = 'mn',
                         batch = 1): TileConfig {
  // a pinned tile, where it can load this layout
  if (ctx.tileOverride && canLoad(ctx.tileOverride, aFast, bFast)) return ctx.tileOverride;
  // on lavapipe the biggest thread tiles win: 8x16 outputs per invocation ran 1024^3 at 6.2 GFLOP/s,
  // 4x8 at 1.6 (bench/RESULTS.md)
  // A conv's N is its output pixels: VGG's last blocks at small inputs have 16 or 64, where a 256-column tile
  // would idle 15/16 or 3/4 of its columns; tall tiles fit them (512 -> 512 at 4x4: 200 -> 34 ms forward)
  if (ctx.isCpuAdapter) {
    // (cpuTall's 64 threads cannot load a 256-row A tile that is contiguous along m: cpuTall64 then)
    if (N <= 16 && M > 16 && canLoad(tileConfigs.cpuTall, aFast, bFast)) return tileConfigs.cpuTall;
    if (N <= 64 && M >= 128) return tileConfigs.cpuTall64;
    return M >= 128 ? tileConfigs.cpu : M > 16 ? tileConfigs.cpuNarrow : tileConfigs.cpuThin;
  }
  // From the H100 tile sweep in bench/RESULTS.md: 128x128 tiles for big or tall-and-wide GEMMs (4096^3,
  // VGG's 512-channel layer at 28x28), 64x128 with 8x8 per thread for 64-row ones (VGG's first block),
  // 64x64 otherwise. The count is of the whole dispatch's 128x128 tiles, over its batch too: at batch 32 the
  // tuner's fastest direct tile for VGG's 128- and 256-channel layers was 128x128 (bench/RESULTS.md, H200), and a
  // Winograd GEMM is a batch of 16 or 36 such products
  if (M <= 64) return tileConfigs.wide8;
  const tiles = batch * Math.ceil(M / 128) * Math.ceil(N / 128);
  if (tiles >= 256 || (M >= 512 && N >= 512)) return tileConfigs.large;
  return tileConfigs.medium;
}

// accumulate and relu are variants, not runtime flags: a conditional read-modify-write of the output in the
// epilogue multiplies lavapipe's compile time several times over
function pipelineFor(ctx: GpuContext, tile: TileConfig, aFast: 'k' | 'mn', bFast: 'k' | 'mn', bias: boolean,
                     accumulate: boolean, relu: boolean) {
  const key = `matmul:${tileKey(tile)}:${aFast}:${bFast}:${bias}:${accumulate}:${relu}`;
  return ctx.pipeline(key, () => gemmSource({
    tile,
    params: PARAMS,
    extraBindings: bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : '',
    helpers: `
fn load_a(batch: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  return a[P.a_base + batch * P.sab + m * P.sam + k * P.sak];
}
fn load_b(batch: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.K) { return 0.0; }
  return b[P.b_base + batch * P.sbb + k * P.sbk + n * P.sbn];
}`,
    a: { fast: aFast, load: (m, k) => `load_a(batch, ${m}, ${k})` },
    b: { fast: bFast, load: (n, k) => `load_b(batch, ${k}, ${n})` },
    store: (m, n, v) => {
      const idx = `P.c_base + split * P.split_stride + batch * P.scb + ${m} * P.scm + ${n}`;
      let s = `var v = ${v};`;
      if (bias) s += ` v += bias[P.bias_base + ${n}];`;
      if (accumulate) s += ` v += out[${idx}];`;
      if (relu) s += ` v = ${wgslRelu('v')};`;
      return `${s} out[${idx}] = v;`;
    },
  }), 'main');
}

interface Dims { batch: number; M: number; N: number; K: number }

export function matmul(ctx: GpuContext, a: Operand, b: Operand, out: Operand, opts: MatmulOptions): void {
  const ra = a.shape.length, rb = b.shape.length;
  const M = opts.transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = opts.transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = opts.transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchA = a.size / (M * K), batchB = b.size / (K * N);
  const batch = Math.max(batchA, batchB);
  if (out.size === 0) return;
  const sam = opts.transA ? 1 : K, sak = opts.transA ? M : 1;
  const sbk = opts.transB ? 1 : N, sbn = opts.transB ? K : 1;
  const sab = batchA === 1 ? 0 : M * K, sbb = batchB === 1 ? 0 : K * N;
  const aFast = sak === 1 ? 'k' : 'mn', bFast = sbn === 1 ? 'mn' : 'k';
  const bias = opts.bias ?? null;
  const limit = ctx.maxWindowElements;

  const fitsWhole = a.size <= limit && b.size <= limit && out.size <= limit;
  // (operands over a binding run a dispatch per batch element: the rule counts one)
  const tile = opts.tile && canLoad(opts.tile, aFast, bFast) ? opts.tile : pickTile(ctx, M, N, aFast, bFast, fitsWhole ? batch : 1);
  // a few rows: a GEMV instead of a mostly idle register tile (a pinned tile does not change this: the tile is
  // a GEMM's choice). On a CPU adapter kernels/gemv.wgsl (an invocation per 4 columns, every row); on a GPU
  // kernels/gemv_wg.wgsl (a workgroup splits K), where B's layout allows its vec4 loads; else the GEMM.
  // An H100 ran VGG16's first classifier layer at batch 1 (411 MB of weight) in 3.5 ms on a 64x128 GEMM tile.
  const useGemv = batch === 1 && M <= GEMV_MAX_ROWS;
  const gemvKind = ctx.gemvKernel ?? (ctx.isCpuAdapter ? 'lanes' : 'workgroup');
  const run = (bi: number | null, m0: number, mc: number, n0: number, nc: number, k0: number, kc: number) => {
    const z = bi === null ? batch : 1;
    const ab = bi === null ? 0 : bi * sab, bb = bi === null ? 0 : bi * sbb, cb = bi === null ? 0 : bi * M * N;
    const aw = bi === null && fitsWhole ? ctx.window(a) : ctx.window(a, ab + m0 * sam + k0 * sak, (mc - 1) * sam + (kc - 1) * sak + 1);
    const bw = bi === null && fitsWhole ? ctx.window(b) : ctx.window(b, bb + k0 * sbk + n0 * sbn, (kc - 1) * sbk + (nc - 1) * sbn + 1);
    const cw = bi === null && fitsWhole ? ctx.window(out) : ctx.window(out, cb + m0 * N + n0, (mc - 1) * N + nc);
    // a K split accumulates into the output; bias goes in with the first chunk, relu with the last
    const accumulate = opts.accumulate || k0 > 0;
    const withBias = bias !== null && k0 === 0;
    const relu = opts.relu === true && k0 + kc >= K;
    const biasWindow = withBias ? ctx.window(bias!, n0, nc) : null;
    if (useGemv) {
      const windows = { out: cw, a: aw, b: bw, bias: biasWindow };
      const dims = { M: mc, N: nc, K: kc };
      if (gemvKind === 'lanes') {
        gemv(ctx, windows, dims, { sam, sak, sbk, sbn, scm: N }, { accumulate, relu });
        return;
      }
      const mode = workgroupGemvMode(windows, dims, { sam, sak, sbk, sbn });
      if (mode) {
        workgroupGemv(ctx, mode, windows, dims, { sam, sak, sbk, sbn, scm: N }, { accumulate, relu });
        return;
      }
    }
    const pipeline = pipelineFor(ctx, tile, aFast, bFast, withBias, accumulate, relu);
    const windows = [cw, aw, bw];
    let biasBase = 0;
    if (biasWindow) {
      windows.push(biasWindow);
      biasBase = biasWindow.base;
    }
    ctx.dispatch(pipeline, windows, [
      mc, nc, kc, 0,
      aw.base, bw.base, cw.base, biasBase,
      sam, sak, sbk, sbn,
      bi === null ? sab : 0, bi === null ? sbb : 0, bi === null ? M * N : 0, N,
      1, kc, 0, 0,
    ], workgroupsFor(tile, mc, nc, z), gemmLabel(ctx, opts.label ?? 'matmul', mc, nc, kc, z, tile));
  };
  if (fitsWhole && useGemv) {
    run(null, 0, M, 0, N, 0, K);
    return;
  }
  if (fitsWhole) {
    const plan = opts.accumulate ? { splits: 1, scratch: null, stride: 0 } : planSplit(ctx, splitCount(ctx, tile, M, N, batch, K), out.size);
    if (plan.scratch) {
      const kSlice = sliceLength(tile, K, plan.splits);
      const pipeline = pipelineFor(ctx, tile, aFast, bFast, false, false, false);
      const aw = ctx.window(a), bw = ctx.window(b), cw = gemmOutput(ctx, plan, out);
      ctx.dispatch(pipeline, [cw, aw, bw], [
        M, N, K, 0, aw.base, bw.base, cw.base, 0, sam, sak, sbk, sbn, sab, sbb, M * N, N,
        plan.splits, kSlice, plan.stride, 0,
      ], workgroupsFor(tile, M, N, batch * plan.splits), gemmLabel(ctx, opts.label ?? 'matmul', M, N, K, batch, tile, plan.splits));
      finishSplit(ctx, plan, out, bias, 1, N, opts.relu === true);
      return;
    }
    run(null, 0, M, 0, N, 0, K);
    return;
  }
  const split = splitDims({ batch: 1, M, N, K }, { sam, sak, sbk, sbn }, limit);
  for (let bi = 0; bi < batch; bi++) {
    for (let m0 = 0; m0 < M; m0 += split.m) {
      for (let n0 = 0; n0 < N; n0 += split.n) {
        for (let k0 = 0; k0 < K; k0 += split.k) {
          run(bi, m0, Math.min(split.m, M - m0), n0, Math.min(split.n, N - n0), k0, Math.min(split.k, K - k0));
        }
      }
    }
  }
}

/** Chunk extents along m, n, k such that every operand's chunk fits in one binding. */
function splitDims(d: Dims, s: { sam: number; sak: number; sbk: number; sbn: number }, limit: number) {
  let m = d.M, n = d.N, k = d.K;
  for (let iter = 0; iter < 200; iter++) {
    const spanA = (m - 1) * s.sam + (k - 1) * s.sak + 1;
    const spanB = (k - 1) * s.sbk + (n - 1) * s.sbn + 1;
    const spanC = (m - 1) * d.N + n;
    const worst = Math.max(spanA, spanB, spanC);
    if (worst <= limit) return { m, n, k };
    const halve = (v: number) => Math.max(1, Math.ceil(v / 2));
    if (worst === spanC) {
      if (m > 1) m = halve(m); else n = halve(n);
    } else if (worst === spanA) {
      if ((m - 1) * s.sam >= (k - 1) * s.sak && m > 1) m = halve(m); else k = halve(k);
    } else {
      if ((k - 1) * s.sbk >= (n - 1) * s.sbn && k > 1) k = halve(k); else n = halve(n);
    }
  }
  throw new Error(`matmul: cannot split [${d.M}x${d.K}]·[${d.K}x${d.N}] into bindings of ${limit} elements`);
}
