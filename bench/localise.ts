// `npm run bench -- localise`: the weakly supervised localisation of Sect. 3.2 (saliency map -> GMM colour models ->
// GraphCut -> largest component -> box) without the network, on seeded synthetic 224x224 scenes: a textured,
// cluttered background, one object, and a saliency map that covers only part of the object.
//
// Speed: wall time of each step on the main thread (the native code is single-threaded and synchronous; the
// process runs with CONVIS_THREADS=1 unless told otherwise), warm-up first, then the median over the scenes of each
// scene's median, with the min and max over every timed run: the max-flow (8-connected) on each scene's own
// GraphCut problem and on the easy two-colour scenes of test/localise, both GMM fits (5 + 5 components, 10 EM
// iterations), the other steps, and `localise(model, image, { saliency: map })` from the image tensor and the map to
// the box. Each step's inputs are built as segmentFromSaliency builds them; the bench checks that its cut gives
// localise's own mask.
//
// Quality, on the same scenes: IoU with the object of (a) localise's mask, (b) the largest 8-connected component of
// the map thresholded at its 95% quantile, (c) the same at the best threshold of each scene in hindsight (an upper
// bound for thresholding), and how often each box has IoU >= 0.5 with the object's box.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Box, largestComponent } from '../src/localise/components.js';
import { type Gmm, gmmFit, gmmLogLikelihood } from '../src/localise/gmm.js';
import { iou, localise, pairwiseWeights, quantile, type SegmentOptions, segmentOptions } from '../src/localise/localise.js';
import { maxflowGrid } from '../src/localise/maxflow.js';
import type { Model } from '../src/models/model.js';
import { backend, close, init } from '../src/runtime.js';
import { rng, tensor } from '../src/tensor/create.js';
import { keep, type Tensor } from '../src/tensor/tensor.js';
import type { SaliencyMap } from '../src/vis/saliency.js';
import { eachFlag, int, measuredEnv, parseArgs, rerunCommand } from './cli.js';
import { cpuModel, describeLoad, loadAverage, LoadProbe, logicalCores, sourceRevision } from './machine.js';
import { fmtMs, markdownTable, textTable, updateSection } from './report.js';
import { type CallBudget, median, type Timing, timeCalls } from './timing.js';

const SIZE = 224;
const DEFAULT_SCENES = 50;
const QUICK_SCENES = 10;
/** the easy scenes (test/localise's two-colour generator at 224) the max-flow is also timed on */
const EASY_SCENES = 5;
/** the issue's targets, ms on one core */
const TARGETS = { maxflow: 15, gmm: 10, localise: 40 } as const;

export const USAGE = `usage: npm run bench -- localise [options]

  --scenes N            synthetic 224x224 scenes of each kind, cluttered and low-contrast, seeds 1..N (default
                        ${DEFAULT_SCENES}; with --quick ${QUICK_SCENES}); each is timed and scored; the max-flow is also timed on
                        ${EASY_SCENES} easy two-colour scenes (test/localise's generator)
  --quick               3 timed runs after 1 warm-up per scene and step, ${QUICK_SCENES} scenes (default: 10 after 1, ${DEFAULT_SCENES} scenes)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs per scene and step
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md

Runs on the main thread: the native max-flow, GMM and components code is single-threaded and synchronous. The process
sets CONVIS_THREADS=1 (for the cpu backend that holds the image tensor) unless it is set already.`;

interface Options extends CallBudget {
  scenes: number;
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    scenes: DEFAULT_SCENES, runs: 10, warmup: 1, budgetS: 0,
    write: null, resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let quick = false, runsGiven = false, warmupGiven = false, scenesGiven = false;
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--scenes': o.scenes = int(flag, value(), 1); scenesGiven = true; break;
      case '--quick': quick = true; o.defaults = false; break;
      case '--runs': case '--reps': o.runs = int(flag, value(), 1); runsGiven = true; break;
      case '--warmup': o.warmup = int(flag, value(), 0); warmupGiven = true; break;
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  if (quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
    if (!scenesGiven) o.scenes = QUICK_SCENES;
  }
  if (o.runs < 10 || o.warmup < 1 || o.scenes !== DEFAULT_SCENES) o.defaults = false;
  return o;
}

// ------------------------------------------------------------------ scenes

type Shape = 'ellipse' | 'rectangle' | 'polygon';

interface Scene {
  seed: number;
  size: number;
  /** [3, H, W] planar 0..255 RGB, as the image tensor holds it */
  image: Float32Array;
  /** H * W: 1 on the object */
  object: Uint8Array;
  /** H * W saliency */
  map: Float32Array;
  shape: Shape;
  /** the longer side of the object's bounding box as a fraction of the image side */
  extent: number;
}

