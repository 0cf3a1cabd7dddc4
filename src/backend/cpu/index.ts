// The native CPU backend: every kernel is C++ in native/ (node-addon-api), queued on the addon's executor thread
// and split over a pool sized to the machine's cores, so the event loop stays free while it runs. Like the
// WebGPU backend, calls only enqueue: results are observed through sync() and download().

import { cpus } from 'node:os';
import {
  type Backend, type Conv2dParams, type ElementwiseOp, type LrnParams, type MemoryStats, type Operand,
  type Pool2dParams, type ReluMask, type Storage,
} from '../interface.js';
import { broadcastStrides } from '../strides.js';
import { loadNative, type NativeAddon, type NativeOperand } from './native.js';

/** The operators in the order of convis::EwOp (native/src/kernels.h). */
const OP_ORDER: readonly ElementwiseOp[] = [
  'fill', 'copy', 'neg', 'relu', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'abs', 'sigmoid', 'affine', 'clip',
  'add', 'sub', 'mul', 'div', 'maximum',
  'reluGradient', 'reluDeconvnet', 'reluGuided', 'clipGrad', 'sigmoidGrad', 'absGrad', 'divGradB', 'dropout',
];
const OP_INDEX = new Map(OP_ORDER.map((name, i) => [name, i]));

class CpuStorage implements Storage {
  constructor(readonly id: number, readonly elements: number) {}
}

const op = (o: Operand): NativeOperand => [(o.storage as CpuStorage).id, o.offset];

function convGeometry(x: readonly number[], w: readonly number[], y: readonly number[], p: Conv2dParams): number[] {
  return [x[0], x[1], x[2], x[3], w[0], y[2], y[3], w[2], w[3], p.strideH, p.strideW, p.padTop, p.padLeft,
    p.dilationH, p.dilationW, p.groups];
}

