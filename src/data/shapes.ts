// A seeded procedural dataset for training a small ConvNet and benchmarking weakly supervised localisation:
// colour images, each holding one object of one of 10 shape classes over a cluttered, textured background,
// with the object's label, its pixel mask and its bounding box. Host-only (no backend, no init()).
//
// Every sample is a pure function of (seed, index, size): a 32-bit hash of seed and index seeds rng() from
// src/tensor/create.ts, and all geometry is drawn in units of the image side, so the same (seed, index) at
// another size is the same scene at another resolution (only the per-pixel noise differs). The label is
// index % 10, so any run of 10 consecutive indices holds every class once; shuffling is the caller's business.
// Values are reproducible across machines running V8 (whose Math.sin/cos/atan2/log are fdlibm ports).
//
// Rendering, in order:
//   1. Background: a smooth random field (two sums of three low-frequency plane waves, 0.3-2.5 cycles per
//      image, contrast-stretched) blends 2 or 3 random colours; value noise (cells of 5-14 % of the side) adds
//      a mottled grey texture on top.
//   2. Clutter: 3-8 distractors in random colours and opacity: elongated ellipses (aspect >= 2.2), thin lines,
//      small blobs (clusters of 2-4 small discs, radius <= 4.5 % of the side) and scribbles (thin polylines).
//      None resembles a class at the object scales used. The first distractor, and each other one with
//      probability 0.35, is centred inside the object's box, so clutter sits under the object.
//   3. Object: the class silhouette, an analytic inside(u, v) test in a local frame where every class fits
//      the unit disc, rotated by a uniform angle in [0, 2pi) (no class turns into another under rotation),
//      scaled so that the larger side of its rotated box is a uniform 20-60 % of the image side, and placed
//      uniformly where it stays at least ~2 px inside the border. Its colour is random, redrawn until it is
//      at least 110 (Euclidean RGB, 0..255) from both the mean background under the object and the mean of a
//      band around it; its texture, drawn independently of the class, is solid, stripes, dots or value noise
//      mixing the colour with a second one (also contrasted), under a mild linear shading.
//   4. Pixel noise: Gaussian with sigma uniform in [1, 4] (standard normals drawn from a fixed table of 65536
//      by a per-sample xorshift, for speed); then values are rounded and clamped to 0..255.
//
// Anti-aliasing: the object's coverage of each pixel is computed exactly where its four corners and its
// centre agree (0 or 1), and by 4x4 supersampling elsewhere (edge pixels); the object is blended over the
// background by coverage. The mask is coverage >= 0.5 (at least 8 of the 16 sub-samples inside), and the box
// is the tight box of the mask. Distractors are anti-aliased analytically from a distance estimate.

import type { Box } from '../localise/components.js';
import { rng } from '../tensor/create.js';

/** The 10 classes, by label. The silhouette alone defines a class; colour and texture are random per image. */
export const CLASS_NAMES: readonly string[] = Object.freeze([
  'circle', 'square', 'triangle', 'star', 'cross', 'ring', 'crescent', 'hourglass', 'arrow', 'heart',
]);

export const NUM_CLASSES = 10;

export interface Sample {
  /** Planar RGB, [3, size, size], integer values 0..255. */
  image: Float32Array;
  /** Class index into CLASS_NAMES: index % 10. */
  label: number;
  /** [size*size], row-major: 1 where the object covers at least half of the pixel (it is drawn on top, so all of it is visible). */
  mask: Uint8Array;
  /** Tight bounding box of the mask, in pixels: columns [x, x + width), rows [y, y + height). */
  box: Box;
  /** Image side in pixels. */
  size: number;
}

export interface SplitSpec { seed: number; count: number }

/** Base seeds of the three splits; distinct, so no split shares an image with another. */
export const SPLITS: Readonly<Record<'train' | 'val' | 'test', number>> = Object.freeze({ train: 20_011, val: 30_029, test: 40_063 });

export const DEFAULT_SIZE = 96;
export const MIN_SIZE = 32;
export const MAX_SIZE = 2048;

// ------------------------------------------------------------------ silhouettes (local frame: u right, v down)

type Inside = (u: number, v: number) => boolean;

