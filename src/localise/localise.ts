// Weakly supervised localisation (Sect. 3.2 of the paper): a class saliency map becomes an object mask and a
// bounding box with no box or mask supervision.
//
//  1. The saliency map M of the class (for each of the top-K classes with topK).
//  2. Seeds: pixels with M above its fgQuantile quantile (0.95) estimate the foreground colour model, pixels
//     below its bgQuantile quantile (0.30) the background one (strict inequalities, as the paper words it; when
//     ties at a quantile leave a side empty, the tied pixels join it unless they are the map's other extreme).
//  3. Colour models: a Gaussian mixture with `components` (5) full-covariance components for each, fitted by EM
//     (src/localise/gmm.ts) on the RGB values in 0..255.
//  4. GraphCut (Boykov & Jolly 2001, with GrabCut's energy, Rother et al. 2004): minimise
//        E(L) = sum_p D_(L_p)(z_p) + sum_(p,q neighbours, L_p != L_q) gamma exp(-beta ||z_p - z_q||^2) / dist(p, q)
//     with D_l(z) = -log p(z | GMM_l), gamma = 50, beta = 1 / (2 <||z_p - z_q||^2>) averaged over all neighbour
//     pairs of the image, dist = 1 for the 4 axis neighbours and sqrt(2) for diagonals (8-connected by default).
//     As in the paper, the seeds only estimate the colour models; `hardSeeds: true` also makes them hard
//     constraints (Boykov & Jolly's interactive seeds: a foreground seed can only be foreground, a background
//     seed only background). That is fragile with saliency seeds: the 30% quantile of a map that covers part of
//     the object falls inside the object's unsalient part too, and hard background seeds there cut it away.
//     The minimum is found by max-flow (src/localise/maxflow.ts).
//  5. Optional re-estimation: with iterations > 1, both colour models are refitted on the current labelling and
//     the cut repeated (the paper does one cut: the default).
//  6. The mask is the largest 8-connected component of the foreground; the box is its bounding box.
// Degenerate inputs give a defined result, stated in `note`: when either seed set is empty (a constant map, a
// 1x1 image) or the cut leaves no foreground, the box is the whole image and the mask all ones.

import type { Model } from '../models/model.js';
import { noGrad } from '../autograd/graph.js';
import { tensor } from '../tensor/create.js';
import { Tensor, tidy } from '../tensor/tensor.js';
import { checkImages, checkModel, checkOptions, checkTargets, classCount, toModelInput } from '../vis/common.js';
import { saliency, type SaliencyMap, type SaliencyMethod } from '../vis/saliency.js';
import { type Box, largestComponent } from './components.js';
import { type Gmm, gmmFit, gmmLogLikelihood } from './gmm.js';
import { maxflowGrid } from './maxflow.js';

export type { Box };

export interface LocaliseOptions {
  /** boxes for each of the top-K classes (ILSVRC: 5); default 1 */
  topK?: number;
  /** the class to localise instead of the top-K (one box) */
  target?: number;
  /** foreground seeds: saliency above this quantile (default 0.95) */
  fgQuantile?: number;
  /** background seeds: saliency below this quantile (default 0.30) */
  bgQuantile?: number;
  /** GMM components per colour model (default 5) */
  components?: number;
  /** EM iterations per fit (default 10) */
  emIterations?: number;
  /** reuse a saliency map (of the image's size) instead of computing one; its target is the class localised */
  saliency?: SaliencyMap;
  /** the saliency method when a map is computed (default 'gradient') */
  method?: SaliencyMethod;
  /** GrabCut's smoothness weight gamma (default 50) */
  gamma?: number;
  /** 4 or 8 (default 8) neighbours in the graph and in the connected components */
  connectivity?: 4 | 8;
  /** seeds as hard constraints as well as colour samples (default false: the paper's use of them) */
  hardSeeds?: boolean;
  /** colour-model re-estimations: 1 (default, the paper's single cut) or more */
  iterations?: number;
  /** seeds the GMMs' k-means++ initialisation (default 0) */
  seed?: number;
}

