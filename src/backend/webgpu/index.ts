// The WebGPU backend: opens a Dawn adapter and device and maps the backend interface onto WGSL kernels.

import type { Backend, Conv2dParams, ElementwiseOp, LrnParams, MemoryStats, Operand, Pool2dParams, ReluMask, Storage } from '../interface.js';
import { tunePending } from './autotune.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { CONV_ALGORITHMS, GpuContext, type GpuStorage, isConvAlgorithm } from './context.js';
import { tileConfigs } from './gemm.js';
import { elementwise, reduce, softmax, softmaxBackward } from './elementwise.js';
import { copyAxis, pad2d } from './layout.js';
import { lrn, lrnBackward } from './lrn.js';
import { type MatmulOptions, matmul } from './matmul.js';
import { throttleNativePolling } from './poll.js';
import { avgPool2d, avgPool2dBackward, gatherSwitches, maxPool2d, maxUnpool2d } from './pool.js';

export interface WebGpuOptions {
  /** substring of the adapter's name to prefer */
  adapter?: string;
  /** lower the storage binding limit (tests of the split paths) */
  maxStorageBufferBindingSize?: number;
  /** Dawn toggles, e.g. 'disable-dawn-features=timestamp_quantization' */
  dawnFlags?: string[];
}

const NO_ADAPTER_HELP =
  'no WebGPU adapter found. convis reaches the GPU through Dawn (npm "webgpu") over Vulkan: install a Vulkan ' +
  'driver (on Debian without a GPU, Mesa\'s lavapipe >= 23: `sudo bash scripts/install-vulkan.sh`, which installs ' +
  'mesa-vulkan-drivers from bookworm-backports), or use init({ backend: "cpu" })';

let dawnModule: typeof import('webgpu') | null = null;