const SQ = Math.SQRT1_2;
const SQRT3 = Math.sqrt(3);
// star: 5 tips on the unit circle, inner vertices at radius 0.42
const STAR_SECTOR = (2 * Math.PI) / 5;
const STAR_IX = 0.42 * Math.cos(STAR_SECTOR / 2) - 1;
const STAR_IY = 0.42 * Math.sin(STAR_SECTOR / 2);
// cross: arms of half-width 0.3 whose corners touch the unit circle
const CROSS_W = 0.3;
const CROSS_L = Math.sqrt(1 - CROSS_W * CROSS_W);

const INSIDE: readonly Inside[] = [
  // circle: the unit disc
  (u, v) => u * u + v * v <= 1,
  // square: inscribed in the unit circle, axis-aligned at angle 0
  (u, v) => Math.abs(u) <= SQ && Math.abs(v) <= SQ,
  // triangle: equilateral, inscribed, apex up
  (u, v) => v <= 0.5 && v >= -1 + SQRT3 * Math.abs(u),
  // star: five-pointed, fold the angle into one tip's half-sector and test the edge tip -> inner vertex
  (u, v) => {
    const r2 = u * u + v * v;
    if (r2 > 1) return false;
    if (r2 <= 0.1) return true;
    const rho = Math.sqrt(r2);
    let a = Math.atan2(u, -v) % STAR_SECTOR;
    if (a < 0) a += STAR_SECTOR;
    if (a > STAR_SECTOR / 2) a = STAR_SECTOR - a;
    const p = rho * Math.cos(a), q = rho * Math.sin(a);
    return STAR_IX * q - STAR_IY * (p - 1) >= 0;
  },
  // cross: a plus sign with equal arms
  (u, v) => {
    const au = Math.abs(u), av = Math.abs(v);
    return (au <= CROSS_W && av <= CROSS_L) || (av <= CROSS_W && au <= CROSS_L);
  },
  // ring: annulus, inner radius 0.6
  (u, v) => {
    const r2 = u * u + v * v;
    return r2 <= 1 && r2 >= 0.36;
  },
  // crescent: the unit disc minus a disc of radius 0.8 centred at (0.45, 0); horns point right
  (u, v) => u * u + v * v <= 1 && (u - 0.45) * (u - 0.45) + v * v > 0.64,
  // hourglass: two triangles meeting at a waist of width 0.2, corners on the unit circle
  (u, v) => {
    const av = Math.abs(v);
    return av <= 0.8 && Math.abs(u) <= 0.1 + 0.625 * av;
  },
  // arrow: shaft of half-width 0.18 from u = -0.98, head from u = 0.15 (half-height 0.55) to the tip at u = 1
  (u, v) => {
    const av = Math.abs(v);
    if (u >= 0.15) return u <= 1 && av <= (0.55 / 0.85) * (1 - u);
    return u >= -0.98 && av <= 0.18;
  },
  // heart: (x^2 + y^2 - 1)^3 <= x^2 y^3 (y up), whose smallest enclosing circle, centre (0, 0.25) and radius
  // 1.25, is mapped onto the unit disc; the point is down
  (u, v) => {
    const x = 1.25 * u, y = 0.25 - 1.25 * v;
    const a = x * x + y * y - 1;
    return a * a * a <= x * x * y * y * y;
  },
];

/** Conservative convex hull of a class silhouette (flat [u0, v0, u1, v1, ...]), from a 256x256 grid, cached. */
const hulls: (Float64Array | undefined)[] = [];
const HULL_N = 256, HULL_LO = -1.1, HULL_STEP = 2.2 / HULL_N;

function hull(label: number): Float64Array {
  const cached = hulls[label];
  if (cached) return cached;
  const inside = INSIDE[label];
  const pts: [number, number][] = [];
  for (let j = 0; j <= HULL_N; j++) {
    const v = HULL_LO + j * HULL_STEP;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i <= HULL_N; i++) {
      const u = HULL_LO + i * HULL_STEP;
      if (inside(u, v)) {
        if (u < lo) lo = u;
        hi = u;
      }
    }
    if (lo > hi) continue;
    // each row's extremes, pushed out by one grid step each way so the hull contains the true shape
    for (const dv of [-HULL_STEP, HULL_STEP]) {
      pts.push([lo - HULL_STEP, v + dv], [hi + HULL_STEP, v + dv]);
    }
  }
  // Andrew's monotone chain
  pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: number[], a: number[], b: number[]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [], upper: [number, number][] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  const h = lower.slice(0, -1).concat(upper.slice(0, -1));
  const out = new Float64Array(h.length * 2);
  h.forEach(([u, v], i) => { out[2 * i] = u; out[2 * i + 1] = v; });
  hulls[label] = out;
  return out;
}