export interface Localisation {
  target: number;
  score: number;
  box: Box;
  /** H * W, 1 inside the object mask (the largest connected component of the foreground) */
  mask: Uint8Array;
  /** H * W: 1 foreground seed, 2 background seed, 0 unused */
  seeds: Uint8Array;
  /** set when the result is the degenerate fallback (the whole image), saying why */
  note?: string;
}

const KEYS = ['topK', 'target', 'fgQuantile', 'bgQuantile', 'components', 'emIterations', 'saliency', 'method', 'gamma',
  'connectivity', 'hardSeeds', 'iterations', 'seed'];

/** A large finite capacity for hard constraints: above any cut through the pairwise terms. */
const HARD = 1e12;

/** The q-quantile of sorted values (linear interpolation between order statistics, numpy's default). */
export function quantileSorted(sorted: Float32Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The q-quantile of the values. */
export function quantile(values: Float32Array, q: number): number {
  return quantileSorted(Float32Array.from(values).sort(), q);
}

interface Problem { width: number; height: number; rgb: Float32Array /* H*W*3 interleaved */; map: Float32Array }

function fraction(fn: string, arg: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0 && v < 1)) throw new Error(`${fn}: ${arg} must be a number in (0, 1), got ${String(v)}`);
  return v;
}

function int(fn: string, arg: string, v: unknown, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${fn}: ${arg} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export interface SegmentOptions {
  fgQuantile: number; bgQuantile: number; components: number; emIterations: number; gamma: number;
  connectivity: 4 | 8; hardSeeds: boolean; iterations: number; seed: number;
}

/** GrabCut's contrast term: per forward direction (right, down, down-right, down-left) gamma exp(-beta d^2) / dist. */
export function pairwiseWeights(rgb: Float32Array, width: number, height: number, connectivity: 4 | 8, gamma: number): Float64Array {
  const dirs = connectivity === 8 ? [[1, 0], [0, 1], [1, 1], [-1, 1]] : [[1, 0], [0, 1]];
  const n = width * height;
  const d2 = new Float64Array(dirs.length * n);
  let sum = 0, count = 0;
  dirs.forEach(([dx, dy], k) => {
    for (let y = 0; y < height; y++) {
      const y2 = y + dy;
      if (y2 >= height) continue;
      for (let x = 0; x < width; x++) {
        const x2 = x + dx;
        if (x2 < 0 || x2 >= width) continue;
        const p = y * width + x, q = y2 * width + x2;
        const dr = rgb[3 * p] - rgb[3 * q], dg = rgb[3 * p + 1] - rgb[3 * q + 1], db = rgb[3 * p + 2] - rgb[3 * q + 2];
        const v = dr * dr + dg * dg + db * db;
        d2[k * n + p] = v;
        sum += v;
        count++;
      }
    }
  });
  // beta = 1 / (2 <d^2>); an image of one colour has <d^2> = 0: every neighbour pair then weighs gamma
  const mean = count > 0 ? sum / count : 0;
  const beta = mean > 0 ? 1 / (2 * mean) : 0;
  const w = new Float64Array(d2.length);
  dirs.forEach(([dx, dy], k) => {
    const scale = gamma / Math.hypot(dx, dy);
    for (let p = 0; p < n; p++) w[k * n + p] = scale * Math.exp(-beta * d2[k * n + p]);
  });
  return w;
}

function pixelsWhere(rgb: Float32Array, pick: (p: number) => boolean, n: number): Float32Array {
  let count = 0;
  for (let p = 0; p < n; p++) if (pick(p)) count++;
  const out = new Float32Array(count * 3);
  let at = 0;
  for (let p = 0; p < n; p++) {
    if (!pick(p)) continue;
    out[at++] = rgb[3 * p];
    out[at++] = rgb[3 * p + 1];
    out[at++] = rgb[3 * p + 2];
  }
  return out;
}

function fit(points: Float32Array, o: SegmentOptions): Gmm {
  const n = points.length / 3;
  return gmmFit(points, Math.min(o.components, n), { iterations: o.emIterations, seed: o.seed });
}

/**
 * The segmentation of one image from its saliency map (steps 2-6 above): returns the mask, seeds, box and the
 * degenerate note. `rgb` is H*W*3 interleaved 0..255.
 */
export function segmentFromSaliency(p: Problem, o: SegmentOptions): Omit<Localisation, 'target' | 'score'> {
  const { width, height, rgb, map } = p;
  const n = width * height;
  const whole = (note: string, seeds: Uint8Array): Omit<Localisation, 'target' | 'score'> =>
    ({ box: { x: 0, y: 0, width, height }, mask: new Uint8Array(n).fill(1), seeds, note });
  const sorted = Float32Array.from(map).sort();
  const tFg = quantileSorted(sorted, o.fgQuantile), tBg = quantileSorted(sorted, o.bgQuantile);
  const lowest = sorted[0], highest = sorted[n - 1];
  // strictly above / below the quantiles; where ties leave one side empty (a map that is 0 on over 30% of the
  // image, say), the tied values count too, short of the map's other extreme; a pixel both ways is unused
  let fgAt = (v: number) => v > tFg, bgAt = (v: number) => v < tBg;
  if (!(highest > tFg)) fgAt = (v) => v >= tFg && v > lowest;
  if (!(lowest < tBg)) bgAt = (v) => v <= tBg && v < highest;
  const seeds = new Uint8Array(n);
  let nFg = 0, nBg = 0;
  for (let i = 0; i < n; i++) {
    const fg = fgAt(map[i]), bg = bgAt(map[i]);
    if (fg && !bg) {
      seeds[i] = 1;
      nFg++;
    } else if (bg && !fg) {
      seeds[i] = 2;
      nBg++;
    }
  }
  if (nFg === 0 || nBg === 0) {
    return whole(`no ${nFg === 0 ? 'foreground' : 'background'} seeds: the saliency map has no pixels ${nFg === 0 ? 'above its' : 'below its'} ${nFg === 0 ? o.fgQuantile : o.bgQuantile} quantile`, seeds);
  }
  const pairwise = pairwiseWeights(rgb, width, height, o.connectivity, o.gamma);
  let fgModel = fit(pixelsWhere(rgb, (i) => seeds[i] === 1, n), o);
  let bgModel = fit(pixelsWhere(rgb, (i) => seeds[i] === 2, n), o);
  let side: Uint8Array = new Uint8Array(n);
  for (let it = 0; it < o.iterations; it++) {
    const lFg = gmmLogLikelihood(fgModel, rgb), lBg = gmmLogLikelihood(bgModel, rgb);
    const source = new Float64Array(n), sink = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // labelled background, a pixel pays -log p_bg (its source edge is cut); foreground pays -log p_fg
      const dFg = -lFg[i], dBg = -lBg[i];
      const m = Math.min(dFg, dBg);
      source[i] = dBg - m;
      sink[i] = dFg - m;
      if (o.hardSeeds && seeds[i] === 1) {
        source[i] = HARD;
        sink[i] = 0;
      } else if (o.hardSeeds && seeds[i] === 2) {
        source[i] = 0;
        sink[i] = HARD;
      }
    }
    side = maxflowGrid(width, height, o.connectivity, source, sink, pairwise).side;
    if (it + 1 < o.iterations) {
      const fgPix = pixelsWhere(rgb, (i) => side[i] === 1, n), bgPix = pixelsWhere(rgb, (i) => side[i] === 0, n);
      if (fgPix.length === 0 || bgPix.length === 0) break;
      fgModel = fit(fgPix, o);
      bgModel = fit(bgPix, o);
    }
  }
  const largest = largestComponent(side, width, height, o.connectivity);
  if (!largest.box) return whole('the cut left no foreground', seeds);
  return { box: largest.box, mask: largest.mask, seeds };
}