type Rgb = [number, number, number];

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
const dist = (a: Rgb, b: Rgb) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Value noise in [0, 1]: random values on a lattice of `cell` pixels, interpolated with smoothstep. */
function valueNoise(next: () => number, size: number, cell: number): Float32Array {
  const g = Math.ceil(size / cell) + 2;
  const lattice = Float32Array.from({ length: g * g }, () => next());
  const out = new Float32Array(size * size);
  const smooth = (t: number) => t * t * (3 - 2 * t);
  for (let y = 0; y < size; y++) {
    const fy = y / cell, iy = Math.floor(fy), ty = smooth(fy - iy);
    for (let x = 0; x < size; x++) {
      const fx = x / cell, ix = Math.floor(fx), tx = smooth(fx - ix);
      const a = lattice[iy * g + ix], b = lattice[iy * g + ix + 1];
      const c = lattice[(iy + 1) * g + ix], d = lattice[(iy + 1) * g + ix + 1];
      out[y * size + x] = (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
    }
  }
  return out;
}

/**
 * A colour at least `minDist` (RGB Euclidean) from each of `avoid`, and at most `maxNearest` from the nearest of
 * them; the minimum relaxes if no such colour turns up.
 */
function colourAway(next: () => number, avoid: readonly Rgb[], minDist: number, maxNearest = Infinity): Rgb {
  for (let tries = 0; ; tries++) {
    const c: Rgb = [20 + 215 * next(), 20 + 215 * next(), 20 + 215 * next()];
    const need = minDist * Math.max(0, 1 - tries / 20000);
    const nearest = Math.min(...avoid.map((a) => dist(a, c)));
    if (nearest >= need && (nearest <= maxNearest || avoid.length === 0)) return c;
  }
}

/** Inside test of a shape centred at (cx, cy), radii rx, ry, rotated by theta; polygons by their vertices. */
function shapeTest(shape: Shape, cx: number, cy: number, rx: number, ry: number, theta: number,
                   vertices: readonly [number, number][] = []): (x: number, y: number) => boolean {
  const cos = Math.cos(theta), sin = Math.sin(theta);
  if (shape === 'polygon') {
    return (x, y) => {
      let inside = false;
      for (let i = 0, j = vertices.length - 1; i < vertices.length; j = i++) {
        const [xi, yi] = vertices[i], [xj, yj] = vertices[j];
        if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
      return inside;
    };
  }
  return (x, y) => {
    const dx = x - cx, dy = y - cy;
    const u = (dx * cos + dy * sin) / rx, v = (-dx * sin + dy * cos) / ry;
    return shape === 'ellipse' ? u * u + v * v <= 1 : Math.abs(u) <= 1 && Math.abs(v) <= 1;
  };
}

/**
 * A cluttered scene (seeded): the background is smooth value noise over a palette of three colours, with a finer
 * brightness texture and pixel noise; 4-7 distractor ellipses and rectangles of other colours than the object's;
 * then the object (an ellipse, rectangle or star-shaped polygon, rotated, major axis 20-60% of the side) in its
 * own colour (>= 100 RGB units from the palette) with a brightness texture and pixel noise. The saliency map is a
 * Gaussian blob centred inside the object, off its centre and narrower than it (sigma 15-30% of its radius, halved
 * where it leaks off the object), with multiplicative speckle (gradient maps are spiky), half-normal noise
 * everywhere, and weaker blobs on two of the distractors.
 *
 * lowContrast: the same, but the object's colour is only 35-60 RGB units from the nearest background colour, its
 * brightness texture is stronger (0.7-1.3 instead of 0.8-1.2), and the last distractor has a colour 25-45 units
 * from the object's (a look-alike elsewhere in the image).
 */
export function clutteredScene(seed: number, size = SIZE, lowContrast = false): Scene {
  const next = rng(seed);
  const gauss = gaussian(next);
  const n = size * size;
  const image = new Float32Array(3 * n);
  const set = (p: number, c: Rgb, scale: number, sigma: number) => {
    for (let k = 0; k < 3; k++) image[k * n + p] = clamp255(c[k] * scale + sigma * gauss());
  };

  // background: three colours along a smooth field, a finer brightness texture, pixel noise
  const palette: Rgb[] = [];
  for (let i = 0; i < 3; i++) palette.push(colourAway(next, palette, 60));
  const coarse = valueNoise(next, size, 64), mid = valueNoise(next, size, 24), fine = valueNoise(next, size, 5);
  for (let p = 0; p < n; p++) {
    const f = Math.min(1, Math.max(0, (0.65 * coarse[p] + 0.35 * mid[p] - 0.5) * 2.2 + 0.5));
    const [a, b, t] = f < 0.5 ? [palette[0], palette[1], 2 * f] : [palette[1], palette[2], 2 * f - 1];
    const c: Rgb = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
    set(p, c, 0.85 + 0.3 * fine[p], 10);
  }

  // the object's colour: away from the background palette
  const objectColour = lowContrast ? colourAway(next, palette, 35, 60) : colourAway(next, palette, 100);

  // distractors: other colours than the object's, drawn first so the object can cover them
  const distractors: { cx: number; cy: number; r: number }[] = [];
  const count = 4 + Math.floor(4 * next());
  for (let i = 0; i < count; i++) {
    const r = size * (0.04 + 0.06 * next());
    const cx = size * next(), cy = size * next();
    const test = shapeTest(next() < 0.5 ? 'ellipse' : 'rectangle', cx, cy, r, r * (0.5 + 0.5 * next()), Math.PI * next());
    const colour = lowContrast && i === count - 1 ? colourAway(next, [objectColour], 25, 45) : colourAway(next, [objectColour], 100);
    const tex = 0.9 + 0.2 * next();
    for (let y = Math.max(0, Math.floor(cy - 1.5 * r)); y < Math.min(size, cy + 1.5 * r); y++) {
      for (let x = Math.max(0, Math.floor(cx - 1.5 * r)); x < Math.min(size, cx + 1.5 * r); x++) {
        if (test(x, y)) set(y * size + x, colour, tex, 10);
      }
    }
    distractors.push({ cx, cy, r });
  }

  // the object
  const shapes: Shape[] = ['ellipse', 'rectangle', 'polygon'];
  const shape = shapes[Math.floor(3 * next())];
  const R = size * (0.1 + 0.2 * next());                // major radius: 20-60% of the side across
  const rMinor = R * (0.5 + 0.5 * next());
  const theta = Math.PI * next();
  const cx = R + (size - 2 * R) * next(), cy = R + (size - 2 * R) * next();
  const vertices: [number, number][] = [];
  if (shape === 'polygon') {
    const k = 5 + Math.floor(4 * next());
    const angles = Array.from({ length: k }, (_, i) => (2 * Math.PI * (i + 0.3 + 0.4 * next())) / k);
    for (const a of angles) {
      const r = R * (0.6 + 0.4 * next());
      vertices.push([cx + r * Math.cos(a + theta), cy + r * Math.sin(a + theta)]);
    }
  }
  const inside = shapeTest(shape, cx, cy, R, rMinor, theta, vertices);
  const object = new Uint8Array(n);
  const texture = valueNoise(next, size, 10);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!inside(x + 0.5, y + 0.5)) continue;
      const p = y * size + x;
      object[p] = 1;
      set(p, objectColour, lowContrast ? 0.7 + 0.6 * texture[p] : 0.8 + 0.4 * texture[p], 12);
    }
  }
  let x0 = size, x1 = -1, y0 = size, y1 = -1;
  object.forEach((v, p) => {
    if (!v) return;
    const x = p % size, y = Math.floor(p / size);
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  });

  // saliency: a blob on part of the object, speckle, noise, weak responses on two distractors
  const phi = 2 * Math.PI * next();
  let d = R * (0.3 + 0.3 * next());
  let sx = cx + d * Math.cos(phi), sy = cy + d * Math.sin(phi);
  while (d > 1 && !object[Math.round(sy) * size + Math.round(sx)]) {
    d *= 0.8;
    sx = cx + d * Math.cos(phi);
    sy = cy + d * Math.sin(phi);
  }
  if (!object[Math.round(sy) * size + Math.round(sx)]) [sx, sy] = [cx, cy];
  const sigma = R * (0.15 + 0.15 * next());
  const weak = distractors.slice(0, 2).map((q) => ({ ...q, amp: 0.2 + 0.25 * next() }));
  const map = new Float32Array(n);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      let s = Math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * sigma * sigma)) * (object[p] ? 1 : 0.5);
      for (const q of weak) s += q.amp * Math.exp(-((x - q.cx) ** 2 + (y - q.cy) ** 2) / (2 * (0.5 * q.r) ** 2));
      map[p] = s * (0.4 + 0.6 * next()) + 0.05 * Math.abs(gauss());
    }
  }
  return { seed, size, image, object, map, shape, extent: Math.max(x1 - x0 + 1, y1 - y0 + 1) / size };
}

