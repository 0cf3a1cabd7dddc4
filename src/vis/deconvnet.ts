// DeconvNet reconstruction (Zeiler & Fergus 2013) and Sect. 4 of the paper: the reconstruction of layer n's
// input from layer n+1's signal R_(n+1) is, for
//   a convolution   X_(n+1) = X_n * K_n:        R_n = R_(n+1) * flip(K_n)       (the gradient: equal)
//   max pooling     X_(n+1)(p) = max_q X_n(q):  R_n = unpool(R_(n+1), switches)  (the gradient: equal)
//   ReLU            X_(n+1) = max(X_n, 0):      R_n = R_(n+1) 1(R_(n+1) > 0)    (the gradient: R_(n+1) 1(X_n > 0))
// so a DeconvNet is a backward pass whose ReLU uses the indicator on the signal instead of on the layer's input.
//
// deconvnet() runs that backward pass through the tape (ReLU rule 'deconvnet'). compareDeconvToGradient()
// checks the statements layer by layer: every layer gets the same upstream signal (the true gradient of the
// class score, or of a layer's activation) and its input signal is computed twice, by the tape's gradient and
// by the DeconvNet's own operation written here independently of the tape (a convolution with the transposed,
// flipped kernels over the zero-dilated signal; unpooling through switches recorded by a fresh forward pass;
// ReLU of the signal; for fully connected layers the transposed weight matrix).

import { noGrad } from '../autograd/graph.js';
import type { Layer, LayerAttrs } from '../models/layers.js';
import { applyLayer } from '../models/layers.js';
import type { Model } from '../models/model.js';
import * as ops from '../ops/index.js';
import { tensor } from '../tensor/create.js';
import { keep, type Tensor, tidy } from '../tensor/tensor.js';
import {
  argmaxRows, checkImages, checkIntOption, checkModel, checkNumberOption, checkOptions, checkTargets, classCount, oneHot,
  toModelInput,
} from './common.js';

export interface DeconvnetOptions {
  /** the layer whose activation is reconstructed (name or index in model.layers) */
  layer: number | string;
  /** keep only this channel of the activation (default: all channels) */
  channel?: number;
  /** 'all' (default): the whole activation (of the channel); 'max': only its strongest unit per image */
  position?: 'all' | 'max';
}

function resolveLayer(fn: string, model: Model, which: unknown): number {
  if (typeof which !== 'number' && typeof which !== 'string') {
    throw new Error(`${fn}: layer must be a layer name or index, got ${JSON.stringify(which)}`);
  }
  try {
    return model.layers.indexOf(model.layer(which));
  } catch (e) {
    throw new Error(`${fn}: ${(e as Error).message}`);
  }
}

/** The seed for reconstructing an activation: itself, restricted to one channel and/or its maximum. */
function activationSeed(fn: string, act: Float32Array, shape: readonly number[], channel: number | undefined,
                        position: 'all' | 'max'): Float32Array {
  const n = shape[0];
  const channels = shape.length >= 2 ? shape[1] : 1;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  if (channel !== undefined && channel >= channels) {
    throw new Error(`${fn}: channel ${channel} is out of range: the layer has ${channels} channels (shape [${shape.join(', ')}])`);
  }
  const seed = new Float32Array(act.length);
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let c = 0; c < channels; c++) {
      if (channel !== undefined && c !== channel) continue;
      for (let j = 0; j < inner; j++) {
        const at = (i * channels + c) * inner + j;
        if (position === 'all') seed[at] = act[at];
        else if (best < 0 || act[at] > act[best]) best = at;
      }
    }
    if (position === 'max' && best >= 0) seed[best] = act[best];
  }
  return seed;
}

/**
 * The DeconvNet reconstruction of a layer's activation down to the model's input space: a tensor shaped like
 * the model input ([N, C, H, W], after preprocessing).
 */