export function segmentOptions(fn: string, o: LocaliseOptions): SegmentOptions {
  const fgQuantile = fraction(fn, 'fgQuantile', o.fgQuantile, 0.95);
  const bgQuantile = fraction(fn, 'bgQuantile', o.bgQuantile, 0.3);
  if (fgQuantile <= bgQuantile) {
    throw new Error(`${fn}: fgQuantile (${fgQuantile}) must be above bgQuantile (${bgQuantile})`);
  }
  const connectivity = o.connectivity ?? 8;
  if (connectivity !== 4 && connectivity !== 8) throw new Error(`${fn}: connectivity must be 4 or 8, got ${String(o.connectivity)}`);
  if (o.hardSeeds !== undefined && typeof o.hardSeeds !== 'boolean') throw new Error(`${fn}: hardSeeds must be true or false, got ${String(o.hardSeeds)}`);
  const gamma = o.gamma ?? 50;
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma < 0) throw new Error(`${fn}: gamma must be a finite number >= 0, got ${String(o.gamma)}`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error(`${fn}: seed must be a finite number, got ${String(o.seed)}`);
  return {
    fgQuantile, bgQuantile, connectivity, gamma, seed,
    components: int(fn, 'components', o.components, 1, 5),
    emIterations: int(fn, 'emIterations', o.emIterations, 1, 10),
    hardSeeds: o.hardSeeds ?? false,
    iterations: int(fn, 'iterations', o.iterations, 1, 1),
  };
}

