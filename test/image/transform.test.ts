// Host image transforms: resize (bilinear with half-pixel centres, and box averaging when an axis shrinks by
// more than 2x) against float64 references written here from the defining formulas, analytic ramps,
// conservation checks for the antialiasing, crops and flips against index formulas, and the errors.

import test from 'tape';
import { centerCrop, crop, flipHorizontal, type Planar, planar, resize, resizeShorterSide } from '../../src/image/index.js';
import { maxAbsDiff, uniform } from '../helpers/numeric.js';

const at = (p: Planar, c: number, y: number, x: number) => p.data[(c * p.height + y) * p.width + x];

function image(C: number, H: number, W: number, f: (c: number, y: number, x: number) => number): Planar {
  const d = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) d[(c * H + y) * W + x] = f(c, y, x);
  return planar(C, H, W, d);
}

const random = (C: number, H: number, W: number, seed: number) => planar(C, H, W, uniform([C, H, W], seed, 0, 255));

// ------------------------------------------------------------------ float64 references

/** Dense weights of output pixel i over the n input pixels of one axis, straight from the definitions. */
function refWeights(n: number, m: number, i: number): Float64Array {
  const s = n / m;
  const w = new Float64Array(n);
  if (s > 2) {
    // area: overlap of pixel [j, j + 1) with [i s, (i + 1) s), divided by s
    const a = i * s, b = (i + 1) * s;
    for (let j = 0; j < n; j++) w[j] = Math.max(0, Math.min(j + 1, b) - Math.max(j, a)) / s;
  } else {
    // bilinear, half-pixel centres, source clamped into [0, n - 1]
    const x = Math.min(Math.max((i + 0.5) * s - 0.5, 0), n - 1);
    const j0 = Math.floor(x);
    const f = x - j0;
    w[j0] += 1 - f;
    if (f > 0) w[j0 + 1] += f;
  }
  return w;
}

/** out(c, y, x) = Σ_j Σ_k wy_y(j) wx_x(k) in(c, j, k), in float64, no separable passes. */
function refResize(img: Planar, h: number, w: number): Float64Array {
  const { channels: C, height: H, width: W } = img;
  const wy = Array.from({ length: h }, (_, y) => refWeights(H, h, y));
  const wx = Array.from({ length: w }, (_, x) => refWeights(W, w, x));
  const out = new Float64Array(C * h * w);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let j = 0; j < H; j++) {
          if (wy[y][j] === 0) continue;
          for (let k = 0; k < W; k++) s += wy[y][j] * wx[x][k] * at(img, c, j, k);
        }
        out[(c * h + y) * w + x] = s;
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ planar

test('planar: zeros by default, checks the data length and the sizes', (t) => {
  const p = planar(3, 2, 4);
  t.equal(p.data.length, 24);
  t.ok(p.data.every((v) => v === 0), 'zeros');
  const d = new Float32Array(6);
  t.equal(planar(1, 2, 3, d).data, d, 'keeps the given array');
  t.throws(() => planar(3, 2, 2, new Float32Array(5)), /planar: data holds 5 values, but 3 channels of 2x2 need 12/);
  t.throws(() => planar(0, 2, 2), /planar: channels must be a positive integer, got 0/);
  t.throws(() => planar(1, 2.5, 2), /planar: height must be a positive integer, got 2.5/);
  t.throws(() => planar(1, 2, 2, [1, 2, 3, 4] as unknown as Float32Array), /planar: data must be a Float32Array/);
  t.end();
});

// ------------------------------------------------------------------ resize

test('resize: the same size is the identity (a copy)', (t) => {
  const img = random(3, 5, 7, 1);
  const out = resize(img, 5, 7);
  t.deepEqual([out.channels, out.height, out.width], [3, 5, 7]);
  t.deepEqual(Array.from(out.data), Array.from(img.data), 'same values');
  t.notEqual(out.data, img.data, 'a new array');
  const one = resize(random(2, 1, 1, 2), 1, 1);
  t.deepEqual([one.height, one.width], [1, 1], '1x1 stays 1x1');
  t.end();
});