/** test/localise's scene at 224: a noisy ellipse of one colour on a noisy background of another, nothing else. */
function easyScene(seed: number, size = SIZE): Scene {
  const next = rng(seed);
  const gauss = gaussian(next);
  const n = size * size;
  const image = new Float32Array(3 * n);
  const object = new Uint8Array(n);
  const cx = size * (0.4 + 0.2 * next()), cy = size * (0.4 + 0.2 * next());
  const rx = size * (0.2 + 0.1 * next()), ry = size * (0.15 + 0.1 * next());
  const A = [40 + 60 * next(), 120 + 60 * next(), 40 + 60 * next()];
  const B = [200 + 40 * next(), 40 + 60 * next(), 40 + 40 * next()];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
      object[p] = inside ? 1 : 0;
      const c = inside ? B : A;
      for (let k = 0; k < 3; k++) image[k * n + p] = clamp255(c[k] + 20 * gauss());
    }
  }
  const map = new Float32Array(n);
  const sx = cx - rx * 0.5, sy = cy;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      map[y * size + x] = Math.exp(-(((x - sx) ** 2) / (2 * (rx * 0.3) ** 2) + ((y - sy) ** 2) / (2 * (ry * 0.4) ** 2))) + 0.05 * Math.abs(gauss());
    }
  }
  return { seed, size, image, object, map, shape: 'ellipse', extent: (2 * Math.max(rx, ry)) / size };
}

