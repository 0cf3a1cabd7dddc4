// The layer vocabulary shared by nn.* builders, the ONNX importer and exporter, and the visualisation methods:
// each kind is data (attributes, named weights held on the host) plus two functions, its output shape and its
// forward through ops.*. Weights stay on the host so a model outlives init() / close() and runs on any backend.

import { noGrad } from '../autograd/graph.js';
import * as ops from '../ops/index.js';
import { backend } from '../runtime.js';
import type { Tensor } from '../tensor/tensor.js';

export type LayerKind =
  | 'conv' | 'linear' | 'relu' | 'leakyRelu' | 'clip' | 'sigmoid'
  | 'maxpool' | 'avgpool' | 'globalavgpool' | 'batchnorm' | 'lrn'
  | 'flatten' | 'reshape' | 'dropout' | 'softmax' | 'concat' | 'pad'
  | 'add' | 'sub' | 'mul' | 'div' | 'identity';

/** A weight on the host: float32 values in row-major order. */
export interface HostTensor { readonly shape: readonly number[]; readonly data: Float32Array }

export type Pair = [number, number];
export type Pads = [number, number, number, number];   // top, left, bottom, right

/** Attributes per kind (absent kinds take none). */
export interface LayerAttrs {
  conv: { stride: Pair; padding: Pads; dilation: Pair; groups: number };
  leakyRelu: { alpha: number };
  clip: { min: number; max: number };
  maxpool: { kernel: Pair; stride: Pair; padding: Pads; ceilMode: boolean };
  avgpool: { kernel: Pair; stride: Pair; padding: Pads; ceilMode: boolean; countIncludePad: boolean };
  batchnorm: { eps: number };
  lrn: { size: number; alpha: number; beta: number; k: number };
  flatten: { axis: number };
  /** ONNX Reshape semantics: 0 copies the input's size at that axis, -1 is inferred */
  reshape: { shape: number[] };
  dropout: { p: number };
  softmax: { axis: number };
  concat: { axis: number };
  pad: { pads: Pads; value: number };
}

export type Attrs<K extends LayerKind> = K extends keyof LayerAttrs ? LayerAttrs[K] : Record<string, never>;

/**
 * One layer of a model. `inputs` and `output` name values of the model's graph (the model input is one of
 * them). Weights, by kind: conv w [O, C/groups, KH, KW] and b [O]; linear w [out, in] and b [out]; batchnorm
 * mean, var, gamma, beta [C]; add/sub/mul/div a constant second operand `b` when they have one input.
 */
export interface Layer<K extends LayerKind = LayerKind> {
  readonly kind: K;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly attrs: Attrs<K>;
  readonly params: Readonly<Record<string, HostTensor>>;
}

export const BINARY_KINDS = ['add', 'sub', 'mul', 'div'] as const;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