test('resize: a linear ramp lands on its values at the half-pixel source positions', (t) => {
  // f(y, x) = 3x - 2y + 10 is reproduced exactly by bilinear interpolation; the source position of output i is
  // clamp((i + 0.5) * n / m - 0.5, 0, n - 1)
  const f = (y: number, x: number) => 3 * x - 2 * y + 10;
  const src = (i: number, n: number, m: number) => Math.min(Math.max((i + 0.5) * (n / m) - 0.5, 0), n - 1);
  for (const [H, W, h, w] of [[4, 4, 8, 8], [5, 8, 7, 5], [6, 3, 6, 11], [8, 8, 4, 4], [3, 9, 12, 6]]) {
    const img = image(1, H, W, (_c, y, x) => f(y, x));
    const out = resize(img, h, w);
    const want = image(1, h, w, (_c, y, x) => f(src(y, H, h), src(x, W, w)));
    t.ok(maxAbsDiff(out.data, want.data) < 1e-4, `${H}x${W} -> ${h}x${w}: max abs diff ${maxAbsDiff(out.data, want.data)}`);
  }
  // upscaling 2x: the first two outputs of a 0, 1, 2, 3 ramp are at -0.25 (clamped to 0) and 0.25
  const up = resize(image(1, 1, 4, (_c, _y, x) => x), 1, 8);
  t.deepEqual(Array.from(up.data), [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], '0..3 ramp upscaled 2x');
  // shrinking 4x (box averaging): each output is the mean of 4 pixels, the ramp's value at the block centre
  const down = resize(image(1, 1, 16, (_c, _y, x) => x), 1, 4);
  t.deepEqual(Array.from(down.data), [1.5, 5.5, 9.5, 13.5], '0..15 ramp shrunk 4x');
  t.end();
});

test('resize: matches the float64 reference (upscale, mixed, exactly 2x, box-averaged, mixed modes)', (t) => {
  const cases: [string, number, number, number, number, number][] = [
    ['upscale 5x7 -> 11x16', 2, 5, 7, 11, 16],
    ['upscale 3x3 -> 224x224', 1, 3, 3, 224, 224],
    ['down < 2x and up: 9x7 -> 5x12', 3, 9, 7, 5, 12],
    ['exactly 2x down (still bilinear): 8x10 -> 4x5', 2, 8, 10, 4, 5],
    ['box-averaged both axes: 40x30 -> 7x9', 2, 40, 30, 7, 9],
    ['box-averaged height, bilinear width: 40x30 -> 7x20', 1, 40, 30, 7, 20],
    ['bilinear height, box-averaged width: 10x61 -> 13x4', 3, 10, 61, 13, 4],
    ['just over 2x: 21x21 -> 10x10', 1, 21, 21, 10, 10],
    ['to a single pixel: 6x9 -> 1x1', 3, 6, 9, 1, 1],
  ];
  for (const [name, C, H, W, h, w] of cases) {
    const img = random(C, H, W, H * 100 + W);
    const out = resize(img, h, w);
    t.deepEqual([out.channels, out.height, out.width], [C, h, w], `${name}: shape`);
    const err = maxAbsDiff(out.data, refResize(img, h, w));
    t.ok(err < 1e-4, `${name}: max abs diff ${err.toExponential(2)} (values 0..255)`);
  }
  t.end();
});

