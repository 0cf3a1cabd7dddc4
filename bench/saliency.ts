// `npm run bench -- saliency`: the paper's image-specific class saliency (Sect. 3) end to end, as a user calls it:
// `await saliency(model, images, { target })` on models.vgg16 (seeded random weights), maps read back to the
// host, on convis's webgpu and cpu backends, beside TF.js's WebGPU backend on the same Dawn adapter computing the
// same maps (tf.grad of the target class score, then max over channels of |gradient|, read back). Wall time per
// call and per image.
//
// The TF.js side runs in a child process (this module again, through bench/index.ts with --tfjs-peer JOB), so
// that TF.js and convis never hold a device at the same time, as in the kernels benchmark: convis runs first and
// closes, then one child per input size. The child gets the convis model's own weights (converted to TF.js's
// layouts: OIHW conv filters to HWIO, [out, in] linear weights to [in, out] with the first classifier's rows put in
// NHWC flatten order) through a temporary file, and convis's map of image 0, which it compares its own map with
// before it times anything. (That check fails at size 32: there the first classifier's input gradient is
// [1, 4096] x [512, 4096]^T, which TF.js 4.22 runs with MatMulSplitKProgram, whose vec4 path ignores transposeB
// (MatMulPackedProgram excludes transposeB from vec4; split-K does not) and returns wrong values. From 64 up that
// product has enough workgroups for the packed program.)

import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { type LayerAttrs, layerOutputShape } from '../src/models/layers.js';
import type { Model } from '../src/models/model.js';
import * as zoo from '../src/models/zoo.js';
import { backend, close, init } from '../src/runtime.js';
import { rng, tensor } from '../src/tensor/create.js';
import { keep } from '../src/tensor/tensor.js';
import { preprocessAffine } from '../src/vis/common.js';
import { saliency } from '../src/vis/saliency.js';
import { eachFlag, int, list, measuredEnv, oneOf, parseArgs, rerunCommand, seconds } from './cli.js';
import { NO_QUANTIZATION } from './kernel-options.js';
import { LAYER_LEGEND, layerTable, type LayerTimes, layerTimes } from './layers.js';
import { cpuModel, describeLoad, loadAverage, LoadProbe, logicalCores, sourceRevision } from './machine.js';
import { RESULT_TAG } from './peer-protocol.js';
import { fmtMs, fmtRatio, markdownTable, textTable, updateSection } from './report.js';
import { attempt, type CallBudget, CallRecorder, describeTiming, relErr, type Timing, timeCalls } from './timing.js';

type BackendName = 'webgpu' | 'cpu';
const DEFAULT_SIZES = [224];
const DEFAULT_BATCHES = [1, 32];
/** the issue's lavapipe case: VGG16 at 64x64, batch 1 */
const CPU_ADAPTER_SIZES = [64];
const CPU_ADAPTER_BATCHES = [1];
const DEFAULT_BUDGET_S = 10;
/** an H100 reached its 1980 MHz boost about 0.4 s into continuous work (bench/RESULTS.md, notes — H100 clocks) */
const DEFAULT_WARMUP_S = 2;
/**
 * Image 0's maps agree this closely when both sides compute the same thing. At 64 they agree to ~1e-6; at 224
 * independent float32 implementations differ by a few 1e-3 (convis cpu vs convis on lavapipe 2.2e-3, both
 * deterministic; TF.js vs convis cpu on an H100 4.7e-3): the random VGG16 passes some 15 million ReLUs, and a
 * pre-activation within rounding of zero opens its gate in one order of summation and not in another, which
 * moves the gradient locally. A different computation (a wrong layout, a wrong class) is off by order 1.
 */
const CHECK_TOLERANCE = 2e-2;
/** calls recorded with a timestamp pair per dispatch for the GPU time per layer (after the timed runs) */
const LAYER_CALLS = 3;
const MB = 1e6, MiB = 2 ** 20;

export const USAGE = `usage: npm run bench -- saliency [options]

  --sizes LIST          VGG16 input sizes, multiples of 32 (default ${DEFAULT_SIZES.join(',')}; on a CPU WebGPU adapter such as
                        lavapipe the default is ${CPU_ADAPTER_SIZES.join(',')} at batch ${CPU_ADAPTER_BATCHES.join(',')}, the issue's lavapipe case: VGG16 at 224 is
                        ~17 s a webgpu saliency call there (bench models), and TF.js cannot bind its 411 MB first
                        classifier weight)
  --size N              the same as --sizes
  --batches LIST        batch sizes (default ${DEFAULT_BATCHES.join(',')}; on a CPU WebGPU adapter ${CPU_ADAPTER_BATCHES.join(',')})
  --backends LIST       convis backends: webgpu, cpu (default both)
  --no-tfjs             leave out TF.js (tfjs-backend-webgpu on the same adapter)
  --no-layers           leave out the webgpu GPU time per layer (by default, after a case's timed runs, ${LAYER_CALLS} more calls
                        record every dispatch between timestamp queries, where the adapter offers them, and a table gives
                        each layer's forward and backward ms and the conv layers' TFLOP/s)
  --quick               3 timed runs after 1 warm-up (default: up to 10 after 1)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs per case
  --warmup-s S          warm up for at least S seconds as well (default ${DEFAULT_WARMUP_S}): a GPU's clock rises only under
                        sustained load
  --budget S            stop a case's timed runs once they took S seconds, after at least one (default ${DEFAULT_BUDGET_S};
                        0: always --runs)
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md

The CPU-adapter defaults apply where webgpu or TF.js runs; --size 224 --batches 1,32 runs the full case there.`;

