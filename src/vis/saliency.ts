// Image-specific class saliency (Sect. 3 of the paper): w = dS_c/dI at the image I, from one backward pass
// through the unnormalised class score S_c, and the map M_ij = max_c |w_(c,i,j)| over the colour channels.
//
// The gradient is taken with respect to the image as passed (0..255 RGB when the model declares a
// `preprocess`; the preprocessing is applied inside the differentiated function, so the chain rule through it is
// included). A batch of N images with one target each is one forward and one backward pass: the backward seed
// is the one-hot [N, K] matrix of the targets, and since image i's score depends only on image i, row i of the
// input gradient is exactly dS_(target_i) / dI_i.
//
// Ten crops (`crops: 10`), the protocol of Krizhevsky et al. 2012 that the paper follows for its maps: for a
// model taking H x W inputs, each image is first rescaled (bilinear, see image/transform.ts) by the smallest
// factor at which it covers R_h x R_w = round(H * 256 / 224) x round(W * 256 / 224) (for a 224 model: its shorter
// side becomes 256) and the central R_h x R_w part is kept: "the resized image". From it come five H x W
// crops, at the four corners (top-left (0, 0), top-right (0, R_w - W), bottom-left (R_h - H, 0), bottom-right
// (R_h - H, R_w - W)) and the centre (floor((R_h - H) / 2), floor((R_w - W) / 2)), and the horizontal mirror of
// each. Every crop's map is computed, a mirrored crop's map is mirrored back, and the ten maps are added into
// the resized image's frame and divided by the number of crops covering each pixel. The returned map is
// R_h x R_w, in the resized image's coordinates; `score` is the target's score averaged over the ten crops,
// and 'top1' picks the class with the highest averaged score.

import { Model } from '../models/model.js';
import * as ops from '../ops/index.js';
import { rng, tensor } from '../tensor/create.js';
import { keep, type Tensor, tidy } from '../tensor/tensor.js';
import { noGrad } from '../autograd/graph.js';
import { centerCrop, crop, flipHorizontal, type Planar, resize } from '../image/transform.js';
import {
  argmaxRows, channelMaxAbs, checkImages, checkIntOption, checkModel, checkNumberOption, checkOptions, checkTargets,
  classCount, oneHot, toModelInput,
} from './common.js';

export type SaliencyMethod = 'gradient' | 'deconvnet' | 'guided';

export interface SaliencyOptions {
  /** the class per image, one class for all, or 'top1' (default): the highest-scoring class */
  target?: number | number[] | 'top1';
  /** 1 (default): the image as is, at the model's input size; 10: the ten-crop protocol (see the file header) */
  crops?: 1 | 10;
  /** ReLU's backward rule: 'gradient' (default, the true gradient), 'deconvnet' (Zeiler & Fergus), 'guided' (both) */
  method?: SaliencyMethod;
  /**
   * SmoothGrad (Smilkov et al. 2017): the map averaged over `samples` copies of the image with Gaussian noise of
   * standard deviation sigma * (max - min of that image's pixels). The noise is seeded (`seed`, default 0).
   */
  smoothGrad?: { samples: number; sigma: number; seed?: number };
  /**
   * Gradient x input: the map is max_c |x_c * dS/dx_c| with x the model's input (after preprocessing, so x = 0 is
   * the mean image): the first-order contribution of each pixel relative to the mean image.
   */
  timesInput?: boolean;
  /** most model inputs per forward/backward pass (default: the whole batch, or all 10 N crops, in one pass) */
  batchSize?: number;
  /** also return the gradient itself (SaliencyMap.gradient, [C, H, W]); crops: 1 only */
  returnGradient?: boolean;
  /** for crops: 10, the resized image's size [R_h, R_w] (default round(H * 256 / 224), round(W * 256 / 224)) */
  resize?: number | [number, number];
}

export interface SaliencyMap {
  width: number;
  height: number;
  /** H * W values, row-major: max over colour channels of |dS_c / dI| */
  data: Float32Array;
  target: number;
  /** the unnormalised class score S_c of the image (averaged over crops and noise samples) */
  score: number;
  /** the gradient dS_c / dI itself, [C, H, W] row-major, when asked for (averaged over noise samples) */
  gradient?: Float32Array;
}

const OPTION_KEYS = ['target', 'crops', 'method', 'smoothGrad', 'timesInput', 'batchSize', 'returnGradient', 'resize'] as const;

interface Pass {
  /** maps [n, H, W] */
  maps: Float32Array;
  /** the targets' scores [n] */
  scores: Float32Array;
  targets: number[];
  gradient?: Float32Array;
}