test('resize antialias: constants stay constant, checkerboards average out, no pixel is skipped', (t) => {
  const k = image(3, 100, 80, () => 7.25);
  for (const [h, w] of [[9, 7], [50, 40], [33, 26], [1, 1], [13, 80]]) {
    const out = resize(k, h, w);
    t.ok(maxAbsDiff(out.data, new Float32Array(out.data.length).fill(7.25)) < 1e-5, `constant 100x80 -> ${h}x${w} stays 7.25`);
  }
  const board = image(1, 64, 64, (_c, y, x) => (x + y) % 2);
  const eight = resize(board, 8, 8);
  t.ok(maxAbsDiff(eight.data, new Float32Array(64).fill(0.5)) < 1e-6, 'a 1-pixel checkerboard shrunk 8x is 0.5 everywhere');
  const seven = resize(board, 7, 7);
  t.ok(maxAbsDiff(seven.data, new Float32Array(49).fill(0.5)) < 0.02, `shrunk 64 -> 7 (9.14x): within 0.02 of 0.5 (max ${maxAbsDiff(seven.data, new Float32Array(49).fill(0.5)).toFixed(4)})`);
  const cells = image(1, 48, 48, (_c, y, x) => (Math.floor(x / 2) + Math.floor(y / 2)) % 2);
  const six = resize(cells, 6, 6);
  t.ok(maxAbsDiff(six.data, new Float32Array(36).fill(0.5)) < 1e-6, 'a 2-pixel checkerboard shrunk 8x is 0.5 everywhere');
  // every single input pixel reaches the output with total weight (h * w) / (H * W)
  for (const [H, W, h, w] of [[16, 16, 2, 2], [10, 1, 4, 1], [1, 23, 1, 7], [9, 12, 4, 5]]) {
    let worst = 0;
    for (let j = 0; j < H * W; j++) {
      const imp = planar(1, H, W);
      imp.data[j] = 1;
      const out = resize(imp, h, w);
      const total = out.data.reduce((a, b) => a + b, 0);
      worst = Math.max(worst, Math.abs(total - (h * w) / (H * W)));
    }
    t.ok(worst < 1e-6, `${H}x${W} -> ${h}x${w}: each impulse keeps its share of the mass (worst error ${worst.toExponential(2)})`);
  }
  t.end();
});

test('resizeShorterSide: the shorter side becomes size, the longer side keeps the aspect ratio (truncated, as torchvision)', (t) => {
  const shape = (p: Planar) => [p.channels, p.height, p.width];
  t.deepEqual(shape(resizeShorterSide(random(3, 10, 20, 1), 5)), [3, 5, 10], 'landscape');
  t.deepEqual(shape(resizeShorterSide(random(3, 20, 10, 2), 5)), [3, 10, 5], 'portrait');
  t.deepEqual(shape(resizeShorterSide(random(1, 7, 10, 3), 4)), [1, 4, 5], '10 * 4 / 7 = 5.71 truncates to 5');
  t.deepEqual(shape(resizeShorterSide(random(1, 10, 7, 4), 4)), [1, 5, 4], 'portrait 5.71 truncates to 5');
  t.deepEqual(shape(resizeShorterSide(random(1, 8, 8, 5), 12)), [1, 12, 12], 'square');
  const img = random(2, 6, 9, 6);
  t.deepEqual(Array.from(resizeShorterSide(img, 4).data), Array.from(resize(img, 4, 6).data), 'is resize() to the computed size');
  t.deepEqual(Array.from(resizeShorterSide(img, 6).data), Array.from(img.data), 'already that size: unchanged');
  t.throws(() => resizeShorterSide(img, 0), /resizeShorterSide: size must be a positive integer, got 0/);
  t.throws(() => resizeShorterSide(null as unknown as Planar, 4), /resizeShorterSide: img must be a planar image/);
  t.end();
});

// ------------------------------------------------------------------ crops and flips

test('crop and centerCrop: the index formulas', (t) => {
  const img = random(3, 8, 12, 7);
  const c = crop(img, 2, 3, 4, 5);
  t.deepEqual([c.channels, c.height, c.width], [3, 4, 5]);
  let bad = 0;
  for (let ch = 0; ch < 3; ch++) for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) if (at(c, ch, y, x) !== at(img, ch, y + 2, x + 3)) bad++;
  t.equal(bad, 0, 'crop(2, 3, 4, 5): out[c][y][x] = in[c][y + 2][x + 3]');
  t.deepEqual(Array.from(crop(img, 0, 0, 8, 12).data), Array.from(img.data), 'the whole image');
  const corner = crop(img, 7, 11, 1, 1);
  t.deepEqual(Array.from(corner.data), [at(img, 0, 7, 11), at(img, 1, 7, 11), at(img, 2, 7, 11)], 'the bottom-right pixel');

  const cc = centerCrop(img, 3, 5); // top = floor(5 / 2) = 2, left = floor(7 / 2) = 3
  t.deepEqual(Array.from(cc.data), Array.from(crop(img, 2, 3, 3, 5).data), 'centerCrop 3x5 of 8x12 is crop at (2, 3)');
  t.deepEqual(Array.from(centerCrop(img, 8, 12).data), Array.from(img.data), 'centerCrop to the full size');
  t.deepEqual(Array.from(centerCrop(img, 4, 4).data), Array.from(crop(img, 2, 4, 4, 4).data), 'even margins: (2, 4)');
  t.end();
});