// ------------------------------------------------------------------ the pipeline's steps, as segmentFromSaliency runs them

interface Problem {
  rgb: Float32Array;
  seeds: Uint8Array;
  fgPoints: Float32Array;
  bgPoints: Float32Array;
  pairwise: Float64Array;
  fg: Gmm;
  bg: Gmm;
  source: Float64Array;
  sink: Float64Array;
}

function interleave(s: Scene): Float32Array {
  const n = s.size * s.size;
  const rgb = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) rgb[3 * i + c] = s.image[c * n + i];
  return rgb;
}

/** Step 2: the seeds (strictly above / below the two quantiles) and their colours. */
function seedStep(rgb: Float32Array, map: Float32Array, o: SegmentOptions): { seeds: Uint8Array; fgPoints: Float32Array; bgPoints: Float32Array } {
  const n = map.length;
  const tFg = quantile(map, o.fgQuantile), tBg = quantile(map, o.bgQuantile);
  const seeds = new Uint8Array(n);
  let nFg = 0, nBg = 0;
  for (let i = 0; i < n; i++) {
    if (map[i] > tFg) {
      seeds[i] = 1;
      nFg++;
    } else if (map[i] < tBg) {
      seeds[i] = 2;
      nBg++;
    }
  }
  const fgPoints = new Float32Array(3 * nFg), bgPoints = new Float32Array(3 * nBg);
  let f = 0, b = 0;
  for (let i = 0; i < n; i++) {
    if (seeds[i] === 1) for (let c = 0; c < 3; c++) fgPoints[f++] = rgb[3 * i + c];
    else if (seeds[i] === 2) for (let c = 0; c < 3; c++) bgPoints[b++] = rgb[3 * i + c];
  }
  return { seeds, fgPoints, bgPoints };
}

/** Step 3: the two colour models. */
function fitStep(fgPoints: Float32Array, bgPoints: Float32Array, o: SegmentOptions): { fg: Gmm; bg: Gmm } {
  const fit = (pts: Float32Array) => gmmFit(pts, Math.min(o.components, pts.length / 3), { iterations: o.emIterations, seed: o.seed });
  return { fg: fit(fgPoints), bg: fit(bgPoints) };
}

/** Step 4's data term: the terminal capacities from the two models' log-likelihoods. */
function dataStep(rgb: Float32Array, fg: Gmm, bg: Gmm): { source: Float64Array; sink: Float64Array } {
  const lFg = gmmLogLikelihood(fg, rgb), lBg = gmmLogLikelihood(bg, rgb);
  const n = lFg.length;
  const source = new Float64Array(n), sink = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const dFg = -lFg[i], dBg = -lBg[i];
    const m = Math.min(dFg, dBg);
    source[i] = dBg - m;
    sink[i] = dFg - m;
  }
  return { source, sink };
}

function problem(s: Scene, o: SegmentOptions): Problem {
  const rgb = interleave(s);
  const { seeds, fgPoints, bgPoints } = seedStep(rgb, s.map, o);
  if (fgPoints.length === 0 || bgPoints.length === 0) throw new Error(`scene ${s.seed}: an empty seed set`);
  const pairwise = pairwiseWeights(rgb, s.size, s.size, o.connectivity, o.gamma);
  const { fg, bg } = fitStep(fgPoints, bgPoints, o);
  const { source, sink } = dataStep(rgb, fg, bg);
  return { rgb, seeds, fgPoints, bgPoints, pairwise, fg, bg, source, sink };
}

// ------------------------------------------------------------------ scoring

function maskIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union ? inter / union : 1;
}