interface Options extends CallBudget {
  sizes: number[] | null;
  batches: number[] | null;
  backends: BackendName[];
  tfjs: boolean;
  layers: boolean;
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    sizes: null, batches: null, backends: ['webgpu', 'cpu'], tfjs: true, layers: true, runs: 10, warmup: 1, warmupS: DEFAULT_WARMUP_S, budgetS: DEFAULT_BUDGET_S,
    write: null, resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let quick = false, runsGiven = false, warmupGiven = false;
  const ints = (flag: string, v: string, check?: (n: number) => void) => {
    const items = [...new Set(list(v).map((s) => int(flag, s, 1)))];
    if (items.length === 0) throw new Error(`${flag}: empty list`);
    if (check) items.forEach(check);
    return items;
  };
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--sizes': case '--size':
        o.sizes = ints(flag, value(), (n) => {
          if (n < 32 || n % 32 !== 0) throw new Error(`${flag}: VGG16's input size must be a multiple of 32, got ${n}`);
        });
        o.defaults = false;
        break;
      case '--batches': o.batches = ints(flag, value()); o.defaults = false; break;
      case '--backends': o.backends = oneOf(flag, value(), ['webgpu', 'cpu'] as const); o.defaults = false; break;
      case '--no-tfjs': o.tfjs = false; o.defaults = false; break;
      case '--no-layers': o.layers = false; o.defaults = false; break;
      case '--quick': quick = true; o.defaults = false; break;
      case '--runs': case '--reps': o.runs = int(flag, value(), 1); runsGiven = true; break;
      case '--warmup': o.warmup = int(flag, value(), 0); warmupGiven = true; break;
      case '--warmup-s': o.warmupS = seconds(flag, value()); if (o.warmupS !== DEFAULT_WARMUP_S) o.defaults = false; break;
      case '--budget': o.budgetS = seconds(flag, value()); if (o.budgetS !== DEFAULT_BUDGET_S) o.defaults = false; break;
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  if (quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
  }
  if (o.runs < 10 || o.warmup < 1) o.defaults = false;
  return o;
}

// ------------------------------------------------------------------ inputs, shared by both sides

/**
 * The batch as host data [n, 3, size, size]: 0..255 RGB (what loadImage returns; the model's torchvision
 * preprocessing runs inside the differentiated function on both sides), uniform noise, image i from its own seed
 * so image 0 is the same in every batch.
 */
function images(n: number, size: number): Float32Array {
  const per = 3 * size * size;
  const out = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const next = rng(1000 + i);
    for (let j = 0; j < per; j++) out[i * per + j] = 255 * next();
  }
  return out;
}

/** image i explains class i (mod the class count) */
const targets = (n: number, classes: number): number[] => Array.from({ length: n }, (_, i) => i % classes);

/** NCHW host data to NHWC */
function toNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const from = (i * c + ch) * h * w;
      for (let p = 0; p < h * w; p++) out[(i * h * w + p) * c + ch] = x[from + p];
    }
  }
  return out;
}

// ------------------------------------------------------------------ the network for TF.js

interface ParamRef { shape: number[]; offset: number; length: number }

/** One layer in TF.js's terms (NHWC activations, HWIO filters, [in, out] linear weights). */
interface TfLayer {
  kind: 'conv' | 'linear' | 'relu' | 'maxpool' | 'flatten';
  name: string;
  w?: ParamRef;
  b?: ParamRef;
  stride?: [number, number];
  dilation?: [number, number];
  kernel?: [number, number];
  pad?: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
}

interface Largest { bytes: number; what: string }

interface TfNetwork {
  layers: TfLayer[];
  data: Float32Array;
  /** the largest weight, and the largest activation of one image (every activation has a gradient of its size) */
  weight: Largest;
  activation: Largest;
}

/** TF.js's padding argument for convis pads [top, left, bottom, right]: 'same' / 'valid' where they are that. */
function tfPad(p: readonly number[], k: readonly number[], stride: readonly number[], dilation: readonly number[]): TfLayer['pad'] {
  const [t, l, b, r] = p;
  if (t === 0 && l === 0 && b === 0 && r === 0) return 'valid';
  const same = (before: number, after: number, kk: number) => before === Math.floor((kk - 1) / 2) && after === kk - 1 - before;
  if (stride[0] === 1 && stride[1] === 1 && dilation[0] === 1 && dilation[1] === 1 && same(t, b, k[0]) && same(l, r, k[1])) return 'same';
  return [[0, 0], [t, b], [l, r], [0, 0]];
}

/**
 * The model (a chain of conv, linear, ReLU, max pooling, flatten and dropout layers, as models.vgg16) with its
 * own weights in TF.js's layouts, the preprocessing first as the 1x1 convolution convis applies too.
 */
