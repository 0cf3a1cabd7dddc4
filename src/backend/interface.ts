// The contract between the tensor layer and a compute backend (WebGPU through Dawn, or native C++).
// A backend knows storages, shapes and kernels; it never knows about autodiff or tidy scopes.
// Every kernel writes into an output the caller allocated, so memory ownership stays in tensor/.

/** An opaque block of device memory holding float32 elements. */
export interface Storage {
  readonly elements: number;
}

/** A contiguous, row-major float32 array inside a storage: what every kernel reads and writes. */
export interface Operand {
  readonly storage: Storage;
  /** first element, in elements from the start of the storage */
  readonly offset: number;
  readonly shape: readonly number[];
  readonly size: number;
}

export interface MemoryStats {
  /** storages handed out and not yet released */
  liveStorages: number;
  liveBytes: number;
  /** device buffers kept by the pool for reuse */
  pooledBuffers: number;
  pooledBytes: number;
  /** buffers the backend derived from tensors and keeps while those stand (webgpu: Winograd's transformed weights); not counted as live */
  cachedBuffers: number;
  cachedBytes: number;
}

/**
 * Elementwise operators, declared once as data in each backend (a WGSL expression; a C++ case).
 * Inputs broadcast to the output shape (numpy rules); `scalars` carries op parameters.
 */
/**
 * A fused conv + ReLU's backward rule, applied to the incoming gradient g before the convolution's backward-input:
 * one of the elementwise ops reluGradient, reluDeconvnet, reluGuided, with y (the fused op's output, shaped like g)
 * as their first operand.
 */
export interface ReluMask { y: Operand; rule: 'reluGradient' | 'reluDeconvnet' | 'reluGuided' }

export type ElementwiseOp =
  | 'fill'              // (): s0
  | 'copy' | 'neg' | 'relu' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'abs' | 'sigmoid'
  | 'affine'            // x * s0 + s1
  | 'clip'              // min(max(x, s0), s1)
  | 'add' | 'sub' | 'mul' | 'div' | 'maximum'
  | 'reluGradient'      // (x, g): g * 1(x > 0)
  | 'reluDeconvnet'     // (x, g): g * 1(g > 0)
  | 'reluGuided'        // (x, g): g * 1(x > 0) * 1(g > 0)
  | 'clipGrad'          // (x, g): g * 1(s0 <= x <= s1)
  | 'sigmoidGrad'       // (y, g): g * y * (1 - y)
  | 'absGrad'           // (x, g): g * sign(x)
  | 'divGradB'          // (a, b, g): -g * a / (b * b)
  | 'dropout';          // (x): x * 1(hash(s0, i) >= s1) / (1 - s1), s0 a seed, s1 the drop probability

export const elementwiseArity: Record<ElementwiseOp, number> = {
  fill: 0, copy: 1, neg: 1, relu: 1, exp: 1, log: 1, sqrt: 1, rsqrt: 1, square: 1, abs: 1, sigmoid: 1,
  affine: 1, clip: 1, add: 2, sub: 2, mul: 2, div: 2, maximum: 2,
  reluGradient: 2, reluDeconvnet: 2, reluGuided: 2, clipGrad: 2, sigmoidGrad: 2, absGrad: 2, divGradB: 3, dropout: 1,
};

export interface Conv2dParams {
  strideH: number; strideW: number;
  padTop: number; padLeft: number; padBottom: number; padRight: number;
  dilationH: number; dilationW: number;
  groups: number;
}

export interface Pool2dParams {
  kernelH: number; kernelW: number;
  strideH: number; strideW: number;
  padTop: number; padLeft: number; padBottom: number; padRight: number;
  /** average pooling: divide by the whole window (padding included) instead of the valid part */
  countIncludePad: boolean;
}

export interface LrnParams { size: number; alpha: number; beta: number; k: number }

export interface Backend {
  readonly name: 'webgpu' | 'cpu';
  readonly device: string;
  readonly limits: Record<string, number>;
  /** largest number of float32 elements one kernel binding may address */
  readonly maxBindingElements: number;

  // memory
  alloc(elements: number): Storage;
  release(storage: Storage): void;
  upload(storage: Storage, offset: number, data: Float32Array): void;
  download(src: Operand): Promise<Float32Array>;
  fill(out: Operand, value: number): void;
  memory(): MemoryStats;
  /** waits for all submitted work; rethrows any device error raised meanwhile */
  sync(): Promise<void>;
  destroy(): Promise<void>;

  // elementwise (op table) and reductions
  elementwise(op: ElementwiseOp, inputs: readonly Operand[], out: Operand, scalars?: readonly number[]): void;
  /** x viewed as [outer, reduce, inner]; out [outer, inner] gets the sum (or max) over `reduce` */
  reduce(op: 'sum' | 'max', x: Operand, outer: number, reduce: number, inner: number, out: Operand): void;
  /** softmax (or log-softmax) over the middle axis of x viewed as [outer, n, inner] */
  softmax(x: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void;
  /** gradient of softmax / log-softmax given its output y and upstream g */
  softmaxBackward(y: Operand, g: Operand, outer: number, n: number, inner: number, log: boolean, out: Operand): void;

  // dense algebra: out[b] = op(a[b]) @ op(b[b]) (+ out[b] when accumulate); a batch of 1 broadcasts
  matmul(a: Operand, b: Operand, out: Operand, opts: { transA: boolean; transB: boolean; accumulate: boolean; bias?: Operand | null; relu?: boolean }): void;

  // convolution, NCHW x, OIHW w (I = C / groups)
  conv2d(x: Operand, w: Operand, bias: Operand | null, p: Conv2dParams, out: Operand, fuseRelu?: boolean): void;
  /** with `mask`, g is first put through a ReLU rule with the fused conv + ReLU's output (ReluMask) */
  conv2dBackwardInput(g: Operand, w: Operand, p: Conv2dParams, out: Operand, mask?: ReluMask): void;
  conv2dBackwardWeight(x: Operand, g: Operand, p: Conv2dParams, out: Operand): void;

  // pooling; switches hold the argmax as a flat index h * W + w inside each (n, c) plane
  maxPool2d(x: Operand, p: Pool2dParams, out: Operand, switches: Operand | null): void;
  /** scatter g (shaped like switches) back to the input plane through the switches, summing collisions */
  maxUnpool2d(g: Operand, switches: Operand, out: Operand, p: Pool2dParams): void;
  /** gather x at the switches: the adjoint of maxUnpool2d */
  gatherSwitches(x: Operand, switches: Operand, out: Operand): void;
  avgPool2d(x: Operand, p: Pool2dParams, out: Operand): void;
  avgPool2dBackward(g: Operand, p: Pool2dParams, out: Operand): void;

  // layout: copy x (viewed as [outer, n, inner]) into out (viewed as [outer, m, inner]) at middle offset `at`,
  // or the reverse (slice) when `slice` is true
  copyAxis(x: Operand, out: Operand, outer: number, n: number, m: number, inner: number, at: number, slice: boolean): void;
  /** spatial pad of NCHW x by [top, left, bottom, right] with a constant, or its adjoint crop when `crop` */
  pad2d(x: Operand, pads: readonly [number, number, number, number], value: number, out: Operand, crop: boolean): void;

  // across-channel local response normalisation (Krizhevsky et al. 2012), NCHW
  lrn(x: Operand, p: LrnParams, out: Operand): void;
  lrnBackward(x: Operand, y: Operand, g: Operand, p: LrnParams, out: Operand): void;
}
