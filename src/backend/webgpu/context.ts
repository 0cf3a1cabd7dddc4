// The WebGPU device through Dawn: buffer pool, pipeline cache, command batching, uniforms,
// binding windows for tensors larger than one storage binding, readback and error reporting.

import type { MemoryStats, Operand, Storage } from '../interface.js';
import { type ConvSpec, defaultTuneCachePath } from './autotune.js';
import { type TileConfig, tileConfigs } from './gemm.js';

export { kernelSource } from './source.js';

// The WebGPU flag values (fixed by the specification); Dawn's globals are not installed on globalThis.
export const Usage = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
const MAP_READ_MODE = 1;

export class GpuStorage implements Storage {
  constructor(readonly buffer: GPUBuffer, readonly elements: number, readonly bytes: number) {}
}

/** A value for one binding: the buffer range bound and where the operand starts inside it (elements). */
export interface Window { resource: GPUBufferBinding; base: number }

export type UniformField = number | { u: number } | { i: number } | { f: number };

/** uniform blocks live in pages of this size, one aligned slot per cached bind group */
const UNIFORM_PAGE_BYTES = 1 << 16;
/** bind groups kept; past this the cache starts afresh (after a flush, so no recorded work reads a reused slot) */
const MAX_BIND_GROUPS = 8192;
const DISPATCHES_PER_SUBMIT = 64;
/** the buffer pool keeps up to this many times the peak of live bytes (see releaseStorage) */
const POOL_PEAK_MULTIPLE = 4;
/** read-back buffers kept for reuse, at most */
const STAGING_POOL_BYTES = 256 * 2 ** 20;
/**
 * On a GPU, the first submit after the device went idle (a sync or a read-back) comes after this many dispatches,
 * and each later one after twice as many as the one before, up to DISPATCHES_PER_SUBMIT: the GPU starts on a
 * call's first layers while the host still records the rest, instead of idling until 64 are recorded.
 */
const FIRST_SUBMIT = 4;

/** The convolution algorithms a caller may pin (ctx.convAlgorithm, CONVIS_CONV). */
export const CONV_ALGORITHMS = ['direct', 'winograd', 'winograd4', 'subgroup'] as const;
export type ConvAlgorithm = typeof CONV_ALGORITHMS[number];
export function isConvAlgorithm(v: unknown): v is ConvAlgorithm {
  return (CONV_ALGORITHMS as readonly unknown[]).includes(v);
}

export class GpuContext {
  readonly maxBindingBytes: number;
  readonly storageAlign: number;
  readonly uniformAlign: number;
  readonly maxWorkgroups: number;
  readonly features: Set<string>;

  private pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private liveStorages = 0;
  private liveBytes = 0;
  /** the most bytes live at once so far: the pool may keep that much (see releaseStorage) */
  private peakLiveBytes = 0;
  private readonly poolFloorBytes = 2 ** 30;

