// Class model visualisation (Sect. 2 of the paper, eq. 1): the image I maximising S_c(I) - l2 ||I||^2, found by
// gradient ascent from the zero image, with the mean image added to the result.
//
// The ascent runs in the model's input space (after preprocessing), where the paper's zero image lives: for a
// model with a `preprocess`, I = 0 is the per-channel mean colour, and the returned image is I mapped back to
// 0..255 RGB (times std, reordered, plus the mean; `mean` replaces that per-channel mean by a mean image). For a
// model without one, the returned image is I + mean (mean defaults to zero).
//
// Each step: g = d/dI [S_c(I) - l2 ||I||^2] (objective 'posterior': P_c = softmax(S)_c instead of S_c), then
//   I <- I + learningRate * g / rms(g)     (normalizeGradient, the default: a step of fixed size whatever the
//                                           model's score scale; rms over all pixels and channels)
//   I <- I + learningRate * g              (normalizeGradient: false: the plain ascent of eq. 1)
// where g is first preconditioned when `frequencyDecay` p > 0: its 2-D spectrum is multiplied by
// (f0 / max(f, f0))^p, f the frequency in cycles per pixel and f0 = 1 / max(H, W). The objective is unchanged
// (a linear model's ascent still ends at w_c / (2 l2)); the ascent follows the gradient in a metric where
// low frequencies are cheap, as the Fourier parameterisation of Olah et al. 2017 ("Feature Visualization")
// does. The step is then followed by the optional regularisers, in this order: `decay` (I <- (1 - decay) I),
// Gaussian blur of I every `blurEvery` steps with `blurSigma` pixels, and zeroing the pixels whose norm over
// channels is below the `clipPercentile` percentile. `jitter` shifts the image by a random offset of up to that
// many pixels (circularly) before computing the gradient and shifts the gradient back.
//
// Defaults: 200 steps, learningRate 0.05 (normalised step), l2 = 1e-3, objective 'score', frequencyDecay 1.5
// and jitter of max(H, W) / 24 pixels (4 at 96x96, 9 at 224x224), no other regulariser. Plain ascent (the
// paper's, p = 0, no jitter) on a small trained net is dominated by high-frequency patterns that raise S_c
// and look like noise; the preconditioned, jittered ascent draws the parts of the class (arcs, edges, lobes)
// as shapes (docs/class-models.md compares them on the shipped model). Presets, which explicit options
// override:
//   'simonyan2013': the paper's plain ascent: frequencyDecay 0, no jitter, l2 1e-3;
//   'yosinski2015': the set of Yosinski et al. 2015 that the issue names: L2 decay 1e-4, blur sigma 1.0
//                   every 4 steps, l2 = 0, frequencyDecay 0, no jitter.
// With objective 'posterior' the ascent stalls once P_c rounds to 1 in float32 (its gradient is then exactly 0):
// that is the paper's point that the posterior can be raised by lowering the other classes, and not the score.

import type { Model } from '../models/model.js';
import * as ops from '../ops/index.js';
import { rng, tensor } from '../tensor/create.js';
import { keep, Tensor, tidy } from '../tensor/tensor.js';
import {
  checkIntOption, checkModel, checkNumberOption, checkOptions, classCount, fromModelInput, oneHot,
} from './common.js';
import { spectralFilter } from './spectrum.js';

export interface ClassModelRegularisers {
  /** random circular shift of up to this many pixels before each gradient (default max(H, W) / 24, rounded; 0 with a preset) */
  jitter?: number;
  /** blur the image every this many steps (default 0: never) */
  blurEvery?: number;
  /** the blur's Gaussian standard deviation in pixels (default 1) */
  blurSigma?: number;
  /** after each step, zero the pixels whose norm over channels is below this percentile (0..100, default 0: none) */
  clipPercentile?: number;
  /** multiplicative L2 decay per step: I <- (1 - decay) I (default 0) */
  decay?: number;
}