export async function deconvnet(model: Model, image: Tensor, opts: DeconvnetOptions): Promise<Tensor> {
  const fn = 'deconvnet';
  checkModel(fn, model);
  if (opts === undefined) throw new Error(`${fn}: opts { layer } is required`);
  const o = checkOptions<DeconvnetOptions>(fn, opts, ['layer', 'channel', 'position']);
  checkImages(fn, 'image', model, image, false);
  const index = resolveLayer(fn, model, o.layer);
  const channel = o.channel === undefined ? undefined : checkIntOption(fn, 'channel', o.channel, 0, 0);
  const position = o.position ?? 'all';
  if (position !== 'all' && position !== 'max') throw new Error(`${fn}: position must be 'all' or 'max', got ${JSON.stringify(o.position)}`);
  const leaf = keep(noGrad(() => toModelInput(model, image)));
  leaf.requiresGrad = true;
  let act: Tensor | null = null;
  try {
    act = keep(tidy(() => model.run(leaf, { until: index }).output));
    const values = await act.data();
    const seed = tensor(activationSeed(fn, values, act.shape, channel, position), [...act.shape]);
    try {
      if (act.node) act.backward(seed, { reluRule: 'deconvnet' });
    } finally {
      seed.dispose();
    }
    const g = leaf.grad ?? noGrad(() => ops.scale(leaf, 0));
    leaf.grad = null;
    return g;
  } finally {
    act?.dispose();
    leaf.dispose();
  }
}

// ----------------------------------------------------------------------------- the DeconvNet's own operations

/** R [N, O, OH, OW] with (stride - 1) zeros inserted between rows and between columns. */
function dilateZeros(r: Float32Array, shape: readonly number[], sh: number, sw: number): { data: Float32Array; shape: number[] } {
  const [N, O, OH, OW] = shape;
  const DH = (OH - 1) * sh + 1, DW = (OW - 1) * sw + 1;
  const data = new Float32Array(N * O * DH * DW);
  for (let p = 0; p < N * O; p++) {
    for (let y = 0; y < OH; y++) {
      for (let x = 0; x < OW; x++) data[p * DH * DW + y * sh * DW + x * sw] = r[p * OH * OW + y * OW + x];
    }
  }
  return { data, shape: [N, O, DH, DW] };
}

/** K [O, C/g, KH, KW] -> K' [C, O/g, KH, KW], K'[gC + c, o', i, j] = K[gO + o', c, KH-1-i, KW-1-j]. */
function transposeFlip(k: Float32Array, shape: readonly number[], groups: number): { data: Float32Array; shape: number[] } {
  const [O, CG, KH, KW] = shape;
  const OG = O / groups;
  const data = new Float32Array(k.length);
  for (let g = 0; g < groups; g++) {
    for (let op = 0; op < OG; op++) {
      for (let c = 0; c < CG; c++) {
        for (let i = 0; i < KH; i++) {
          for (let j = 0; j < KW; j++) {
            const from = (((g * OG + op) * CG + c) * KH + i) * KW + j;
            const to = (((g * CG + c) * OG + op) * KH + (KH - 1 - i)) * KW + (KW - 1 - j);
            data[to] = k[from];
          }
        }
      }
    }
  }
  return { data, shape: [CG * groups, OG, KH, KW] };
}

/** Conv layer: the signal through the transposed, flipped kernels (a transposed convolution, no bias). */
async function deconvConv(layer: Layer, x: Tensor, r: Tensor, weights: Record<string, Tensor>): Promise<Tensor> {
  const a = layer.attrs as LayerAttrs['conv'];
  const [sh, sw] = a.stride, [dh, dw] = a.dilation;
  const [pt, pl, pb, pr] = a.padding;
  const w = weights.w;
  const [, , KH, KW] = w.shape;
  const [, , H, W] = x.shape;
  const [, , OH, OW] = r.shape;
  const kt = transposeFlip(await w.data(), w.shape, a.groups);
  const rd = dilateZeros(await r.data(), r.shape, sh, sw);
  // the transposed convolution covers (OH - 1) sh + dh (KH - 1) + 1 - pt - pb rows; rows past it got no window
  const extraH = H - ((OH - 1) * sh + dh * (KH - 1) + 1 - pt - pb);
  const extraW = W - ((OW - 1) * sw + dw * (KW - 1) + 1 - pl - pr);
  const pads = [dh * (KH - 1) - pt, dw * (KW - 1) - pl, dh * (KH - 1) - pb + extraH, dw * (KW - 1) - pr + extraW];
  // a padding wider than the kernel's extent gives a negative pad here: the full transposed convolution is
  // computed and its border rows and columns that fall in the forward padding are cropped off
  const kT = tensor(kt.data, kt.shape);
  const rT = tensor(rd.data, rd.shape);
  let full: Tensor;
  try {
    full = ops.conv2d(rT, kT, null, { padding: pads.map((p) => Math.max(p, 0)) as [number, number, number, number], dilation: [dh, dw], groups: a.groups });
  } finally {
    kT.dispose();
    rT.dispose();
  }
  if (pads.every((p) => p >= 0)) return full;
  const [top, left] = [Math.max(-pads[0], 0), Math.max(-pads[1], 0)];
  const [N, C, FH, FW] = full.shape;
  const v = await full.data();
  full.dispose();
  const cropped = new Float32Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) {
    for (let y = 0; y < H; y++) cropped.set(v.subarray(p * FH * FW + (top + y) * FW + left, p * FH * FW + (top + y) * FW + left + W), (p * H + y) * W);
  }
  return tensor(cropped, [N, C, H, W]);
}