function tfjsNetwork(m: Model): TfNetwork {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (data: Float32Array, shape: number[]): ParamRef => {
    chunks.push(data);
    const r = { shape, offset, length: data.length };
    offset += data.length;
    return r;
  };
  const layers: TfLayer[] = [];
  const C = m.inputShape[0];
  let weight: Largest = { bytes: 0, what: '' };
  let activation: Largest = { bytes: 4 * C * m.inputShape[1] * m.inputShape[2], what: 'the input' };
  if (m.preprocess) {
    const { a, b } = preprocessAffine(m.preprocess, C);
    const w = new Float32Array(C * C);
    for (let o = 0; o < C; o++) for (let i = 0; i < C; i++) w[i * C + o] = a[o * C + i];
    layers.push({ kind: 'conv', name: 'preprocess', w: add(w, [1, 1, C, C]), b: add(b, [C]), stride: [1, 1], dilation: [1, 1], pad: 'valid' });
  }
  let shape = [1, ...m.inputShape];
  let value = m.input;
  let flattenedFrom: number[] | null = null;
  for (const l of m.layers) {
    const where = `bench saliency: layer ${l.name} (${l.kind})`;
    if (l.inputs.length !== 1 || l.inputs[0] !== value) throw new Error(`${where}: the TF.js side runs chains of layers only`);
    if (flattenedFrom && !['linear', 'relu', 'dropout'].includes(l.kind)) throw new Error(`${where}: unexpected after a flatten`);
    const next = layerOutputShape(l, [shape]);
    const wBytes = 4 * (l.params.w?.data.length ?? 0);
    if (wBytes > weight.bytes) weight = { bytes: wBytes, what: `${l.name}'s weight` };
    const aBytes = 4 * next.slice(1).reduce((p, d) => p * d, 1);
    if (aBytes > activation.bytes) activation = { bytes: aBytes, what: `${l.name}'s output` };
    switch (l.kind) {
      case 'conv': {
        const a = l.attrs as LayerAttrs['conv'];
        if (a.groups !== 1) throw new Error(`${where}: grouped convolutions are not translated`);
        const [O, Ci, KH, KW] = l.params.w.shape;
        const src = l.params.w.data;
        const w = new Float32Array(src.length);
        for (let o = 0; o < O; o++) {
          for (let c = 0; c < Ci; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) w[((kh * KW + kw) * Ci + c) * O + o] = src[((o * Ci + c) * KH + kh) * KW + kw];
            }
          }
        }
        layers.push({
          kind: 'conv', name: l.name, w: add(w, [KH, KW, Ci, O]), b: l.params.b ? add(l.params.b.data, [O]) : undefined,
          stride: [...a.stride], dilation: [...a.dilation], pad: tfPad(a.padding, [KH, KW], a.stride, a.dilation),
        });
        break;
      }
      case 'linear': {
        const [O, I] = l.params.w.shape;
        const src = l.params.w.data;
        // convis flattens [C, H, W] (feature c H W + y W + x), TF.js [H, W, C] ((y W + x) C + c): the kernel row of
        // convis's feature j
        const row = new Int32Array(I);
        for (let j = 0; j < I; j++) row[j] = j;
        if (flattenedFrom) {
          const [Cf, Hf, Wf] = flattenedFrom;
          for (let j = 0; j < I; j++) row[j] = (j % (Hf * Wf)) * Cf + Math.floor(j / (Hf * Wf));
        }
        const w = new Float32Array(src.length);
        for (let o = 0; o < O; o++) for (let j = 0; j < I; j++) w[row[j] * O + o] = src[o * I + j];
        layers.push({ kind: 'linear', name: l.name, w: add(w, [I, O]), b: l.params.b ? add(l.params.b.data, [O]) : undefined });
        flattenedFrom = null;
        break;
      }
      case 'relu': layers.push({ kind: 'relu', name: l.name }); break;
      case 'dropout': break;   // the identity at inference, on both sides
      case 'maxpool': {
        const a = l.attrs as LayerAttrs['maxpool'];
        if (a.padding.some((p) => p !== 0) || a.ceilMode) throw new Error(`${where}: padded or ceil-mode pooling is not translated`);
        layers.push({ kind: 'maxpool', name: l.name, kernel: [...a.kernel], stride: [...a.stride] });
        break;
      }
      case 'flatten': {
        if ((l.attrs as LayerAttrs['flatten']).axis !== 1) throw new Error(`${where}: only flatten(1) is translated`);
        if (shape.length === 4) flattenedFrom = shape.slice(1);
        layers.push({ kind: 'flatten', name: l.name });
        break;
      }
      default: throw new Error(`${where}: no TF.js translation for this kind`);
    }
    shape = next;
    value = l.output;
  }
  if (value !== m.output) throw new Error('bench saliency: the model\'s output is not its last layer\'s');
  const data = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { layers, data, weight, activation };
}

/** The largest single tensor of a batch of n (what a backend that binds tensors whole has to bind). */
function largestTensor(net: Pick<TfNetwork, 'weight' | 'activation'>, n: number): Largest {
  const act = { bytes: n * net.activation.bytes, what: `${net.activation.what} (batch ${n})` };
  return act.bytes > net.weight.bytes ? act : net.weight;
}

// ------------------------------------------------------------------ the TF.js peer

interface TfjsJob extends CallBudget {
  size: number;
  batches: number[];
  classes: number;
  weightsPath: string;
  layers: TfLayer[];
  weight: Largest;
  activation: Largest;
  /** convis's map of image 0 at this size, and whose */
  reference: number[] | null;
  referenceName: string;
}