// ------------------------------------------------------------------ validation

const show = (v: unknown): string =>
  typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null'
    : Array.isArray(v) ? 'an array' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;

function checkSize(fn: string, size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < MIN_SIZE || size > MAX_SIZE) {
    throw new Error(`${fn}: size must be an integer from ${MIN_SIZE} to ${MAX_SIZE}, got ${show(size)}`);
  }
  return size;
}

function checkNonNegInt(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${fn}: ${arg} must be a non-negative integer, got ${show(v)}`);
  return v;
}

// ------------------------------------------------------------------ helpers

/** 32-bit finaliser (murmur3 fmix32). */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function sampleSeed(seed: number, index: number): number {
  const split = (x: number) => [x >>> 0, Math.floor(x / 4294967296) >>> 0];
  const [s0, s1] = split(seed), [i0, i1] = split(index);
  let h = mix32(s0 ^ 0x27d4eb2f);
  h = mix32(h ^ mix32(s1 + 0x165667b1));
  h = mix32(h ^ mix32(i0 + 0x61c88647));
  h = mix32(h ^ mix32(i1 + 0x7f4a7c15));
  return h;
}

type Rand = () => number;
const uni = (r: Rand, lo: number, hi: number) => lo + (hi - lo) * r();
const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);
type RGB = [number, number, number];
const randColor = (r: Rand): RGB => [255 * r(), 255 * r(), 255 * r()];
const dist = (a: RGB, b: RGB) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/** Value noise on an n x n lattice of random values, smoothstep-interpolated; evaluated in lattice units, clamped. */
class ValueNoise {
  private readonly g: Float32Array;
  constructor(r: Rand, private readonly n: number) {
    this.g = new Float32Array(n * n);
    for (let i = 0; i < this.g.length; i++) this.g[i] = r();
  }
  at(x: number, y: number): number {
    const m = this.n - 1.000001;
    x = x < 0 ? 0 : x > m ? m : x;
    y = y < 0 ? 0 : y > m ? m : y;
    const ix = Math.floor(x), iy = Math.floor(y);
    let fx = x - ix, fy = y - iy;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const k = iy * this.n + ix, g = this.g;
    const a = g[k] + (g[k + 1] - g[k]) * fx;
    const b = g[k + this.n] + (g[k + this.n + 1] - g[k + this.n]) * fx;
    return a + (b - a) * fy;
  }
}

/** Alpha-blends colour c with weight a into pixel p of a planar image with plane size n. */
function blend(img: Float32Array, n: number, p: number, c: RGB, a: number): void {
  if (a <= 0) return;
  img[p] += (c[0] - img[p]) * a;
  img[p + n] += (c[1] - img[p + n]) * a;
  img[p + 2 * n] += (c[2] - img[p + 2 * n]) * a;
}

/** 65536 standard normals (Box-Muller on a fixed seed), built on first use. */
const GAUSS_MASK = 65535;
let gauss: Float32Array | undefined;
function gaussTable(): Float32Array {
  if (gauss) return gauss;
  const r = rng(0x6a09e667), t = new Float32Array(GAUSS_MASK + 1);
  for (let i = 0; i < t.length; i += 2) {
    const rad = Math.sqrt(-2 * Math.log(1 - r())), th = 2 * Math.PI * r();
    t[i] = rad * Math.cos(th);
    t[i + 1] = rad * Math.sin(th);
  }
  return (gauss = t);
}

// ------------------------------------------------------------------ background

function drawBackground(r: Rand, img: Float32Array, S: number): void {
  const n = S * S;
  // two fields, each a sum of three plane waves sin(kx x + ky y + phase) = sin(kx x) cos(ky y + phase) + cos(kx x) sin(ky y + phase)
  const fieldOf = (): Float32Array => {
    const f = new Float32Array(n);
    const sx = new Float64Array(S), cx = new Float64Array(S), sy = new Float64Array(S), cy = new Float64Array(S);
    let norm = 0;
    for (let w = 0; w < 3; w++) {
      const cycles = uni(r, 0.3, 2.5), dir = uni(r, 0, 2 * Math.PI), phase = uni(r, 0, 2 * Math.PI), amp = uni(r, 0.3, 1);
      const kx = (2 * Math.PI * cycles * Math.cos(dir)) / S, ky = (2 * Math.PI * cycles * Math.sin(dir)) / S;
      norm += amp;
      for (let i = 0; i < S; i++) {
        sx[i] = amp * Math.sin(kx * (i + 0.5)); cx[i] = amp * Math.cos(kx * (i + 0.5));
        sy[i] = Math.sin(ky * (i + 0.5) + phase); cy[i] = Math.cos(ky * (i + 0.5) + phase);
      }
      for (let y = 0, p = 0; y < S; y++) {
        const a = cy[y], b = sy[y];
        for (let x = 0; x < S; x++, p++) f[p] += sx[x] * a + cx[x] * b;
      }
    }
    const k = (0.5 * uni(r, 1, 2.5)) / norm;
    for (let p = 0; p < n; p++) f[p] = clamp01(0.5 + k * f[p]);
    return f;
  };
  const T1 = fieldOf(), T2 = fieldOf();
  const A = randColor(r), B = randColor(r), C = randColor(r);
  const third = r() < 0.5 ? uni(r, 0.4, 0.9) : 0;
  // value noise, separable lattice lookups
  const cellPx = uni(r, 0.05, 0.14) * S;
  const g = Math.ceil(S / cellPx) + 2;
  const lattice = new Float32Array(g * g);
  for (let i = 0; i < lattice.length; i++) lattice[i] = r();
  const noiseAmp = uni(r, 10, 50);
  const cell = new Int32Array(S), frac = new Float64Array(S);
  for (let i = 0; i < S; i++) {
    const t = Math.min((i + 0.5) / cellPx, g - 1.000001), c = Math.floor(t), f = t - c;
    cell[i] = c; frac[i] = f * f * (3 - 2 * f);
  }
  for (let y = 0, p = 0; y < S; y++) {
    const row = cell[y] * g, fy = frac[y];
    for (let x = 0; x < S; x++, p++) {
      const k = row + cell[x], fx = frac[x];
      const a = lattice[k] + (lattice[k + 1] - lattice[k]) * fx;
      const b = lattice[k + g] + (lattice[k + g + 1] - lattice[k + g]) * fx;
      const grain = noiseAmp * (a + (b - a) * fy - 0.5);
      const t1 = T1[p], t2 = third * T2[p];
      for (let c = 0; c < 3; c++) {
        const base = A[c] + (B[c] - A[c]) * t1;
        img[p + c * n] = base + (C[c] - base) * t2 + grain;
      }
    }
  }
}

// ------------------------------------------------------------------ distractors

interface ObjectFrame { x0: number; y0: number; x1: number; y1: number }

/** Paints coverage cov(px, py) (pixel centres) over the pixel rectangle [x0, x1) x [y0, y1), clipped to the image. */
function paint(img: Float32Array, S: number, x0: number, y0: number, x1: number, y1: number, c: RGB, alpha: number,
  cov: (px: number, py: number) => number): void {
  const n = S * S;
  const xa = Math.max(0, Math.floor(x0)), xb = Math.min(S, Math.ceil(x1));
  const ya = Math.max(0, Math.floor(y0)), yb = Math.min(S, Math.ceil(y1));
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) blend(img, n, y * S + x, c, alpha * cov(x + 0.5, y + 0.5));
}

/** Paints a polyline (flat [x0, y0, x1, y1, ...]) of half-width w: each segment's coverage into a shared buffer (max), then one blend. */
function strokes(img: Float32Array, S: number, pts: number[], w: number, c: RGB, alpha: number): void {
  let lx = Infinity, ly = Infinity, hx = -Infinity, hy = -Infinity;
  for (let i = 0; i < pts.length; i += 2) {
    lx = Math.min(lx, pts[i]); hx = Math.max(hx, pts[i]); ly = Math.min(ly, pts[i + 1]); hy = Math.max(hy, pts[i + 1]);
  }
  const x0 = Math.max(0, Math.floor(lx - w - 1)), x1 = Math.min(S, Math.ceil(hx + w + 1));
  const y0 = Math.max(0, Math.floor(ly - w - 1)), y1 = Math.min(S, Math.ceil(hy + w + 1));
  if (x0 >= x1 || y0 >= y1) return;
  const W = x1 - x0, buf = new Float32Array(W * (y1 - y0));
  for (let i = 0; i + 3 < pts.length; i += 2) {
    const ax = pts[i], ay = pts[i + 1], bx = pts[i + 2], by = pts[i + 3];
    const sx0 = Math.max(x0, Math.floor(Math.min(ax, bx) - w - 1)), sx1 = Math.min(x1, Math.ceil(Math.max(ax, bx) + w + 1));
    const sy0 = Math.max(y0, Math.floor(Math.min(ay, by) - w - 1)), sy1 = Math.min(y1, Math.ceil(Math.max(ay, by) + w + 1));
    const ddx = bx - ax, ddy = by - ay, l2 = ddx * ddx + ddy * ddy, il2 = l2 > 0 ? 1 / l2 : 0;
    for (let y = sy0; y < sy1; y++) {
      for (let x = sx0; x < sx1; x++) {
        const px = x + 0.5 - ax, py = y + 0.5 - ay;
        const t = clamp01((px * ddx + py * ddy) * il2);
        const ex = px - t * ddx, ey = py - t * ddy;
        const d2 = ex * ex + ey * ey;
        if (d2 >= (w + 0.5) * (w + 0.5)) continue;
        const cv = clamp01(w + 0.5 - Math.sqrt(d2)), k = (y - y0) * W + x - x0;
        if (cv > buf[k]) buf[k] = cv;
      }
    }
  }
  const n = S * S;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) blend(img, n, y * S + x, c, alpha * buf[(y - y0) * W + x - x0]);
}

function drawDistractors(r: Rand, img: Float32Array, S: number, obj: ObjectFrame): void {
  const count = 3 + Math.floor(r() * 6);
  const px = S / 96; // line widths scale with the image
  for (let k = 0; k < count; k++) {
    const over = k === 0 || r() < 0.35;
    const cx = over ? uni(r, obj.x0, obj.x1) : uni(r, 0, S);
    const cy = over ? uni(r, obj.y0, obj.y1) : uni(r, 0, S);
    const color = randColor(r), alpha = uni(r, 0.75, 1);
    const kind = r();
    if (kind < 0.3) {
      // elongated ellipse
      const a = uni(r, 0.05, 0.18) * S, b = a * uni(r, 0.15, 0.45), th = uni(r, 0, Math.PI);
      const co = Math.cos(th), si = Math.sin(th), ia2 = 1 / (a * a), ib2 = 1 / (b * b);
      paint(img, S, cx - a - 1, cy - a - 1, cx + a + 1, cy + a + 1, color, alpha, (x, y) => {
        const u = (x - cx) * co + (y - cy) * si, v = -(x - cx) * si + (y - cy) * co;
        const f = u * u * ia2 + v * v * ib2 - 1;
        const g = 2 * Math.hypot(u * ia2, v * ib2);
        return g > 0 ? clamp01(0.5 - f / g) : 1;
      });
    } else if (kind < 0.55) {
      // thin line
      const len = uni(r, 0.2, 0.7) * S, th = uni(r, 0, Math.PI), w = Math.max(0.5, uni(r, 0.5, 1.5) * px);
      const dx = 0.5 * len * Math.cos(th), dy = 0.5 * len * Math.sin(th);
      strokes(img, S, [cx - dx, cy - dy, cx + dx, cy + dy], w, color, alpha);
    } else if (kind < 0.75) {
      // blob: a cluster of 2-4 small discs
      const m = 2 + Math.floor(r() * 3);
      const ds: number[] = [];
      for (let i = 0; i < m; i++) {
        const rad = Math.max(1.2, uni(r, 0.015, 0.045) * S), ang = uni(r, 0, 2 * Math.PI), off = uni(r, 0, 1.5) * rad;
        ds.push(cx + off * Math.cos(ang), cy + off * Math.sin(ang), rad);
      }
      const ext = 0.045 * S * 2.5 + 2;
      paint(img, S, cx - ext, cy - ext, cx + ext, cy + ext, color, alpha, (x, y) => {
        let c = 0;
        for (let i = 0; i < ds.length; i += 3) c = Math.max(c, clamp01(ds[i + 2] + 0.5 - Math.hypot(x - ds[i], y - ds[i + 1])));
        return c;
      });
    } else {
      // scribble: a thin random-walk polyline
      const m = 4 + Math.floor(r() * 5), w = Math.max(0.5, uni(r, 0.5, 1.2) * px);
      const pts = [cx, cy];
      let th = uni(r, 0, 2 * Math.PI);
      for (let i = 0; i < m; i++) {
        th += uni(r, -1.2, 1.2);
        const step = uni(r, 0.04, 0.12) * S;
        pts.push(pts[pts.length - 2] + step * Math.cos(th), pts[pts.length - 1] + step * Math.sin(th));
      }
      strokes(img, S, pts, w, color, alpha);
    }
  }
}

// ------------------------------------------------------------------ object

/** Pixel-space placement of a silhouette: local (u, v) = ((X - cx) cos + (Y - cy) sin, -(X - cx) sin + (Y - cy) cos) / scale. */
interface Placement { cx: number; cy: number; scale: number; angle: number }

/**
 * Coverage of a placed silhouette over the pixel rectangle [x0, x1) x [y0, y1): exact where the four corners
 * and the centre of a pixel agree, 4x4 supersampled elsewhere.
 */
function coverage(inside: Inside, pl: Placement, x0: number, y0: number, x1: number, y1: number): Float32Array {
  const W = x1 - x0, H = y1 - y0;
  const co = Math.cos(pl.angle) / pl.scale, si = Math.sin(pl.angle) / pl.scale;
  const test = (X: number, Y: number) => {
    const dx = X - pl.cx, dy = Y - pl.cy;
    return inside(dx * co + dy * si, -dx * si + dy * co);
  };
  const corner = new Uint8Array((W + 1) * (H + 1));
  for (let j = 0; j <= H; j++) for (let i = 0; i <= W; i++) corner[j * (W + 1) + i] = test(x0 + i, y0 + j) ? 1 : 0;
  const cov = new Float32Array(W * H);
  for (let j = 0; j < H; j++) {
    for (let i = 0; i < W; i++) {
      const k = j * (W + 1) + i;
      const s = corner[k] + corner[k + 1] + corner[k + W + 1] + corner[k + W + 2];
      const c = test(x0 + i + 0.5, y0 + j + 0.5) ? 1 : 0;
      if (s === 0 && c === 0) continue;
      if (s === 4 && c === 1) { cov[j * W + i] = 1; continue; }
      let hits = 0;
      for (let b = 0; b < 4; b++) for (let a = 0; a < 4; a++) hits += test(x0 + i + (a + 0.5) / 4, y0 + j + (b + 0.5) / 4) ? 1 : 0;
      cov[j * W + i] = hits / 16;
    }
  }
  return cov;
}

/** Rotated hull bounds in local units: [minX, maxX, minY, maxY] of (u cos - v sin, u sin + v cos). */
function rotatedBounds(label: number, angle: number): [number, number, number, number] {
  const h = hull(label), co = Math.cos(angle), si = Math.sin(angle);
  let lx = Infinity, hx = -Infinity, ly = Infinity, hy = -Infinity;
  for (let i = 0; i < h.length; i += 2) {
    const x = h[i] * co - h[i + 1] * si, y = h[i] * si + h[i + 1] * co;
    if (x < lx) lx = x; if (x > hx) hx = x; if (y < ly) ly = y; if (y > hy) hy = y;
  }
  return [lx, hx, ly, hy];
}

/** Draws a colour at least `min` from every reference colour, best of up to 40 tries. */
function contrastingColor(refs: RGB[], min: number, propose: () => RGB): RGB {
  let best: RGB = propose(), bestD = -1;
  for (let t = 0; t < 40; t++) {
    const c = t === 0 ? best : propose();
    const d = Math.min(...refs.map((ref) => dist(c, ref)));
    if (d > bestD) { best = c; bestD = d; }
    if (d >= min) break;
  }
  return best;
}

// ------------------------------------------------------------------ public API

/**
 * Renders sample `index` of the dataset with base seed `seed` at `size` x `size` pixels (default 96).
 * Deterministic in (seed, index, size); label = index % 10.
 */
export function renderSample(seed: number, index: number, size: number = DEFAULT_SIZE): Sample {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new Error(`renderSample: seed must be an integer, got ${show(seed)}`);
  checkNonNegInt('renderSample', 'index', index);
  const S = checkSize('renderSample', size);
  const r = rng(sampleSeed(seed, index));
  const label = index % NUM_CLASSES;
  const n = S * S;

  // object placement first (distractors aim at it), all geometry in units of S
  const extent = uni(r, 0.2, 0.6) * S;
  const angle = uni(r, 0, 2 * Math.PI);
  const [lx, hx, ly, hy] = rotatedBounds(label, angle);
  const scale = extent / Math.max(hx - lx, hy - ly);
  const margin = 1.5;
  const cx = uni(r, margin - lx * scale, S - margin - hx * scale);
  const cy = uni(r, margin - ly * scale, S - margin - hy * scale);
  const pl: Placement = { cx, cy, scale, angle };
  const ox0 = cx + lx * scale, ox1 = cx + hx * scale, oy0 = cy + ly * scale, oy1 = cy + hy * scale;

  const image = new Float32Array(3 * n);
  drawBackground(r, image, S);
  drawDistractors(r, image, S, { x0: ox0, y0: oy0, x1: ox1, y1: oy1 });

  // object coverage and mask
  const x0 = Math.max(0, Math.floor(ox0) - 1), x1 = Math.min(S, Math.ceil(ox1) + 1);
  const y0 = Math.max(0, Math.floor(oy0) - 1), y1 = Math.min(S, Math.ceil(oy1) + 1);
  const W = x1 - x0;
  const cov = coverage(INSIDE[label], pl, x0, y0, x1, y1);
  const mask = new Uint8Array(n);
  let bx0 = S, by0 = S, bx1 = -1, by1 = -1;
  for (let j = 0; j < y1 - y0; j++) {
    for (let i = 0; i < W; i++) {
      if (cov[j * W + i] < 0.5) continue;
      const x = x0 + i, y = y0 + j;
      mask[y * S + x] = 1;
      if (x < bx0) bx0 = x; if (x > bx1) bx1 = x; if (y < by0) by0 = y; if (y > by1) by1 = y;
    }
  }
  if (bx1 < 0) throw new Error(`renderSample: internal error, empty object mask (seed ${seed}, index ${index}, size ${size})`);
  const box: Box = { x: bx0, y: by0, width: bx1 - bx0 + 1, height: by1 - by0 + 1 };

  // reference colours: mean background under the object, and in a band around it
  const pad = Math.max(2, Math.round(0.15 * extent));
  const under: RGB = [0, 0, 0], around: RGB = [0, 0, 0];
  let nu = 0, na = 0;
  for (let y = Math.max(0, by0 - pad); y < Math.min(S, by1 + 1 + pad); y++) {
    for (let x = Math.max(0, bx0 - pad); x < Math.min(S, bx1 + 1 + pad); x++) {
      const p = y * S + x, acc = mask[p] ? under : around;
      for (let c = 0; c < 3; c++) acc[c] += image[p + c * n];
      if (mask[p]) nu++; else na++;
    }
  }
  for (let c = 0; c < 3; c++) { under[c] /= nu; around[c] /= Math.max(1, na); }
  const refs = na > 0 ? [under, around] : [under];
  const c1 = contrastingColor(refs, 110, () => randColor(r));

  // texture: 0 solid, 1 stripes, 2 dots, 3 noise; t in [0, 1] mixes c1 with c2
  const texture = Math.floor(r() * 4);
  const c2 = contrastingColor(refs, 80, () => {
    const d = [uni(r, -1, 1), uni(r, -1, 1), uni(r, -1, 1)];
    const l = Math.hypot(d[0], d[1], d[2]) || 1, m = uni(r, 50, 100) / l;
    return [Math.min(255, Math.max(0, c1[0] + m * d[0])), Math.min(255, Math.max(0, c1[1] + m * d[1])), Math.min(255, Math.max(0, c1[2] + m * d[2]))];
  });
  const tAngle = uni(r, 0, Math.PI), tc = Math.cos(tAngle), ts = Math.sin(tAngle);
  const period = uni(r, 0.2, 0.45); // local units (the object spans about 2)
  const dotR = period * uni(r, 0.2, 0.35);
  const tNoise = new ValueNoise(r, 12);
  const noiseCell = uni(r, 0.25, 0.5);
  const shade = uni(r, 0, 0.12), sAngle = uni(r, 0, 2 * Math.PI), sc = Math.cos(sAngle), ss = Math.sin(sAngle);
  const pixel = 1 / scale; // one pixel in local units
  const co = Math.cos(angle) / scale, si = Math.sin(angle) / scale;
  const col: RGB = [0, 0, 0];
  for (let j = 0; j < y1 - y0; j++) {
    for (let i = 0; i < W; i++) {
      const a = cov[j * W + i];
      if (a === 0) continue;
      const dx = x0 + i + 0.5 - cx, dy = y0 + j + 0.5 - cy;
      const u = dx * co + dy * si, v = -dx * si + dy * co;
      let t = 0;
      if (texture === 1) {
        t = clamp01(0.5 + 1.5 * Math.sin((2 * Math.PI * (u * tc + v * ts)) / period));
      } else if (texture === 2) {
        const gu = (u * tc + v * ts) / period, gv = (-u * ts + v * tc) / period;
        const du = (gu - Math.floor(gu) - 0.5) * period, dv = (gv - Math.floor(gv) - 0.5) * period;
        t = clamp01((dotR - Math.hypot(du, dv)) / pixel + 0.5);
      } else if (texture === 3) {
        t = tNoise.at((u + 1.2) / noiseCell, (v + 1.2) / noiseCell);
      }
      const m = 1 + shade * (u * sc + v * ss);
      for (let c = 0; c < 3; c++) col[c] = (c1[c] + (c2[c] - c1[c]) * t) * m;
      blend(image, n, (y0 + j) * S + x0 + i, col, a);
    }
  }

  // pixel noise (standard normals from a fixed table, picked by a per-sample xorshift), rounding, clamping
  const sigma = uni(r, 1, 4);
  let z = (Math.floor(r() * 4294967296) | 1) >>> 0;
  const normals = gaussTable();
  for (let p = 0; p < 3 * n; p++) {
    z ^= z << 13; z ^= z >>> 17; z ^= z << 5;
    const a = Math.round(image[p] + sigma * normals[(z >>> 0) & GAUSS_MASK]);
    image[p] = a < 0 ? 0 : a > 255 ? 255 : a;
  }
  return { image, label, mask, box, size: S };
}

const SPLIT_NAMES = ['train', 'val', 'test'] as const;

/** Samples 0..count-1 of a split (base seed SPLITS[split]) at `size` x `size` pixels (default 96). */
export function generateSplit(split: 'train' | 'val' | 'test', count: number, size: number = DEFAULT_SIZE): Sample[] {
  if (!(SPLIT_NAMES as readonly unknown[]).includes(split)) {
    throw new Error(`generateSplit: split must be one of 'train', 'val', 'test', got ${show(split)}`);
  }
  checkNonNegInt('generateSplit', 'count', count);
  checkSize('generateSplit', size);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) out.push(renderSample(SPLITS[split], i, size));
  return out;
}

/** Stacks samples of one size into a batch: images [N, 3, S, S] (planar, 0..255) and labels [N]. */
export function toBatch(samples: readonly Sample[]): { images: Float32Array; labels: Int32Array } {
  if (!Array.isArray(samples)) throw new Error(`toBatch: samples must be an array of samples, got ${show(samples)}`);
  if (samples.length === 0) return { images: new Float32Array(0), labels: new Int32Array(0) };
  const S = samples[0]?.size;
  const plane = 3 * S * S;
  const images = new Float32Array(samples.length * plane);
  const labels = new Int32Array(samples.length);
  samples.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || !(s.image instanceof Float32Array) || typeof s.size !== 'number') {
      throw new Error(`toBatch: samples[${i}] must be a sample { image, label, mask, box, size }, got ${show(s)}`);
    }
    if (s.size !== S) throw new Error(`toBatch: samples[${i}] has size ${s.size}, but samples[0] has size ${S}`);
    if (s.image.length !== plane) throw new Error(`toBatch: samples[${i}].image holds ${s.image.length} values, expected ${plane}`);
    images.set(s.image, i * plane);
    labels[i] = s.label;
  });
  return { images, labels };
}

/**
 * The canonical silhouette of a class as a size x size mask (pixel-centre test): centred, the unit disc of the
 * local frame spanning 90 % of the side, rotated by `angle` radians (default 0). For tests and figures.
 */
export function canonicalMask(label: number, size: number = DEFAULT_SIZE, angle = 0): Uint8Array {
  if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= NUM_CLASSES) {
    throw new Error(`canonicalMask: label must be an integer from 0 to ${NUM_CLASSES - 1}, got ${show(label)}`);
  }
  const S = checkSize('canonicalMask', size);
  if (typeof angle !== 'number' || !Number.isFinite(angle)) throw new Error(`canonicalMask: angle must be a finite number, got ${show(angle)}`);
  const scale = 0.45 * S, co = Math.cos(angle) / scale, si = Math.sin(angle) / scale, inside = INSIDE[label];
  const m = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x + 0.5 - S / 2, dy = y + 0.5 - S / 2;
      m[y * S + x] = inside(dx * co + dy * si, -dx * si + dy * co) ? 1 : 0;
    }
  }
  return m;
}
