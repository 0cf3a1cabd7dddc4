// The convolution autotuner: on a GPU, the first time a convolution shape is seen (forward or backward-input,
// batch size included), the shape is queued; at the next read-back or sync the tuner times every candidate on
// scratch operands — the direct implicit GEMM under each GPU tile, and Winograd F(2x2, 3x3) and F(4x4, 3x3) where
// the layer is 3x3 with stride 1, F(4x4) also in smaller chunks and on another GEMM tile (conv.ts
// winogradCandidates) — and keeps the fastest. The choices are kept per adapter (name and driver) in a JSON file,
// so a device is tuned once: $CONVIS_TUNE_CACHE, else $XDG_CACHE_HOME/convis/tune.json, else
// ~/.cache/convis/tune.json. CONVIS_AUTOTUNE=0 turns the tuner off (the fixed rules of pickTile apply),
// CONVIS_AUTOTUNE=1 turns it on where it is off by default (CPU adapters, whose compiles are slow).
//
// The calls that queue a shape run it with the fixed rules, so their results do not wait for the tuner; only
// the time of the read-back that tunes grows (about 25 s for VGG16's 18 shapes at one batch size on an H200,
// mostly pipeline compiles).

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Conv2dParams, Operand } from '../interface.js';
import type { GpuContext, GpuStorage } from './context.js';
import { canLoad, tileConfigs } from './gemm.js';
import { parseWinograd } from './winograd.js';

/** Bumped whenever a kernel changes enough that old timings no longer hold. */
export const TUNE_VERSION = 3;

/** The GEMM tiles a GPU's tuner tries for a direct convolution. */
export const GPU_TILES = ['large', 'large16', 'tall', 'wide', 'wide8', 'tall8', 'square8', 'medium'] as const;

export type ConvDirection = 'forward' | 'backwardInput';

/** A convolution the tuner can reproduce: the layer's input x [batch, C, H, W], weight, output [batch, O, OH, OW]. */
export interface ConvSpec {
  direction: ConvDirection;
  x: number[];
  w: number[];
  y: number[];
  p: Conv2dParams;
  /** the candidates, 'direct:<tile>', 'winograd[4][@MiB][:<tile>]' (winograd.ts parseWinograd) or 'subgroup' (the caller knows which apply) */
  candidates: string[];
}

/** The shape key of a tuned choice. */
export function convKey(direction: ConvDirection, x: readonly number[], w: readonly number[], y: readonly number[], p: Conv2dParams): string {
  return `${direction === 'forward' ? 'fwd' : 'dx'} x${x.join('x')} w${w.join('x')} y${y.join('x')} ` +
    `s${p.strideH},${p.strideW} p${p.padTop},${p.padLeft} d${p.dilationH},${p.dilationW} g${p.groups}`;
}

/** The direct candidates of this adapter: every GPU tile that can load a convolution's operands; on a CPU adapter only the fixed rule's tile. */
export function directCandidates(ctx: GpuContext, fixedTile: string): string[] {
  if (ctx.isCpuAdapter) return [`direct:${fixedTile}`];
  return GPU_TILES.filter((t) => canLoad(tileConfigs[t], 'k', 'mn')).map((t) => `direct:${t}`);
}

export function defaultTuneCachePath(): string {
  if (process.env.CONVIS_TUNE_CACHE) return process.env.CONVIS_TUNE_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'convis', 'tune.json');
}

interface CacheFile { version: number; adapters: Record<string, Record<string, string>> }

function readCache(path: string): CacheFile {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    if (parsed && parsed.version === TUNE_VERSION && parsed.adapters && typeof parsed.adapters === 'object') return parsed;
  } catch {
    // missing, unreadable or not JSON: start afresh
  }
  return { version: TUNE_VERSION, adapters: {} };
}

/** A choice the kernels can follow: a Winograd variant, the subgroup kernel, or a direct GEMM with a tile that exists. */
function validChoice(choice: unknown): choice is string {
  if (typeof choice === 'string' && parseWinograd(choice) !== null) return true;
  if (choice === 'subgroup') return true;
  return typeof choice === 'string' && choice.startsWith('direct:') && Object.hasOwn(tileConfigs, choice.slice('direct:'.length));
}

/** Loads this adapter's choices from the cache file into the context (once). Entries naming no kernel are skipped (tuned anew). */
export function loadChoices(ctx: GpuContext): void {
  if (ctx.tuneLoaded) return;
  ctx.tuneLoaded = true;
  if (!ctx.tuneCachePath) return;
  const entries = readCache(ctx.tuneCachePath).adapters[ctx.adapterName];
  if (!entries || typeof entries !== 'object') return;
  for (const [key, choice] of Object.entries(entries)) {
    if (validChoice(choice) && !ctx.convChoices.has(key)) ctx.convChoices.set(key, choice);
  }
}