interface TfjsRow { batch: number; timing?: Timing; error?: string; skipped?: string }

interface TfjsResult {
  adapter: string;
  tfjsVersion: string;
  bindingLimit: number;
  /** image 0's map against convis's */
  check: { relErr: number } | { skipped: string } | { error: string } | null;
  rows: TfjsRow[];
  error?: string;
}

const peerLog = (s: string) => process.stderr.write(`[tfjs] ${s}\n`);

/**
 * tfjs-core's Node bundle registers no gradients (the @tensorflow/tfjs umbrella package does; this project installs
 * only tfjs-core and tfjs-backend-webgpu). TF.js's own gradient definitions of the ops the network uses are loaded
 * from tfjs-core's ES module files and registered: they are a second copy of tfjs-core's modules, but TF.js keeps
 * its engine and its registries on the global object, so they act on the same engine, backend and tensors.
 */
async function registerTfjsGradients(tf: typeof import('@tensorflow/tfjs-core')): Promise<void> {
  const configs = [
    (await import('@tensorflow/tfjs-core/dist/gradients/Add_grad.js')).addGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/BatchMatMul_grad.js')).batchMatMulGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/Conv2D_grad.js')).conv2DGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/MaxPool_grad.js')).maxPoolGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/Multiply_grad.js')).multiplyGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/Relu_grad.js')).reluGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/Reshape_grad.js')).reshapeGradConfig,
    (await import('@tensorflow/tfjs-core/dist/gradients/Sum_grad.js')).sumGradConfig,
  ];
  for (const c of configs) tf.registerGradient(c);
}

async function peerMain(jobPath: string): Promise<number> {
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as TfjsJob;
  const result: TfjsResult = { adapter: 'none', tfjsVersion: '', bindingLimit: 0, check: null, rows: [] };
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const gpu = create([]);
    (globalThis as unknown as { navigator: { gpu: GPU } }).navigator = { gpu };
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    const info = adapter?.info;
    result.adapter = info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') : 'none';
    // tfjs-backend-webgpu registers its backend at import time only if navigator.gpu exists
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    await registerTfjsGradients(tf);
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
    await tf.ready();
    result.tfjsVersion = tf.version_core;
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    result.bindingLimit = device.limits.maxStorageBufferBindingSize;
    peerLog(`adapter ${result.adapter}; tfjs ${tf.version_core}; maxStorageBufferBindingSize ${result.bindingLimit}`);

    type T = import('@tensorflow/tfjs-core').Tensor;
    type T2 = import('@tensorflow/tfjs-core').Tensor2D;
    type T4 = import('@tensorflow/tfjs-core').Tensor4D;
    const file = readFileSync(job.weightsPath);
    const all = file.byteOffset % 4 === 0
      ? new Float32Array(file.buffer, file.byteOffset, file.byteLength / 4)
      : new Float32Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
    const param = (p: ParamRef | undefined) => (p ? tf.tensor(all.subarray(p.offset, p.offset + p.length), p.shape) : undefined);
    const net = job.layers.map((l) => ({ ...l, wT: param(l.w), bT: param(l.b) }));
    // conv2d / matMul, then the bias added, as separate ops: tf.grad prunes the gradients of inputs that do not
    // lead back to x, so TF.js computes no weight gradients. (tf.fused.* with a bias would fuse under tf.grad, but
    // its gradient is a customGrad that computes the filter and bias gradients too; with a ReLU fused in,
    // TF.js itself falls back to these separate ops under tf.grad.)
    const forward = (x: T4): T => {
      let h: T = x;
      for (const l of net) {
        switch (l.kind) {
          case 'conv':
            h = tf.conv2d(h as T4, l.wT as T4, l.stride!, l.pad!, 'NHWC', l.dilation);
            if (l.bT) h = tf.add(h, l.bT);
            break;
          case 'linear':
            h = tf.matMul(h as T2, l.wT as T2);
            if (l.bT) h = tf.add(h, l.bT);
            break;
          case 'relu': h = tf.relu(h); break;
          case 'maxpool': h = tf.maxPool(h as T4, l.kernel!, l.stride!, 'valid'); break;
          case 'flatten': h = tf.reshape(h, [h.shape[0], -1]); break;
        }
      }
      return h;
    };
    const batchOf = (n: number) => {
      const x = tf.tensor4d(toNhwc(images(n, job.size), n, 3, job.size, job.size), [n, job.size, job.size, 3]);
      const mask = new Float32Array(n * job.classes);
      targets(n, job.classes).forEach((c, i) => { mask[i * job.classes + c] = 1; });
      const seed = tf.tensor2d(mask, [n, job.classes]);
      // d(sum_i S_(target_i)(x_i)) / dx: image i's row is its own dS/dI, as in convis (one backward for the batch)
      const grad = tf.grad((xx: T) => tf.sum(tf.mul(forward(xx as T4), seed)));
      const call = async (): Promise<Float32Array> => {
        const map = tf.tidy(() => tf.max(tf.abs(grad(x)), 3));
        try {
          return (await map.data()) as Float32Array;
        } finally {
          map.dispose();
        }
      };
      return { call, dispose: () => { x.dispose(); seed.dispose(); } };
    };
    // Dawn reports a binding over the limit as a validation error, not a throw: each case runs inside error scopes
    const scoped = async <R>(fn: () => Promise<R>): Promise<R> => {
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      let value: R | undefined;
      let thrown: unknown = null;
      try {
        value = await fn();
      } catch (e) {
        thrown = e;
      }
      const oom = await device.popErrorScope();
      const invalid = await device.popErrorScope();
      const e = oom ?? invalid;
      if (e) throw new Error(`WebGPU ${oom ? 'out of memory' : 'validation error'}: ${e.message.split('\n')[0]}`);
      if (thrown) throw thrown;
      return value as R;
    };
    const fits = (n: number): string | null => {
      const big = largestTensor(job, n);
      return big.bytes > result.bindingLimit
        ? `does not fit: ${big.what} is ${(big.bytes / MB).toFixed(0)} MB, above the adapter's ${(result.bindingLimit / MiB).toFixed(0)} MiB ` +
          'storage binding limit (TF.js binds each tensor whole)'
        : null;
    };

    // the check, before anything is timed: image 0 alone against convis's map of it
    if (job.reference) {
      const why = fits(1);
      if (why) {
        result.check = { skipped: why };
      } else {
        const b = batchOf(1);
        try {
          const map = await scoped(b.call);
          result.check = { relErr: relErr(map, job.reference) };
          peerLog(`check: image 0's map vs convis ${job.referenceName}'s: relative error ${result.check.relErr.toExponential(2)}`);
        } catch (e) {
          result.check = { error: (e as Error).message };
          peerLog(`check failed: ${(e as Error).message}`);
        } finally {
          b.dispose();
        }
      }
    }
    for (const n of job.batches) {
      const why = fits(n);
      if (why) {
        result.rows.push({ batch: n, skipped: why });
        peerLog(`size ${job.size} batch ${n}: ${why}`);
        continue;
      }
      const b = batchOf(n);
      try {
        const before = tf.memory().numTensors;
        const t = await attempt(() => scoped(() => timeCalls(async () => { await b.call(); }, job)));
        result.rows.push(t instanceof Error ? { batch: n, error: t.message } : { batch: n, timing: t });
        peerLog(`size ${job.size} batch ${n} ${describeTiming(t)}`);
        const leaked = tf.memory().numTensors - before;
        if (leaked !== 0 && !(t instanceof Error)) peerLog(`warning: the calls left ${leaked} tensor(s) alive`);
      } finally {
        b.dispose();
      }
    }
  } catch (e) {
    result.error = (e as Error).message;
    peerLog(`failed: ${(e as Error).stack ?? e}`);
  }
  process.stdout.write(RESULT_TAG + JSON.stringify(result) + '\n');
  return 0;
}