/**
 * One forward and one backward pass over a batch of model-sized images. `targets` null: each group of `group`
 * consecutive inputs (the crops of one image) takes the class with the highest mean score in the group.
 */
async function pass(model: Model, x: Tensor, targets: number[] | null, group: number, classes: number,
                    method: SaliencyMethod, timesInput: boolean, wantGradient: boolean): Promise<Pass> {
  const n = x.shape[0];
  const leaf = x.share();
  let input: Tensor | null = null;
  let logits: Tensor | null = null;
  try {
    if (timesInput) {
      // the gradient with respect to the model's input, which then multiplies it
      input = keep(tidy(() => toModelInput(model, x)));
      input.requiresGrad = true;
      logits = keep(tidy(() => model.forward(input!).reshape([n, classes])));
    } else {
      leaf.requiresGrad = true;
      logits = keep(tidy(() => model.forward(toModelInput(model, leaf)).reshape([n, classes])));
    }
    // with the targets known, the scores are read together with the maps (one wait for the device, not two)
    let all = targets ? null : await logits.data();
    const chosen = targets ?? argmaxRows(groupMeans(all!, n, group, classes), n / group, classes).flatMap((c) => new Array(group).fill(c));
    const seed = oneHot(chosen, classes);
    logits.backward(seed, { reluRule: method });
    seed.dispose();
    const wrt = timesInput ? input! : leaf;
    const g = wrt.grad!;
    wrt.grad = null;
    const product = timesInput ? ops.mul(g, input!) : null;
    const mapT = channelMaxAbs(product ?? g);
    const [maps, gradient, scoresRead] = await Promise.all([
      mapT.data(), wantGradient ? g.data() : Promise.resolve(undefined), all ? Promise.resolve(all) : logits.data(),
    ]);
    all = scoresRead;
    mapT.dispose();
    product?.dispose();
    g.dispose();
    const scores = Float32Array.from(chosen, (c, i) => all[i * classes + c]);
    return { maps, scores, targets: chosen, gradient };
  } finally {
    logits?.dispose();
    input?.dispose();
    leaf.dispose();
  }
}

function checkSmooth(fn: string, s: unknown): { samples: number; sigma: number; seed: number } | null {
  if (s === undefined) return null;
  if (s === null || typeof s !== 'object') throw new Error(`${fn}: smoothGrad must be { samples, sigma }, got ${JSON.stringify(s)}`);
  const o = s as { samples?: unknown; sigma?: unknown; seed?: unknown };
  const samples = checkIntOption(fn, 'smoothGrad.samples', o.samples, 1, NaN);
  if (Number.isNaN(samples)) throw new Error(`${fn}: smoothGrad.samples is required (an integer >= 1)`);
  const sigma = checkNumberOption(fn, 'smoothGrad.sigma', o.sigma, 0, NaN);
  if (Number.isNaN(sigma)) throw new Error(`${fn}: smoothGrad.sigma is required (a fraction of the image's range, e.g. 0.15)`);
  const seed = checkNumberOption(fn, 'smoothGrad.seed', o.seed, 0, 0);
  return { samples, sigma, seed };
}

/** Adds N(0, (sigma * range_i)^2) noise to each image of a host batch [n, C, H, W]. */
function addNoise(data: Float32Array, n: number, sigma: number, next: () => number): Float32Array {
  const per = data.length / n;
  const outData = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    let lo = Infinity, hi = -Infinity;
    for (let j = 0; j < per; j++) {
      const v = data[i * per + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const sd = sigma * (hi - lo);
    for (let j = 0; j < per; j += 2) {
      const u = 1 - next(), v = next();
      const r = Math.sqrt(-2 * Math.log(u)) * sd;
      outData[i * per + j] = data[i * per + j] + r * Math.cos(2 * Math.PI * v);
      if (j + 1 < per) outData[i * per + j + 1] = data[i * per + j + 1] + r * Math.sin(2 * Math.PI * v);
    }
  }
  return outData;
}

function concatHost(parts: Float32Array[]): Float32Array {
  const r = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    r.set(p, at);
    at += p.length;
  }
  return r;
}

/** The class with the highest score averaged over each group of `group` consecutive inputs (no backward). */
async function topClasses(model: Model, x: Tensor, group: number, classes: number): Promise<number[]> {
  const n = x.shape[0];
  const logits = noGrad(() => tidy(() => model.forward(toModelInput(model, x)).reshape([n, classes])));
  const all = await logits.data().finally(() => logits.dispose());
  return argmaxRows(groupMeans(all, n, group, classes), n / group, classes);
}

