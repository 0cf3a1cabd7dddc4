// Generator for kernels/gemm.wgsl: unrolls the register tile, the cooperative tile loads and the epilogue.
// Tint does not unroll loops, so every loop over the thread's tile is written out here.

import { kernelSource } from './source.js';

export interface TileConfig {
  BM: number; BN: number; BK: number;
  /** vec4 row groups and column groups per thread: the thread tile is (4 RM) x (4 RN) */
  RM: number; RN: number;
  /** prefetch the next tile into registers during the current tile's arithmetic */
  prefetch?: boolean;
  /** conv: bake the shape into the shader (default) or read it from uniforms, one pipeline for all shapes */
  bakeShapes?: boolean;
}

// GPU tiles prefetch; CPU tiles (lavapipe) do not, since the prefetch only doubles the code LLVM compiles.
// Measured choices are in bench/RESULTS.md (tile sweeps on an H100 and on this project's 2-core CPU).
export const tileConfigs: Record<string, TileConfig> = {
  large: { BM: 128, BN: 128, BK: 8, RM: 2, RN: 2 },     // 256 threads, 8x8 each: large GEMMs on GPUs
  large16: { BM: 128, BN: 128, BK: 16, RM: 2, RN: 2 },  // the same, twice as deep per barrier
  tall: { BM: 128, BN: 64, BK: 16, RM: 2, RN: 1 },      // 256 threads, 8x4 each
  wide: { BM: 64, BN: 128, BK: 16, RM: 1, RN: 2 },      // 256 threads, 4x8 each
  wide8: { BM: 64, BN: 128, BK: 8, RM: 2, RN: 2 },      // 128 threads, 8x8 each
  tall8: { BM: 128, BN: 64, BK: 8, RM: 2, RN: 2 },      // 128 threads, 8x8 each
  square8: { BM: 64, BN: 64, BK: 16, RM: 2, RN: 1 },    // 128 threads, 8x4 each
  medium: { BM: 64, BN: 64, BK: 16, RM: 1, RN: 1 },     // 256 threads, 4x4 each: most convolutions on GPUs
  // 64 threads, shapes from uniforms: the fewest and quickest compilations (the test suite's tile)
  small: { BM: 32, BN: 64, BK: 16, RM: 1, RN: 2, prefetch: false, bakeShapes: false },
  cpu: { BM: 128, BN: 256, BK: 16, RM: 2, RN: 4, prefetch: false },     // 256 threads, 8x16 each: lavapipe
  cpuNarrow: { BM: 64, BN: 128, BK: 16, RM: 2, RN: 2, prefetch: false }, // lavapipe, fewer than 128 rows
  cpuThin: { BM: 16, BN: 256, BK: 16, RM: 1, RN: 1, prefetch: false },   // lavapipe, 16 rows or fewer
  cpuTall: { BM: 256, BN: 16, BK: 16, RM: 4, RN: 1, prefetch: false },   // lavapipe, 16 columns or fewer
  cpuTall64: { BM: 128, BN: 64, BK: 16, RM: 2, RN: 2, prefetch: false }, // lavapipe, 64 columns or fewer
};

/** Whether the generator can load A (BM x BK) and B (BK x BN) tiles whose contiguous axes are aFast and bFast. */
export function canLoad(t: TileConfig, aFast: 'k' | 'mn', bFast: 'k' | 'mn'): boolean {
  const threads = (t.BM / (4 * t.RM)) * (t.BN / (4 * t.RN));
  const ok = (span: number, fast: 'k' | 'mn') => threads % (fast === 'k' ? t.BK : span) === 0 && (span * t.BK) % threads === 0;
  return ok(t.BM, aFast) && ok(t.BN, bFast);
}

/**
 * A GEMM dispatch's label: its kind alone, or, while a profiler listens (GpuContext.timestampWrites is set, as in
 * `npm run bench -- profile`), the kind with the problem's M, N, K, batch, split count and tile, which the profile
 * reads its FLOP count from.
 */
