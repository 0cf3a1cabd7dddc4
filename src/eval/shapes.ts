// Weakly supervised localisation measured the way the paper measured it (Sect. 3.2, ILSVRC's criterion), on the
// procedural shapes dataset, whose images come with their ground-truth boxes (src/data/shapes.ts).
//
// Every image of the test split is classified by the model; each method then gives one box for the top-1 class,
// and the image counts as correctly localised when that class is the true one and the box overlaps the
// ground-truth box with IoU >= 0.5. The top-1 localisation error is the share of images that are not. Methods:
//   (a) graphcut   the paper's pipeline: the saliency map of the top-1 class -> foreground / background colour
//                  GMMs from the map's quantiles -> GraphCut -> largest connected component -> its box
//                  (localise() with its defaults);
//   (b) threshold  the same map thresholded at one of its own quantiles -> largest 8-connected component -> its
//                  box: no colour models, no GraphCut. The quantile has no default in the paper, so it is chosen
//                  on the validation split (the best of 0.50, 0.55, ..., 0.95 by IoU >= 0.5 rate) and then fixed;
//   (c) centre     a box of the validation split's mean ground-truth width and height, centred in the image;
//   (d) whole      the whole image.
// (a) and (b) run on gradient maps (Sect. 3) and, for the comparison the paper's Sect. 4 invites, on DeconvNet
// and guided-backpropagation maps (the tape's other ReLU rules).

import { NUM_CLASSES, renderSample, type Sample, SPLITS } from '../data/shapes.js';
import { type Box, largestComponent } from '../localise/components.js';
import { iou, localise, quantile } from '../localise/localise.js';
import type { Model } from '../models/model.js';
import { tensor } from '../tensor/create.js';
import { checkModel, checkOptions } from '../vis/common.js';
import { saliency, type SaliencyMap, type SaliencyMethod } from '../vis/saliency.js';

export type BoxMethod = 'graphcut' | 'threshold' | 'centre' | 'whole';

export interface EvalRow {
  /** (a), (b), ... as in the file header, with the saliency method where one is used */
  id: string;
  boxes: BoxMethod;
  saliency: SaliencyMethod | null;
  /** ILSVRC top-1 localisation error: wrong class, or IoU < 0.5 */
  top1Error: number;
  /** among the correctly classified images, the share whose box has IoU < 0.5 */
  boxError: number;
  /** mean IoU of the boxes with the ground truth, over all images (class not considered) */
  meanIoU: number;
  /** seconds spent on the boxes (saliency maps included for (a) and (b)) */
  seconds: number;
}

export interface EvalReport {
  count: number;
  valCount: number;
  size: number;
  /** top-1 classification error on the test images: a lower bound on every row's top-1 localisation error */
  classificationError: number;
  rows: EvalRow[];
  /** (b)'s quantile, chosen on the validation split, and its IoU >= 0.5 rate there */
  threshold: { quantile: number; valHitRate: number };
  /** (c)'s box size */
  centreBox: { width: number; height: number };
  seconds: number;
}

export interface EvalOptions {
  /** test images (default 500, the first of the test split) */
  count?: number;
  /** validation images for (b)'s threshold and (c)'s box size (default 200) */
  valCount?: number;
  /** saliency methods to run (a) and (b) with (default all three: gradient, deconvnet, guided) */
  methods?: readonly SaliencyMethod[];
  /** images per saliency batch (default 50) */
  batchSize?: number;
  /** called after each step of work with the steps done and the total */
  onProgress?: (done: number, total: number) => void;
}

const fn = 'evaluateShapes';
const KEYS = ['count', 'valCount', 'methods', 'batchSize', 'onProgress'];
const ALL_METHODS: readonly SaliencyMethod[] = ['gradient', 'deconvnet', 'guided'];
export const THRESHOLD_QUANTILES: readonly number[] = Array.from({ length: 10 }, (_, i) => Number((0.5 + 0.05 * i).toFixed(2)));

function int(arg: string, v: unknown, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`${fn}: ${arg} must be an integer from ${min} to ${max}, got ${String(v)}`);
  return v;
}

/** (b): the box of the largest 8-connected component of the map's pixels at or above its q-quantile. */
export function thresholdBox(map: SaliencyMap, q: number): Box {
  const t = quantile(map.data, q);
  const mask = new Uint8Array(map.data.length);
  for (let i = 0; i < mask.length; i++) mask[i] = map.data[i] >= t ? 1 : 0;
  return largestComponent(mask, map.width, map.height, 8).box ?? { x: 0, y: 0, width: map.width, height: map.height };
}

/** Saliency maps of the top-1 class for every sample, in batches. */
async function maps(model: Model, samples: readonly Sample[], method: SaliencyMethod, batch: number, tick: () => void): Promise<SaliencyMap[]> {
  const out: SaliencyMap[] = [];
  const S = samples[0].size;
  for (let i = 0; i < samples.length; i += batch) {
    const part = samples.slice(i, i + batch);
    const host = new Float32Array(part.length * 3 * S * S);
    part.forEach((s, j) => host.set(s.image, j * 3 * S * S));
    const x = tensor(host, [part.length, 3, S, S]);
    try {
      out.push(...await saliency(model, x, { target: 'top1', method }));
    } finally {
      x.dispose();
    }
    tick();
  }
  return out;
}

/**
 * Top-1 localisation error of methods (a)-(d) on the first `count` images of the shapes test split, at the
 * model's input size. The model must take [3, S, S] images and output the dataset's 10 class scores.
 */
