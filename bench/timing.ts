// Timing primitives shared by the benchmarks: GPU timestamp queries around each dispatch of one op call
// (through GpuContext.timestampWrites), wall time around the device's onSubmittedWorkDone, and the summary
// statistics. GPUBufferUsage / GPUMapMode are not globals under dawn.node, so the numeric flags are spelled out.

import { traceScope } from '../src/autograd/trace.js';
import type { GpuContext } from '../src/backend/webgpu/context.js';
import { fmtMs } from './report.js';

const BufferUsage = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, QUERY_RESOLVE: 512 } as const;
const MAP_READ_MODE = 1;

/** Dawn masks timestamps to this granularity while its timestamp_quantization toggle is on. */
const QUANTUM_NS = 1n << 16n;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Relative L2 error of a against b: ||a - b|| / ||b||. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

// ------------------------------------------------------------------ wall time of whole calls (models, saliency)

export interface Timing { ms: number; min: number; max: number; runs: number; firstMs: number }

export interface CallBudget {
  /** untimed calls first (the first one's time is kept as firstMs) */
  warmup: number;
  /** most timed calls */
  runs: number;
  /** stop the timed calls once they took this many seconds, after at least one; 0: always `runs` */
  budgetS: number;
  /**
   * keep warming up (after the `warmup` calls) until this many seconds have passed: a GPU raises its clock only
   * under sustained load (an H100 sat at 345-570 MHz through a series of 30 ms calls and reached 1980 MHz about
   * 0.4 s into continuous work: bench/RESULTS.md), so a case timed from a cold start measures the clock ramp
   */
  warmupS?: number;
}

/**
 * Wall time of `call` (which ends with a read-back, so the device has finished): `warmup` untimed calls (and more
 * until `warmupS` seconds have passed since the first ended), then up to
 * `runs` timed ones, stopping early once the timed ones took `budgetS` seconds (always at least one).
 */
export async function timeCalls(call: () => Promise<void>, o: CallBudget): Promise<Timing> {
  let firstMs = NaN;
  // the seconds count from the end of the first call: it compiles pipelines and, on a GPU meeting a shape for the
  // first time, runs the convolution tuner (25 s for VGG16 at batch 1 on an H200), during which the clock falls back
  let start = performance.now();
  for (let i = 0; i < o.warmup || performance.now() - start < (o.warmupS ?? 0) * 1000; i++) {
    const t0 = performance.now();
    await call();
    if (i === 0) {
      firstMs = performance.now() - t0;
      start = performance.now();
    }
  }
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < o.runs && (samples.length === 0 || o.budgetS === 0 || spent < o.budgetS * 1000)) {
    const t0 = performance.now();
    await call();
    const ms = performance.now() - t0;
    samples.push(ms);
    spent += ms;
  }
  return { ms: median(samples), min: Math.min(...samples), max: Math.max(...samples), runs: samples.length, firstMs: Number.isNaN(firstMs) ? samples[0] : firstMs };
}

/** fn's timing, or the error it threw (a failed case is reported, not fatal). */
export async function attempt(fn: () => Promise<Timing>): Promise<Timing | Error> {
  try {
    return await fn();
  } catch (e) {
    return e as Error;
  }
}

export const describeTiming = (t: Timing | Error | null): string =>
  t === null ? '—' : t instanceof Error ? `failed: ${t.message}`
    : `${fmtMs(t.ms).padStart(8)} ms (min ${fmtMs(t.min)}, max ${fmtMs(t.max)}, ${t.runs} run(s); first call ${fmtMs(t.firstMs)} ms)`;

export interface OneRun {
  /** sum over the op's dispatches of (end - begin) of each timestamped pass; null without timestamps */
  gpuMs: number | null;
  /** from before encoding the op until onSubmittedWorkDone resolved */
  wallMs: number;
  dispatches: number;
  /** every raw timestamp was a multiple of 2^16 ns: Dawn's quantization is probably still on */
  quantized: boolean;
}

/**
 * A timestamp query set for up to `capacity` compute passes, each with a begin and an end timestamp, and the
 * buffers its values are resolved into and read back through. DispatchTimer and CallRecorder both time dispatches
 * with it.
 */
export class TimestampPairs {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;