/** The image [1, 3, H, W] (0..255 RGB) as H*W*3 interleaved values. */
async function interleaved(fn: string, image: Tensor): Promise<{ rgb: Float32Array; width: number; height: number }> {
  if (!(image instanceof Tensor)) throw new Error(`${fn}: image must be a Tensor [1, 3, H, W], got ${image === null ? 'null' : typeof image}`);
  if (image.disposed) throw new Error(`${fn}: image (shape [${image.shape.join(', ')}]) was disposed`);
  const s = image.shape;
  if (s.length !== 4 || s[0] !== 1 || s[1] !== 3) {
    throw new Error(`${fn}: image must be one 3-channel image [1, 3, H, W] (0..255 RGB), got shape [${s.join(', ')}]`);
  }
  const [, , height, width] = s;
  const planar = await image.data();
  const n = width * height;
  const rgb = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) rgb[3 * i + c] = planar[c * n + i];
  for (let i = 0; i < rgb.length; i++) {
    if (!Number.isFinite(rgb[i])) throw new Error(`${fn}: image holds a non-finite value at element ${i}`);
  }
  return { rgb, width, height };
}

function checkMap(fn: string, map: unknown, width: number, height: number): SaliencyMap {
  const m = map as SaliencyMap;
  if (!m || typeof m !== 'object' || !(m.data instanceof Float32Array)) {
    throw new Error(`${fn}: saliency must be a SaliencyMap { width, height, data: Float32Array, target, score }`);
  }
  if (m.width !== width || m.height !== height || m.data.length !== width * height) {
    throw new Error(`${fn}: the saliency map is ${m.width}x${m.height} (${m.data.length} values) but the image is ${width}x${height}`);
  }
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i])) throw new Error(`${fn}: the saliency map holds ${m.data[i]} at pixel ${i} (x ${i % width}, y ${Math.floor(i / width)})`);
  }
  return m;
}

/**
 * Boxes for an image [1, 3, H, W] (0..255 RGB, the model's input size): one per class localised (the top-K
 * classes by score, a given target, or the class of a given saliency map).
 */