function broadcast(a: readonly number[], b: readonly number[], where: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`${where}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

function windowOut(size: number, k: number, s: number, p0: number, p1: number, d: number, ceil: boolean): number {
  const span = size + p0 + p1 - d * (k - 1) - 1;
  let n = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (n - 1) * s >= size + p0) n--;
  return n;
}

/** Resolves ONNX Reshape's 0 and -1 against the input shape. */
export function reshapeTarget(input: readonly number[], target: readonly number[], where: string): number[] {
  const size = input.reduce((p, d) => p * d, 1);
  const out = target.map((d, i) => (d === 0 ? input[i] : d));
  const known = out.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const infer = out.filter((d) => d === -1).length;
  if (infer > 1 || out.some((d) => d === undefined || (d < 0 && d !== -1))) {
    throw new Error(`${where}: reshape target ${fmt(target)} is not valid for input ${fmt(input)}`);
  }
  if (infer === 1) {
    if (known === 0 || size % known !== 0) throw new Error(`${where}: cannot reshape ${fmt(input)} to ${fmt(target)}`);
    out[out.indexOf(-1)] = size / known;
  }
  if (out.reduce((p, d) => p * d, 1) !== size) throw new Error(`${where}: cannot reshape ${fmt(input)} (${size} values) to ${fmt(out)}`);
  return out;
}

function need(cond: boolean, where: string, what: string): void {
  if (!cond) throw new Error(`${where}: ${what}`);
}

/** The output shape of a layer for the given input shapes (batch included), or an Error naming the layer. */
export function layerOutputShape(layer: Layer, inputs: readonly (readonly number[])[]): number[] {
  const where = `layer ${layer.name} (${layer.kind})`;
  const x = inputs[0];
  const rank4 = () => need(x.length === 4, where, `expects a 4-D [N, C, H, W] input, got ${fmt(x)}`);
  switch (layer.kind) {
    case 'conv': {
      rank4();
      const a = layer.attrs as LayerAttrs['conv'];
      const w = layer.params.w.shape;
      need(x[1] === w[1] * a.groups, where, `weight ${fmt(w)} with ${a.groups} group(s) expects ${w[1] * a.groups} input channels, got ${fmt(x)}`);
      const oh = windowOut(x[2], w[2], a.stride[0], a.padding[0], a.padding[2], a.dilation[0], false);
      const ow = windowOut(x[3], w[3], a.stride[1], a.padding[1], a.padding[3], a.dilation[1], false);
      need(oh >= 1 && ow >= 1, where, `the ${w[2]}x${w[3]} kernel does not fit the ${x[2]}x${x[3]} input`);
      return [x[0], w[0], oh, ow];
    }
    case 'linear': {
      const w = layer.params.w.shape;
      need(x.length === 2 && x[1] === w[1], where, `weight ${fmt(w)} expects input [N, ${w[1]}], got ${fmt(x)}`);
      return [x[0], w[0]];
    }
    case 'maxpool': case 'avgpool': {
      rank4();
      const a = layer.attrs as LayerAttrs['maxpool'];
      const oh = windowOut(x[2], a.kernel[0], a.stride[0], a.padding[0], a.padding[2], 1, a.ceilMode);
      const ow = windowOut(x[3], a.kernel[1], a.stride[1], a.padding[1], a.padding[3], 1, a.ceilMode);
      need(oh >= 1 && ow >= 1, where, `the ${a.kernel[0]}x${a.kernel[1]} window does not fit the ${x[2]}x${x[3]} input`);
      return [x[0], x[1], oh, ow];
    }
    case 'globalavgpool': rank4(); return [x[0], x[1], 1, 1];
    case 'batchnorm':
      need(x.length >= 2 && layer.params.mean.shape[0] === x[1], where, `statistics of ${layer.params.mean.shape[0]} channels, input ${fmt(x)}`);
      return [...x];
    case 'lrn': need(x.length >= 3, where, `expects [N, C, ...], got ${fmt(x)}`); return [...x];
    case 'flatten': {
      const axis = (layer.attrs as LayerAttrs['flatten']).axis;
      const a = axis < 0 ? axis + x.length : axis;
      need(a >= 0 && a <= x.length, where, `axis ${axis} is out of range for ${fmt(x)}`);
      return [x.slice(0, a).reduce((p, d) => p * d, 1), x.slice(a).reduce((p, d) => p * d, 1)];
    }
    case 'reshape': return reshapeTarget(x, (layer.attrs as LayerAttrs['reshape']).shape, where);
    case 'softmax': {
      const axis = (layer.attrs as LayerAttrs['softmax']).axis;
      need(axis >= -x.length && axis < x.length, where, `axis ${axis} is out of range for ${fmt(x)}`);
      return [...x];
    }
    case 'concat': {
      const axis = (layer.attrs as LayerAttrs['concat']).axis;
      const a = axis < 0 ? axis + x.length : axis;
      need(a >= 0 && a < x.length, where, `axis ${axis} is out of range for ${fmt(x)}`);
      for (const s of inputs) {
        need(s.length === x.length && s.every((d, i) => i === a || d === x[i]), where,
          `inputs ${inputs.map(fmt).join(', ')} differ outside axis ${axis}`);
      }
      const out = [...x];
      out[a] = inputs.reduce((p, s) => p + s[a], 0);
      return out;
    }
    case 'pad': {
      rank4();
      const p = (layer.attrs as LayerAttrs['pad']).pads;
      return [x[0], x[1], x[2] + p[0] + p[2], x[3] + p[1] + p[3]];
    }
    case 'add': case 'sub': case 'mul': case 'div':
      return broadcast(x, inputs[1] ?? layer.params.b.shape, where);
    default:
      return [...x];
  }
}

/** Momentum of batch norm's running statistics in training mode (PyTorch's default). */
export const BATCHNORM_MOMENTUM = 0.1;

/**
 * Batch norm in training mode: the batch's own statistics over every axis but the channels (biased variance), on
 * the tape, so gradients flow through them as well as through gamma and beta; the running statistics move
 * towards them outside the tape, in place: r = (1 - m) r + m s, the variance's s unbiased (n / (n - 1)).
 */
function batchNormTraining(x: Tensor, p: Record<string, Tensor>, eps: number): Tensor {
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const n = axes.reduce((k, a) => k * x.shape[a], 1);
  if (n < 2) throw new Error(`batchNorm (training): needs at least 2 values per channel, got input ${fmt(x.shape)}`);
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  const mu = ops.mean(x, axes);
  const d = ops.sub(x, ops.reshape(mu, bshape));
  const v = ops.mean(ops.mul(d, d), axes);
  noGrad(() => {
    const m = BATCHNORM_MOMENTUM;
    const mean = ops.add(ops.scale(p.mean, 1 - m), ops.scale(mu, m));
    const vr = ops.add(ops.scale(p.var, 1 - m), ops.scale(v, (m * n) / (n - 1)));
    backend().elementwise('copy', [mean.operand], p.mean.operand);
    backend().elementwise('copy', [vr.operand], p.var.operand);
    mean.dispose();
    vr.dispose();
  });
  return ops.batchNorm(x, mu, v, p.gamma, p.beta, eps);
}

/** Runs one layer through ops.*; `p` holds its weights as device tensors; `fuseRelu` (conv only) applies a ReLU in its epilogue. */
export function applyLayer(layer: Layer, xs: Tensor[], p: Record<string, Tensor>,
                           mode?: { training: boolean; seed: number }, fuseRelu = false): Tensor {
  const x = xs[0];
  if (fuseRelu && layer.kind !== 'conv') throw new Error(`applyLayer: only a conv layer takes a fused ReLU, not ${layer.kind} ${layer.name}`);
  switch (layer.kind) {
    case 'conv': {
      const a = layer.attrs as LayerAttrs['conv'];
      return ops.conv2d(x, p.w, p.b ?? null, { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups, fuseRelu });
    }
    case 'linear': return ops.linear(x, p.w, p.b ?? null);
    case 'relu': return ops.relu(x);
    case 'leakyRelu': {
      // max(x, 0) + alpha min(x, 0), written with relu so that the backward rules of Sect. 4 apply to it too
      const alpha = (layer.attrs as LayerAttrs['leakyRelu']).alpha;
      return ops.sub(ops.relu(x), ops.scale(ops.relu(ops.neg(x)), alpha));
    }
    case 'clip': {
      const a = layer.attrs as LayerAttrs['clip'];
      return ops.clip(x, a.min, a.max);
    }
    case 'sigmoid': return ops.sigmoid(x);
    case 'maxpool': {
      const a = layer.attrs as LayerAttrs['maxpool'];
      return ops.maxPool2d(x, { kernel: a.kernel, stride: a.stride, padding: a.padding, ceilMode: a.ceilMode });
    }
    case 'avgpool': {
      const a = layer.attrs as LayerAttrs['avgpool'];
      return ops.avgPool2d(x, { kernel: a.kernel, stride: a.stride, padding: a.padding, ceilMode: a.ceilMode, countIncludePad: a.countIncludePad });
    }
    case 'globalavgpool': return ops.globalAvgPool2d(x);
    case 'batchnorm': {
      const eps = (layer.attrs as LayerAttrs['batchnorm']).eps;
      return mode?.training ? batchNormTraining(x, p, eps) : ops.batchNorm(x, p.mean, p.var, p.gamma, p.beta, eps);
    }
    case 'lrn': {
      const a = layer.attrs as LayerAttrs['lrn'];
      return ops.localResponseNorm(x, { size: a.size, alpha: a.alpha, beta: a.beta, k: a.k });
    }
    case 'flatten':
    case 'reshape': return ops.reshape(x, layerOutputShape(layer, [x.shape]));
    case 'dropout':
      return ops.dropout(x, (layer.attrs as LayerAttrs['dropout']).p, mode?.training ? { training: true, seed: mode.seed } : { training: false });
    case 'softmax': return ops.softmax(x, (layer.attrs as LayerAttrs['softmax']).axis);
    case 'concat': return ops.concat(xs, (layer.attrs as LayerAttrs['concat']).axis);
    case 'pad': {
      const a = layer.attrs as LayerAttrs['pad'];
      return ops.pad(x, a.pads, a.value);
    }
    case 'add': return ops.add(x, xs[1] ?? p.b);
    case 'sub': return ops.sub(x, xs[1] ?? p.b);
    case 'mul': return ops.mul(x, xs[1] ?? p.b);
    case 'div': return ops.div(x, xs[1] ?? p.b);
    case 'identity': return ops.reshape(x, [...x.shape]);
    default: throw new Error(`layer ${(layer as Layer).name}: unknown kind ${(layer as Layer).kind}`);
  }
}