  private pipelines = new Map<string, GPUComputePipeline>();
  /**
   * Each buffer's write count: bumped by an upload and by every dispatch that binds the buffer where its shader
   * declares a read_write binding (conservatively: whether or not that entry point writes it). Results derived
   * from a buffer's contents (Winograd's transformed weights) are kept while its count stands still.
   */
  private versions = new WeakMap<GPUBuffer, number>();
  private writtenBindings = new WeakMap<GPUComputePipeline, Set<number>>();
  private derived = new Map<GPUBuffer, Map<string, { version: number; storage: GpuStorage }>>();
  /** mappable read-back buffers by size class, and their bytes */
  private stagingPool = new Map<number, GPUBuffer[]>();
  private stagingBytes = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  /** dispatches recorded before the next submit (see FIRST_SUBMIT) */
  private submitEvery = DISPATCHES_PER_SUBMIT;
  // Bind groups are cached by pipeline, bound ranges and uniform values: a repeated call (saliency over a dataset,
  // a class-model step) allocates the same pooled buffers in the same order, so its dispatches find their bind
  // groups, whose uniform slots already hold their values, instead of creating them (64 us each through dawn.node
  // on this project's 2-core CPU: 4 ms of a VGG16 saliency call's 8 ms of recording). A destroyed buffer drops the
  // bind groups that bind it.
  private bindGroups = new Map<string, GPUBindGroup>();
  private groupsOfBuffer = new Map<GPUBuffer, Set<string>>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private pipelineIds = new WeakMap<GPUComputePipeline, number>();
  private layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  private nextId = 1;
  private uniformPages: GPUBuffer[] = [];
  private uniformPage = 0;
  private uniformUsed = 0;
  /** bind groups found in the cache / created (tests, benchmarks) */
  bindGroupHits = 0;
  bindGroupMisses = 0;
  private deviceError: Error | null = null;
  private lostMessage: string | null = null;
  private destroyed = false;
  /** lavapipe / SwiftShader: a CPU behind the adapter, which prefers small tiles */
  readonly isCpuAdapter: boolean;
  /** forces one GEMM tile configuration (bench sweeps, tests of every variant) */
  tileOverride: TileConfig | null = null;
  /** forces the split-K factor of GEMMs that may split (tests of the split path on any adapter) */
  splitOverride: number | null = null;
  /**
   * forces how convolutions run where the algorithm applies (else the direct GEMM): 'direct' (implicit GEMM),
   * 'winograd' / 'winograd4' (F(2x2, 3x3) / F(4x4, 3x3): 3x3 stride 1) or 'subgroup' (stride 1, 8-invocation
   * subgroups); tests, benchmarks, CONVIS_CONV
   */
  convAlgorithm: ConvAlgorithm | null = null;
  /** the subgroup size where the device has the subgroups feature and the adapter a single size; else null */
  readonly subgroupSize: number | null;
  /**
   * forces whether backward-input with at most 4 channels per group, stride 1, no dilation and a kernel up to
   * 24x24 stages dY in workgroup memory (conv_dx_narrow_tiled.wgsl) instead of loading every tap (conv_dx_narrow.wgsl); null: on GPUs
   * (tests run it on lavapipe)
   */
  narrowTiled: boolean | null = null;
  /** forces the GEMV kernel of matmuls with at most 4 rows: 'lanes' (gemv.wgsl) or 'workgroup' (gemv_wg.wgsl); tests */
  gemvKernel: 'lanes' | 'workgroup' | null = null;
  /** whether convolution shapes are timed and their fastest kernel kept (autotune.ts): GPUs, unless CONVIS_AUTOTUNE=0 */
  autotune: boolean;
  /** where the tuner's choices persist (null: in memory only) */
  tuneCachePath: string | null;
  /** the tuner's choices by convKey: 'winograd[4][@MiB][:<tile>]', 'subgroup' or 'direct:<tile>' */
  readonly convChoices = new Map<string, string>();
  /** shapes seen without a choice, tuned at the next read-back or sync */
  readonly pendingConv = new Map<string, ConvSpec>();
  /** each tuned shape's best ms per candidate (this process; bench/profile reports them) */
  readonly tuneTimings = new Map<string, Record<string, number>>();
  /** the choice every convolution takes while the tuner times it */
  forcedConv: string | null = null;
  tuneLoaded = false;
  tuning = false;
  /** shapes tuned by this context */
  tuneRuns = 0;
  /** performance.now() when the last dispatch was recorded (bench/profile: how long the host records a call) */
  lastDispatchAt = 0;
  /** a pass-level hook for timestamp queries (bench/profile) */
  timestampWrites: ((label: string) => GPUComputePassTimestampWrites | undefined) | null = null;

