// The `convis` commands, one function each, taking parsed options (src/cli/main.ts does the parsing). Each
// checks its arguments before opening a backend, opens the backend, does the work, and closes the backend
// whatever happens. A user error (a missing file, not an image, a class out of range, an unsupported model, a
// bad option value) is thrown as a CliError, whose message is the one-line reason main.ts prints.
//
// Images are loaded at the model's input size: for a square H x H model with loadImage(path, { size: H,
// crop: 'center' }) (shorter side to H, then the centre square); for an H x W model the image is scaled by the
// smallest factor at which it covers H x W and the centre H x W kept. With `crops: 10` the image is loaded the
// same way at the size of the paper's "resized image", round(H * 256 / 224) x round(W * 256 / 224), from which
// saliency() takes its ten crops, so the map and the overlay are in the same coordinates.

import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import {
  centerCrop, classModel, close, type Colormap, compareDeconvToGradient, decodeImage, type DeconvReport, init,
  loadImage, loadOnnx, localise, type Model, noGrad, ops, type Planar, planarToTensor, rand, resize, saliency,
  saveHeatmap, saveImage, saveLocalisationFigure, type Tensor, tidy,
} from '../index.js';
import * as shapes from '../data/shapes.js';
import type { Box } from '../localise/localise.js';
import type { BackendInfo } from '../runtime.js';
import * as models from '../models/zoo.js';
import { saveOnnx } from '../models/onnx/export.js';
import { accuracy, type EpochResult, train } from '../train/train.js';
import { displayRange } from '../image/heatmap.js';
import { toModelInput } from '../vis/common.js';
import type { SaliencyMethod } from '../vis/saliency.js';
import { Progress, type ProgressStream } from './progress.js';

export type BackendName = 'auto' | 'webgpu' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['auto', 'webgpu', 'cpu'];
export const METHODS: readonly SaliencyMethod[] = ['gradient', 'deconvnet', 'guided'];
export const COLORMAPS: readonly Colormap[] = ['gray', 'jet', 'inferno'];
export const PRESETS = ['simonyan2013', 'yosinski2015'] as const;

/** A failure with a one-line reason for the user (no stack trace), and the exit code to end with. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** Where a command writes: result lines to `out` (stdout), progress to `err` (stderr). */
export interface Io {
  out(line: string): void;
  err: ProgressStream;
}

export const processIo: Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: process.stderr,
};

export interface CommonOptions {
  /** default 'auto' */
  backend?: BackendName;
  /** the folder written to (created when missing); default '.' */
  out?: string;
  io?: Io;
}

// ----------------------------------------------------------------------------- shared steps

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
export const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

function checkBackend(b: unknown): BackendName {
  if (b === undefined) return 'auto';
  if (!BACKENDS.includes(b as BackendName)) throw new CliError(`--backend must be ${BACKENDS.join(', ')}, got ${JSON.stringify(b)}`);
  return b as BackendName;
}

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new CliError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function checkNumber(name: string, v: unknown, min: number, exclusive: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (exclusive && v === min)) {
    throw new CliError(`${name} must be a number ${exclusive ? '>' : '>='} ${min}, got ${String(v)}`);
  }
  return v;
}