/** Writes this adapter's choices, merged with what the file holds for other adapters; a failure leaves them in memory only. */
function saveChoices(ctx: GpuContext): void {
  if (!ctx.tuneCachePath) return;
  const file = readCache(ctx.tuneCachePath);
  file.adapters[ctx.adapterName] = Object.fromEntries([...ctx.convChoices.entries()].sort());
  try {
    mkdirSync(dirname(ctx.tuneCachePath), { recursive: true });
    const tmp = `${ctx.tuneCachePath}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(file, null, 1) + '\n');
    renameSync(tmp, ctx.tuneCachePath);
  } catch {
    // a read-only home: the choices hold for this process
  }
}

/** Records one convolution of `spec` on the given operands with the context's forced choice (conv.ts). */
export type ConvRunner = (spec: ConvSpec, x: Operand, w: Operand, y: Operand) => void;

const ROUNDS = 3;
/** a timed repetition lasts at least this long where a candidate is quicker (the sync costs ~0.1 ms) */
const TARGET_MS = 2;
const MAX_REPS = 16;

function scratch(ctx: GpuContext, shape: number[]): Operand {
  const size = shape.reduce((a, b) => a * b, 1);
  return { storage: ctx.allocStorage(size), offset: 0, shape, size };
}

/** Times every queued shape's candidates and keeps the fastest; then saves the choices. */
export async function tunePending(ctx: GpuContext, run: ConvRunner): Promise<void> {
  if (ctx.tuning || ctx.pendingConv.size === 0) return;
  ctx.tuning = true;
  try {
    const queued = [...ctx.pendingConv.entries()];
    ctx.pendingConv.clear();
    for (const [key, spec] of queued) {
      if (ctx.convChoices.has(key)) continue;
      if (spec.candidates.length > 1) {
        ctx.convChoices.set(key, await fastest(ctx, key, spec, run));
      } else {
        ctx.convChoices.set(key, spec.candidates[0]);
        ctx.tuneTimings.set(key, {}); // nothing to time
      }
      ctx.tuneRuns++;
    }
    saveChoices(ctx);
  } finally {
    ctx.forcedConv = null;
    ctx.tuning = false;
  }
}

async function fastest(ctx: GpuContext, key: string, spec: ConvSpec, run: ConvRunner): Promise<string> {
  // backward-input reads the output gradient (y's shape) and writes the input gradient (x's shape)
  const x = scratch(ctx, spec.x), w = scratch(ctx, spec.w), y = scratch(ctx, spec.y);
  const time = async (choice: string, reps: number): Promise<number> => {
    await ctx.sync();
    ctx.forcedConv = choice;
    const t0 = performance.now();
    try {
      for (let r = 0; r < reps; r++) run(spec, x, w, y);
    } finally {
      ctx.forcedConv = null;
    }
    await ctx.sync();
    return (performance.now() - t0) / reps;
  };
  try {
    const best = new Map<string, number>();
    const reps = new Map<string, number>();
    // the first call of each compiles its pipelines; a candidate that throws or raises a device error there
    // (a tile the adapter cannot build, say) is left out, so tuning never fails the read-back that runs it
    const usable: string[] = [];
    for (const c of spec.candidates) if (await works(ctx, () => time(c, 1))) usable.push(c);
    if (usable.length === 0) return spec.candidates[0];
    // the second sizes each candidate's repetitions
    for (const c of usable) {
      const t = await time(c, 1);
      best.set(c, t);
      reps.set(c, Math.max(1, Math.min(MAX_REPS, Math.ceil(TARGET_MS / Math.max(t, 1e-3)))));
    }
    // rounds over all candidates, so a clock that rises during tuning favours none
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of usable) best.set(c, Math.min(best.get(c)!, await time(c, reps.get(c)!)));
    }
    let choice = usable[0];
    for (const c of usable) if (best.get(c)! < best.get(choice)!) choice = c;
    ctx.tuneTimings.set(key, Object.fromEntries(best));
    return choice;
  } finally {
    for (const o of [x, w, y]) ctx.releaseStorage(o.storage as GpuStorage);
  }
}

/** Whether `run` completes without throwing and without a validation or out-of-memory error on the device. */
async function works(ctx: GpuContext, run: () => Promise<unknown>): Promise<boolean> {
  ctx.device.pushErrorScope('out-of-memory');
  ctx.device.pushErrorScope('validation');
  let ok = true;
  try {
    await run();
  } catch {
    ok = false;
  } finally {
    ctx.forcedConv = null;
  }
  const validation = await ctx.device.popErrorScope();
  const memory = await ctx.device.popErrorScope();
  return ok && !validation && !memory;
}