  constructor(readonly device: GPUDevice, readonly adapterName: string, adapterType: string, bindingLimit?: number,
              subgroupSizes?: { min: number; max: number }) {
    this.isCpuAdapter = adapterType === 'cpu' || /llvmpipe|lavapipe|swiftshader/i.test(adapterName);
    this.wentIdle();
    // CONVIS_GEMM_TILE pins the implicit GEMM's tile: the test runner picks the one lavapipe compiles fastest.
    // CONVIS_CONV pins the algorithm of the convolutions it applies to (benchmarks compare them). Both are
    // validated by openWebGpu before a device exists; unknown values are ignored here.
    const pinned = process.env.CONVIS_GEMM_TILE;
    if (pinned && Object.hasOwn(tileConfigs, pinned)) this.tileOverride = tileConfigs[pinned];
    const conv = process.env.CONVIS_CONV;
    if (isConvAlgorithm(conv)) this.convAlgorithm = conv;
    // CONVIS_AUTOTUNE=0 / 1 turns the convolution tuner off / on; by default it runs on GPUs only
    const tune = process.env.CONVIS_AUTOTUNE;
    this.autotune = tune === '1' || (tune !== '0' && !this.isCpuAdapter);
    this.tuneCachePath = defaultTuneCachePath();
    const l = device.limits;
    this.maxBindingBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize, bindingLimit ?? Infinity);
    this.storageAlign = l.minStorageBufferOffsetAlignment;
    this.uniformAlign = Math.max(l.minUniformBufferOffsetAlignment, 16);
    this.maxWorkgroups = l.maxComputeWorkgroupsPerDimension;
    this.features = new Set([...device.features] as string[]);
    this.subgroupSize = this.features.has('subgroups') && subgroupSizes && subgroupSizes.min === subgroupSizes.max
      ? subgroupSizes.min : null;
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      if (!this.deviceError) this.deviceError = new Error(`WebGPU device error: ${e.message}`);
    });
    void device.lost.then((info) => {
      if (!this.destroyed) this.lostMessage = `WebGPU device lost (${info.reason}): ${info.message}`;
    });
  }

  /** Throws the first device error or loss seen since the last check. */
  check(): void {
    if (this.destroyed) throw new Error('convis: the WebGPU backend was closed; call init() again');
    if (this.lostMessage) throw new Error(this.lostMessage);
    if (this.deviceError) {
      const e = this.deviceError;
      this.deviceError = null;
      throw e;
    }
  }

  // ---------------------------------------------------------------- memory

  private bucket(bytes: number): number {
    const b = Math.max(bytes, 16);
    if (b <= 4096) return Math.ceil(b / 256) * 256;
    // four size classes per power of two keep waste under 25%
    const p = 2 ** Math.floor(Math.log2(b));
    const step = p / 4;
    return Math.ceil(b / step) * step;
  }

  allocStorage(elements: number): GpuStorage {
    this.check();
    const want = elements * 4;
    if (want > this.device.limits.maxBufferSize) {
      throw new Error(`webgpu alloc: ${elements} elements (${want} bytes) exceed the device's maxBufferSize ${this.device.limits.maxBufferSize}`);
    }
    const bytes = Math.min(this.bucket(want), Math.max(want, Math.floor(this.device.limits.maxBufferSize / 4) * 4));
    const free = this.pool.get(bytes);
    let buffer: GPUBuffer | undefined;
    if (free && free.length > 0) {
      // the oldest free buffer of the size class: a repeated call then gets the same buffers in the same roles, and
      // its dispatches find their bind groups (the most recently freed one made the assignment wander from call to
      // call, and on an H200 73-95 of a VGG16 saliency call's ~110 bind groups were created anew every call)
      let at = 0;
      for (let i = 1; i < free.length; i++) if (this.idOf(this.bufferIds, free[i]) < this.idOf(this.bufferIds, free[at])) at = i;
      buffer = free[at];
      free[at] = free[free.length - 1];
      free.pop();
    }
    if (buffer) {
      this.pooledBytes -= bytes;
    } else {
      buffer = this.device.createBuffer({
        size: bytes,
        usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST,
      });
      this.idOf(this.bufferIds, buffer);
    }
    this.liveStorages++;
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    return new GpuStorage(buffer, elements, bytes);
  }

  releaseStorage(s: GpuStorage): void {
    this.liveStorages--;
    this.liveBytes -= s.bytes;
    if (this.destroyed) return;
    this.dropDerived(s.buffer);
    // The pool keeps up to POOL_PEAK_MULTIPLE times the peak working set (at least 1 GiB), as a caching allocator
    // does: a repeated call (saliency over a dataset, a class-model step) then allocates nothing. A call's buffers
    // come in many size classes that are not live at once, so their sum exceeds the peak: with a cap at the peak,
    // VGG16 saliency at batch 32 on an H200 created and destroyed 13 buffers every call (27 ms of createBuffer, 94 ms
    // a call); with the room to keep them, 5 ms of recording and 67-84 ms a call (bench/RESULTS.md, notes). With a
    // fixed 1 GiB it was 251 ms a call against 103 ms of GPU work on an H100.
    if (this.pooledBytes + s.bytes > Math.max(this.poolFloorBytes, POOL_PEAK_MULTIPLE * this.peakLiveBytes)) {
      // the buffer may still be read by encoded work: submit that work before destroying it
      this.flush();
      this.forgetBindGroups(s.buffer);
      s.buffer.destroy();
      return;
    }
    let list = this.pool.get(s.bytes);
    if (!list) this.pool.set(s.bytes, (list = []));
    list.push(s.buffer);
    this.pooledBytes += s.bytes;
  }

  stats(): MemoryStats {
    let pooledBuffers = 0;
    for (const l of this.pool.values()) pooledBuffers += l.length;
    let cachedBuffers = 0, cachedBytes = 0;
    for (const entries of this.derived.values()) {
      for (const e of entries.values()) {
        cachedBuffers++;
        cachedBytes += e.storage.bytes;
      }
    }
    return {
      liveStorages: this.liveStorages - cachedBuffers, liveBytes: this.liveBytes - cachedBytes,
      pooledBuffers, pooledBytes: this.pooledBytes, cachedBuffers, cachedBytes,
    };
  }

  upload(s: GpuStorage, offset: number, data: Float32Array): void {
    this.check();
    // queue.writeBuffer runs before any command still sitting in the encoder: submit those first
    if (this.pending > 0) this.flush();
    this.device.queue.writeBuffer(s.buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
    this.bump(s.buffer);
  }

  async download(src: Operand): Promise<Float32Array> {
    this.check();
    const bytes = src.size * 4;
    const out = new Float32Array(src.size);
    if (bytes === 0) return out;
    const size = this.bucket(bytes);
    let staging = this.stagingPool.get(size)?.pop();
    if (staging) this.stagingBytes -= size;
    else staging = this.device.createBuffer({ size, usage: Usage.MAP_READ | Usage.COPY_DST });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer((src.storage as GpuStorage).buffer, src.offset * 4, staging, 0, bytes);
    this.flush();
    let reusable = false;
    try {
      await staging.mapAsync(MAP_READ_MODE, 0, bytes);
      out.set(new Float32Array(staging.getMappedRange(0, bytes)));
      staging.unmap();
      reusable = true;
      this.wentIdle();
    } catch (e) {
      this.check();
      throw new Error(`webgpu download: reading back ${bytes} bytes failed: ${(e as Error).message}`);
    } finally {
      this.releaseStaging(staging, size, reusable);
    }
    this.check();
    return out;
  }

  /**
   * Read-back buffers are kept by size class (up to STAGING_POOL_BYTES), as storage buffers are: a new mappable
   * buffer costs its allocation and zero-fill on every read (6-11 ms for a batch of 32 saliency maps, 6.4 MB, on
   * lavapipe; 1.5-2 ms once pooled).
   */
  private releaseStaging(staging: GPUBuffer, size: number, reusable: boolean): void {
    if (!reusable || this.destroyed || this.stagingBytes + size > STAGING_POOL_BYTES) {
      staging.destroy();
      return;
    }
    let list = this.stagingPool.get(size);
    if (!list) this.stagingPool.set(size, (list = []));
    list.push(staging);
    this.stagingBytes += size;
  }

  // ---------------------------------------------------------------- pipelines and dispatch

  pipeline(key: string, code: () => string, entryPoint = 'main', constants?: Record<string, number>): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const text = code();
      const module = this.device.createShaderModule({ code: text, label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants }, label: key });
      this.pipelines.set(key, p);
      const written = new Set<number>();
      for (const m of text.matchAll(/@binding\((\d+)\)\s*var<storage,\s*read_write>/g)) written.add(Number(m[1]));
      this.writtenBindings.set(p, written);
    }
    return p;
  }

  // ---------------------------------------------------------------- results derived from a buffer's contents

  private bump(buffer: GPUBuffer): void {
    this.versions.set(buffer, (this.versions.get(buffer) ?? 0) + 1);
  }

  /** A storage derived from `buffer` under `key`, if the buffer was not written since it was derived. */
  derivedFrom(buffer: GPUBuffer, key: string): GpuStorage | null {
    const entry = this.derived.get(buffer)?.get(key);
    if (!entry) return null;
    if (entry.version === (this.versions.get(buffer) ?? 0)) return entry.storage;
    this.derived.get(buffer)!.delete(key);
    this.releaseStorage(entry.storage);
    return null;
  }

  /**
   * Keeps `storage`, derived from `buffer`'s present contents by work recorded so far, under `key`; the context
   * owns it from now on and releases it when the buffer is written, released or destroyed.
   */
  keepDerived(buffer: GPUBuffer, key: string, storage: GpuStorage): void {
    let entries = this.derived.get(buffer);
    if (!entries) this.derived.set(buffer, (entries = new Map()));
    const old = entries.get(key);
    entries.set(key, { version: this.versions.get(buffer) ?? 0, storage });
    if (old) this.releaseStorage(old.storage);
  }

  private dropDerived(buffer: GPUBuffer): void {
    const entries = this.derived.get(buffer);
    if (!entries) return;
    this.derived.delete(buffer);
    for (const e of entries.values()) this.releaseStorage(e.storage);
  }

  /**
   * The binding for `count` elements of `op` starting `start` elements into it. The bound range starts at the
   * nearest aligned byte offset below; `base` tells the shader where the wanted elements begin inside it.
   */
  window(op: Operand, start = 0, count = op.size - start): Window {
    const s = op.storage as GpuStorage;
    const firstByte = (op.offset + start) * 4;
    const aligned = firstByte - (firstByte % this.storageAlign);
    const size = Math.max(16, Math.ceil((firstByte + Math.max(count, 1) * 4 - aligned) / 16) * 16);
    const clipped = Math.min(size, s.bytes - aligned);
    if (clipped > this.maxBindingBytes) {
      throw new Error(`webgpu: a binding of ${count} elements exceeds the device's maxStorageBufferBindingSize ` +
        `(${this.maxBindingBytes} bytes); the kernel must split it`);
    }
    return { resource: { buffer: s.buffer, offset: aligned, size: clipped }, base: (firstByte - aligned) / 4 };
  }

  /** Largest element count a window can bind from any start, allowing for the alignment slack. */
  get maxWindowElements(): number {
    return Math.floor((this.maxBindingBytes - this.storageAlign - 16) / 4);
  }

  /** A uniform slot of its own holding `fields`, for a new cached bind group; written before any work that reads it is submitted. */
  private uniform(fields: readonly UniformField[]): GPUBufferBinding {
    const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
    if (bytes > UNIFORM_PAGE_BYTES) throw new Error(`webgpu: a uniform block of ${bytes} bytes exceeds a page`);
    if (this.uniformUsed + bytes > UNIFORM_PAGE_BYTES) {
      this.uniformPage++;
      this.uniformUsed = 0;
    }
    if (this.uniformPage >= this.uniformPages.length) {
      this.uniformPages.push(this.device.createBuffer({ size: UNIFORM_PAGE_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST }));
    }
    const at = this.uniformUsed;
    const data = new ArrayBuffer(bytes);
    const view = new DataView(data);
    fields.forEach((f, i) => {
      if (typeof f === 'number') view.setUint32(i * 4, f, true);
      else if ('u' in f) view.setUint32(i * 4, f.u, true);
      else if ('i' in f) view.setInt32(i * 4, f.i, true);
      else view.setFloat32(i * 4, f.f, true);
    });
    const buffer = this.uniformPages[this.uniformPage];
    this.device.queue.writeBuffer(buffer, at, data);
    this.uniformUsed = Math.ceil((at + bytes) / this.uniformAlign) * this.uniformAlign;
    return { buffer, offset: at, size: bytes };
  }

  private idOf<T extends object>(ids: WeakMap<T, number>, o: T): number {
    let id = ids.get(o);
    if (id === undefined) ids.set(o, (id = this.nextId++));
    return id;
  }

  /** The bind group for this pipeline, these ranges and these uniform values: cached, or created and cached. */
  private bindGroup(pipeline: GPUComputePipeline, windows: readonly Window[], uniforms: readonly UniformField[] | null): GPUBindGroup {
    let key = `${this.idOf(this.pipelineIds, pipeline)}`;
    for (const w of windows) {
      const r = w.resource;
      key += `|${this.idOf(this.bufferIds, r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    }
    if (uniforms) {
      key += '|';
      for (const f of uniforms) key += typeof f === 'number' ? `${f},` : 'u' in f ? `${f.u},` : 'i' in f ? `i${f.i},` : `f${f.f},`;
    }
    const cached = this.bindGroups.get(key);
    if (cached) {
      this.bindGroupHits++;
      return cached;
    }
    this.bindGroupMisses++;
    if (this.bindGroups.size >= MAX_BIND_GROUPS) this.dropBindGroups();
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (uniforms) entries.push({ binding: binding++, resource: this.uniform(uniforms) });
    for (const w of windows) entries.push({ binding: binding++, resource: w.resource });
    let layout = this.layouts.get(pipeline);
    if (!layout) this.layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
    const group = this.device.createBindGroup({ layout, entries });
    this.bindGroups.set(key, group);
    for (const w of windows) {
      let keys = this.groupsOfBuffer.get(w.resource.buffer);
      if (!keys) this.groupsOfBuffer.set(w.resource.buffer, (keys = new Set()));
      keys.add(key);
    }
    return group;
  }

  /** Forgets the bind groups that bind `buffer` (it is about to be destroyed). */
  private forgetBindGroups(buffer: GPUBuffer): void {
    const keys = this.groupsOfBuffer.get(buffer);
    if (!keys) return;
    for (const k of keys) this.bindGroups.delete(k);
    this.groupsOfBuffer.delete(buffer);
  }

  /** Starts the cache afresh; recorded work is submitted first, so the uniform slots it reads are not rewritten under it. */
  private dropBindGroups(): void {
    this.flush();
    this.bindGroups.clear();
    this.groupsOfBuffer.clear();
    this.uniformPage = 0;
    this.uniformUsed = 0;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /**
   * Records one dispatch. Binding 0 is the uniform block (when `uniforms` is given), the windows follow in order.
   * `workgroups` is a total count, folded into x and y when it exceeds the per-dimension limit; shaders
   * recover the linear index from workgroup_id and num_workgroups.
   */
  dispatch(pipeline: GPUComputePipeline, windows: readonly Window[], uniforms: readonly UniformField[] | null,
           workgroups: number | [number, number, number], label?: string): void {
    this.check();
    let wg: [number, number, number];
    if (typeof workgroups === 'number') {
      if (workgroups <= 0) return;
      const x = Math.min(workgroups, this.maxWorkgroups);
      wg = [x, Math.ceil(workgroups / x), 1];
      if (wg[1] > this.maxWorkgroups) throw new Error(`webgpu dispatch ${label ?? ''}: ${workgroups} workgroups is too many`);
    } else {
      wg = workgroups;
      if (wg.some((v) => v <= 0)) return;
    }
    const group = this.bindGroup(pipeline, windows, uniforms);
    const written = this.writtenBindings.get(pipeline);
    if (written && written.size > 0) {
      windows.forEach((w, i) => { if (written.has(i + (uniforms ? 1 : 0))) this.bump(w.resource.buffer); });
    }
    const ts = this.timestampWrites?.(label ?? '');
    if (ts) this.endPass();
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass(ts ? { timestampWrites: ts } : undefined);
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (ts) this.endPass();
    this.lastDispatchAt = performance.now();
    if (++this.pending >= this.submitEvery) {
      this.flush();
      this.submitEvery = Math.min(2 * this.submitEvery, DISPATCHES_PER_SUBMIT);
    }
  }

  /** Runs `record` with the raw encoder (outside any compute pass): copies, query resolves. */
  encode(record: (enc: GPUCommandEncoder) => void): void {
    this.check();
    this.endPass();
    record(this.commandEncoder());
    this.pending++;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (this.destroyed) return;
    this.endPass();
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
    }
    this.pending = 0;
  }

  async sync(): Promise<void> {
    this.check();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.wentIdle();
    this.check();
  }

  /** Everything submitted so far has run (a CPU adapter keeps its steady submit size; see FIRST_SUBMIT). */
  private wentIdle(): void {
    if (!this.isCpuAdapter) this.submitEvery = FIRST_SUBMIT;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      this.flush();
      await this.device.queue.onSubmittedWorkDone();
    } catch {
      // a lost device has nothing left to wait for
    }
    this.destroyed = true;
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.derived.clear();
    for (const list of this.stagingPool.values()) for (const b of list) b.destroy();
    this.stagingPool.clear();
    this.stagingBytes = 0;
    this.pooledBytes = 0;
    this.pipelines.clear();
    this.bindGroups.clear();
    this.groupsOfBuffer.clear();
    for (const b of this.uniformPages) b.destroy();
    this.uniformPages = [];
    this.device.destroy();
  }
}