function checkChoice<T extends string>(name: string, v: unknown, choices: readonly T[]): T {
  if (!choices.includes(v as T)) throw new CliError(`${name} must be ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** The file exists and is not a folder. */
export async function checkFile(path: string, what: 'model' | 'image'): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw new CliError(`no ${what} file given`);
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' || code === 'ENOTDIR' ? `no such file: ${path}` : `cannot read ${path}: ${firstLine(e)}`);
  }
  if (s.isDirectory()) throw new CliError(`${path} is a directory, not ${what === 'image' ? 'an image' : 'a model'} file`);
}

/** The model's class count K: its output must be class scores [1, K] (or [1, K, 1, 1]) and its input RGB. */
export function supportedClasses(model: Model, path: string): number {
  const [C] = model.inputShape;
  if (C !== 3) throw new CliError(`unsupported model: ${path} takes ${C}-channel input ${fmtShape(model.inputShape)}, not 3-channel RGB images`);
  const s = model.outputShape;
  if (s.length === 2 || (s.length === 4 && s[2] === 1 && s[3] === 1)) return s[1];
  throw new CliError(`unsupported model: ${path} outputs ${fmtShape(s)} per image, not class scores [1, K]`);
}

export async function openModel(path: string): Promise<{ model: Model; classes: number }> {
  await checkFile(path, 'model');
  let model: Model;
  try {
    model = await loadOnnx(path);
  } catch (e) {
    throw new CliError(`cannot load ${path}: ${firstLine(e).replace(/^loadOnnx: /, '')}`);
  }
  return { model, classes: supportedClasses(model, path) };
}

function checkClass(name: string, v: unknown, classes: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes) {
    throw new CliError(`${name} ${String(v)} is out of range: the model has ${classes} classes (0..${classes - 1})`);
  }
  return v;
}

/** Scales an image by the smallest factor at which it covers h x w, and keeps the centre h x w. */
function coverCrop(img: Planar, h: number, w: number): Planar {
  const s = Math.max(h / img.height, w / img.width);
  return centerCrop(resize(img, Math.max(h, Math.round(img.height * s)), Math.max(w, Math.round(img.width * s))), h, w);
}

/** An image file as [1, 3, h, w], 0..255 RGB (see the file header). */
export async function loadAt(path: string, h: number, w: number): Promise<Tensor> {
  try {
    if (h === w) return await loadImage(path, { size: h, crop: 'center' });
    return planarToTensor(coverCrop(await decodeImage(path), h, w));
  } catch (e) {
    const msg = firstLine(e);
    const m = /is not an image sharp can decode(?: \((.*)\))?$/.exec(msg);
    if (m) throw new CliError(`not an image: ${path}${m[1] ? ` (${m[1]})` : ''}`);
    throw new CliError(`cannot load ${path}: ${msg.replace(/^(loadImage|decodeImage): /, '')}`);
  }
}

/** Output files, one per input image: OUT/<image name without extension><suffix>.png, all distinct. */
function outputsFor(out: string, images: readonly string[], suffix: string): string[] {
  const files = images.map((p) => join(out, `${basename(p, extname(p))}${suffix}.png`));
  const seen = new Map<string, string>();
  files.forEach((f, i) => {
    const other = seen.get(f);
    if (other !== undefined) throw new CliError(`${other} and ${images[i]} would both be written to ${f}; rename one or run them separately`);
    seen.set(f, images[i]);
  });
  return files;
}

export async function makeOut(out: string): Promise<void> {
  try {
    await mkdir(out, { recursive: true });
  } catch (e) {
    throw new CliError(`cannot create the output folder ${out}: ${firstLine(e)}`);
  }
}

/** Opens the backend, runs fn, and closes the backend whatever happens. */
export async function withBackend<T>(backend: BackendName, fn: (info: BackendInfo) => Promise<T>): Promise<T> {
  let info: BackendInfo;
  try {
    info = await init({ backend });
  } catch (e) {
    throw new CliError(`cannot open the ${backend} backend: ${firstLine(e).replace(/^init: /, '')}`);
  }
  try {
    return await fn(info);
  } finally {
    await close();
  }
}

export function common(o: CommonOptions): { backend: BackendName; out: string; io: Io } {
  const out = o.out ?? '.';
  if (typeof out !== 'string' || out.length === 0) throw new CliError('--out must be a folder name');
  return { backend: checkBackend(o.backend), out, io: o.io ?? processIo };
}

export const fmtNum = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)).toString() : String(v));

// ----------------------------------------------------------------------------- saliency

export interface SaliencyCommandOptions extends CommonOptions {
  /** a class index, or 'top1' (default) */
  target?: number | 'top1';
  crops?: 1 | 10;
  method?: SaliencyMethod;
  colormap?: Colormap;
  /** blend the heatmap over the image */
  overlay?: boolean;
}

export interface SaliencyOutcome { image: string; file: string; target: number; score: number; width: number; height: number }

/** One heatmap PNG per image (OUT/<name>-saliency.png); prints the target class and its score per image. */
export async function saliencyCommand(modelPath: string, images: readonly string[], opts: SaliencyCommandOptions = {}): Promise<SaliencyOutcome[]> {
  const { backend, out, io } = common(opts);
  const crops = opts.crops ?? 1;
  if (crops !== 1 && crops !== 10) throw new CliError(`--crops must be 1 or 10, got ${String(opts.crops)}`);
  const method = checkChoice('--method', opts.method ?? 'gradient', METHODS);
  const colormap = opts.colormap === undefined ? undefined : checkChoice('--colormap', opts.colormap, COLORMAPS);
  const target = opts.target ?? 'top1';
  if (target !== 'top1') checkInt('--target', target, 0);
  if (images.length === 0) throw new CliError('no image given');
  const { model, classes } = await openModel(modelPath);
  if (target !== 'top1') checkClass('--target', target, classes);
  for (const p of images) await checkFile(p, 'image');
  const files = outputsFor(out, images, '-saliency');
  await makeOut(out);
  const [, H, W] = model.inputShape;
  const [h, w] = crops === 10 ? [Math.round((H * 256) / 224), Math.round((W * 256) / 224)] : [H, W];
  return withBackend(backend, async () => {
    const results: SaliencyOutcome[] = [];
    const bar = images.length > 1 ? new Progress('saliency', images.length, 'images', io.err) : null;
    try {
      for (let i = 0; i < images.length; i++) {
        const x = await loadAt(images[i], h, w);
        try {
          const [map] = await saliency(model, x, { target, crops, method });
          await saveHeatmap(map, files[i], { colormap, overlay: opts.overlay ? x : undefined });
          const r = { image: images[i], file: files[i], target: map.target, score: map.score, width: map.width, height: map.height };
          results.push(r);
          io.out(`${r.image}: target ${r.target}, score ${fmtNum(r.score)} -> ${r.file}`);
        } finally {
          x.dispose();
        }
        bar?.tick();
      }
    } finally {
      bar?.end();
    }
    return results;
  });
}

// ----------------------------------------------------------------------------- classmodel

export interface ClassModelCommandOptions extends CommonOptions {
  /** the class to visualise (this or `all`) */
  class?: number;
  /** every class of the model */
  all?: boolean;
  steps?: number;
  lr?: number;
  l2?: number;
  preset?: 'simonyan2013' | 'yosinski2015';
  /** classModel's frequencyDecay (the gradient preconditioner's exponent; 0: the paper's plain ascent) */
  frequencyDecay?: number;
  /** save a preprocessed model's 0..255 image clipped to 0..255 instead of stretched */
  clip?: boolean;
}

export interface ClassModelOutcome { class: number; file: string; score: number }

/**
 * Class model visualisations, OUT/class-<N>.png, saved stretched from the image's 0.5th to its 99.5th percentile
 * (as the demo shows them); with `clip`, a model with a preprocess (whose image is 0..255 RGB) has it saved clipped
 * to 0..255 instead.
 */
export async function classModelCommand(modelPath: string, opts: ClassModelCommandOptions = {}): Promise<ClassModelOutcome[]> {
  const { backend, out, io } = common(opts);
  if (opts.class === undefined && !opts.all) throw new CliError('give --class N or --all');
  if (opts.class !== undefined && opts.all) throw new CliError('give --class N or --all, not both');
  if (opts.class !== undefined) checkInt('--class', opts.class, 0);
  const steps = opts.steps === undefined ? 200 : checkInt('--steps', opts.steps, 1);
  const lr = opts.lr === undefined ? undefined : checkNumber('--lr', opts.lr, 0, true);
  const l2 = opts.l2 === undefined ? undefined : checkNumber('--l2', opts.l2, 0, false);
  const preset = opts.preset === undefined ? undefined : checkChoice('--preset', opts.preset, PRESETS);
  const frequencyDecay = opts.frequencyDecay === undefined ? undefined : checkNumber('--frequency-decay', opts.frequencyDecay, 0, false);
  if (frequencyDecay !== undefined && frequencyDecay > 4) throw new CliError(`--frequency-decay must be in 0..4, got ${frequencyDecay}`);
  if (opts.clip !== undefined && typeof opts.clip !== 'boolean') throw new CliError(`--clip takes no value, got ${JSON.stringify(opts.clip)}`);
  const { model, classes } = await openModel(modelPath);
  if (opts.clip && !model.preprocess) {
    throw new CliError(`--clip: ${modelPath} has no preprocessing, so its class models are not 0..255 images; leave --clip out`);
  }
  const targets = opts.all ? Array.from({ length: classes }, (_, c) => c) : [checkClass('--class', opts.class, classes)];
  await makeOut(out);
  return withBackend(backend, async () => {
    const results: ClassModelOutcome[] = [];
    const label = targets.length === 1 ? `classmodel class ${targets[0]}` : 'classmodel';
    const bar = new Progress(label, targets.length * steps, 'steps', io.err);
    try {
      for (const c of targets) {
        const r = await classModel(model, c, {
          steps, learningRate: lr, l2, preset, frequencyDecay, onStep: () => bar.tick(1, targets.length > 1 ? `(class ${c})` : undefined),
        });
        const file = join(out, `class-${c}.png`);
        try {
          await saveImage(r.image, file, opts.clip ? undefined : { range: displayRange(await r.image.data()) });
        } finally {
          r.image.dispose();
          r.input.dispose();
        }
        const score = r.scores[r.scores.length - 1];
        results.push({ class: c, file, score });
        io.out(`class ${c}: score ${fmtNum(score)} -> ${file}`);
      }
    } finally {
      bar.end();
    }
    return results;
  });
}

// ----------------------------------------------------------------------------- localise

export interface LocaliseCommandOptions extends CommonOptions {
  /** boxes for each of the top-K classes (default 1) */
  topK?: number;
}

export interface LocaliseOutcome {
  image: string;
  /** 1 for the top class */
  rank: number;
  target: number;
  score: number;
  /** in the pixels of the model-sized image (imageSize), not of the original file */
  box: Box;
  imageSize: { width: number; height: number };
  figure: string;
  note?: string;
}

/**
 * Per image and class: the Fig. 3-style figure (OUT/<name>-localise.png, or -localise-<rank>.png for top-K > 1)
 * and one JSON line with the box.
 */
export async function localiseCommand(modelPath: string, images: readonly string[], opts: LocaliseCommandOptions = {}): Promise<LocaliseOutcome[]> {
  const { backend, out, io } = common(opts);
  const topK = opts.topK === undefined ? 1 : checkInt('--top-k', opts.topK, 1);
  if (images.length === 0) throw new CliError('no image given');
  const { model, classes } = await openModel(modelPath);
  if (topK > classes) throw new CliError(`--top-k ${topK} is out of range: the model has ${classes} classes`);
  for (const p of images) await checkFile(p, 'image');
  const stems = outputsFor(out, images, '-localise').map((f) => f.slice(0, -'.png'.length));
  await makeOut(out);
  const [, H, W] = model.inputShape;
  return withBackend(backend, async () => {
    const results: LocaliseOutcome[] = [];
    const bar = images.length > 1 ? new Progress('localise', images.length, 'images', io.err) : null;
    try {
      for (let i = 0; i < images.length; i++) {
        const x = await loadAt(images[i], H, W);
        try {
          const logits = noGrad(() => tidy(() => model.forward(toModelInput(model, x))));
          const scores = await logits.data().finally(() => logits.dispose());
          const targets = [...Array(classes).keys()].sort((a, b) => scores[b] - scores[a] || a - b).slice(0, topK);
          for (let k = 0; k < targets.length; k++) {
            const [map] = await saliency(model, x, { target: targets[k] });
            const [loc] = await localise(model, x, { saliency: map });
            const figure = topK === 1 ? `${stems[i]}.png` : `${stems[i]}-${k + 1}.png`;
            await saveLocalisationFigure(figure, x, map, loc);
            const r: LocaliseOutcome = {
              image: images[i], rank: k + 1, target: loc.target, score: loc.score, box: { ...loc.box },
              imageSize: { width: W, height: H }, figure, ...(loc.note ? { note: loc.note } : {}),
            };
            results.push(r);
            io.out(JSON.stringify(r));
          }
        } finally {
          x.dispose();
        }
        bar?.tick();
      }
    } finally {
      bar?.end();
    }
    return results;
  });
}

// ----------------------------------------------------------------------------- deconv-check

export interface DeconvCheckOptions extends CommonOptions {
  /** the class whose score is differentiated (default: the top class) */
  target?: number;
  /** seeds the random image used when no image is given (default 0) */
  seed?: number;
}

export interface DeconvCheckOutcome {
  report: DeconvReport;
  /** conv, max-pool and fully connected layers where the two rules came out different */
  failing: string[];
}

const MUST_MATCH = new Set(['conv', 'maxpool', 'linear']);

/**
 * compareDeconvToGradient on the image (or a seeded uniform random 0..255 image) and the per-layer table.
 * Throws a CliError (exit code 1) after printing the table when a conv, max-pool or linear layer differs.
 */
export async function deconvCheckCommand(modelPath: string, image: string | undefined, opts: DeconvCheckOptions = {}): Promise<DeconvCheckOutcome> {
  const { backend, io } = common(opts);
  if (opts.target !== undefined) checkInt('--target', opts.target, 0);
  const seed = opts.seed === undefined ? 0 : checkInt('--seed', opts.seed, 0);
  const { model, classes } = await openModel(modelPath);
  if (opts.target !== undefined) checkClass('--target', opts.target, classes);
  if (image !== undefined) await checkFile(image, 'image');
  const [C, H, W] = model.inputShape;
  const outcome = await withBackend(backend, async () => {
    const x = image !== undefined ? await loadAt(image, H, W) : tidy(() => ops.scale(rand([1, C, H, W], { seed }), 255));
    let report: DeconvReport;
    try {
      report = await compareDeconvToGradient(model, x, { target: opts.target });
    } finally {
      x.dispose();
    }
    return { report, failing: report.layers.filter((l) => MUST_MATCH.has(l.kind) && !l.equal).map((l) => l.name) };
  });
  const { report, failing } = outcome;
  io.out(`image: ${image ?? `random uniform 0..255, seed ${seed}`}; target class ${report.target.join(', ')}; tolerance ${report.tolerance}`);
  for (const line of deconvTable(report)) io.out(line);
  if (failing.length > 0) {
    throw new CliError(`${failing.length} conv/maxpool/linear layer${failing.length > 1 ? 's' : ''} differ beyond the tolerance: ${failing.join(', ')}`);
  }
  io.out('conv, max-pool and linear layers: the DeconvNet equals the gradient (Sect. 4)');
  return outcome;
}

/** The per-layer report as aligned text lines. */
export function deconvTable(report: DeconvReport): string[] {
  const rows = report.layers.map((l) => {
    let verdict: string;
    if (MUST_MATCH.has(l.kind)) verdict = l.equal ? 'equal' : 'DIFFERENT';
    else if (l.kind === 'relu') {
      verdict = l.equal ? 'equal' : 'differs';
      if (l.indicatorDisagreements !== undefined) {
        verdict += `; 1(X>0) and 1(R>0) disagree at ${l.indicatorDisagreements} units`;
        if (l.differsExactlyWhereIndicatorsDisagree !== undefined) verdict += l.differsExactlyWhereIndicatorsDisagree ? ', the only places it differs' : ', and it differs elsewhere too';
      }
    } else verdict = l.equal ? 'equal' : 'differs';
    return [l.name, l.kind, l.maxAbsDiff.toExponential(2), l.relDiff.toExponential(2), verdict];
  });
  const head = ['layer', 'kind', 'max |diff|', 'rel diff', 'verdict'];
  const width = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(width[j]))).join('  ');
  return [line(head), ...rows.map(line)];
}

// ----------------------------------------------------------------------------- train

export interface TrainCommandOptions extends CommonOptions {
  epochs?: number;
  /** training, validation and test images generated (default 6000, 1000, 1000) */
  trainCount?: number;
  valCount?: number;
  testCount?: number;
  batchSize?: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  seed?: number;
  /** shapesNet's width (default 16) and input size (default 96) */
  width?: number;
  size?: number;
  /** batch normalisation after each convolution (default true) */
  batchNorm?: boolean;
  /** dropout before the last layer (default 0) */
  dropout?: number;
  /** augmentation: false for none; default pad 4, mirror, one erased rectangle of at most 0.25 of the side */
  augment?: boolean;
  /** rectangles zeroed out per image when augmenting (default 1) */
  erase?: number;
  /** go on training this checkpoint (an ONNX file written by convis train) instead of a new network */
  init?: string;
  /** the command line, recorded in train.json */
  command?: string;
}

export interface TrainOutcome { model: string; log: string; epochs: EpochResult[]; testAccuracy: number }

/** Per-channel mean and standard deviation of 0..255 images [N, 3, H, W], on the 0..1 scale. */
function channelStats(images: Float32Array, channels: number, plane: number): { mean: number[]; std: number[] } {
  const n = images.length / (channels * plane);
  const mean: number[] = [], std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * channels + c) * plane;
      for (let j = 0; j < plane; j++) {
        const v = images[base + j] / 255;
        s += v;
        s2 += v * v;
      }
    }
    const m = s / (n * plane);
    mean.push(Number(m.toFixed(4)));
    std.push(Number(Math.sqrt(Math.max(s2 / (n * plane) - m * m, 1e-6)).toFixed(4)));
  }
  return { mean, std };
}

/**
 * Trains models.shapesNet on the procedural shapes dataset (src/data/shapes.ts; train, validation and test splits
 * from their own seeds) and writes OUT/shapesnet.onnx after every epoch (the preprocessing, the training set's
 * mean and std, in its metadata) and OUT/train.json (the command, the options, each epoch's figures, the test
 * accuracy).
 */
export async function trainCommand(opts: TrainCommandOptions = {}): Promise<TrainOutcome> {
  const { backend, out, io } = common(opts);
  const int = (name: string, v: number | undefined, fallback: number, min: number, max: number) => {
    const x = v ?? fallback;
    if (!Number.isInteger(x) || x < min || x > max) throw new CliError(`--${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
    return x;
  };
  const epochs = int('epochs', opts.epochs, 12, 1, 1000);
  const trainCount = int('train', opts.trainCount, 6000, 10, 1_000_000);
  const valCount = int('val', opts.valCount, 1000, 10, 1_000_000);
  const testCount = int('test', opts.testCount, 1000, 10, 1_000_000);
  const batchSize = int('batch', opts.batchSize, 32, 1, 4096);
  const seed = int('seed', opts.seed, 0, 0, 65535);
  const width = int('width', opts.width, 16, 1, 256);
  let start: Model | null = null;
  if (opts.init !== undefined) {
    await checkFile(opts.init, 'model');
    try {
      start = await loadOnnx(opts.init, { foldBatchNorm: false, quiet: true });
    } catch (e) {
      throw new CliError(`cannot load ${opts.init}: ${firstLine(e).replace(/^loadOnnx: /, '')}`);
    }
    const [c, h, w] = start.inputShape;
    if (c !== 3 || h !== w || supportedClasses(start, opts.init) !== shapes.NUM_CLASSES || !start.preprocess) {
      throw new CliError(`--init ${opts.init} is not a checkpoint of convis train (10 classes, square RGB input, a preprocess)`);
    }
    if (opts.size !== undefined && opts.size !== h) throw new CliError(`--size ${opts.size} differs from the checkpoint's input size ${h}`);
  }
  const size = start ? start.inputShape[1] : int('size', opts.size, 96, 32, 512);
  if (size % 16 !== 0) throw new CliError(`--size must be a multiple of 16, got ${size}`);
  const optimizer = opts.optimizer ?? 'adam';
  if (optimizer !== 'sgd' && optimizer !== 'adam') throw new CliError(`--optimizer must be sgd or adam, got ${String(optimizer)}`);
  const lr = opts.lr ?? (optimizer === 'sgd' ? 0.02 : 1e-3);
  const batchNorm = opts.batchNorm ?? true;
  const dropout = opts.dropout ?? 0;
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) throw new CliError(`--dropout must be a number in [0, 1), got ${String(opts.dropout)}`);
  const erase = int('erase', opts.erase, 1, 0, 16);
  const augmenting = opts.augment ?? true;
  if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new CliError(`--lr must be a positive number, got ${String(opts.lr)}`);
  await makeOut(out);

  const started = Date.now();
  const gen = (split: 'train' | 'val' | 'test', count: number) => {
    const p = new Progress(`generating the ${split} split`, count, 'images', io.err);
    const samples = [];
    for (let i = 0; i < count; i++) {
      samples.push(shapes.renderSample(shapes.SPLITS[split], i, size));
      p.tick();
    }
    return shapes.toBatch(samples);
  };
  const trainSet = gen('train', trainCount), valSet = gen('val', valCount), testSet = gen('test', testCount);
  // a checkpoint keeps the preprocessing its weights were trained with
  const stats = start ? { mean: start.preprocess!.mean.map((m) => (start!.preprocess!.scale === 255 ? m / 255 : m)) } : channelStats(trainSet.images, 3, size * size);
  const model = start ?? models.shapesNet({
    seed, width, inputSize: size, classes: shapes.NUM_CLASSES, batchNorm, dropout, preprocess: { ...channelStats(trainSet.images, 3, size * size), channelOrder: 'RGB', scale: 1 },
    classNames: shapes.CLASS_NAMES,
  });
  // the erased rectangles take the preprocessing's mean colour (zero in the model's input space)
  const augment = augmenting ? { pad: 4, mirror: true, erase, eraseMax: 0.25, fill: stats.mean.map((m) => 255 * m) } : false as const;
  const modelFile = join(out, 'shapesnet.onnx');
  const logFile = join(out, 'train.json');
  return withBackend(backend, async () => {
    let bar: Progress | null = null;
    const epochsDone = await train(model, trainSet, {
      epochs, batchSize, optimizer, lr, seed, val: valSet, augment,
      onProgress: (p) => {
        if (p.step === 1) bar = new Progress(`epoch ${p.epoch}/${p.epochs}`, p.steps, 'steps', io.err);
        bar?.tick(1, `loss ${p.loss.toFixed(3)} acc ${(100 * p.accuracy).toFixed(1)}%`);
      },
      onEpoch: async (e) => {
        io.out(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, train accuracy ${(100 * e.trainAccuracy).toFixed(2)}%, ` +
          `validation accuracy ${(100 * (e.valAccuracy ?? 0)).toFixed(2)}% (${e.seconds.toFixed(0)} s)`);
        // the checkpoint
        await model.syncWeights();
        await saveOnnx(model, modelFile);
      },
    });
    await model.syncWeights();
    await saveOnnx(model, modelFile);
    const testAccuracy = await accuracy(model, testSet, 64);
    io.out(`test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${testCount} images; wrote ${modelFile} and ${logFile}`);
    const log = {
      command: opts.command ?? null,
      options: start
        ? { init: opts.init, epochs, trainCount, valCount, testCount, batchSize, optimizer, lr, seed, size, augment, backend }
        : { epochs, trainCount, valCount, testCount, batchSize, optimizer, lr, seed, width, size, batchNorm, dropout, augment, backend },
      data: { generator: 'src/data/shapes.ts', splitSeeds: shapes.SPLITS },
      preprocess: model.preprocess,
      parameters: models.parameterCount(model),
      epochs: epochsDone,
      testAccuracy,
      minutes: Number(((Date.now() - started) / 60000).toFixed(2)),
    };
    await writeFile(logFile, `${JSON.stringify(log, null, 2)}\n`);
    model.releaseWeights();
    return { model: modelFile, log: logFile, epochs: epochsDone, testAccuracy };
  });
}