export interface ClassModelOptions {
  steps?: number;
  learningRate?: number;
  /** lambda of eq. 1 */
  l2?: number;
  objective?: 'score' | 'posterior';
  /** added to the result: the training set's mean image, [C, H, W] or [1, C, H, W] in the returned image's space */
  mean?: Tensor;
  regularisers?: ClassModelRegularisers;
  /**
   * 'simonyan2013': the paper's plain ascent (frequencyDecay 0, no jitter); 'yosinski2015': decay 1e-4, blur
   * sigma 1 every 4 steps, l2 0, frequencyDecay 0, no jitter. Explicit options override the preset.
   */
  preset?: 'simonyan2013' | 'yosinski2015';
  /**
   * precondition the gradient by (f0 / max(f, f0))^frequencyDecay in the frequency domain (f in cycles per pixel,
   * f0 = 1 / max(H, W)); 0: the paper's plain gradient (default 1.5, 0 with a preset)
   */
  frequencyDecay?: number;
  /** divide each step by the gradient's root mean square (default true) */
  normalizeGradient?: boolean;
  /** seeds the jitter (default 0) */
  seed?: number;
  /** called after each step with the step index (0-based) and S_c before the step */
  onStep?: (step: number, score: number) => void;
}

export interface ClassModelResult {
  /** the visualisation: [1, C, H, W], 0..255 RGB for a model with a preprocess (not clipped) */
  image: Tensor;
  /** S_c at each step, before that step's update (the last entry: after the last update) */
  scores: number[];
  /** the optimised I in the model's input space, [1, C, H, W] */
  input: Tensor;
  /** every class score S of the final I */
  classScores: Float32Array;
}

const KEYS = ['steps', 'learningRate', 'l2', 'objective', 'mean', 'regularisers', 'preset', 'frequencyDecay', 'normalizeGradient', 'seed', 'onStep'];

/** The default `frequencyDecay`. */
export const DEFAULT_FREQUENCY_DECAY = 1.5;
/** The default jitter, in pixels, is the input's larger side over this. */
export const DEFAULT_JITTER_DIVISOR = 24;
const PRESETS = ['simonyan2013', 'yosinski2015'];

/** Separable Gaussian blur of each channel plane, edges clamped; radius ceil(3 sigma). */
export function gaussianBlur(img: Float32Array, channels: number, h: number, w: number, sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let total = 0;
  for (let i = -radius; i <= radius; i++) total += (k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma)));
  for (let i = 0; i < k.length; i++) k[i] /= total;
  const tmp = new Float32Array(img.length), outData = new Float32Array(img.length);
  const clampi = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let c = 0; c < channels; c++) {
    const base = c * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -radius; i <= radius; i++) s += k[i + radius] * img[base + y * w + clampi(x + i, w - 1)];
        tmp[base + y * w + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -radius; i <= radius; i++) s += k[i + radius] * tmp[base + clampi(y + i, h - 1) * w + x];
        outData[base + y * w + x] = s;
      }
    }
  }
  return outData;
}

/** Circular shift of each channel plane by (dy, dx). */
function roll(img: Float32Array, channels: number, h: number, w: number, dy: number, dx: number): Float32Array {
  if (dy === 0 && dx === 0) return img;
  const outData = new Float32Array(img.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const ty = (((y + dy) % h) + h) % h;
      for (let x = 0; x < w; x++) outData[c * h * w + ty * w + ((((x + dx) % w) + w) % w)] = img[c * h * w + y * w + x];
    }
  }
  return outData;
}

