// nn.*: layer builders and the two ways to wire them into a Model, nn.sequential (a chain) and nn.graph (any DAG:
// residual adds, concatenations). Builders only describe a layer; weights are drawn when the model is built,
// from a seeded generator, so the same seed gives the same model on every machine.

import { rng } from '../tensor/create.js';
import type { Attrs, HostTensor, Layer, LayerKind, Pads, Pair } from './layers.js';
import { Model, type ModelOptions } from './model.js';

/** A layer before wiring: kind, attributes, and how to draw its weights. */
export interface LayerSpec<K extends LayerKind = LayerKind> {
  readonly kind: K;
  readonly name?: string;
  readonly attrs: Attrs<K>;
  /** draws the weights from a generator of uniform [0, 1) numbers */
  readonly init?: (next: () => number) => Record<string, HostTensor>;
  /** fixed weights (the ONNX importer, or a caller with trained values) */
  readonly params?: Record<string, HostTensor>;
  /** input channels, where the layer fixes them (conv): nn.sequential's default input shape */
  readonly channelsIn?: number;
}

type Spatial = number | [number, number];
type Padding = number | [number, number] | [number, number, number, number];

function int(fn: string, arg: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`nn.${fn}: ${arg} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function num(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`nn.${fn}: ${arg} must be a finite number, got ${String(v)}`);
  return v;
}

function pair(fn: string, arg: string, v: Spatial, min: number): Pair {
  const p = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2) throw new Error(`nn.${fn}: ${arg} must be a number or [h, w], got ${JSON.stringify(v)}`);
  return [int(fn, arg, p[0], min), int(fn, arg, p[1], min)];
}

function pads(fn: string, v: Padding): Pads {
  if (!Array.isArray(v)) return [int(fn, 'padding', v, 0), v, v, v] as Pads;
  if (v.length === 2) return [int(fn, 'padding', v[0], 0), int(fn, 'padding', v[1], 0), v[0], v[1]];
  if (v.length === 4) return v.map((x) => int(fn, 'padding', x, 0)) as Pads;
  throw new Error(`nn.${fn}: padding must be n, [h, w] or [top, left, bottom, right], got ${JSON.stringify(v)}`);
}

function normal(next: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}

function uniform(next: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

// He-normal weights keep activations at a similar scale through deep ReLU stacks (a random VGG16 stays finite
// and informative); small random biases rather than zeros, so a bias that is dropped shows in the tests.
function heWeights(next: () => number, shape: number[], fanIn: number, bias: boolean, outputs: number): Record<string, HostTensor> {
  const w: HostTensor = { shape, data: normal(next, shape.reduce((p, d) => p * d, 1), Math.sqrt(2 / fanIn)) };
  if (!bias) return { w };
  const bound = 1 / Math.sqrt(fanIn);
  return { w, b: { shape: [outputs], data: uniform(next, outputs, -bound, bound) } };
}

export interface ConvOptions { stride?: Spatial; padding?: Padding; dilation?: Spatial; groups?: number; bias?: boolean; name?: string }

export function conv2d(cin: number, cout: number, kernel: Spatial, opts: ConvOptions = {}): LayerSpec<'conv'> {
  int('conv2d', 'cin', cin, 1);
  int('conv2d', 'cout', cout, 1);
  const k = pair('conv2d', 'kernel', kernel, 1);
  const groups = int('conv2d', 'groups', opts.groups ?? 1, 1);
  if (cin % groups || cout % groups) throw new Error(`nn.conv2d: groups ${groups} must divide cin ${cin} and cout ${cout}`);
  const attrs = {
    stride: pair('conv2d', 'stride', opts.stride ?? 1, 1), padding: pads('conv2d', opts.padding ?? 0),
    dilation: pair('conv2d', 'dilation', opts.dilation ?? 1, 1), groups,
  };
  const fanIn = (cin / groups) * k[0] * k[1];
  return { kind: 'conv', name: opts.name, attrs, channelsIn: cin, init: (next) => heWeights(next, [cout, cin / groups, k[0], k[1]], fanIn, opts.bias ?? true, cout) };
}

export function linear(inputs: number, outputs: number, opts: { bias?: boolean; name?: string } = {}): LayerSpec<'linear'> {
  int('linear', 'inputs', inputs, 1);
  int('linear', 'outputs', outputs, 1);
  return { kind: 'linear', name: opts.name, attrs: {} as Attrs<'linear'>, init: (next) => heWeights(next, [outputs, inputs], inputs, opts.bias ?? true, outputs) };
}

const plain = <K extends LayerKind>(kind: K, name?: string): LayerSpec<K> => ({ kind, name, attrs: {} as Attrs<K> });

export const relu = (opts: { name?: string } = {}) => plain('relu', opts.name);
export const sigmoid = (opts: { name?: string } = {}) => plain('sigmoid', opts.name);
export const identity = (opts: { name?: string } = {}) => plain('identity', opts.name);
export const globalAvgPool2d = (opts: { name?: string } = {}) => plain('globalavgpool', opts.name);
export const add = (opts: { name?: string } = {}) => plain('add', opts.name);
export const mul = (opts: { name?: string } = {}) => plain('mul', opts.name);

export function leakyRelu(alpha = 0.01, opts: { name?: string } = {}): LayerSpec<'leakyRelu'> {
  return { kind: 'leakyRelu', name: opts.name, attrs: { alpha: num('leakyRelu', 'alpha', alpha) } };
}

export function clip(min: number, max: number, opts: { name?: string } = {}): LayerSpec<'clip'> {
  num('clip', 'min', min);
  num('clip', 'max', max);
  if (min > max) throw new Error(`nn.clip: min ${min} is above max ${max}`);
  return { kind: 'clip', name: opts.name, attrs: { min, max } };
}

/** ReLU6 = clip(x, 0, 6), MobileNet's activation. */
export const relu6 = (opts: { name?: string } = {}) => clip(0, 6, opts);

export interface PoolOptions { kernel: Spatial; stride?: Spatial; padding?: Padding; ceilMode?: boolean; name?: string }

export function maxPool2d(opts: PoolOptions): LayerSpec<'maxpool'> {
  if (opts === null || typeof opts !== 'object') throw new Error('nn.maxPool2d: opts must be { kernel, stride?, padding?, ceilMode? }');
  const kernel = pair('maxPool2d', 'kernel', opts.kernel, 1);
  return {
    kind: 'maxpool', name: opts.name,
    attrs: { kernel, stride: pair('maxPool2d', 'stride', opts.stride ?? kernel, 1), padding: pads('maxPool2d', opts.padding ?? 0), ceilMode: opts.ceilMode ?? false },
  };
}

export function avgPool2d(opts: PoolOptions & { countIncludePad?: boolean }): LayerSpec<'avgpool'> {
  if (opts === null || typeof opts !== 'object') throw new Error('nn.avgPool2d: opts must be { kernel, stride?, padding?, ceilMode? }');
  const kernel = pair('avgPool2d', 'kernel', opts.kernel, 1);
  return {
    kind: 'avgpool', name: opts.name,
    attrs: {
      kernel, stride: pair('avgPool2d', 'stride', opts.stride ?? kernel, 1), padding: pads('avgPool2d', opts.padding ?? 0),
      ceilMode: opts.ceilMode ?? false, countIncludePad: opts.countIncludePad ?? true,
    },
  };
}

/** Inference-mode batch normalisation over `channels`; the statistics and the affine part are drawn at random. */
export function batchNorm(channels: number, opts: { eps?: number; name?: string } = {}): LayerSpec<'batchnorm'> {
  int('batchNorm', 'channels', channels, 1);
  const c = [channels];
  return {
    kind: 'batchnorm', name: opts.name, attrs: { eps: num('batchNorm', 'eps', opts.eps ?? 1e-5) },
    init: (next) => ({
      mean: { shape: c, data: normal(next, channels, 0.1) }, var: { shape: c, data: uniform(next, channels, 0.5, 1.5) },
      gamma: { shape: c, data: uniform(next, channels, 0.5, 1.5) }, beta: { shape: c, data: normal(next, channels, 0.1) },
    }),
  };
}

export function localResponseNorm(opts: { size?: number; alpha?: number; beta?: number; k?: number; name?: string } = {}): LayerSpec<'lrn'> {
  return {
    kind: 'lrn', name: opts.name,
    attrs: {
      size: int('localResponseNorm', 'size', opts.size ?? 5, 1), alpha: num('localResponseNorm', 'alpha', opts.alpha ?? 1e-4),
      beta: num('localResponseNorm', 'beta', opts.beta ?? 0.75), k: num('localResponseNorm', 'k', opts.k ?? 2),
    },
  };
}

export const flatten = (axis = 1, opts: { name?: string } = {}): LayerSpec<'flatten'> =>
  ({ kind: 'flatten', name: opts.name, attrs: { axis: int('flatten', 'axis', axis, 0) } });
export const reshape = (shape: number[], opts: { name?: string } = {}): LayerSpec<'reshape'> =>
  ({ kind: 'reshape', name: opts.name, attrs: { shape: shape.map((d) => int('reshape', 'shape', d, -1)) } });
export const dropout = (p = 0.5, opts: { name?: string } = {}): LayerSpec<'dropout'> => {
  if (!(p >= 0 && p < 1)) throw new Error(`nn.dropout: p must be in [0, 1), got ${p}`);
  return { kind: 'dropout', name: opts.name, attrs: { p } };
};
export const softmax = (axis = 1, opts: { name?: string } = {}): LayerSpec<'softmax'> =>
  ({ kind: 'softmax', name: opts.name, attrs: { axis: int('softmax', 'axis', axis, -8) } });
export const concat = (axis = 1, opts: { name?: string } = {}): LayerSpec<'concat'> =>
  ({ kind: 'concat', name: opts.name, attrs: { axis: int('concat', 'axis', axis, -8) } });
export const pad = (padding: Padding, value = 0, opts: { name?: string } = {}): LayerSpec<'pad'> =>
  ({ kind: 'pad', name: opts.name, attrs: { pads: pads('pad', padding), value: num('pad', 'value', value) } });

export interface BuildOptions extends Omit<ModelOptions, 'input' | 'output'> {
  /** [C, H, W]; nn.sequential defaults to [the first conv's cin, 224, 224] */
  inputShape?: [number, number, number];
  /** seeds the weights (default 0) */
  seed?: number;
}

/** Wires specs into layers: names them (kind + index unless given) and draws their weights. */
export class GraphBuilder {
  readonly input = 'input';
  private readonly layers: Layer[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly inputShape: [number, number, number], private readonly opts: BuildOptions = {}) {}

  /** Adds a layer reading the given values (default: the previous layer's output) and returns its output's name. */
  add(spec: LayerSpec, ...inputs: string[]): string {
    if (!spec || typeof spec !== 'object' || typeof spec.kind !== 'string') throw new Error('nn.graph.add: spec must be a layer from nn.*');
    const index = this.layers.length;
    const ins = inputs.length > 0 ? inputs : [index === 0 ? this.input : this.layers[index - 1].output];
    let name = spec.name ?? `${spec.kind}${index}`;
    if (this.used.has(name)) name = `${name}_${index}`;
    this.used.add(name);
    const seed = (this.opts.seed ?? 0) * 100003 + index * 7919 + 1;
    const params = spec.params ?? (spec.init ? spec.init(rng(seed)) : {});
    this.layers.push({ kind: spec.kind, name, inputs: ins, output: name, attrs: spec.attrs, params });
    return name;
  }

  build(output?: string): Model {
    const { inputShape: _, seed: __, ...rest } = this.opts;
    return new Model(this.inputShape, this.layers, { ...rest, output: output ?? this.layers[this.layers.length - 1]?.output });
  }
}

/** A builder for any DAG of layers: `const g = nn.graph([3, 32, 32]); const a = g.add(nn.conv2d(...)); ...; g.build()`. */
export function graph(inputShape: [number, number, number], opts: BuildOptions = {}): GraphBuilder {
  return new GraphBuilder(inputShape, opts);
}

/** A chain of layers; a trailing plain object gives the options ({ inputShape, seed, name, preprocess }). */
export function sequential(...items: (LayerSpec | BuildOptions)[]): Model {
  const last = items[items.length - 1];
  const opts = last && !('kind' in last) ? (items.pop() as BuildOptions) : {};
  const specs = items as LayerSpec[];
  if (specs.length === 0) throw new Error('nn.sequential: no layers');
  const cin = specs.find((s) => s.channelsIn !== undefined)?.channelsIn ?? 3;
  const g = new GraphBuilder(opts.inputShape ?? [cin, 224, 224], opts);
  for (const s of specs) g.add(s);
  return g.build();
}