  constructor(private readonly ctx: GpuContext, readonly capacity: number) {
    const bytes = capacity * 2 * 8;
    this.querySet = ctx.device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
    this.resolveBuffer = ctx.device.createBuffer({ size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    this.readBuffer = ctx.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  }

  /** The timestamp writes of pass i: its begin and end. */
  writes(i: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the copy of the first `pairs` passes' timestamps to the read-back buffer (after the work recorded so far). */
  resolve(pairs: number): void {
    this.ctx.encode((enc) => {
      enc.resolveQuerySet(this.querySet, 0, 2 * pairs, this.resolveBuffer, 0);
      enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16 * pairs);
    });
  }

  /** The timestamps resolve() copied (ns, begin and end alternating): call after the device has run the copy (ctx.sync()). */
  async values(pairs: number): Promise<BigUint64Array> {
    await this.readBuffer.mapAsync(MAP_READ_MODE, 0, 16 * pairs);
    const stamps = new BigUint64Array(this.readBuffer.getMappedRange(0, 16 * pairs).slice(0));
    this.readBuffer.unmap();
    return stamps;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}

/**
 * Times single op calls on a GpuContext. Each dispatch of the op gets its own compute pass with a begin and an
 * end timestamp; after the op the pairs are resolved, copied to a mappable buffer and summed.
 */
export class DispatchTimer {
  private readonly stamps: TimestampPairs | null;
  private used = 0;
  private overflow = false;

  constructor(private readonly ctx: GpuContext, maxDispatches = 256) {
    this.stamps = ctx.features.has('timestamp-query') ? new TimestampPairs(ctx, maxDispatches) : null;
  }

  get available(): boolean {
    return this.stamps !== null;
  }

  /** Runs `op` once (its encoding and its execution) and returns the measurements. */
  async run(op: () => void, useTimestamps = true): Promise<OneRun> {
    const ctx = this.ctx;
    await ctx.sync();
    const stamps = useTimestamps ? this.stamps : null;
    this.used = 0;
    this.overflow = false;
    let dispatches = 0;
    ctx.timestampWrites = (): GPUComputePassTimestampWrites | undefined => {
      dispatches++;
      if (!stamps) return undefined;
      if (this.used >= stamps.capacity) {
        this.overflow = true;
        return undefined;
      }
      return stamps.writes(this.used++);
    };
    const t0 = performance.now();
    try {
      op();
    } finally {
      ctx.timestampWrites = null;
    }
    const pairs = this.used;
    if (stamps && pairs > 0) stamps.resolve(pairs);
    await ctx.sync();
    const wallMs = performance.now() - t0;
    if (!stamps || pairs === 0 || this.overflow) return { gpuMs: null, wallMs, dispatches, quantized: false };
    const settled = await stamps.values(pairs);
    let ns = 0n;
    let quantized = true;
    for (let i = 0; i < pairs; i++) {
      const begin = settled[2 * i], end = settled[2 * i + 1];
      if (begin % QUANTUM_NS !== 0n || end % QUANTUM_NS !== 0n) quantized = false;
      if (end > begin) ns += end - begin;
    }
    return { gpuMs: Number(ns) / 1e6, wallMs, dispatches, quantized };
  }

  destroy(): void {
    this.stamps?.destroy();
  }
}

/** WebGPU's limit for one query set is 4096 queries: 2048 passes. */
const MAX_RECORDED_DISPATCHES = 2048;

/**
 * One dispatch of a recorded call: its label, the model layer and pass it ran for (traceScope when it was
 * recorded; layer null outside any layer), and its GPU interval in ns from the call's first dispatch's start.
 */
export interface Stamp { label: string; layer: string | null; backward: boolean; begin: number; end: number }

/**
 * Records every dispatch of an async call (a saliency call, say) with timestamps: each dispatch in its own compute
 * pass between two timestamp queries. The adapter must offer timestamp queries; open the device with Dawn's
 * timestamp quantization off (NO_QUANTIZATION in kernel-options.ts) for intervals finer than 65 µs.
 */
export class CallRecorder {
  private readonly stamps: TimestampPairs;

  constructor(private readonly ctx: GpuContext) {
    if (!ctx.features.has('timestamp-query')) throw new Error('CallRecorder: the adapter offers no timestamp-query');
    this.stamps = new TimestampPairs(ctx, MAX_RECORDED_DISPATCHES);
  }

  async record(call: () => Promise<void>): Promise<{ stamps: Stamp[]; wallMs: number }> {
    const ctx = this.ctx;
    await ctx.sync();
    const seen: { label: string; layer: string | null; backward: boolean }[] = [];
    ctx.timestampWrites = (label) => {
      if (seen.length >= MAX_RECORDED_DISPATCHES) throw new Error(`CallRecorder: more than ${MAX_RECORDED_DISPATCHES} dispatches in one call`);
      seen.push({ label, layer: traceScope.layer, backward: traceScope.backward });
      return this.stamps.writes(seen.length - 1);
    };
    const t0 = performance.now();
    try {
      await call();
    } finally {
      ctx.timestampWrites = null;
    }
    const wallMs = performance.now() - t0;
    const n = seen.length;
    if (n === 0) return { stamps: [], wallMs };
    this.stamps.resolve(n);
    await ctx.sync();
    const raw = await this.stamps.values(n);
    const origin = raw[0];
    const ns = (v: bigint) => Number(v - origin);
    return { stamps: seen.map((s, i) => ({ ...s, begin: ns(raw[2 * i]), end: ns(raw[2 * i + 1]) })), wallMs };
  }

  destroy(): void {
    this.stamps.destroy();
  }
}

export type Method = 'timestamp' | 'wall';

export interface Measurement {
  ms: number;
  method: Method;
  /** median wall time, whatever the method */
  wallMs: number;
  runs: number;
  dispatches: number;
  /** every timestamp was a multiple of 2^16 ns: Dawn's quantization looks on */
  quantized: boolean;
  /** why timestamps were not used, when they were not */
  note?: string;
}

/**
 * The median of `runs` timed calls after `warmup` untimed ones. Timestamps are used when every run produced a
 * positive GPU time; otherwise the row falls back to wall time and says why.
 */
export async function measure(timer: DispatchTimer, op: () => void, warmup: number, runs: number,
                              timestamps = true): Promise<Measurement> {
  for (let i = 0; i < warmup; i++) await timer.run(op, false);
  const samples: OneRun[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timer.run(op, timestamps));
  const wallMs = median(samples.map((s) => s.wallMs));
  const dispatches = samples[0]?.dispatches ?? 0;
  let note: string | undefined;
  if (!timestamps) note = 'wall time asked for';
  else if (!timer.available) note = 'no timestamp-query';
  else if (samples.some((s) => s.gpuMs === null)) note = 'timestamps unavailable for this op';
  else if (samples.some((s) => !(s.gpuMs! > 0))) note = 'timestamps read zero';
  if (note) return { ms: wallMs, method: 'wall', wallMs, runs, dispatches, quantized: false, note };
  const quantized = samples.every((s) => s.quantized);
  return { ms: median(samples.map((s) => s.gpuMs!)), method: 'timestamp', wallMs, runs, dispatches, quantized };
}