export function gemmLabel(ctx: { timestampWrites: unknown }, kind: string, M: number, N: number, K: number, batch: number,
                          tile: TileConfig | string, splits = 1): string {
  if (!ctx.timestampWrites) return kind;
  return `${kind} M=${M} N=${N} K=${K} batch=${batch} splits=${splits} tile=${typeof tile === 'string' ? tile : tileKey(tile)}`;
}

export function tileKey(t: TileConfig): string {
  return `${t.BM}x${t.BN}x${t.BK}r${t.RM}${t.RN}${t.prefetch === false ? '' : 'p'}${t.bakeShapes === false ? 'u' : ''}`;
}

/**
 * One operand's loads. `fast` names the tile axis that is contiguous in memory: neighbouring threads load
 * neighbouring elements along it. Each thread's coordinate along `fast` is fixed for all its loads, so
 * `prologue` may precompute whatever depends on it (e.g. an im2col column's image and position).
 */
export interface OperandLoader {
  fast: 'k' | 'mn';
  /** WGSL statements run once per thread; `FIX` is replaced by the thread's fixed coordinate (a global m/n or k). */
  prologue?: string;
  /** WGSL expression for the element at (mn, k), both u32 global coordinates; must return 0.0 out of range */
  load: (mn: string, k: string) => string;
}

export interface GemmSpec {
  tile: TileConfig;
  params: string;            // the WGSL `struct Params {...}` (must have M, N, K fields)
  extraBindings?: string;
  helpers?: string;          // WGSL functions used by the loaders / store
  a: OperandLoader;          // A is M x K
  b: OperandLoader;          // B is K x N
  /** WGSL statements storing `v` (f32) at global (m, n); only called in range */
  store: (m: string, n: string, v: string) => string;
  /** per-column precomputation in the epilogue (e.g. decode the column's image and pixel) */
  storeColumn?: (n: string) => string;
}