function maskBox(m: Uint8Array, size: number): Box {
  let x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (let p = 0; p < m.length; p++) {
    if (!m[p]) continue;
    const x = p % size, y = Math.floor(p / size);
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return x1 < 0 ? { x: 0, y: 0, width: 0, height: 0 } : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** the thresholds tried for (c): the map's quantiles 0.50, 0.51, ..., 0.99 and 0.991 ... 0.999 */
const HINDSIGHT_QUANTILES = [...Array.from({ length: 50 }, (_, i) => 0.5 + 0.01 * i), ...Array.from({ length: 9 }, (_, i) => 0.991 + 0.001 * i)];

interface Score { maskIou: number; boxIou: number; quantile?: number }

function thresholded(s: Scene, t: number, objectBox: Box): Score {
  const c = largestComponent(Uint8Array.from(s.map, (v) => (v > t ? 1 : 0)), s.size, s.size, 8);
  return { maskIou: maskIou(c.mask, s.object), boxIou: c.box ? iou(c.box, objectBox) : 0 };
}

function hindsight(s: Scene, objectBox: Box): Score {
  let best: Score = { maskIou: -1, boxIou: 0 };
  for (const q of HINDSIGHT_QUANTILES) {
    const r = thresholded(s, quantile(s.map, q), objectBox);
    if (r.maskIou > best.maskIou) best = { ...r, quantile: q };
  }
  return best;
}

// ------------------------------------------------------------------ the runs

type Family = 'cluttered' | 'low-contrast';
const FAMILIES: readonly Family[] = ['cluttered', 'low-contrast'];

type StepName = 'seeds' | 'pairwise' | 'gmm' | 'data' | 'maxflow' | 'component' | 'localise' | 'maxflowLow' | 'localiseLow' | 'maxflowEasy';

const STEPS: { name: StepName; what: string; target?: number }[] = [
  { name: 'seeds', what: 'seeds: two quantiles of the map, labels, seed colours' },
  { name: 'pairwise', what: 'pairwise weights (GrabCut beta, 4 direction planes)' },
  { name: 'gmm', what: 'GMM fits, foreground + background (5 + 5 components, 10 EM iterations)', target: TARGETS.gmm },
  { name: 'data', what: 'data term: 2 log-likelihoods over the image, terminal capacities' },
  { name: 'maxflow', what: 'max-flow, 8-connected', target: TARGETS.maxflow },
  { name: 'component', what: 'largest 8-connected component and box' },
  { name: 'localise', what: 'localise(model, image, { saliency: map }): image tensor + map -> box', target: TARGETS.localise },
  { name: 'maxflowLow', what: 'max-flow, 8-connected, low-contrast scenes', target: TARGETS.maxflow },
  { name: 'localiseLow', what: 'localise(model, image, { saliency: map }), low-contrast scenes', target: TARGETS.localise },
  { name: 'maxflowEasy', what: 'max-flow, 8-connected, easy two-colour scenes (test/localise\'s generator)', target: TARGETS.maxflow },
];
/** the steps whose medians add up to localise's work on the cluttered scenes */
const PIPELINE: readonly StepName[] = ['seeds', 'pairwise', 'gmm', 'data', 'maxflow', 'component'];

interface SceneResult {
  family: Family;
  scene: Scene;
  a: Score;
  b: Score;
  c: Score;
  note?: string;
  /** fraction of the object's pixels that are foreground seeds, of the foreground seeds on the object, of the background seeds on it */
  fgCover: number;
  fgOnObject: number;
  bgOnObject: number;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const noModel = null as unknown as Model;
type Located = Awaited<ReturnType<typeof localise>>[number];

export async function main(argv: readonly string[]): Promise<number> {
  const o = parseArgs('localise', argv, USAGE, parseOptions);
  if (typeof o === 'number') return o;
  // before the addon's thread pool starts: the cpu backend holding the image gets one thread
  const threadsSet = process.env.CONVIS_THREADS !== undefined;
  if (!threadsSet) process.env.CONVIS_THREADS = '1';
  const env = measuredEnv(['CONVIS_THREADS']);
  const command = rerunCommand('localise', argv, env);
  const load = new LoadProbe();
  load.start();
  const started = new Date();
  const source = sourceRevision(['src', 'native', 'binding.gyp']);
  const cpu = cpuModel();
  const seg = segmentOptions('bench localise', {});
  console.log(`cpu:      ${cpu} (${logicalCores()} logical cores)`);
  console.log(`source:   ${source}`);
  console.log(`cases:    ${o.scenes} cluttered and ${o.scenes} low-contrast scenes (seeds 1..${o.scenes}), ${EASY_SCENES} easy ones, ` +
    `${SIZE}x${SIZE}; localise's defaults (fgQuantile ${seg.fgQuantile}, bgQuantile ${seg.bgQuantile}, ${seg.components} components, ` +
    `${seg.emIterations} EM iterations, gamma ${seg.gamma}, ${seg.connectivity}-connected, one cut)`);
  console.log(`runs:     per scene and step ${o.warmup} warm-up then ${o.runs} timed, main thread, CONVIS_THREADS=${process.env.CONVIS_THREADS}` +
    `${threadsSet ? '' : ' (set by the bench)'}; load average ${loadAverage()}`);

  const info = await init({ backend: 'cpu' });
  const threads = backend().limits.threads;
  console.log(`image:    a [1, 3, ${SIZE}, ${SIZE}] tensor on the cpu backend (${info.device}, ${threads} thread(s))`);
  const timings = new Map<StepName, Timing[]>(STEPS.map((s) => [s.name, []]));
  const results: SceneResult[] = [];
  let mismatches = 0, failures = 0;
  const budget: CallBudget = { warmup: o.warmup, runs: o.runs, budgetS: 0 };
  const time = async (name: StepName, fn: () => unknown) => {
    const t = await timeCalls(async () => { fn(); }, budget);
    timings.get(name)!.push(t);
    return t;
  };

  /** Times one scene's steps (all of them on the cluttered family, the cut and localise on the others) and scores it. */
  const runScene = async (family: Family, s: Scene): Promise<void> => {
    const low = family === 'low-contrast';
    const p = problem(s, seg);
    let tg: Timing | null = null;
    if (!low) {
      await time('seeds', () => seedStep(p.rgb, s.map, seg));
      await time('pairwise', () => pairwiseWeights(p.rgb, s.size, s.size, seg.connectivity, seg.gamma));
      tg = await time('gmm', () => fitStep(p.fgPoints, p.bgPoints, seg));
      await time('data', () => dataStep(p.rgb, p.fg, p.bg));
    }
    let side: Uint8Array = new Uint8Array(0);
    const tm = await time(low ? 'maxflowLow' : 'maxflow', () => {
      side = maxflowGrid(s.size, s.size, seg.connectivity, p.source, p.sink, p.pairwise).side;
    });
    if (!low) await time('component', () => largestComponent(side, s.size, s.size, seg.connectivity));

    const img = keep(tensor(s.image, [1, 3, s.size, s.size]));
    const map: SaliencyMap = { width: s.size, height: s.size, data: s.map, target: 0, score: 0 };
    let loc: Located | null = null;
    let tl: Timing;
    try {
      tl = await timeCalls(async () => { [loc] = await localise(noModel, img, { saliency: map }); }, budget);
    } catch (e) {
      failures++;
      console.log(`${family} scene ${s.seed}: localise failed: ${(e as Error).message}`);
      return;
    } finally {
      img.dispose();
    }
    timings.get(low ? 'localiseLow' : 'localise')!.push(tl);
    const l = loc as unknown as Located;

    // the steps above are localise's own: the same cut gives the same mask
    const mine = largestComponent(side, s.size, s.size, seg.connectivity).mask;
    if (!l.note && (mine.length !== l.mask.length || mine.some((v, i) => v !== l.mask[i]))) {
      mismatches++;
      console.log(`${family} scene ${s.seed}: the bench's steps give another mask than localise (the timed steps are not localise's)`);
    }

    const objectBox = maskBox(s.object, s.size);
    const a: Score = { maskIou: maskIou(l.mask, s.object), boxIou: iou(l.box, objectBox) };
    const b = thresholded(s, quantile(s.map, seg.fgQuantile), objectBox);
    const c = hindsight(s, objectBox);
    let fgOnObj = 0, fg = 0, bgOnObj = 0, bg = 0, objN = 0;
    for (let i = 0; i < s.object.length; i++) {
      objN += s.object[i];
      if (p.seeds[i] === 1) { fg++; fgOnObj += s.object[i]; }
      if (p.seeds[i] === 2) { bg++; bgOnObj += s.object[i]; }
    }
    results.push({ family, scene: s, a, b, c, note: l.note, fgCover: fgOnObj / objN, fgOnObject: fgOnObj / fg, bgOnObject: bgOnObj / bg });
    console.log(`${family.padEnd(12)}  ${String(s.seed).padStart(5)}  ${s.shape.padEnd(9)}  ${(100 * s.extent).toFixed(0).padStart(5)}%  ` +
      `${a.maskIou.toFixed(3).padStart(16)}  ${b.maskIou.toFixed(3).padStart(11)}  ${c.maskIou.toFixed(3).padStart(12)}  ` +
      `${fmtMs(tm.ms).padStart(11)}  ${(tg ? fmtMs(tg.ms) : '—').padStart(6)}  ${fmtMs(tl.ms).padStart(11)}${l.note ? `  (${l.note})` : ''}`);
  };

  try {
    console.log('\nscenes        scene  shape      extent  IoU a (localise)  IoU b (95%)  IoU c (best)  max-flow ms  GMM ms  localise ms');
    for (const family of FAMILIES) {
      for (let seed = 1; seed <= o.scenes; seed++) await runScene(family, clutteredScene(seed, SIZE, family === 'low-contrast'));
    }
    for (let seed = 1; seed <= EASY_SCENES; seed++) {
      const s = easyScene(seed);
      const p = problem(s, seg);
      await time('maxflowEasy', () => maxflowGrid(s.size, s.size, seg.connectivity, p.source, p.sink, p.pairwise));
    }
  } finally {
    await close();
  }
  const otherCores = load.stop();

  // ---- speed
  const verdict = (ms: number, target?: number) => (target === undefined || !Number.isFinite(ms) ? '—' : ms <= target ? 'PASS' : 'MISS');
  const speedHeader = ['step (224x224, one core; cluttered scenes unless named)', 'target ms', 'median ms', 'min ms', 'max ms',
    'slowest scene ms', 'scenes over target', 'timed runs', 'verdict'];
  const speedRows: string[][] = [];
  for (const step of STEPS) {
    const ts = timings.get(step.name)!;
    if (ts.length === 0) continue;
    const med = median(ts.map((t) => t.ms));
    const over = step.target === undefined ? '—' : `${ts.filter((t) => t.ms > step.target!).length}/${ts.length}`;
    speedRows.push([
      step.what, step.target === undefined ? '—' : String(step.target), fmtMs(med), fmtMs(Math.min(...ts.map((t) => t.min))),
      fmtMs(Math.max(...ts.map((t) => t.max))), fmtMs(Math.max(...ts.map((t) => t.ms))), over,
      String(ts.reduce((k, t) => k + t.runs, 0)), verdict(med, step.target),
    ]);
    if (step.name === 'component') {
      const sum = PIPELINE.reduce((acc, k) => acc + median(timings.get(k)!.map((t) => t.ms)), 0);
      speedRows.push(['sum of the six steps above (their medians)', '—', fmtMs(sum), '—', '—', '—', '—', '—', '—']);
    }
  }
  console.log(`\n${textTable(speedHeader, speedRows)}`);
  const speedLegend = `Wall time on the main thread, one core (CONVIS_THREADS=${process.env.CONVIS_THREADS}). Per scene and step: ` +
    `${o.warmup} untimed warm-up call(s), then ${o.runs} timed; median ms = the median over the scenes of each scene's median, ` +
    'min / max over every timed run, slowest scene = the largest per-scene median; verdict: the median against the target. ' +
    'Each step is timed on its own with the inputs segmentFromSaliency gives it (the bench checks that its cut gives localise\'s ' +
    'own mask); localise also reads the image tensor back, interleaves and checks it and the map, and allocates the arrays the ' +
    'steps above get ready-made.';
  console.log(speedLegend);

  // ---- quality
  const qualityHeader = ['scenes', 'method', 'mask IoU mean', 'mask IoU median', 'box IoU mean', 'box IoU >= 0.5', 'mask IoU above (b) in'];
  const qualityRows: string[][] = [];
  const legends: string[] = [];
  const verdicts: string[] = [];
  for (const family of FAMILIES) {
    const rs = results.filter((r) => r.family === family);
    if (rs.length === 0) continue;
    const row = (label: string, pick: (r: SceneResult) => Score, vsB: boolean) => {
      const xs = rs.map(pick);
      const good = xs.filter((x) => x.boxIou >= 0.5).length;
      return [
        family, label, mean(xs.map((x) => x.maskIou)).toFixed(3), median(xs.map((x) => x.maskIou)).toFixed(3),
        mean(xs.map((x) => x.boxIou)).toFixed(3), `${good}/${xs.length} (${(100 * good / xs.length).toFixed(0)}%)`,
        vsB ? `${rs.filter((r) => pick(r).maskIou > r.b.maskIou).length}/${rs.length}` : '—',
      ];
    };
    qualityRows.push(
      row('(a) localise: GMMs + GraphCut + largest component', (r) => r.a, true),
      row(`(b) map > its ${seg.fgQuantile} quantile, largest component`, (r) => r.b, false),
      row('(c) map > the best threshold per scene (hindsight), largest component', (r) => r.c, true),
    );
    const extents = rs.map((r) => r.scene.extent);
    const shapes = (['ellipse', 'rectangle', 'polygon'] as const).map((k) => `${rs.filter((r) => r.scene.shape === k).length} ${k}s`).join(', ');
    const cs = rs.map((r) => r.c.quantile).filter((q): q is number => q !== undefined);
    const fallbacks = rs.filter((r) => r.note).length;
    legends.push(`${family}: ${rs.length} scenes (seeds 1..${o.scenes}; ${shapes}; the object's bounding box ` +
      `${(100 * Math.min(...extents)).toFixed(0)}-${(100 * Math.max(...extents)).toFixed(0)}% of the side on its longer side). The foreground seeds ` +
      `cover on average ${(100 * mean(rs.map((r) => r.fgCover))).toFixed(0)}% of the object (median ` +
      `${(100 * median(rs.map((r) => r.fgCover))).toFixed(0)}%) and ${(100 * mean(rs.map((r) => r.fgOnObject))).toFixed(0)}% of them lie on ` +
      `it; ${(100 * mean(rs.map((r) => r.bgOnObject))).toFixed(1)}% of the background seeds lie on the object. (c)'s median quantile ` +
      `${cs.length ? median(cs).toFixed(2) : '—'}. localise fell back to the whole image on ${fallbacks} scene(s).`);
    const ma = mean(rs.map((r) => r.a.maskIou)), mb = mean(rs.map((r) => r.b.maskIou)), mc = mean(rs.map((r) => r.c.maskIou));
    verdicts.push(`${family} scenes: localise's mean mask IoU ${ma.toFixed(3)} is ${ma > mb ? 'above' : 'not above'} thresholding the map ` +
      `at its ${seg.fgQuantile} quantile (${mb.toFixed(3)})${family === 'cluttered' ? `: ${ma > mb ? 'PASS' : 'MISS'}` : ''}; it is ` +
      `${ma > mc ? 'above' : 'not above'} the best threshold in hindsight (${mc.toFixed(3)}).`);
  }
  console.log(`\n${textTable(qualityHeader, qualityRows)}`);
  const qualityLegend = `Mask IoU: of the mask with the object's pixels; box IoU: of the mask's bounding box with the object's. ` +
    `(b)'s mask is the largest component of localise's own foreground seeds (the map strictly above its ${seg.fgQuantile} quantile); ` +
    '(c) tries the map\'s quantiles 0.50, 0.51, ..., 0.99, 0.991, ..., 0.999 and keeps the best mask IoU of each scene. ' +
    `Background seeds: the map below its ${seg.bgQuantile} quantile.`;
  console.log(qualityLegend);
  for (const l of legends) console.log(l);
  for (const v of verdicts) console.log(`quality: ${v}`);
  const loadReport = describeLoad(otherCores, command);
  console.log(loadReport.note);
  if (mismatches) console.log(`${mismatches} scene(s): the bench's steps and localise disagree`);

  const bad = failures + mismatches;
  const write = o.write ?? (o.defaults && bad === 0);
  if (write) {
    const heading = `## localise — ${SIZE}x${SIZE}, 8-connected, one core — ${cpu}`;
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- source: ${source}`,
      `- cpu: ${cpu}, ${logicalCores()} logical cores; everything on the main thread (the native max-flow, GMM and components ` +
        `code is single-threaded and synchronous); the image tensor on the cpu backend with ${threads} thread(s)`,
      `- pipeline: localise's defaults: foreground seeds above the map's ${seg.fgQuantile} quantile, background below its ` +
        `${seg.bgQuantile} quantile, ${seg.components} + ${seg.components} full-covariance GMM components, ${seg.emIterations} EM ` +
        `iterations, GrabCut pairwise with gamma ${seg.gamma}, ${seg.connectivity}-connected, one cut, soft seeds`,
      '- cluttered scenes (bench/localise.ts clutteredScene): background of smooth value noise over three colours with a finer ' +
        'brightness texture and pixel noise (sigma 10); 4-7 distractor ellipses / rectangles in colours >= 100 RGB units from the ' +
        'object\'s; one object (ellipse, rectangle or star polygon with vertices at 0.6-1 of its radius; rotated; major axis 20-60% ' +
        'of the side) in its own colour ' +
        '(>= 100 units from the background palette) with a brightness texture (x0.8-1.2) and pixel noise (sigma 12). Saliency: a ' +
        'Gaussian blob inside the object, off its centre (sigma 15-30% of its radius, halved off the object), multiplicative ' +
        'speckle U(0.4, 1), half-normal noise (0.05) everywhere, weaker blobs (0.20-0.45) on two distractors',
      '- low-contrast scenes: the same, but the object\'s colour is 35-60 units from the nearest background colour, its texture ' +
        'x0.7-1.3, and one distractor (without saliency) is a look-alike 25-45 units from the object\'s colour',
      `- easy scenes: test/localise's two-colour generator at ${SIZE} (a noisy ellipse on a noisy plain background), seeds 1..${EASY_SCENES}`,
      `- runs: per scene and step ${o.warmup} warm-up then ${o.runs} timed`,
      `- load: ${loadReport.line}`,
      '',
      markdownTable(speedHeader, speedRows),
      '',
      speedLegend,
      '',
      markdownTable(qualityHeader, qualityRows),
      '',
      qualityLegend,
      '',
      ...legends.map((l) => `- ${l}`),
      ...verdicts.map((v) => `- ${v}`),
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    const why = o.write === false ? '--no-write' : bad > 0 ? 'some scenes failed' : 'not a full default run';
    console.log(`\nbench/RESULTS.md not updated (${why}; --write records it anyway)`);
  }
  return bad > 0 ? 1 : 0;
}