export async function evaluateShapes(model: Model, opts?: EvalOptions): Promise<EvalReport> {
  checkModel(fn, model);
  const o = checkOptions<EvalOptions>(fn, opts, KEYS);
  const [C, H, W] = model.inputShape;
  if (C !== 3 || H !== W) throw new Error(`${fn}: the model must take square RGB images [3, S, S], it takes [${model.inputShape.join(', ')}]`);
  const k = model.outputShape[1];
  if (model.outputShape.length !== 2 || k !== NUM_CLASSES) {
    throw new Error(`${fn}: the model must output the shapes dataset's ${NUM_CLASSES} class scores, it outputs [${model.outputShape.join(', ')}]`);
  }
  const count = int('count', o.count, 500, 1, 100_000);
  const valCount = int('valCount', o.valCount, 200, 1, 100_000);
  const batch = int('batchSize', o.batchSize, 50, 1, 4096);
  const methods = o.methods ?? ALL_METHODS;
  if (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => !ALL_METHODS.includes(m))) {
    throw new Error(`${fn}: methods must be a non-empty list of ${ALL_METHODS.join(', ')}, got ${JSON.stringify(methods)}`);
  }
  if (!methods.includes('gradient')) throw new Error(`${fn}: methods must include 'gradient' (the paper's maps, and (b)'s threshold is chosen on them)`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new Error(`${fn}: onProgress must be a function`);
  const started = performance.now();

  const S = H;
  const batchesOf = (n: number) => Math.ceil(n / batch);
  const total = valCount + count + batchesOf(valCount) + methods.length * (batchesOf(count) + 2 * count) + 2;
  let done = 0;
  const tick = (n = 1) => {
    done += n;
    o.onProgress?.(done, total);
  };

  const render = (seed: number, n: number) => Array.from({ length: n }, (_, i) => {
    const s = renderSample(seed, i, S);
    tick();
    return s;
  });
  const val = render(SPLITS.val, valCount);
  const test = render(SPLITS.test, count);
  const truth = (s: Sample) => s.box;

  // (b)'s quantile and (c)'s box, from the validation split
  const valMaps = await maps(model, val, 'gradient', batch, tick);
  let best = { quantile: THRESHOLD_QUANTILES[0], valHitRate: -1 };
  for (const q of THRESHOLD_QUANTILES) {
    let hits = 0;
    valMaps.forEach((m, i) => {
      if (iou(thresholdBox(m, q), truth(val[i])) >= 0.5) hits++;
    });
    if (hits / valCount > best.valHitRate) best = { quantile: q, valHitRate: hits / valCount };
  }
  const cw = Math.round(val.reduce((a, s) => a + s.box.width, 0) / valCount);
  const ch = Math.round(val.reduce((a, s) => a + s.box.height, 0) / valCount);
  const centre: Box = { x: Math.round((S - cw) / 2), y: Math.round((S - ch) / 2), width: cw, height: ch };
  const whole: Box = { x: 0, y: 0, width: S, height: S };

  const score = (id: string, boxes: BoxMethod, sal: SaliencyMethod | null, predicted: readonly number[], got: readonly Box[], seconds: number): EvalRow => {
    let wrong = 0, boxMiss = 0, right = 0, sumIoU = 0;
    test.forEach((s, i) => {
      const v = iou(got[i], truth(s));
      sumIoU += v;
      if (predicted[i] !== s.label) {
        wrong++;
        return;
      }
      right++;
      if (v < 0.5) boxMiss++;
    });
    return {
      id, boxes, saliency: sal, top1Error: (wrong + boxMiss) / count, boxError: right > 0 ? boxMiss / right : 0,
      meanIoU: sumIoU / count, seconds,
    };
  };

  const rows: EvalRow[] = [];
  let predicted: number[] = [];
  const letter = (m: SaliencyMethod) => (m === 'gradient' ? '' : ` (${m})`);
  for (const method of methods) {
    const t0 = performance.now();
    const ms = await maps(model, test, method, batch, tick);
    const mapSeconds = (performance.now() - t0) / 1000;
    if (method === 'gradient') predicted = ms.map((m) => m.target);
    const cut: Box[] = [];
    const t1 = performance.now();
    for (let i = 0; i < count; i++) {
      const x = tensor(test[i].image, [1, 3, S, S]);
      try {
        const [loc] = await localise(model, x, { saliency: ms[i] });
        cut.push(loc.box);
      } finally {
        x.dispose();
      }
      tick();
    }
    const cutSeconds = (performance.now() - t1) / 1000;
    const t2 = performance.now();
    const thr = ms.map((m) => {
      tick();
      return thresholdBox(m, best.quantile);
    });
    const thrSeconds = (performance.now() - t2) / 1000;
    const preds = ms.map((m) => m.target);
    rows.push(score(`(a)${letter(method)}`, 'graphcut', method, preds, cut, mapSeconds + cutSeconds));
    rows.push(score(`(b)${letter(method)}`, 'threshold', method, preds, thr, mapSeconds + thrSeconds));
  }
  rows.push(score('(c)', 'centre', null, predicted, test.map(() => centre), 0));
  tick();
  rows.push(score('(d)', 'whole', null, predicted, test.map(() => whole), 0));
  tick();
  // (a) and (b) first by method as computed; the order of the table: (a), (b), (c), (d), then the other maps
  const order = (r: EvalRow) => (r.saliency === 'gradient' || r.saliency === null ? 0 : 1) * 10 + 'abcd'.indexOf(r.id[1]);
  rows.sort((p, q) => order(p) - order(q) || ALL_METHODS.indexOf(p.saliency ?? 'gradient') - ALL_METHODS.indexOf(q.saliency ?? 'gradient'));
  const classificationError = predicted.filter((p, i) => p !== test[i].label).length / count;
  return {
    count, valCount, size: S, classificationError, rows, threshold: best, centreBox: { width: cw, height: ch },
    seconds: (performance.now() - started) / 1000,
  };
}