/** [planes, H, W, OH, OW, kernel, stride, pads] for input (planes, H, W) and output (., OH, OW). */
function poolGeometry(input: readonly number[], output: readonly number[], p: Pool2dParams): number[] {
  return [input[0] * input[1], input[2], input[3], output[2], output[3], p.kernelH, p.kernelW, p.strideH, p.strideW,
    p.padTop, p.padLeft, p.padBottom, p.padRight];
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly device: string;
  readonly limits: Record<string, number>;
  readonly maxBindingElements = 2 ** 50;
  private closed = false;

  private constructor(private readonly native: NativeAddon) {
    native.open();
    const threads = native.threads();
    this.device = `${cpus()[0]?.model?.trim() ?? 'CPU'} (${threads} threads)`;
    this.limits = { threads };
  }

  static open(): CpuBackend {
    return new CpuBackend(loadNative());
  }

  get features(): string[] {
    return [];
  }

  alloc(elements: number): Storage {
    return new CpuStorage(this.native.alloc(elements), elements);
  }
  release(s: Storage): void { this.native.release((s as CpuStorage).id); }
  upload(s: Storage, offset: number, data: Float32Array): void {
    this.native.upload([(s as CpuStorage).id, offset], data);
  }
  download(src: Operand): Promise<Float32Array> { return this.native.download(op(src), src.size); }
  fill(out: Operand, value: number): void { this.elementwise('fill', [], out, [value]); }
  memory(): MemoryStats {
    const m = this.native.memory();
    return { liveStorages: m.liveStorages, liveBytes: m.liveBytes, pooledBuffers: 0, pooledBytes: 0, cachedBuffers: 0, cachedBytes: 0 };
  }
  sync(): Promise<void> { return this.native.sync(); }
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.native.sync();
    } finally {
      this.native.shutdown();
    }
  }

  elementwise(name: ElementwiseOp, inputs: readonly Operand[], out: Operand, scalars: readonly number[] = []): void {
    const index = OP_INDEX.get(name);
    if (index === undefined) throw new Error(`elementwise: unknown operator ${JSON.stringify(name)}`);
    const shape = [...out.shape];
    // dropout's seed travels as an unsigned 32-bit integer, as on the WebGPU backend
    const s = name === 'dropout' ? [(scalars[0] ?? 0) >>> 0, scalars[1] ?? 0] : [scalars[0] ?? 0, scalars[1] ?? 0];
    this.native.elementwise(index, inputs.map(op), inputs.map((x) => broadcastStrides(x.shape, shape)), op(out), shape, s);
  }
  reduce(kind: 'sum' | 'max', x: Operand, outer: number, n: number, inner: number, out: Operand): void {
    this.native.reduce(kind === 'max', op(x), op(out), outer, n, inner);
  }
  softmax(x: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void {
    this.native.softmax(op(x), op(out), outer, n, inner, log);
  }
  softmaxBackward(y: Operand, g: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void {
    this.native.softmaxBackward(op(y), op(g), op(out), outer, n, inner, log);
  }

  matmul(a: Operand, b: Operand, out: Operand,
         opts: { transA: boolean; transB: boolean; accumulate: boolean; bias?: Operand | null; relu?: boolean }): void {
    const ra = a.shape.length, rb = b.shape.length;
    const M = opts.transA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = opts.transA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = opts.transB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batchA = M * K === 0 ? 1 : a.size / (M * K), batchB = K * N === 0 ? 1 : b.size / (K * N);
    const batch = M * N === 0 ? 0 : out.size / (M * N);
    const aStrides = [batchA === 1 ? 0 : M * K, opts.transA ? 1 : K, opts.transA ? M : 1];
    const bStrides = [batchB === 1 ? 0 : K * N, opts.transB ? 1 : N, opts.transB ? K : 1];
    this.native.gemm(batch, M, N, K, op(a), aStrides, op(b), bStrides, op(out), [N, M * N], opts.accumulate,
      opts.bias ? op(opts.bias) : null, opts.relu === true);
  }

  conv2d(x: Operand, w: Operand, bias: Operand | null, p: Conv2dParams, out: Operand, fuseRelu = false): void {
    this.native.conv2d(op(x), op(w), bias ? op(bias) : null, op(out), convGeometry(x.shape, w.shape, out.shape, p), fuseRelu);
  }
  conv2dBackwardInput(g: Operand, w: Operand, p: Conv2dParams, out: Operand, mask?: ReluMask): void {
    if (mask) {
      // the rule into a scratch gradient, then the convolution (the native kernel has no masked loader)
      const s = this.alloc(g.size);
      const masked: Operand = { storage: s, offset: 0, shape: g.shape, size: g.size };
      try {
        this.elementwise(mask.rule, [mask.y, g], masked);
        this.conv2dBackwardInput(masked, w, p, out);
      } finally {
        this.release(s);
      }
      return;
    }
    this.native.conv2dBackwardInput(op(g), op(w), op(out), convGeometry(out.shape, w.shape, g.shape, p));
  }
  conv2dBackwardWeight(x: Operand, g: Operand, p: Conv2dParams, out: Operand): void {
    this.native.conv2dBackwardWeight(op(x), op(g), op(out), convGeometry(x.shape, out.shape, g.shape, p));
  }

  maxPool2d(x: Operand, p: Pool2dParams, out: Operand, switches: Operand | null): void {
    this.native.maxPool2d(op(x), op(out), switches ? op(switches) : null, poolGeometry(x.shape, out.shape, p));
  }
  maxUnpool2d(g: Operand, switches: Operand, out: Operand, p: Pool2dParams): void {
    this.native.maxUnpool2d(op(g), op(switches), op(out), poolGeometry(out.shape, g.shape, p));
  }
  gatherSwitches(x: Operand, switches: Operand, out: Operand): void {
    const none = { kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, countIncludePad: false };
    this.native.gatherSwitches(op(x), op(switches), op(out), poolGeometry(x.shape, out.shape, none));
  }
  avgPool2d(x: Operand, p: Pool2dParams, out: Operand): void {
    this.native.avgPool2d(op(x), op(out), poolGeometry(x.shape, out.shape, p), p.countIncludePad);
  }
  avgPool2dBackward(g: Operand, p: Pool2dParams, out: Operand): void {
    this.native.avgPool2dBackward(op(g), op(out), poolGeometry(out.shape, g.shape, p), p.countIncludePad);
  }

  copyAxis(x: Operand, out: Operand, outer: number, n: number, m: number, inner: number, at: number, slice: boolean): void {
    this.native.copyAxis(op(x), op(out), outer, n, m, inner, at, slice);
  }
  pad2d(x: Operand, pads: readonly [number, number, number, number], value: number, out: Operand, crop: boolean): void {
    const inner = crop ? out.shape : x.shape;
    this.native.pad2d(op(x), op(out), inner[0] * inner[1], inner[2], inner[3], [...pads], value, crop);
  }

  lrn(x: Operand, p: LrnParams, out: Operand): void {
    const [N, C] = x.shape;
    this.native.lrn(op(x), op(out), N, C, x.size / Math.max(1, N * C), p.size, p.alpha, p.beta, p.k);
  }
  lrnBackward(x: Operand, y: Operand, g: Operand, p: LrnParams, out: Operand): void {
    const [N, C] = x.shape;
    this.native.lrnBackward(op(x), op(y), op(g), op(out), N, C, x.size / Math.max(1, N * C), p.size, p.alpha, p.beta, p.k);
  }
}