export async function classModel(model: Model, target: number, opts?: ClassModelOptions): Promise<ClassModelResult> {
  const fn = 'classModel';
  checkModel(fn, model);
  const o = checkOptions<ClassModelOptions>(fn, opts, KEYS);
  const classes = classCount(fn, model);
  if (typeof target !== 'number' || !Number.isInteger(target) || target < 0 || target >= classes) {
    throw new Error(`${fn}: target must be a class index in 0..${classes - 1} (the model has ${classes} classes), got ${String(target)}`);
  }
  if (o.preset !== undefined && !PRESETS.includes(o.preset)) {
    throw new Error(`${fn}: preset must be 'simonyan2013' or 'yosinski2015', got ${JSON.stringify(o.preset)}`);
  }
  const preset = o.preset === 'yosinski2015';
  const plain = o.preset !== undefined;
  const steps = checkIntOption(fn, 'steps', o.steps, 0, 200);
  const lr = checkNumberOption(fn, 'learningRate', o.learningRate, 0, 0.05, true);
  const l2 = checkNumberOption(fn, 'l2', o.l2, 0, preset ? 0 : 1e-3);
  const objective = o.objective ?? 'score';
  if (objective !== 'score' && objective !== 'posterior') throw new Error(`${fn}: objective must be 'score' or 'posterior', got ${JSON.stringify(o.objective)}`);
  if (o.normalizeGradient !== undefined && typeof o.normalizeGradient !== 'boolean') {
    throw new Error(`${fn}: normalizeGradient must be true or false, got ${JSON.stringify(o.normalizeGradient)}`);
  }
  const normalize = o.normalizeGradient ?? true;
  if (o.onStep !== undefined && typeof o.onStep !== 'function') throw new Error(`${fn}: onStep must be a function, got ${typeof o.onStep}`);
  const r = o.regularisers === undefined ? {} : o.regularisers;
  if (r === null || typeof r !== 'object') throw new Error(`${fn}: regularisers must be an object, got ${JSON.stringify(r)}`);
  for (const k of Object.keys(r)) {
    if (!['jitter', 'blurEvery', 'blurSigma', 'clipPercentile', 'decay'].includes(k)) {
      throw new Error(`${fn}: unknown regulariser ${JSON.stringify(k)}; regularisers are jitter, blurEvery, blurSigma, clipPercentile, decay`);
    }
  }
  const [C, H, W] = model.inputShape;
  const jitter = checkIntOption(fn, 'regularisers.jitter', r.jitter, 0, plain ? 0 : Math.round(Math.max(H, W) / DEFAULT_JITTER_DIVISOR));
  const blurEvery = checkIntOption(fn, 'regularisers.blurEvery', r.blurEvery, 0, preset ? 4 : 0);
  const blurSigma = checkNumberOption(fn, 'regularisers.blurSigma', r.blurSigma, 0, 1, true);
  const clipPercentile = checkNumberOption(fn, 'regularisers.clipPercentile', r.clipPercentile, 0, 0);
  if (clipPercentile > 100) throw new Error(`${fn}: regularisers.clipPercentile must be in 0..100, got ${clipPercentile}`);
  const decay = checkNumberOption(fn, 'regularisers.decay', r.decay, 0, preset ? 1e-4 : 0);
  if (decay >= 1) throw new Error(`${fn}: regularisers.decay must be below 1, got ${decay}`);
  const seed = checkNumberOption(fn, 'seed', o.seed, 0, 0);
  const frequencyDecay = checkNumberOption(fn, 'frequencyDecay', o.frequencyDecay, 0, plain ? 0 : DEFAULT_FREQUENCY_DECAY);
  if (frequencyDecay > 4) throw new Error(`${fn}: frequencyDecay must be in 0..4, got ${frequencyDecay}`);
  const f0 = 1 / Math.max(H, W);
  const precondition = (f: number) => (f0 / Math.max(f, f0)) ** frequencyDecay;
  let mean: Float32Array | undefined;
  if (o.mean !== undefined) {
    if (!(o.mean instanceof Tensor) || o.mean.disposed) throw new Error(`${fn}: mean must be a live Tensor [${C}, ${H}, ${W}]`);
    if (o.mean.size !== C * H * W || !(o.mean.shape.length === 3 || (o.mean.shape.length === 4 && o.mean.shape[0] === 1))) {
      throw new Error(`${fn}: mean must be [${C}, ${H}, ${W}] or [1, ${C}, ${H}, ${W}], got [${o.mean.shape.join(', ')}]`);
    }
    mean = await o.mean.data();
  }

  const next = rng(seed);
  const size = C * H * W;
  let img: Float32Array = new Float32Array(size);
  const scores: number[] = [];
  const seedT = oneHot([target], classes);
  const evaluate = async (x: Float32Array, withGrad: boolean): Promise<{ score: number; grad: Float32Array | null; all: Float32Array }> => {
    const leaf = tensor(x, [1, C, H, W]);
    leaf.requiresGrad = withGrad;
    let logits: Tensor | null = null, objectiveT: Tensor | null = null;
    try {
      logits = keep(tidy(() => model.forward(leaf).reshape([1, classes])));
      if (withGrad) objectiveT = objective === 'posterior' ? keep(tidy(() => ops.softmax(logits!, 1))) : logits;
      const all = await logits.data();
      if (!withGrad) return { score: all[target], grad: null, all };
      objectiveT!.backward(seedT);
      const g = leaf.grad!;
      leaf.grad = null;
      const grad = await g.data();
      g.dispose();
      return { score: all[target], grad, all };
    } finally {
      if (objectiveT !== logits) objectiveT?.dispose();
      logits?.dispose();
      leaf.dispose();
    }
  };
  try {
    for (let step = 0; step < steps; step++) {
      const dy = jitter ? Math.floor(next() * (2 * jitter + 1)) - jitter : 0;
      const dx = jitter ? Math.floor(next() * (2 * jitter + 1)) - jitter : 0;
      const { score, grad } = await evaluate(roll(img, C, H, W, dy, dx), true);
      let g = roll(grad!, C, H, W, -dy, -dx);
      scores.push(score);
      o.onStep?.(step, score);
      // the penalty's gradient, -2 l2 I
      if (l2 > 0) for (let i = 0; i < size; i++) g[i] -= 2 * l2 * img[i];
      if (frequencyDecay > 0) g = spectralFilter(g, C, H, W, precondition);
      let stepSize = lr;
      if (normalize) {
        let ss = 0;
        for (let i = 0; i < size; i++) ss += g[i] * g[i];
        const rms = Math.sqrt(ss / size);
        stepSize = rms > 0 ? lr / rms : 0;
      }
      for (let i = 0; i < size; i++) img[i] += stepSize * g[i];
      if (decay > 0) for (let i = 0; i < size; i++) img[i] *= 1 - decay;
      if (blurEvery > 0 && (step + 1) % blurEvery === 0) img = gaussianBlur(img, C, H, W, blurSigma);
      if (clipPercentile > 0) clipSmallPixels(img, C, H * W, clipPercentile);
    }
    const final = await evaluate(img, false);
    scores.push(final.score);
    const input = tensor(img, [1, C, H, W]);
    const image = tensor(fromModelInput(model, img, 1, mean), [1, C, H, W]);
    return { image, scores, input, classScores: final.all };
  } finally {
    seedT.dispose();
  }
}

/** Zeroes the pixels whose norm over channels is below the p-th percentile of all pixels' norms. */
function clipSmallPixels(img: Float32Array, channels: number, plane: number, p: number): void {
  const norms = new Float32Array(plane);
  for (let j = 0; j < plane; j++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += img[c * plane + j] ** 2;
    norms[j] = Math.sqrt(s);
  }
  const sorted = Float32Array.from(norms).sort();
  const threshold = sorted[Math.min(plane - 1, Math.floor((p / 100) * plane))];
  for (let j = 0; j < plane; j++) if (norms[j] < threshold) for (let c = 0; c < channels; c++) img[c * plane + j] = 0;
}
