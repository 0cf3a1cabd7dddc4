// The WebGPU device through Dawn: buffer pool, pipeline cache, command batching, uniforms,
// binding windows for tensors larger than one storage binding, readback and error reporting.

import type { MemoryStats, Operand, Storage } from '../interface.js';
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

const UNIFORM_ARENA_BYTES = 1 << 20;
const DISPATCHES_PER_SUBMIT = 64;
/**
 * On a GPU, the first submit after the device went idle (a sync or a read-back) comes after this many dispatches,
 * and each later one after twice as many as the one before, up to DISPATCHES_PER_SUBMIT: the GPU starts on a
 * call's first layers while the host still records the rest, instead of idling until 64 are recorded.
 */
const FIRST_SUBMIT = 4;

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
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  /** dispatches recorded before the next submit (see FIRST_SUBMIT) */
  private submitEvery = DISPATCHES_PER_SUBMIT;
  private uniformBuffer: GPUBuffer;
  private uniformStage = new ArrayBuffer(UNIFORM_ARENA_BYTES);
  private uniformUsed = 0;
  private deviceError: Error | null = null;
  private lostMessage: string | null = null;
  private destroyed = false;
  /** lavapipe / SwiftShader: a CPU behind the adapter, which prefers small tiles */
  readonly isCpuAdapter: boolean;
  /** forces one GEMM tile configuration (bench sweeps, tests of every variant) */
  tileOverride: TileConfig | null = null;
  /** forces the split-K factor of GEMMs that may split (tests of the split path on any adapter) */
  splitOverride: number | null = null;
  /** forces how 3x3 stride-1 convolutions run: 'direct' (implicit GEMM) or 'winograd' where it applies; tests */
  convAlgorithm: 'direct' | 'winograd' | null = null;
  /** forces the GEMV kernel of matmuls with at most 4 rows: 'lanes' (gemv.wgsl) or 'workgroup' (gemv_wg.wgsl); tests */
  gemvKernel: 'lanes' | 'workgroup' | null = null;
  /** a pass-level hook for timestamp queries (bench/profile) */
  timestampWrites: ((label: string) => GPUComputePassTimestampWrites | undefined) | null = null;

  constructor(readonly device: GPUDevice, readonly adapterName: string, adapterType: string, bindingLimit?: number) {
    this.isCpuAdapter = adapterType === 'cpu' || /llvmpipe|lavapipe|swiftshader/i.test(adapterName);
    this.wentIdle();
    // CONVIS_GEMM_TILE pins one tile for every GEMM: the test runner picks the one lavapipe compiles fastest
    const pinned = process.env.CONVIS_GEMM_TILE;
    if (pinned) {
      const t = tileConfigs[pinned];
      if (!t) throw new Error(`CONVIS_GEMM_TILE=${pinned} is not a tile; use one of ${Object.keys(tileConfigs).join(', ')}`);
      this.tileOverride = t;
    }
    // CONVIS_CONV pins the algorithm of 3x3 stride-1 convolutions (benchmarks compare them)
    const conv = process.env.CONVIS_CONV;
    if (conv) {
      if (conv !== 'direct' && conv !== 'winograd') throw new Error(`CONVIS_CONV=${conv}: use direct or winograd`);
      this.convAlgorithm = conv;
    }
    const l = device.limits;
    this.maxBindingBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize, bindingLimit ?? Infinity);
    this.storageAlign = l.minStorageBufferOffsetAlignment;
    this.uniformAlign = Math.max(l.minUniformBufferOffsetAlignment, 16);
    this.maxWorkgroups = l.maxComputeWorkgroupsPerDimension;
    this.features = new Set([...device.features] as string[]);
    this.uniformBuffer = device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST });
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
    let buffer = free?.pop();
    if (buffer) {
      this.pooledBytes -= bytes;
    } else {
      buffer = this.device.createBuffer({
        size: bytes,
        usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST,
      });
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
    // The pool keeps up to the peak working set (at least 1 GiB), as a caching allocator does: a repeated call
    // (saliency over a dataset, a class-model step) then allocates nothing. With a fixed 1 GiB, VGG16 at batch 32
    // (400 MB activations) destroyed and re-created its buffers every call: 251 ms a call against 103 ms of
    // GPU work on an H100 (bench/RESULTS.md, profile).
    if (this.pooledBytes + s.bytes > Math.max(this.poolFloorBytes, this.peakLiveBytes)) {
      // the buffer may still be read by encoded work: submit that work before destroying it
      this.flush();
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
    return { liveStorages: this.liveStorages, liveBytes: this.liveBytes, pooledBuffers, pooledBytes: this.pooledBytes };
  }

  upload(s: GpuStorage, offset: number, data: Float32Array): void {
    this.check();
    // queue.writeBuffer runs before any command still sitting in the encoder: submit those first
    if (this.pending > 0) this.flush();
    this.device.queue.writeBuffer(s.buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  async download(src: Operand): Promise<Float32Array> {
    this.check();
    const bytes = src.size * 4;
    const out = new Float32Array(src.size);
    if (bytes === 0) return out;
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: Usage.MAP_READ | Usage.COPY_DST });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer((src.storage as GpuStorage).buffer, src.offset * 4, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ_MODE);
      out.set(new Float32Array(staging.getMappedRange(0, bytes)));
      staging.unmap();
      this.wentIdle();
    } catch (e) {
      this.check();
      throw new Error(`webgpu download: reading back ${bytes} bytes failed: ${(e as Error).message}`);
    } finally {
      staging.destroy();
    }
    this.check();
    return out;
  }

  // ---------------------------------------------------------------- pipelines and dispatch

  pipeline(key: string, code: () => string, entryPoint = 'main', constants?: Record<string, number>): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
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

  private uniform(fields: readonly UniformField[]): GPUBufferBinding {
    const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
    if (this.uniformUsed + bytes > UNIFORM_ARENA_BYTES) this.flush();
    const at = this.uniformUsed;
    const view = new DataView(this.uniformStage, at, bytes);
    fields.forEach((f, i) => {
      if (typeof f === 'number') view.setUint32(i * 4, f, true);
      else if ('u' in f) view.setUint32(i * 4, f.u, true);
      else if ('i' in f) view.setInt32(i * 4, f.i, true);
      else view.setFloat32(i * 4, f.f, true);
    });
    this.uniformUsed = Math.ceil((at + bytes) / this.uniformAlign) * this.uniformAlign;
    return { buffer: this.uniformBuffer, offset: at, size: bytes };
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
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (uniforms) entries.push({ binding: binding++, resource: this.uniform(uniforms) });
    for (const w of windows) entries.push({ binding: binding++, resource: w.resource });
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const ts = this.timestampWrites?.(label ?? '');
    if (ts) this.endPass();
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass(ts ? { timestampWrites: ts } : undefined);
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (ts) this.endPass();
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
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStage, 0, this.uniformUsed);
      this.uniformUsed = 0;
    }
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
    this.pooledBytes = 0;
    this.pipelines.clear();
    this.uniformBuffer.destroy();
    this.device.destroy();
  }
}