test('flipHorizontal: mirrors columns, twice is the identity', (t) => {
  const img = random(3, 5, 6, 8);
  const f = flipHorizontal(img);
  let bad = 0;
  for (let c = 0; c < 3; c++) for (let y = 0; y < 5; y++) for (let x = 0; x < 6; x++) if (at(f, c, y, x) !== at(img, c, y, 5 - x)) bad++;
  t.equal(bad, 0, 'out[c][y][x] = in[c][y][W - 1 - x]');
  t.deepEqual(Array.from(flipHorizontal(f).data), Array.from(img.data), 'flip twice = identity');
  const odd = random(1, 2, 7, 9);
  t.deepEqual(Array.from(flipHorizontal(flipHorizontal(odd)).data), Array.from(odd.data), 'odd width: twice = identity');
  const col = random(2, 4, 1, 10);
  t.deepEqual(Array.from(flipHorizontal(col).data), Array.from(col.data), 'width 1: unchanged');
  t.notEqual(f.data, img.data, 'a new array');
  t.end();
});

// ------------------------------------------------------------------ errors

test('errors name the function, the argument and the problem', (t) => {
  const img = random(1, 8, 12, 11);
  t.throws(() => crop(img, 5, 0, 10, 10), /^Error: crop: the 10x10 window at \(5, 0\) does not fit the 8x12 image$/);
  t.throws(() => crop(img, 0, 8, 8, 5), /crop: the 8x5 window at \(0, 8\) does not fit the 8x12 image/);
  t.throws(() => crop(img, -1, 0, 2, 2), /crop: top must be a non-negative integer, got -1/);
  t.throws(() => crop(img, 0, 1.5, 2, 2), /crop: left must be a non-negative integer, got 1.5/);
  t.throws(() => crop(img, 0, 0, 0, 2), /crop: height must be a positive integer, got 0/);
  t.throws(() => centerCrop(img, 9, 4), /centerCrop: the 9x4 window is larger than the 8x12 image/);
  t.throws(() => centerCrop(img, 4, '4' as unknown as number), /centerCrop: width must be a positive integer, got "4"/);
  t.throws(() => resize(img, 0, 3), /resize: height must be a positive integer, got 0/);
  t.throws(() => resize(img, 3, NaN), /resize: width must be a positive integer, got NaN/);
  t.throws(() => resize(undefined as unknown as Planar, 3, 3), /resize: img must be a planar image \{ channels, height, width, data \}, got undefined/);
  t.throws(() => resize({ channels: 3, height: 2, width: 2, data: new Float32Array(11) }, 3, 3), /resize: img.data holds 11 values, but 3 channels of 2x2 need 12/);
  t.throws(() => resize({ channels: 1, height: 2, width: 2, data: [1, 2, 3, 4] } as unknown as Planar, 3, 3), /resize: img.data must be a Float32Array, got Array/);
  t.throws(() => resize({ channels: 0, height: 2, width: 2, data: new Float32Array(0) }, 3, 3), /resize: img.channels must be a positive integer, got 0/);
  t.throws(() => flipHorizontal({ shape: [1, 3, 2, 2] } as unknown as Planar), /flipHorizontal: img must be a planar image .* got a Tensor; read it to the host with tensorToPlanar/);
  t.end();
});