export function gemmSource(spec: GemmSpec): string {
  const { BM, BN, BK, RM, RN } = spec.tile;
  const prefetch = spec.tile.prefetch !== false;
  const WGY = BM / (4 * RM);
  const WGX = BN / (4 * RN);
  const NT = WGX * WGY;
  if (!Number.isInteger(WGX) || !Number.isInteger(WGY)) throw new Error(`gemm: tile ${tileKey(spec.tile)} does not divide`);

  const prologue: string[] = [];
  const regDecl: string[] = [];
  const regLoads: string[] = [];
  const regStores: string[] = [];
  const operand = (name: 'a' | 'b', ld: OperandLoader, span: number, base: string, store: string) => {
    // the tile is span (m or n) x BK, stored [BK][span/4] as vec4
    const fastExtent = ld.fast === 'k' ? BK : span;
    if (NT % fastExtent !== 0 || (span * BK) % NT !== 0) {
      throw new Error(`gemm: tile ${tileKey(spec.tile)} cannot be loaded with ${NT} threads along ${ld.fast}`);
    }
    const perThread = (span * BK) / NT;
    const slowStep = NT / fastExtent;
    prologue.push(`  let ${name}_fix = lid % ${fastExtent}u;`);
    prologue.push(`  let ${name}_slow = lid / ${fastExtent}u;`);
    if (ld.prologue) {
      const fixGlobal = ld.fast === 'k' ? `${name}_fix` : `${base} + ${name}_fix`;
      prologue.push(ld.prologue.replace(/FIX/g, `(${fixGlobal})`));
    }
    for (let i = 0; i < perThread; i++) {
      const slow = `(${name}_slow + ${i * slowStep}u)`;
      const mnLocal = ld.fast === 'k' ? slow : `${name}_fix`;
      const kLocal = ld.fast === 'k' ? `${name}_fix` : slow;
      const expr = ld.load(`(${base} + ${mnLocal})`, `(kt + ${kLocal})`);
      const reg = `${name}_reg${i}`;
      regDecl.push(`  var ${reg} = 0.0;`);
      regLoads.push(`    ${reg} = ${expr};`);
      regStores.push(`    { let mn = ${mnLocal}; ${store}[${kLocal} * ${span / 4}u + mn / 4u][mn % 4u] = ${reg}; }`);
    }
  };
  operand('a', spec.a, BM, 'm0', 'As');
  operand('b', spec.b, BN, 'n0', 'Bs');

  const acc: string[] = [];
  for (let r = 0; r < 4 * RM; r++) for (let h = 0; h < RN; h++) acc.push(`  var acc_${r}_${h} = vec4<f32>(0.0);`);

  const inner: string[] = [];
  for (let g = 0; g < RM; g++) inner.push(`      let av${g} = As[kk * ${BM / 4}u + ${g * WGY}u + ty];`);
  for (let h = 0; h < RN; h++) inner.push(`      let bv${h} = Bs[kk * ${BN / 4}u + ${h * WGX}u + tx];`);
  for (let g = 0; g < RM; g++) {
    for (let i = 0; i < 4; i++) {
      for (let h = 0; h < RN; h++) {
        const r = g * 4 + i;
        inner.push(`      acc_${r}_${h} = fma(vec4<f32>(av${g}[${i}]), bv${h}, acc_${r}_${h});`);
      }
    }
  }

  const epi: string[] = [];
  for (let h = 0; h < RN; h++) {
    for (let j = 0; j < 4; j++) {
      epi.push(`  {`);
      epi.push(`    let n = n0 + ${h * WGX * 4}u + tx * 4u + ${j}u;`);
      epi.push(`    if (n < P.N) {`);
      if (spec.storeColumn) epi.push(`      ${spec.storeColumn('n')}`);
      for (let g = 0; g < RM; g++) {
        for (let i = 0; i < 4; i++) {
          const r = g * 4 + i;
          epi.push(`      { let m = m0 + ${g * WGY * 4}u + ty * 4u + ${i}u; if (m < P.M) { ${spec.store('m', 'n', `acc_${r}_${h}[${j}]`)} } }`);
        }
      }
      epi.push(`    }`);
      epi.push(`  }`);
    }
  }

  return kernelSource('gemm.wgsl', {
    PARAMS: spec.params,
    EXTRA_BINDINGS: spec.extraBindings ?? '',
    BM, BN, BK, WGX, WGY,
    AS_VEC4: (BM * BK) / 4,
    BS_VEC4: (BN * BK) / 4,
    LOADERS: spec.helpers ?? '',
    PROLOGUE: [...prologue, ...regDecl].join('\n'),
    ACC_DECL: acc.join('\n'),
    PRELOAD: prefetch ? regLoads.join('\n') : '',
    TILE_TOP: prefetch ? regStores.join('\n') : ['    kt = k0;', ...regLoads, ...regStores].join('\n'),
    AFTER_BARRIER: prefetch ? ['    kt = k0 + BK;', ...regLoads].join('\n') : '',
    INNER: inner.join('\n'),
    EPILOGUE: epi.join('\n'),
  });
}

/**
 * How many K-slices to run in parallel. A GPU needs a few hundred workgroups in flight; a GEMM with a small
 * M x N but a deep K (VGG's 512-channel layers at batch 1, FC layers) would otherwise leave most of it
 * idle while a few workgroups walk the whole K. Each slice keeps at least 16 tile steps.
 */
export function splitCount(ctx: { isCpuAdapter: boolean; splitOverride: number | null }, tile: TileConfig,
                           M: number, N: number, Z: number, K: number): number {
  const byDepth = Math.max(1, Math.floor(K / (tile.BK * 16)));
  if (ctx.splitOverride !== null) return Math.max(1, Math.min(ctx.splitOverride, Math.ceil(K / tile.BK)));
  if (ctx.isCpuAdapter) return 1;
  const workgroups = Math.ceil(M / tile.BM) * Math.ceil(N / tile.BN) * Z;
  const target = 256;
  if (workgroups >= target) return 1;
  return Math.max(1, Math.min(8, byDepth, Math.ceil(target / workgroups)));
}

/** K-slice length for `splits` slices: a multiple of the tile depth. */
export function sliceLength(tile: TileConfig, K: number, splits: number): number {
  return Math.ceil(Math.ceil(K / splits) / tile.BK) * tile.BK;
}

export function workgroupsFor(tile: TileConfig, M: number, N: number, Z: number): [number, number, number] {
  return [Math.ceil(N / tile.BN), Math.ceil(M / tile.BM), Z];
}
