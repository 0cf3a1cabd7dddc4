// Training a classifier with the tape: mini-batch SGD (momentum, weight decay) or Adam on the mean cross-entropy
// of the model's unnormalised scores, with the host-side augmentation of augment.ts, a cosine or constant learning
// rate, and per-epoch accuracy on a validation set. Images are 0..255 RGB [N, C, H, W] at the model's input size;
// the model's preprocessing runs on the device as in the visualisation methods (toModelInput). The model's device
// weights are trained in place; syncWeights() copies them back to the host for saveOnnx.

import { noGrad } from '../autograd/graph.js';
import type { Model } from '../models/model.js';
import * as ops from '../ops/index.js';
import { rng, tensor } from '../tensor/create.js';
import { keep, type Tensor, tidy } from '../tensor/tensor.js';
import { argmaxRows, toModelInput } from '../vis/common.js';
import { augment, type AugmentOptions } from './augment.js';
import { Adam, SGD } from './optim.js';

/** Images [count, C, H, W] (0..255 RGB) and one class per image. */
export interface Dataset { images: Float32Array; labels: ArrayLike<number> }

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** steps done in this epoch, of `steps` */
  step: number;
  steps: number;
  /** this epoch's mean loss and accuracy so far (on the augmented batches) */
  loss: number;
  accuracy: number;
  lr: number;
}

export interface EpochResult { epoch: number; loss: number; trainAccuracy: number; valAccuracy: number | null; seconds: number }

export interface TrainOptions {
  epochs: number;
  /** default 32 */
  batchSize?: number;
  /** default 'sgd' */
  optimizer?: 'sgd' | 'adam';
  /** default 0.01 (sgd) or 1e-3 (adam) */
  lr?: number;
  /** sgd momentum, default 0.9 */
  momentum?: number;
  /** default 5e-4 */
  weightDecay?: number;
  /** 'cosine' (default): lr (1 + cos(pi t / T)) / 2 over all steps; 'constant' */
  schedule?: 'cosine' | 'constant';
  /** the shuffling, augmentation and dropout seed (default 0) */
  seed?: number;
  /** augmentation (default: pad 8, mirror, one erased rectangle filled with the preprocessing's mean); false: none */
  augment?: AugmentOptions | false;
  /** accuracy measured on it after each epoch */
  val?: Dataset;
  onProgress?: (p: TrainProgress) => void;
  /** after each epoch (awaited: a checkpoint can be written here) */
  onEpoch?: (e: EpochResult) => void | Promise<void>;
}

const fn = 'train';

function checkDataset(arg: string, d: unknown, shape: readonly number[], classes: number): number {
  if (typeof d !== 'object' || d === null) throw new Error(`${fn}: ${arg} must be { images, labels }`);
  const { images, labels } = d as Dataset;
  if (!(images instanceof Float32Array)) throw new Error(`${fn}: ${arg}.images must be a Float32Array`);
  const per = shape[0] * shape[1] * shape[2];
  if (images.length === 0 || images.length % per !== 0) {
    throw new Error(`${fn}: ${arg}.images has ${images.length} values, not a whole number of [${shape.join(', ')}] images`);
  }
  const count = images.length / per;
  if (!labels || typeof labels.length !== 'number' || labels.length !== count) {
    throw new Error(`${fn}: ${arg}.labels must hold one class per image (${count}), got ${(labels as ArrayLike<number>)?.length ?? typeof labels}`);
  }
  for (let i = 0; i < count; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new Error(`${fn}: ${arg}.labels[${i}] = ${c} is not a class in [0, ${classes})`);
  }
  return count;
}