/**
 * Runs the TF.js side for one size in a child process: this Node with this process's loader flags (tsx's), on
 * bench/index.ts, so it runs however this file itself was run. Null when it gave no result.
 */
async function runTfjs(job: TfjsJob): Promise<TfjsResult | null> {
  const self = fileURLToPath(import.meta.url);
  const entry = join(dirname(self), `index${extname(self)}`);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const jobPath = join(tmpdir(), `convis-bench-saliency-job-${process.pid}-${job.size}.json`);
  writeFileSync(jobPath, JSON.stringify(job));
  try {
    return await new Promise((done) => {
      const child = spawn(process.execPath, [...process.execArgv, entry, 'saliency', '--tfjs-peer', jobPath],
        { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (s: string) => { stdout += s; });
      child.on('error', (e) => {
        console.error(`tfjs peer: could not start: ${e.message}`);
        done(null);
      });
      child.on('close', (code, signal) => {
        const lines = stdout.split('\n');
        // whatever else TF.js printed
        for (const l of lines) if (l.trim() && !l.startsWith(RESULT_TAG)) console.log(`  [tfjs stdout] ${l}`);
        const line = lines.find((l) => l.startsWith(RESULT_TAG));
        if (!line) {
          console.error(`tfjs peer: exited with ${signal ?? code} and no result`);
          done(null);
          return;
        }
        done(JSON.parse(line.slice(RESULT_TAG.length)) as TfjsResult);
      });
    });
  } finally {
    try { unlinkSync(jobPath); } catch { /* not written */ }
  }
}

// ------------------------------------------------------------------ the runs

interface Row {
  runtime: string;
  tfjs: boolean;
  size: number;
  batch: number;
  t: Timing | Error | null;
  skipped?: string;
}

interface Check {
  size: number;
  reference: string;
  /** TF.js's map of image 0 against convis's (the cpu backend's where it ran) */
  tfjs: number | null;
  tfjsNote?: string;
  /** convis webgpu's map against convis cpu's */
  webgpuVsCpu: number | null;
}

/** The GPU time per layer of LAYER_CALLS calls, or why it could not be measured. */
async function timePerLayer(b: WebGpuBackend, m: Model, n: number, call: () => Promise<void>): Promise<LayerTimes | Error> {
  if (!b.ctx.features.has('timestamp-query')) return new Error('the adapter offers no timestamp-query');
  const recorder = new CallRecorder(b.ctx);
  try {
    const runs = [];
    for (let i = 0; i < LAYER_CALLS; i++) runs.push(await recorder.record(call));
    return layerTimes(m, n, runs);
  } catch (e) {
    return e as Error;
  } finally {
    recorder.destroy();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--tfjs-peer') return peerMain(argv[1]);
  const o = parseArgs('saliency', argv, USAGE, parseOptions);
  if (typeof o === 'number') return o;
  const env = measuredEnv();
  const command = rerunCommand('saliency', argv, env);
  const load = new LoadProbe();
  load.start();
  const started = new Date();
  const source = sourceRevision(['src', 'kernels', 'native', 'binding.gyp']);
  const cpu = cpuModel();
  console.log(`cpu:      ${cpu} (${logicalCores()} logical cores)`);
  console.log(`source:   ${source}`);

  // the adapter: it names the machine, and a CPU adapter changes the defaults
  let adapter: string | null = null;
  let cpuAdapter = false;
  let bindingLimit = 0;
  try {
    const info = await init({ backend: 'webgpu' });
    adapter = info.device;
    cpuAdapter = (backend() as WebGpuBackend).ctx.isCpuAdapter;
    bindingLimit = info.limits.maxStorageBufferBindingSize;
    console.log(`adapter:  ${adapter}${cpuAdapter ? '  (a CPU adapter)' : ''}; maxStorageBufferBindingSize ${bindingLimit}`);
  } catch (e) {
    console.log(`adapter:  none (${(e as Error).message.split('\n')[0]})`);
  } finally {
    await close();
  }
  const notes: string[] = [];
  const cpuDefaults = cpuAdapter && (o.backends.includes('webgpu') || o.tfjs);
  const sizes = o.sizes ?? (cpuDefaults ? CPU_ADAPTER_SIZES : DEFAULT_SIZES);
  const batches = [...(o.batches ?? (cpuDefaults ? CPU_ADAPTER_BATCHES : DEFAULT_BATCHES))].sort((a, b) => a - b);
  if (cpuDefaults && (o.sizes === null || o.batches === null)) {
    const fc224 = 4 * 512 * 7 * 7 * 4096;
    const why = `a CPU WebGPU adapter: the defaults are ${o.sizes === null ? `size ${sizes.join(',')}` : ''}` +
      `${o.sizes === null && o.batches === null ? ', ' : ''}${o.batches === null ? `batch ${batches.join(',')}` : ''}, the issue's lavapipe case ` +
      `(VGG16 at 224 is ~17 s a webgpu saliency call there, bench models, and its first classifier weight, ${(fc224 / MB).toFixed(0)} MB, is above the ` +
      `${(bindingLimit / MiB).toFixed(0)} MiB binding limit, which TF.js cannot split); --size ${DEFAULT_SIZES.join(',')} --batches ${DEFAULT_BATCHES.join(',')} runs the full case`;
    console.log(`note:     ${why}`);
    notes.push(why);
  }
  console.log(`cases:    VGG16 at ${sizes.join(', ')}, batch ${batches.join(', ')}; convis ${o.backends.join(', ')}${o.tfjs ? '; TF.js webgpu' : ''}`);
  console.log(`runs:     median of up to ${o.runs} after ${o.warmup} warm-up call(s) and at least ${o.warmupS} s of them, a case stops after ${o.budgetS || '∞'} s of timed runs; ` +
    `wall time to the maps on the host; load average ${loadAverage()}`);
  if (process.env.CONVIS_GEMM_TILE) console.log(`note:     CONVIS_GEMM_TILE=${process.env.CONVIS_GEMM_TILE} pins the webgpu GEMM tile`);

  const built = new Map<number, Model>();
  const model = (size: number): Model => {
    let m = built.get(size);
    if (!m) {
      const t0 = performance.now();
      m = zoo.vgg16({ seed: 0, inputSize: size });
      console.log(`\nvgg16 at ${size}: ${zoo.parameterCount(m).toLocaleString('en-US')} parameters; weights drawn in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      built.set(size, m);
    }
    return m;
  };
  const rows: Row[] = [];
  const maps = new Map<string, Float32Array>();   // `${backend} ${size}`: image 0's map, from its first call
  const runtimeNames: string[] = [];
  const perLayer: { size: number; times: LayerTimes }[] = [];

  for (const name of o.backends) {
    let info;
    try {
      // timestamps at full resolution for the per-layer times (Dawn rounds them to 65 µs otherwise)
      info = await init(name === 'webgpu' && o.layers ? { backend: name, dawnFlags: [NO_QUANTIZATION] } : { backend: name });
    } catch (e) {
      console.log(`\n${name}: not available (${(e as Error).message.split('\n')[0]})`);
      for (const size of sizes) for (const n of batches) rows.push({ runtime: name, tfjs: false, size, batch: n, t: e as Error });
      continue;
    }
    const b = backend();
    const label = name === 'cpu' ? `cpu (${b.limits.threads} threads)` : 'webgpu';
    const what = name === 'cpu' ? `convis native cpu backend, ${info.device}` : `convis webgpu backend, ${info.device}${cpuAdapter ? ' (a CPU adapter)' : ''}`;
    runtimeNames.push(`${label}: ${what}`);
    console.log(`\n${label}: ${what}`);
    try {
      for (const size of sizes) {
        const m = model(size);
        const classes = m.outputShape[1];
        for (const n of batches) {
          const x = keep(tensor(images(n, size), [n, 3, size, size]));
          const target = targets(n, classes);
          const key = `${name} ${size}`;
          // the weights go up in the first call: a call that leaves nothing behind keeps the count after it
          let before = -1;
          const t = await attempt(() => timeCalls(async () => {
            const r = await saliency(m, x, { target });
            if (!maps.has(key)) maps.set(key, r[0].data);
            if (before < 0) before = b.memory().liveStorages;
          }, o));
          console.log(`  size ${size} batch ${n} ${describeTiming(t)}${t instanceof Error || n === 1 ? '' : `; ${fmtMs(t.ms / n)} ms per image`}`);
          const leaked = b.memory().liveStorages - before;
          if (before >= 0 && leaked !== 0 && !(t instanceof Error)) console.log(`  warning: the saliency calls left ${leaked} storage(s) alive`);
          if (name === 'webgpu' && o.layers && !(t instanceof Error)) {
            const times = await timePerLayer(b as WebGpuBackend, m, n, async () => { await saliency(m, x, { target }); });
            if (times instanceof Error) {
              notes.push(`webgpu GPU time per layer at size ${size}, batch ${n}: not measured (${times.message})`);
              console.log(`  GPU time per layer: not measured (${times.message})`);
            } else {
              perLayer.push({ size, times });
              const tab = layerTable(times);
              console.log(`  GPU time per layer, size ${size} batch ${n} (${LAYER_CALLS} calls, a timestamp pair per dispatch):\n${textTable(tab.header, tab.rows).replace(/^/gm, '  ')}`);
            }
          }
          x.dispose();
          rows.push({ runtime: label, tfjs: false, size, batch: n, t });
        }
        m.releaseWeights();
      }
    } finally {
      await close();
    }
  }

  const checks: Check[] = sizes.map((size) => {
    const c = maps.get(`cpu ${size}`), g = maps.get(`webgpu ${size}`);
    return { size, reference: c ? 'cpu' : g ? 'webgpu' : 'none', tfjs: null, webgpuVsCpu: c && g ? relErr(g, c) : null };
  });

  // TF.js, one child per size, after convis has closed its devices
  let tfjsVersion: string | null = null;
  let tfjsAdapter: string | null = null;
  let tfjsFailed = 0;
  if (o.tfjs) {
    console.log('\nTF.js (tfjs-backend-webgpu, NHWC), in a child process per size:');
    for (const size of sizes) {
      const m = model(size);
      const check = checks.find((c) => c.size === size)!;
      const t0 = performance.now();
      const net = tfjsNetwork(m);
      const weightsPath = join(tmpdir(), `convis-bench-saliency-weights-${process.pid}-${size}.f32`);
      let r: TfjsResult | null = null;
      try {
        writeFileSync(weightsPath, new Uint8Array(net.data.buffer, net.data.byteOffset, net.data.byteLength));
        console.log(`  size ${size}: weights converted to NHWC / HWIO and written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const ref = maps.get(`${check.reference} ${size}`);
        r = await runTfjs({
          size, batches, classes: m.outputShape[1], weightsPath, layers: net.layers, weight: net.weight, activation: net.activation,
          reference: ref ? [...ref] : null, referenceName: check.reference, warmup: o.warmup, warmupS: o.warmupS, runs: o.runs, budgetS: o.budgetS,
        });
      } finally {
        try { unlinkSync(weightsPath); } catch { /* not written */ }
      }
      if (!r || r.error) {
        tfjsFailed++;
        const why = new Error(r?.error ?? 'the TF.js child gave no result');
        for (const n of batches) rows.push({ runtime: 'TF.js webgpu', tfjs: true, size, batch: n, t: why });
        check.tfjsNote = `TF.js failed: ${why.message}`;
        continue;
      }
      tfjsVersion = r.tfjsVersion;
      tfjsAdapter = r.adapter;
      if (r.check && 'relErr' in r.check) check.tfjs = r.check.relErr;
      else if (r.check) check.tfjsNote = 'skipped' in r.check ? `not run: ${r.check.skipped}` : `failed: ${r.check.error}`;
      else check.tfjsNote = 'no convis map to compare with';
      const skipped = new Map<string, number[]>();   // reason -> batches
      for (const row of r.rows) {
        rows.push({
          runtime: 'TF.js webgpu', tfjs: true, size, batch: row.batch,
          t: row.timing ?? (row.error ? new Error(row.error) : null), skipped: row.skipped ? 'does not fit' : undefined,
        });
        if (row.skipped) skipped.set(row.skipped, [...(skipped.get(row.skipped) ?? []), row.batch]);
      }
      for (const [why, ns] of skipped) notes.push(`TF.js at size ${size}, batch ${ns.join(', ')}: ${why}`);
    }
  }
  const otherCores = load.stop();

  // the table: convis rows beside TF.js's of the same size and batch
  const ok = (t: Timing | Error | null) => (t && !(t instanceof Error) ? t : null);
  const tfjsRow = (r: Row) => rows.find((x) => x.tfjs && x.size === r.size && x.batch === r.batch);
  const header = ['backend', 'size', 'batch', 'ms per call', 'ms per image', 'TF.js ms per image', 'ratio TF.js/this', 'first call ms', 'runs'];
  const sorted = [...rows].sort((a, b) => a.size - b.size || a.batch - b.batch || Number(a.tfjs) - Number(b.tfjs));
  const table = sorted.map((r) => {
    const t = ok(r.t);
    const theirs = r.tfjs ? null : ok(tfjsRow(r)?.t ?? null);
    const state = r.skipped ?? (r.t instanceof Error ? 'failed' : '—');
    return [
      r.runtime, String(r.size), String(r.batch), t ? fmtMs(t.ms) : state, t ? fmtMs(t.ms / r.batch) : '—',
      theirs ? fmtMs(theirs.ms / r.batch) : '—', fmtRatio(theirs?.ms, t?.ms), fmtMs(t?.firstMs), t ? String(t.runs) : '—',
    ];
  });
  console.log(`\n${textTable(header, table)}`);
  const legend = 'ms per call: median wall time of `await saliency(model, images, { target })` (convis) or of tf.grad of the ' +
    'summed target scores, max over channels of |gradient|, `.data()` (TF.js), from the call to the maps on the host; ' +
    'ms per image = ms per call / batch; ratio TF.js/this > 1: convis is faster; first call: the warm-up, with the weight ' +
    'upload and, on webgpu, the pipeline compiles' +
    (cpuAdapter && o.backends.includes('webgpu') ? ' (lavapipe keeps compiled shaders in Mesa\'s on-disk cache: a repeat run\'s first call is far shorter)' : '') + '.';
  console.log(legend);
  const failedRows = rows.filter((r) => r.t instanceof Error);
  for (const r of failedRows) console.log(`${r.runtime} size ${r.size} batch ${r.batch}: failed: ${(r.t as Error).message}`);

  let mismatches = 0;
  const checkLines = checks.map((c) => {
    const parts: string[] = [];
    if (c.tfjs !== null) {
      const good = c.tfjs < CHECK_TOLERANCE;
      if (!good) mismatches++;
      parts.push(`TF.js vs convis ${c.reference}: relative error ${c.tfjs.toExponential(1)} (${good ? `< ${CHECK_TOLERANCE}: the same computation` : `>= ${CHECK_TOLERANCE}: NOT the same computation`})`);
    } else if (o.tfjs) {
      parts.push(`TF.js vs convis: ${c.tfjsNote ?? 'not compared'}`);
    }
    if (c.webgpuVsCpu !== null) {
      const good = c.webgpuVsCpu < CHECK_TOLERANCE;
      if (!good) mismatches++;
      parts.push(`convis webgpu vs cpu: ${c.webgpuVsCpu.toExponential(1)}`);
    }
    return `check at size ${c.size}, image 0's map (target class 0): ${parts.join('; ') || 'nothing to compare'}`;
  });
  for (const l of checkLines) console.log(l);
  for (const n of notes) console.log(n);
  const loadReport = describeLoad(otherCores, command);
  console.log(loadReport.note);

  const failures = failedRows.length + mismatches + tfjsFailed;
  const write = o.write ?? (o.defaults && failures === 0);
  if (write) {
    const heading = `## saliency — VGG16 at ${sizes.join(', ')} — ${adapter ?? 'no webgpu adapter'} — ${cpu}`;
    const params = sizes.map((s) => `${s}x${s}: ${zoo.parameterCount(model(s)).toLocaleString('en-US')}`).join(', ');
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- source: ${source}`,
      `- adapter: ${adapter ?? 'none'}${cpuAdapter ? ' (CPU adapter: Mesa lavapipe/llvmpipe runs the WGSL on the CPU cores)' : ''}` +
        `${bindingLimit ? `, maxStorageBufferBindingSize ${bindingLimit}` : ''}`,
      `- cpu: ${cpu}, ${logicalCores()} logical cores`,
      ...runtimeNames.map((r) => `- runtime: ${r}`),
      ...(o.tfjs ? [`- runtime: TF.js webgpu: TF.js ${tfjsVersion ?? '?'} tfjs-backend-webgpu on ${tfjsAdapter ?? adapter ?? '?'}, NHWC, ` +
        'the convis model\'s weights (HWIO filters), conv2d / matMul then the bias added (TF.js\'s own gradients; no weight gradients), ' +
        'a child process per size'] : []),
      `- model: models.vgg16 (seed 0; parameters ${params}), torchvision preprocessing inside the differentiated function on ` +
        'both sides; images: uniform random 0..255 RGB, image i from seed 1000 + i, target class i; fp32',
      `- runs: median of up to ${o.runs} after ${o.warmup} warm-up call(s) and at least ${o.warmupS} s of them per case, stopping once the timed runs took ${o.budgetS || '∞'} s; ` +
        'wall time from the call to the maps on the host',
      ...checkLines.map((l) => `- ${l}`),
      `- load: ${loadReport.line}`,
      '',
      markdownTable(header, table),
      '',
      legend,
      ...notes.map((n) => `${n}.`),
      ...perLayer.flatMap(({ size, times }) => {
        const tab = layerTable(times);
        return ['', `### webgpu GPU time per layer, size ${size}, batch ${times.batch}`, '', markdownTable(tab.header, tab.rows)];
      }),
      ...(perLayer.length ? ['', `${LAYER_LEGEND} ${LAYER_CALLS} calls recorded after each case's timed runs.`] : []),
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    const why = o.write === false ? '--no-write' : failures > 0 ? 'some cases failed' : 'not a full default run';
    console.log(`\nbench/RESULTS.md not updated (${why}; --write records it anyway)`);
  }
  return failures > 0 ? 1 : 0;
}