export async function localise(model: Model, image: Tensor, opts?: LocaliseOptions): Promise<Localisation[]> {
  const fn = 'localise';
  const o = checkOptions<LocaliseOptions>(fn, opts, KEYS);
  const seg = segmentOptions(fn, o);
  const { rgb, width, height } = await interleaved(fn, image);
  let maps: SaliencyMap[];
  if (o.saliency !== undefined) {
    if (o.topK !== undefined || o.target !== undefined) throw new Error(`${fn}: give saliency, or topK / target, not both`);
    maps = [checkMap(fn, o.saliency, width, height)];
  } else {
    checkModel(fn, model);
    const classes = classCount(fn, model);
    if (o.target !== undefined && o.topK !== undefined) throw new Error(`${fn}: give target or topK, not both`);
    let targets: number[];
    if (o.target !== undefined) {
      targets = checkTargets(fn, o.target, 1, classes)!;
    } else {
      const topK = int(fn, 'topK', o.topK, 1, 1);
      if (topK > classes) throw new Error(`${fn}: topK ${topK} exceeds the model's ${classes} classes`);
      checkImages(fn, 'image', model, image, false);
      // the top-K classes by score (one forward pass), then one map each (one backward pass over K copies)
      const logits = noGrad(() => tidy(() => model.forward(toModelInput(model, image))));
      const scores = await logits.data().finally(() => logits.dispose());
      targets = [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b).slice(0, topK);
    }
    const batch = targets.length === 1 ? image : await repeat(image, targets.length);
    try {
      maps = await saliency(model, batch, { target: targets, method: o.method });
    } finally {
      if (batch !== image) batch.dispose();
    }
  }
  for (const m of maps) checkMap(fn, m, width, height);
  return maps.map((m) => ({ target: m.target, score: m.score, ...segmentFromSaliency({ width, height, rgb, map: m.data }, seg) }));
}

async function repeat(image: Tensor, n: number): Promise<Tensor> {
  const one = await image.data();
  const all = new Float32Array(one.length * n);
  for (let i = 0; i < n; i++) all.set(one, i * one.length);
  return tensor(all, [n, ...image.shape.slice(1)]);
}

// ----------------------------------------------------------------------------- evaluation

export interface GroundTruth { label: number; boxes: Box[] }

/** Intersection over union of two boxes (x, y, width, height in pixels; area = width * height). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

function checkBox(fn: string, where: string, b: unknown): Box {
  const x = b as Box;
  if (!x || typeof x !== 'object' || ![x.x, x.y, x.width, x.height].every((v) => typeof v === 'number' && Number.isFinite(v)) || x.width < 0 || x.height < 0) {
    throw new Error(`${fn}: ${where} must be a box { x, y, width, height } with finite numbers and non-negative sizes, got ${JSON.stringify(b)}`);
  }
  return x;
}

/**
 * The ILSVRC localisation criterion: an image counts as correct when one of its predictions (the first one for
 * top-1, the first five for top-5) has the right class and IoU >= 0.5 with one of the ground-truth boxes.
 * Returns the error rates (fractions of images not correct).
 */
export function evaluateLocalisation(predictions: readonly (readonly Pick<Localisation, 'target' | 'box'>[])[],
                                     truth: readonly GroundTruth[]): { top1Error: number; top5Error: number } {
  const fn = 'evaluateLocalisation';
  if (!Array.isArray(predictions)) throw new Error(`${fn}: predictions must be an array (one list of predictions per image)`);
  if (!Array.isArray(truth)) throw new Error(`${fn}: truth must be an array (one { label, boxes } per image)`);
  if (predictions.length !== truth.length) throw new Error(`${fn}: ${predictions.length} prediction lists for ${truth.length} images`);
  if (truth.length === 0) throw new Error(`${fn}: no images to evaluate`);
  let top1 = 0, top5 = 0;
  predictions.forEach((preds, i) => {
    if (!Array.isArray(preds)) throw new Error(`${fn}: predictions[${i}] must be an array of predictions`);
    const t = truth[i];
    if (!t || typeof t !== 'object' || typeof t.label !== 'number' || !Array.isArray(t.boxes) || t.boxes.length === 0) {
      throw new Error(`${fn}: truth[${i}] must be { label, boxes } with at least one box`);
    }
    const boxes = (t.boxes as readonly Box[]).map((b: Box, k: number) => checkBox(fn, `truth[${i}].boxes[${k}]`, b));
    const correct = preds.map((p, k) => {
      if (!p || typeof p.target !== 'number') throw new Error(`${fn}: predictions[${i}][${k}] must have a target class`);
      const box = checkBox(fn, `predictions[${i}][${k}].box`, p.box);
      return p.target === t.label && boxes.some((b: Box) => iou(box, b) >= 0.5);
    });
    if (correct[0]) top1++;
    if (correct.slice(0, 5).some(Boolean)) top5++;
  });
  return { top1Error: 1 - top1 / truth.length, top5Error: 1 - top5 / truth.length };
}