function positive(arg: string, v: unknown, fallback: number, integer: boolean): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new Error(`${fn}: ${arg} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
  return v;
}

/** Top-1 accuracy of the model on a dataset (no augmentation, dropout off). */
export async function accuracy(model: Model, data: Dataset, batchSize = 64): Promise<number> {
  const shape = model.inputShape;
  const classes = model.outputShape[1];
  const count = checkDataset('data', data, shape, classes);
  const per = shape[0] * shape[1] * shape[2];
  let correct = 0;
  for (let i = 0; i < count; i += batchSize) {
    const n = Math.min(batchSize, count - i);
    const scores = noGrad(() => tidy(() => {
      const x = tensor(data.images.subarray(i * per, (i + n) * per), [n, ...shape]);
      return model.forward(toModelInput(model, x));
    }));
    const s = await scores.data();
    scores.dispose();
    const pred = argmaxRows(s, n, classes);
    for (let j = 0; j < n; j++) if (pred[j] === data.labels[i + j]) correct++;
  }
  return correct / count;
}

/** Trains `model` in place on `data`; returns each epoch's figures. */
export async function train(model: Model, data: Dataset, opts: TrainOptions): Promise<EpochResult[]> {
  if (!model || typeof model !== 'object' || !Array.isArray((model as Model).layers)) throw new Error(`${fn}: model must be a Model`);
  if (typeof opts !== 'object' || opts === null) throw new Error(`${fn}: opts must be an object with at least epochs`);
  const shape = model.inputShape;
  if (model.outputShape.length !== 2) throw new Error(`${fn}: the model must output class scores [N, K], it outputs [${model.outputShape.join(', ')}]`);
  const classes = model.outputShape[1];
  const count = checkDataset('data', data, shape, classes);
  if (opts.val !== undefined) checkDataset('opts.val', opts.val, shape, classes);
  const epochs = positive('opts.epochs', opts.epochs, NaN, true);
  const batchSize = positive('opts.batchSize', opts.batchSize, 32, true);
  const kind = opts.optimizer ?? 'sgd';
  if (kind !== 'sgd' && kind !== 'adam') throw new Error(`${fn}: opts.optimizer must be 'sgd' or 'adam', got ${JSON.stringify(opts.optimizer)}`);
  const lr0 = positive('opts.lr', opts.lr, kind === 'sgd' ? 0.01 : 1e-3, false);
  const schedule = opts.schedule ?? 'cosine';
  if (schedule !== 'cosine' && schedule !== 'constant') throw new Error(`${fn}: opts.schedule must be 'cosine' or 'constant', got ${JSON.stringify(opts.schedule)}`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff) throw new Error(`${fn}: opts.seed must be an integer from 0 to 65535, got ${String(opts.seed)}`);
  const weightDecay = opts.weightDecay ?? 5e-4;
  const fill = model.preprocess ? model.preprocess.mean.map((m) => (model.preprocess!.scale === 255 ? m : 255 * m)) : undefined;
  const aug: AugmentOptions | false = opts.augment === undefined ? { pad: 8, mirror: true, erase: 1, fill } : opts.augment;

  model.trainable(true);
  const params = model.parameters().map((p) => p.tensor);
  const optim = kind === 'sgd'
    ? new SGD(params, { lr: lr0, momentum: opts.momentum ?? 0.9, weightDecay })
    : new Adam(params, { lr: lr0, weightDecay });
  const random = rng(seed);
  const per = shape[0] * shape[1] * shape[2];
  const steps = Math.ceil(count / batchSize);
  const total = epochs * steps;
  const results: EpochResult[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const started = performance.now();
      const order = Array.from({ length: count }, (_, i) => i);
      for (let i = count - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      let lossSum = 0, correct = 0, seen = 0;
      // A step's loss and scores are read back while the next step is recorded: the device works on step s while
      // the host augments and records step s + 1, instead of idling at every step's read-back. The figures and
      // onProgress's calls are the same, one step later; a non-finite loss still names its own step.
      type Step = { loss: Tensor; logits: Tensor; labels: Int32Array; step: number; lr: number };
      let pending: Step | null = null;
      // reads a step's figures and releases its tensors
      const settle = async (p: Step | null) => {
        if (!p) return;
        const [lv, sv] = await Promise.all([p.loss.data(), p.logits.data()]).finally(() => {
          p.loss.dispose();
          p.logits.dispose();
        });
        const n = p.labels.length;
        if (!Number.isFinite(lv[0])) throw new Error(`${fn}: the loss became ${lv[0]} at epoch ${epoch + 1}, step ${p.step + 1} (lower opts.lr)`);
        const pred = argmaxRows(sv, n, classes);
        for (let j = 0; j < n; j++) if (pred[j] === p.labels[j]) correct++;
        lossSum += lv[0] * n;
        seen += n;
        opts.onProgress?.({ epoch: epoch + 1, epochs, step: p.step + 1, steps, loss: lossSum / seen, accuracy: correct / seen, lr: p.lr });
      };
      try {
        for (let s = 0; s < steps; s++) {
          const idx = order.slice(s * batchSize, (s + 1) * batchSize);
          const n = idx.length;
          const host = new Float32Array(n * per);
          const labels = new Int32Array(n);
          idx.forEach((k, j) => {
            host.set(data.images.subarray(k * per, (k + 1) * per), j * per);
            labels[j] = data.labels[k];
          });
          const batch = aug ? augment(host, [n, ...shape], random, aug) : host;
          const t = epoch * steps + s;
          const lr = schedule === 'cosine' ? lr0 * 0.5 * (1 + Math.cos((Math.PI * t) / total)) : lr0;
          optim.lr = lr;
          const [loss, logits] = tidy(() => {
            const x = tensor(batch, [n, ...shape]);
            const out = model.run(toModelInput(model, x), { training: true, seed: (seed * 65536 + t * 64) % 0xfffff000 }).output;
            const l = ops.crossEntropy(out, labels);
            l.backward();
            return [keep(l), keep(noGrad(() => ops.scale(out, 1)))] as [Tensor, Tensor];
          });
          optim.step();
          optim.zeroGrad();
          const previous = pending;
          pending = { loss, logits, labels, step: s, lr };
          await settle(previous);
        }
        const last = pending;
        pending = null;
        await settle(last);
      } finally {
        // a throw (a non-finite loss, a lost device) leaves the step recorded after it unread
        const left = pending as Step | null;
        left?.loss.dispose();
        left?.logits.dispose();
      }
      const valAccuracy = opts.val ? await accuracy(model, opts.val, Math.max(batchSize, 64)) : null;
      const r: EpochResult = { epoch: epoch + 1, loss: lossSum / seen, trainAccuracy: correct / seen, valAccuracy, seconds: (performance.now() - started) / 1000 };
      results.push(r);
      await opts.onEpoch?.(r);
    }
  } finally {
    optim.dispose();
    model.trainable(false);
  }
  return results;
}