/** The DeconvNet's reconstruction of a layer's input from the signal r at its output, or null for no rule. */
async function deconvRule(layer: Layer, x: Tensor, r: Tensor, weights: Record<string, Tensor>): Promise<Tensor | null> {
  switch (layer.kind) {
    case 'conv': return deconvConv(layer, x, r, weights);
    case 'maxpool': {
      const a = layer.attrs as LayerAttrs['maxpool'];
      const pool = { kernel: a.kernel, stride: a.stride, padding: a.padding, ceilMode: a.ceilMode };
      const { y, switches } = ops.maxPool2dWithSwitches(x, pool);
      y.dispose();
      try {
        return ops.maxUnpool2d(r, switches, x.shape, pool);
      } finally {
        switches.dispose();
      }
    }
    case 'relu': return ops.relu(r);
    case 'linear': return ops.matmul(r, weights.w);
    default: return null;
  }
}

// ----------------------------------------------------------------------------- the comparison

export interface DeconvLayerReport {
  name: string;
  kind: string;
  /** max |gradient - DeconvNet| over the layer's input signal */
  maxAbsDiff: number;
  /** ||gradient - DeconvNet||_2 / ||gradient||_2 (0 when both are zero) */
  relDiff: number;
  /** relDiff within the tolerance (float rounding) */
  equal: boolean;
  /** ReLU layers: units where 1(X_n > 0) and 1(R_(n+1) > 0) disagree while R_(n+1) != 0 */
  indicatorDisagreements?: number;
  /** ReLU layers: the two signals differ at exactly those units and agree everywhere else */
  differsExactlyWhereIndicatorsDisagree?: boolean;
}

export interface DeconvReport { layers: DeconvLayerReport[]; target: number[]; tolerance: number }

export interface CompareOptions {
  /** the class whose score is differentiated (default: each image's top class) */
  target?: number | number[];
  /** start from this layer's activation instead of the class score */
  layer?: number | string;
  /** relative difference still counted as equal (default 1e-5: float32 rounding over different summation orders) */
  tolerance?: number;
}

function stats(g: Float32Array, d: Float32Array): { maxAbsDiff: number; relDiff: number } {
  let max = 0, diff2 = 0, norm2 = 0;
  for (let i = 0; i < g.length; i++) {
    const e = Math.abs(g[i] - d[i]);
    if (e > max || Number.isNaN(e)) max = e;
    diff2 += e * e;
    norm2 += g[i] * g[i];
  }
  return { maxAbsDiff: max, relDiff: norm2 > 0 ? Math.sqrt(diff2 / norm2) : diff2 > 0 ? Infinity : 0 };
}

/**
 * Feeds the same upstream signal through each layer under the gradient rule and the DeconvNet rule and reports,
 * per layer with a DeconvNet rule (conv, max-pool, ReLU, fully connected), how far apart the two come out.
 */