export async function openWebGpu(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  // checked before a device exists: one left behind by a throw would keep the process alive
  const tune = process.env.CONVIS_AUTOTUNE;
  if (tune !== undefined && tune !== '' && tune !== '0' && tune !== '1') {
    throw new Error(`init: CONVIS_AUTOTUNE=${tune} is not 0 (off) or 1 (on)`);
  }
  const conv = process.env.CONVIS_CONV;
  if (conv && !isConvAlgorithm(conv)) {
    throw new Error(`init: CONVIS_CONV=${conv} is not ${CONV_ALGORITHMS.slice(0, -1).join(', ')} or ${CONV_ALGORITHMS.at(-1)}`);
  }
  const pinned = process.env.CONVIS_GEMM_TILE;
  if (pinned && !Object.hasOwn(tileConfigs, pinned)) {
    throw new Error(`init: CONVIS_GEMM_TILE=${pinned} is not a tile; use one of ${Object.keys(tileConfigs).join(', ')}`);
  }
  dawnModule ??= await import('webgpu');
  const flags = [...(opts.dawnFlags ?? [])];
  const gpu = dawnModule.create(flags);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new Error(`init: ${NO_ADAPTER_HELP} (requestAdapter failed: ${(e as Error).message})`);
  }
  if (!adapter) throw new Error(`init: ${NO_ADAPTER_HELP}`);
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  if (opts.adapter && !name.toLowerCase().includes(opts.adapter.toLowerCase())) {
    throw new Error(`init: adapter "${opts.adapter}" not found; the available adapter is "${name}"`);
  }
  const a = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
  if (opts.maxStorageBufferBindingSize !== undefined) {
    const v = opts.maxStorageBufferBindingSize;
    if (!Number.isInteger(v) || v < 4096 || v % 4 !== 0) {
      throw new Error(`init: maxStorageBufferBindingSize must be a multiple of 4 and >= 4096, got ${v}`);
    }
  }
  const wanted = ['timestamp-query', 'subgroups', 'shader-f16'] as const;
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  // the GPU instance must outlive the device: if it is garbage collected, Dawn tears down under the device
  // WebGPU raises a requested maximum below the default back to the default, so a lowered binding limit is
  // enforced by the context itself: every kernel then splits as it would on a device with that limit
  const sizes = info as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const ctx = new GpuContext(device, name, (info as unknown as { type?: string }).type ?? '', opts.maxStorageBufferBindingSize,
    sizes.subgroupMinSize !== undefined && sizes.subgroupMaxSize !== undefined
      ? { min: sizes.subgroupMinSize, max: sizes.subgroupMaxSize } : undefined);
  // on a CPU adapter, dawn.node's busy poll would take a core from the device's threads (poll.ts)
  const unthrottle = ctx.isCpuAdapter ? throttleNativePolling() : null;
  return new WebGpuBackend(ctx, device, gpu, unthrottle);
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly device: string;
  readonly limits: Record<string, number>;
  readonly maxBindingElements: number;

  private instance: unknown;

  constructor(readonly ctx: GpuContext, gpuDevice: GPUDevice, instance: unknown, private unthrottle: (() => void) | null = null) {
    this.instance = instance;
    this.device = ctx.adapterName;
    const limits: Record<string, number> = {};
    const l = gpuDevice.limits as unknown as Record<string, number>;
    for (const k in l) if (typeof l[k] === 'number') limits[k] = l[k];
    limits.maxStorageBufferBindingSize = Math.min(limits.maxStorageBufferBindingSize, ctx.maxBindingBytes);
    this.limits = limits;
    this.maxBindingElements = ctx.maxWindowElements;
  }

  get features(): string[] {
    return [...this.ctx.features];
  }

  alloc(elements: number): Storage { return this.ctx.allocStorage(elements); }
  release(s: Storage): void { this.ctx.releaseStorage(s as GpuStorage); }
  upload(s: Storage, offset: number, data: Float32Array): void { this.ctx.upload(s as GpuStorage, offset, data); }
  async download(src: Operand): Promise<Float32Array> {
    const data = await this.ctx.download(src);
    await this.tune();
    return data;
  }
  fill(out: Operand, value: number): void { elementwise(this.ctx, 'fill', [], out, [value]); }
  memory(): MemoryStats { return this.ctx.stats(); }
  async sync(): Promise<void> {
    await this.ctx.sync();
    await this.tune();
  }

  /** Times the convolution shapes queued since the last read-back (autotune.ts). */
  async tune(): Promise<void> {
    if (this.ctx.pendingConv.size === 0 || this.ctx.tuning) return;
    await tunePending(this.ctx, (spec, x, w, y) => {
      if (spec.direction === 'forward') conv2d(this.ctx, x, w, null, spec.p, y);
      else conv2dBackwardInput(this.ctx, y, w, spec.p, x);
    });
  }
  async destroy(): Promise<void> {
    try {
      await this.ctx.destroy();
    } finally {
      this.instance = null;
      this.unthrottle?.();
      this.unthrottle = null;
    }
  }

  elementwise(op: ElementwiseOp, inputs: readonly Operand[], out: Operand, scalars?: readonly number[]): void {
    elementwise(this.ctx, op, inputs, out, scalars);
  }
  reduce(op: 'sum' | 'max', x: Operand, outer: number, r: number, inner: number, out: Operand): void {
    reduce(this.ctx, op, x, outer, r, inner, out);
  }
  softmax(x: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void {
    softmax(this.ctx, x, outer, n, inner, log, out);
  }
  softmaxBackward(y: Operand, g: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void {
    softmaxBackward(this.ctx, y, g, outer, n, inner, log, out);
  }
  matmul(a: Operand, b: Operand, out: Operand, opts: MatmulOptions): void { matmul(this.ctx, a, b, out, opts); }
  conv2d(x: Operand, w: Operand, bias: Operand | null, p: Conv2dParams, out: Operand, fuseRelu?: boolean): void {
    conv2d(this.ctx, x, w, bias, p, out, fuseRelu);
  }
  conv2dBackwardInput(g: Operand, w: Operand, p: Conv2dParams, out: Operand, mask?: ReluMask): void {
    conv2dBackwardInput(this.ctx, g, w, p, out, mask);
  }
  conv2dBackwardWeight(x: Operand, g: Operand, p: Conv2dParams, out: Operand): void {
    conv2dBackwardWeight(this.ctx, x, g, p, out);
  }
  maxPool2d(x: Operand, p: Pool2dParams, out: Operand, switches: Operand | null): void {
    maxPool2d(this.ctx, x, p, out, switches);
  }
  maxUnpool2d(g: Operand, switches: Operand, out: Operand, p: Pool2dParams): void {
    maxUnpool2d(this.ctx, g, switches, out, p);
  }
  gatherSwitches(x: Operand, switches: Operand, out: Operand): void { gatherSwitches(this.ctx, x, switches, out); }
  avgPool2d(x: Operand, p: Pool2dParams, out: Operand): void { avgPool2d(this.ctx, x, p, out); }
  avgPool2dBackward(g: Operand, p: Pool2dParams, out: Operand): void { avgPool2dBackward(this.ctx, g, p, out); }
  copyAxis(x: Operand, out: Operand, outer: number, n: number, m: number, inner: number, at: number, slice: boolean): void {
    copyAxis(this.ctx, x, out, outer, n, m, inner, at, slice);
  }
  pad2d(x: Operand, pads: readonly [number, number, number, number], value: number, out: Operand, crop: boolean): void {
    pad2d(this.ctx, x, pads, value, out, crop);
  }
  lrn(x: Operand, p: LrnParams, out: Operand): void { lrn(this.ctx, x, p, out); }
  lrnBackward(x: Operand, y: Operand, g: Operand, p: LrnParams, out: Operand): void {
    lrnBackward(this.ctx, x, y, g, p, out);
  }
}