function groupMeans(all: Float32Array, n: number, group: number, classes: number): Float32Array {
  const mean = new Float32Array((n / group) * classes);
  for (let i = 0; i < n; i++) for (let j = 0; j < classes; j++) mean[Math.floor(i / group) * classes + j] += all[i * classes + j] / group;
  return mean;
}

/** The ten crops' geometry inside an rh x rw resized image, for h x w model inputs. */
export function tenCropOrigins(rh: number, rw: number, h: number, w: number): { top: number; left: number; mirror: boolean }[] {
  const five = [[0, 0], [0, rw - w], [rh - h, 0], [rh - h, rw - w], [Math.floor((rh - h) / 2), Math.floor((rw - w) / 2)]];
  return [...five.map(([top, left]) => ({ top, left, mirror: false })), ...five.map(([top, left]) => ({ top, left, mirror: true }))];
}

/**
 * Image-specific class saliency maps for a batch of images [N, C, H, W] (0..255 RGB when the model has a
 * `preprocess`, else the model's own input). Returns one map per image.
 */
export async function saliency(model: Model, images: Tensor, opts?: SaliencyOptions): Promise<SaliencyMap[]> {
  const fn = 'saliency';
  checkModel(fn, model);
  const o = checkOptions<SaliencyOptions>(fn, opts, OPTION_KEYS);
  const crops = o.crops ?? 1;
  if (crops !== 1 && crops !== 10) throw new Error(`${fn}: crops must be 1 or 10, got ${JSON.stringify(o.crops)}`);
  checkImages(fn, 'images', model, images, crops === 10);
  const method = o.method ?? 'gradient';
  if (!['gradient', 'deconvnet', 'guided'].includes(method)) {
    throw new Error(`${fn}: method must be 'gradient', 'deconvnet' or 'guided', got ${JSON.stringify(o.method)}`);
  }
  if (o.timesInput !== undefined && typeof o.timesInput !== 'boolean') throw new Error(`${fn}: timesInput must be true or false, got ${JSON.stringify(o.timesInput)}`);
  if (o.returnGradient !== undefined && typeof o.returnGradient !== 'boolean') throw new Error(`${fn}: returnGradient must be true or false, got ${JSON.stringify(o.returnGradient)}`);
  if (o.returnGradient && crops === 10) throw new Error(`${fn}: returnGradient is available with crops: 1 only`);
  const smooth = checkSmooth(fn, o.smoothGrad);
  const classes = classCount(fn, model);
  const N = images.shape[0];
  const targets = checkTargets(fn, o.target, N, classes);
  const [C, H, W] = model.inputShape;
  let rh = Math.round((H * 256) / 224), rw = Math.round((W * 256) / 224);
  if (o.resize !== undefined) {
    if (crops !== 10) throw new Error(`${fn}: resize applies to crops: 10 only`);
    const r = typeof o.resize === 'number' ? [o.resize, o.resize] : o.resize;
    if (!Array.isArray(r) || r.length !== 2 || r.some((v) => typeof v !== 'number' || !Number.isInteger(v))) {
      throw new Error(`${fn}: resize must be a size or [height, width], got ${JSON.stringify(o.resize)}`);
    }
    [rh, rw] = r;
    if (rh < H || rw < W) throw new Error(`${fn}: resize ${rh}x${rw} is smaller than the model's ${H}x${W} input`);
  }
  const perImage = crops;
  const batchSize = checkIntOption(fn, 'batchSize', o.batchSize, 1, N * perImage);
  // images per pass: whole images only (their crops decide 'top1' together)
  const imagesPerPass = Math.max(1, Math.floor(batchSize / perImage));
  const timesInput = o.timesInput ?? false;
  const wantGradient = o.returnGradient ?? false;

  // host copies are needed for crops and for noise
  const needHost = crops === 10 || smooth !== null || imagesPerPass < N;
  const host = needHost ? await images.data() : null;
  const imgH = images.shape[2], imgW = images.shape[3];
  const imgSize = C * imgH * imgW;

  // the inputs of each image, on the host: the image itself or its ten crops
  const resized: Planar[] = [];
  if (crops === 10) {
    for (let i = 0; i < N; i++) {
      const img: Planar = { channels: C, height: imgH, width: imgW, data: host!.subarray(i * imgSize, (i + 1) * imgSize) };
      const s = Math.max(rh / imgH, rw / imgW);
      const scaled = resize(img, Math.max(rh, Math.round(imgH * s)), Math.max(rw, Math.round(imgW * s)));
      resized.push(centerCrop(scaled, rh, rw));
    }
  }
  const origins = tenCropOrigins(rh, rw, H, W);
  const cropsOf = (src: Planar): Float32Array => {
    const outData = new Float32Array(10 * C * H * W);
    origins.forEach((g, k) => {
      const c = crop(src, g.top, g.left, H, W);
      outData.set((g.mirror ? flipHorizontal(c) : c).data, k * C * H * W);
    });
    return outData;
  };

  const samples = smooth?.samples ?? 1;
  const next = rng(smooth?.seed ?? 0);
  const results: SaliencyMap[] = [];
  for (let first = 0; first < N; first += imagesPerPass) {
    const count = Math.min(imagesPerPass, N - first);
    const outH = crops === 10 ? rh : H, outW = crops === 10 ? rw : W;
    const sumMaps = Array.from({ length: count }, () => new Float32Array(outH * outW));
    const sumScores = new Float64Array(count);
    const sumGrad = wantGradient ? Array.from({ length: count }, () => new Float32Array(C * H * W)) : null;
    let chosen: number[] | null = targets ? targets.slice(first, first + count) : null;
    if (!chosen && smooth) {
      // SmoothGrad explains the clean image's top class: decide it before adding noise
      const clean = crops === 10
        ? tensor(concatHost(resized.slice(first, first + count).map(cropsOf)), [count * 10, C, H, W])
        : tensor(host!.slice(first * imgSize, (first + count) * imgSize), [count, C, H, W]);
      try {
        chosen = await topClasses(model, clean, perImage, classes);
      } finally {
        clean.dispose();
      }
    }
    for (let s = 0; s < samples; s++) {
      // build this pass's input batch
      let x: Tensor;
      if (crops === 10) {
        const batch = new Float32Array(count * 10 * C * H * W);
        for (let i = 0; i < count; i++) {
          let src = resized[first + i];
          if (smooth) src = { ...src, data: addNoise(src.data, 1, smooth.sigma, next) };
          batch.set(cropsOf(src), i * 10 * C * H * W);
        }
        x = tensor(batch, [count * 10, C, H, W]);
      } else if (host) {
        const part = host.subarray(first * imgSize, (first + count) * imgSize);
        x = tensor(smooth ? addNoise(part, count, smooth.sigma, next) : part.slice(), [count, C, H, W]);
      } else {
        x = images.share();
      }
      // after the first sample the targets are fixed, so 'top1' is decided on the clean image's first pass
      const expanded = chosen ? chosen.flatMap((c) => new Array(perImage).fill(c)) : null;
      let r: Pass;
      try {
        r = await pass(model, x, expanded, perImage, classes, method, timesInput, wantGradient);
      } finally {
        x.dispose();
      }
      chosen = r.targets.filter((_, k) => k % perImage === 0);
      for (let i = 0; i < count; i++) {
        if (crops === 10) {
          const sum = sumMaps[i];
          const cover = new Float32Array(outH * outW);
          origins.forEach((g, k) => {
            const m = r.maps.subarray((i * 10 + k) * H * W, (i * 10 + k + 1) * H * W);
            for (let y = 0; y < H; y++) {
              for (let xx = 0; xx < W; xx++) {
                const v = m[y * W + (g.mirror ? W - 1 - xx : xx)];
                const at = (g.top + y) * outW + g.left + xx;
                sum[at] += v;
                cover[at] += 1;
              }
            }
            sumScores[i] += r.scores[i * 10 + k] / 10;
          });
          for (let j = 0; j < sum.length; j++) if (cover[j] > 0) sum[j] /= cover[j];
        } else {
          const m = r.maps.subarray(i * H * W, (i + 1) * H * W);
          const sum = sumMaps[i];
          for (let j = 0; j < sum.length; j++) sum[j] += m[j];
          sumScores[i] += r.scores[i];
          if (sumGrad && r.gradient) {
            const gi = r.gradient.subarray(i * C * H * W, (i + 1) * C * H * W);
            for (let j = 0; j < gi.length; j++) sumGrad[i][j] += gi[j];
          }
        }
      }
    }
    for (let i = 0; i < count; i++) {
      const data = sumMaps[i];
      if (samples > 1) for (let j = 0; j < data.length; j++) data[j] /= samples;
      const map: SaliencyMap = { width: outW, height: outH, data, target: chosen![i], score: sumScores[i] / samples };
      if (sumGrad) {
        if (samples > 1) for (let j = 0; j < sumGrad[i].length; j++) sumGrad[i][j] /= samples;
        map.gradient = sumGrad[i];
      }
      results.push(map);
    }
  }
  return results;
}