export async function compareDeconvToGradient(model: Model, image: Tensor, opts?: CompareOptions): Promise<DeconvReport> {
  const fn = 'compareDeconvToGradient';
  checkModel(fn, model);
  const o = checkOptions<CompareOptions>(fn, opts, ['target', 'layer', 'tolerance']);
  checkImages(fn, 'image', model, image, false);
  const tolerance = checkNumberOption(fn, 'tolerance', o.tolerance, 0, 1e-5);
  const N = image.shape[0];
  // the class scores are the model's declared output, which need not be the last layer's
  const top = o.layer === undefined ? model.layers.findIndex((l) => l.output === model.output) : resolveLayer(fn, model, o.layer);
  if (o.layer !== undefined && o.target !== undefined) throw new Error(`${fn}: give target or layer, not both`);
  const classes = o.layer === undefined ? classCount(fn, model) : 0;
  let targets = o.layer === undefined ? checkTargets(fn, o.target, N, classes) : null;

  // every value of the forward pass, without a graph
  const values = new Map<string, Tensor>();
  const grads = new Map<string, Tensor>();
  const report: DeconvLayerReport[] = [];
  try {
    const input = keep(noGrad(() => toModelInput(model, image)));
    values.set(model.input, input);
    noGrad(() => {
      for (let i = 0; i <= top; i++) {
        const layer = model.layers[i];
        const y = tidy(() => applyLayer(layer, layer.inputs.map((v) => values.get(v)!), model.weights(layer)));
        values.set(layer.output, keep(y));
      }
    });
    const topLayer = model.layers[top];
    const topValue = values.get(topLayer.output)!;
    if (o.layer === undefined) {
      const scores = await topValue.data();
      targets ??= argmaxRows(scores, N, classes);
      grads.set(topLayer.output, keep(tidy(() => oneHot(targets!, classes).reshape([...topValue.shape]))));
    } else {
      grads.set(topLayer.output, keep(tidy(() => ops.reshape(topValue, [...topValue.shape]))));
    }
    for (let i = top; i >= 0; i--) {
      const layer = model.layers[i];
      const r = grads.get(layer.output);
      if (!r) continue;
      grads.delete(layer.output);
      const ins = layer.inputs.map((v) => values.get(v)!);
      // the gradient rule: the tape's backward through this layer alone
      const leaves = ins.map((t) => {
        const l = keep(t.share());
        l.requiresGrad = true;
        return l;
      });
      const weights = model.weights(layer);
      const y = keep(tidy(() => applyLayer(layer, leaves, weights)));
      if (y.node) y.backward(r, { reluRule: 'gradient' });
      y.dispose();
      const inGrads = leaves.map((l) => {
        const g = l.grad;
        l.grad = null;
        l.dispose();
        return g ? keep(g) : null;
      });
      const deconv = ins.length === 1 ? await deconvRule(layer, ins[0], r, weights) : null;
      if (deconv && inGrads[0]) {
        const [g, d] = await Promise.all([inGrads[0].data(), deconv.data()]);
        const entry: DeconvLayerReport = { name: layer.name, kind: layer.kind, ...stats(g, d), equal: false };
        entry.equal = entry.relDiff <= tolerance;
        if (layer.kind === 'relu') {
          const [x, rv] = await Promise.all([ins[0].data(), r.data()]);
          let disagree = 0, exact = true;
          for (let j = 0; j < x.length; j++) {
            const differs = rv[j] !== 0 && (x[j] > 0) !== (rv[j] > 0);
            if (differs) disagree++;
            if (differs !== (g[j] !== d[j])) exact = false;
          }
          entry.indicatorDisagreements = disagree;
          entry.differsExactlyWhereIndicatorsDisagree = exact;
        }
        report.push(entry);
      }
      deconv?.dispose();
      r.dispose();
      // the chain goes on with the true gradient
      layer.inputs.forEach((v, k) => {
        const g = inGrads[k];
        if (!g) return;
        if (v === model.input) {
          g.dispose();
          return;
        }
        const prev = grads.get(v);
        if (prev) {
          grads.set(v, keep(noGrad(() => ops.add(prev, g))));
          prev.dispose();
          g.dispose();
        } else {
          grads.set(v, g);
        }
      });
    }
  } finally {
    for (const t of values.values()) t.dispose();
    for (const t of grads.values()) t.dispose();
  }
  return { layers: report, target: targets ?? [], tolerance };
}
