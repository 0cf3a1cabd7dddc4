// Image files and heatmaps: PNG round trips exactly, JPEG closely; greyscale, alpha, EXIF orientation and
// WebP inputs; loadImage's resize and crop are the host transforms; saveImage's shapes, range mapping,
// clamping and errors; colorize's normalisation, colormaps and overlay blend; saveHeatmap on disk.
// Runs on the cpu backend (tensors are only containers here). Files go to a temp dir that is removed at the end.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import test from 'tape';
import {
  centerCrop, colorize, decodeImage, encodeImage, loadImage, type MapLike, type Planar, planar, planarToTensor,
  resizeShorterSide, saveHeatmap, saveImage, tensorToPlanar,
} from '../../src/image/index.js';
import { close, init, type Tensor, tensor } from '../../src/index.js';
import { maxAbsDiff, uniform } from '../helpers/numeric.js';

const dir = mkdtempSync(join(tmpdir(), 'convis-image-'));
const file = (name: string) => join(dir, name);
test.onFinish(() => rmSync(dir, { recursive: true, force: true }));

/** Integer values 0..255, seeded. */
function randomBytesImage(C: number, H: number, W: number, seed: number): Planar {
  const v = uniform([C, H, W], seed, 0, 256);
  for (let i = 0; i < v.length; i++) v[i] = Math.floor(v[i]);
  return planar(C, H, W, v);
}

/** A smooth RGB image (what JPEG is made for). */
function smoothImage(H: number, W: number): Planar {
  const d = new Float32Array(3 * H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      d[y * W + x] = 128 + 100 * Math.sin(x / 7) * Math.cos(y / 9);
      d[H * W + y * W + x] = (255 * x) / (W - 1);
      d[2 * H * W + y * W + x] = (255 * y) / (H - 1);
    }
  }
  return planar(3, H, W, d);
}

const rounded = (p: Planar) => Array.from(p.data, (v) => Math.min(255, Math.max(0, Math.round(v))));
const meanAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
};

async function rejects(t: test.Test, p: Promise<unknown>, re: RegExp, msg?: string): Promise<void> {
  await p.then(() => t.fail(`${msg ?? re}: resolved`), (e: unknown) => {
    t.ok(e instanceof Error, `${msg ?? re}: an Error`);
    t.match((e as Error).message, re, msg);
  });
}

test('init the cpu backend', async (t) => {
  const info = await init({ backend: 'cpu' });
  t.equal(info.name, 'cpu');
});

// ------------------------------------------------------------------ decoding

test('PNG round trip is exact (RGB and greyscale)', async (t) => {
  const img = randomBytesImage(3, 17, 23, 1);
  const png = await encodeImage(img, 'png');
  t.ok(png.subarray(1, 4).toString() === 'PNG', 'a PNG signature');
  const back = await decodeImage(png);
  t.deepEqual([back.channels, back.height, back.width], [3, 17, 23], 'shape');
  t.deepEqual(Array.from(back.data), Array.from(img.data), 'RGB values equal');

  await saveImage(img, file('rgb.png'));
  const loaded = await loadImage(file('rgb.png'));
  t.deepEqual(loaded.shape, [1, 3, 17, 23], 'loadImage gives [1, 3, H, W]');
  t.deepEqual(Array.from(await loaded.data()), Array.from(img.data), 'saveImage then loadImage: equal');
  loaded.dispose();

  const grey = randomBytesImage(1, 9, 11, 2);
  const gpng = await encodeImage(grey, 'png');
  const meta = await sharp(gpng).metadata();
  t.equal(meta.channels, 1, 'a 1-channel planar image is written as a 1-channel PNG');
  const g3 = await decodeImage(gpng);
  const plane = Array.from(grey.data);
  t.deepEqual([Array.from(g3.data.subarray(0, 99)), Array.from(g3.data.subarray(99, 198)), Array.from(g3.data.subarray(198))],
    [plane, plane, plane], 'decodes to 3 equal channels holding the grey values');
});

test('JPEG round trip is close', async (t) => {
  const img = smoothImage(48, 64);
  const jpg = await encodeImage(img, 'jpeg');
  t.equal(jpg[0], 0xff, 'JPEG SOI marker');
  t.equal(jpg[1], 0xd8, 'JPEG SOI marker');
  const back = await decodeImage(jpg);
  t.deepEqual([back.channels, back.height, back.width], [3, 48, 64]);
  const err = meanAbs(back.data, rounded(img));
  t.ok(err < 2, `mean abs error ${err.toFixed(3)} < 2 (of 255)`);

  await saveImage(img, file('sub/dir/smooth.jpg'));
  const fromFile = await decodeImage(file('sub/dir/smooth.jpg'));
  t.ok(meanAbs(fromFile.data, rounded(img)) < 2, 'saveImage .jpg creates the parent directories; close on reload');
  await saveImage(img, file('smooth.JPEG'));
  t.equal((await sharp(file('smooth.JPEG')).metadata()).format, 'jpeg', '.JPEG (any case) is JPEG');
});

test('decoding: greyscale files, alpha removed, EXIF orientation, WebP', async (t) => {
  const greyBytes = Buffer.from([0, 50, 100, 150, 200, 250]);
  const greyPng = await sharp(greyBytes, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  t.equal((await sharp(greyPng).metadata()).channels, 1, 'the input is a 1-channel PNG');
  const g = await decodeImage(greyPng);
  t.deepEqual([g.channels, g.height, g.width], [3, 2, 3]);
  t.deepEqual(Array.from(g.data), [...greyBytes, ...greyBytes, ...greyBytes], 'three equal channels');

  const grey16 = await sharp(greyBytes, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  t.equal((await sharp(grey16).metadata()).depth, 'ushort', 'a 16-bit greyscale PNG');
  t.deepEqual(Array.from((await decodeImage(grey16)).data), [...greyBytes, ...greyBytes, ...greyBytes], '16-bit grey decodes to 8-bit values');

  const rgba = Buffer.from([10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255]);
  const rgbaPng = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
  t.equal((await sharp(rgbaPng).metadata()).channels, 4, 'the input is RGBA');
  const a = await decodeImage(rgbaPng);
  t.deepEqual([a.channels, a.height, a.width], [3, 1, 3]);
  t.deepEqual(Array.from(a.data), [10, 40, 70, 20, 50, 80, 30, 60, 90], 'alpha dropped, RGB kept as is (not blended)');

  const greyAlpha = await sharp(Buffer.from([7, 0, 9, 255]), { raw: { width: 2, height: 1, channels: 2 } }).png().toBuffer();
  t.deepEqual(Array.from((await decodeImage(greyAlpha)).data), [7, 9, 7, 9, 7, 9], 'grey + alpha: three grey channels');

  // a 2-wide, 1-high image tagged orientation 6 (rotate 90 degrees clockwise to display): 1 wide, 2 high
  const oriented = await sharp(Buffer.from([1, 2, 3, 4, 5, 6]), { raw: { width: 2, height: 1, channels: 3 } })
    .withMetadata({ orientation: 6 }).png().toBuffer();
  t.equal((await sharp(oriented).metadata()).orientation, 6, 'the input carries EXIF orientation 6');
  const o = await decodeImage(oriented);
  t.deepEqual([o.channels, o.height, o.width], [3, 2, 1], 'rotated to 2 high, 1 wide');
  t.deepEqual(Array.from(o.data), [1, 4, 2, 5, 3, 6], 'the left pixel is on top');

  const webp = await sharp(Buffer.from([10, 20, 30, 200, 210, 220]), { raw: { width: 2, height: 1, channels: 3 } })
    .webp({ lossless: true }).toBuffer();
  t.deepEqual(Array.from((await decodeImage(webp)).data), [10, 200, 20, 210, 30, 220], 'lossless WebP');
  t.deepEqual(Array.from((await decodeImage(new Uint8Array(webp))).data), [10, 200, 20, 210, 30, 220], 'from a plain Uint8Array');
});

test('loadImage size and crop are the host transforms', async (t) => {
  const img = randomBytesImage(3, 30, 41, 3);
  await saveImage(img, file('big.png'));
  const shorter = resizeShorterSide(img, 16);
  const a = await loadImage(file('big.png'), { size: 16 });
  t.deepEqual(a.shape, [1, 3, 16, 21], 'size 16: 30x41 -> 16x21 (41 * 16 / 30 = 21.9, truncated)');
  t.deepEqual(Array.from(await a.data()), Array.from(shorter.data), 'equals resizeShorterSide');
  const b = await loadImage(file('big.png'), { size: 16, crop: 'center' });
  t.deepEqual(b.shape, [1, 3, 16, 16], 'centre crop 16x16');
  t.deepEqual(Array.from(await b.data()), Array.from(centerCrop(shorter, 16, 16).data), 'equals centerCrop(resizeShorterSide)');
  const c = await loadImage(await encodeImage(img, 'png'), { size: 5, crop: 'none' });
  t.deepEqual(c.shape, [1, 3, 5, 6], "from a buffer, crop 'none' (41 * 5 / 30 = 6.8, truncated)");
  const d = await decodeImage(file('big.png'), { size: 8, crop: 'center' });
  t.deepEqual(Array.from(d.data), Array.from(centerCrop(resizeShorterSide(img, 8), 8, 8).data), 'decodeImage: the same on the host');
  for (const x of [a, b, c]) x.dispose();
});

test('decoding errors name the function, the source and the problem', async (t) => {
  const missing = file('nope/missing.png');
  await rejects(t, loadImage(missing), new RegExp(`^loadImage: cannot read ${missing.replace(/[.]/g, '\\.')}: no such file$`), 'missing file');
  await rejects(t, decodeImage(missing), /^decodeImage: cannot read .*missing\.png: no such file$/, 'decodeImage names itself');
  await rejects(t, loadImage(dir), /loadImage: cannot read .*: it is a directory/, 'a directory');
  writeFileSync(file('notes.txt'), 'this is not an image\n');
  await rejects(t, loadImage(file('notes.txt')), /^loadImage: .*notes\.txt is not an image sharp can decode \(.+\)$/, 'a text file');
  const garbage = Buffer.from(uniform([100], 5, 0, 256).map(Math.floor));
  await rejects(t, loadImage(garbage), /^loadImage: the 100-byte buffer is not an image sharp can decode \(.+\)$/, 'garbage bytes');
  await rejects(t, loadImage(Buffer.alloc(0)), /loadImage: the 0-byte buffer is not an image sharp can decode \(it is empty\)/, 'an empty buffer');
  const truncated = (await encodeImage(randomBytesImage(3, 20, 20, 6), 'png')).subarray(0, 60);
  await rejects(t, loadImage(truncated), /loadImage: the 60-byte buffer is not an image sharp can decode/, 'a truncated PNG');
  await rejects(t, loadImage(42 as unknown as string), /loadImage: source must be a file path, a Buffer or a Uint8Array, got 42/);
  await rejects(t, loadImage(''), /loadImage: source is an empty path/);
  await rejects(t, loadImage(file('big.png'), { size: 0 }), /loadImage: opts.size must be a positive integer \(the shorter side in pixels\), got 0/);
  await rejects(t, loadImage(file('big.png'), { size: 2.5 }), /loadImage: opts.size must be a positive integer/);
  await rejects(t, loadImage(file('big.png'), { crop: 'middle' as 'center', size: 4 }), /loadImage: opts.crop must be 'center' or 'none', got "middle"/);
  await rejects(t, loadImage(file('big.png'), { crop: 'center' }), /loadImage: opts.crop 'center' needs opts.size/);
  await rejects(t, loadImage(file('big.png'), { resize: 4 } as never), /loadImage: unknown option "resize"; the options are size, crop/);
  await rejects(t, loadImage(file('big.png'), 7 as never), /loadImage: opts must be an object, got 7/);
});

// ------------------------------------------------------------------ encoding

test('saveImage: accepted shapes, range mapping, clamping and rounding', async (t) => {
  const img = randomBytesImage(3, 4, 5, 7);
  const grey = randomBytesImage(1, 4, 5, 8);
  const greyAs3 = [...grey.data, ...grey.data, ...grey.data];
  const cases: [string, Tensor, number[]][] = [
    ['[1, 3, H, W]', tensor(img.data, [1, 3, 4, 5]), Array.from(img.data)],
    ['[3, H, W]', tensor(img.data, [3, 4, 5]), Array.from(img.data)],
    ['[1, 1, H, W]', tensor(grey.data, [1, 1, 4, 5]), greyAs3],
    ['[1, H, W]', tensor(grey.data, [1, 4, 5]), greyAs3],
    ['[H, W]', tensor(grey.data, [4, 5]), greyAs3],
  ];
  for (const [name, x, want] of cases) {
    await saveImage(x, file('shape.png'));
    const back = await decodeImage(file('shape.png'));
    t.deepEqual([back.height, back.width], [4, 5], `${name}: 4x5`);
    t.deepEqual(Array.from(back.data), want, `${name}: values`);
    x.dispose();
  }
  await saveImage(grey, file('grey-planar.png'));
  t.equal((await sharp(file('grey-planar.png')).metadata()).channels, 1, 'a 1-channel Planar: a greyscale PNG');

  const vals = planar(1, 1, 6, Float32Array.from([-5, 300, 127.4, 127.6, Infinity, -Infinity]));
  await saveImage(vals, file('clamp.png'));
  t.deepEqual(Array.from((await decodeImage(file('clamp.png'))).data.subarray(0, 6)), [0, 255, 127, 128, 255, 0], 'clamped and rounded');

  const signed = planar(1, 1, 5, Float32Array.from([-1, -0.5, 0, 0.5, 1]));
  await saveImage(signed, file('range.png'), { range: [-1, 1] });
  t.deepEqual(Array.from((await decodeImage(file('range.png'))).data.subarray(0, 5)), [0, 64, 128, 191, 255],
    'range [-1, 1]: (v + 1) / 2 * 255 rounded (63.75 -> 64, 127.5 -> 128, 191.25 -> 191)');
  const unit = planar(1, 1, 3, Float32Array.from([0, 0.5, 1]));
  t.deepEqual(Array.from((await decodeImage(await encodeImage(unit, 'png', [0, 1]))).data.subarray(0, 3)), [0, 128, 255], 'encodeImage with range [0, 1]');
});

test('saveImage and encodeImage errors', async (t) => {
  const p = file('bad.png');
  const shapes: [number[], RegExp][] = [
    [[2, 3, 4, 4], /saveImage: t must be an image of shape \[1, 3, H, W\], \[3, H, W\], \[1, 1, H, W\], \[1, H, W\] or \[H, W\], got \[2, 3, 4, 4\] \(a batch of 2 images; save one at a time\)/],
    [[1, 2, 4, 4], /saveImage: t must have 1 or 3 channels, got shape \[1, 2, 4, 4\] \(2 channels\)/],
    [[4, 4, 4], /saveImage: t must have 1 or 3 channels, got shape \[4, 4, 4\] \(4 channels\)/],
    [[16], /saveImage: t must be an image of shape .* got \[16\] \(1 dimensions\)/],
    [[1, 1, 1, 4, 4], /saveImage: t must be an image of shape .* got \[1, 1, 1, 4, 4\] \(5 dimensions\)/],
    [[3, 0, 4], /saveImage: t is an empty image, shape \[3, 0, 4\]/],
  ];
  for (const [shape, re] of shapes) {
    const x = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    await rejects(t, saveImage(x, p), re, `shape [${shape.join(', ')}]`);
    x.dispose();
  }
  const gone = tensor(new Float32Array(12), [3, 2, 2]);
  gone.dispose();
  await rejects(t, saveImage(gone, p), /saveImage: t \(shape \[3, 2, 2\]\) was disposed/, 'a disposed tensor');
  await rejects(t, saveImage(planar(2, 2, 2), p), /saveImage: t must have 1 or 3 channels, got 2/, 'a 2-channel Planar');
  await rejects(t, saveImage({ width: 2 } as unknown as Planar, p), /saveImage: t.channels must be a positive integer, got undefined/, 'not an image');
  await rejects(t, saveImage(planar(3, 2, 2), file('x.bmp')), /saveImage: cannot tell the format of .*x\.bmp from its extension "\.bmp"; use \.png, \.jpg or \.jpeg/);
  await rejects(t, saveImage(planar(3, 2, 2), file('noext')), /saveImage: cannot tell the format of .*noext from its extension \(none\)/);
  await rejects(t, saveImage(planar(3, 2, 2), ''), /saveImage: path must be a non-empty string/);
  await rejects(t, saveImage(planar(3, 2, 2), p, { range: [1, 1] }), /saveImage: range \[1, 1\] must have lo < hi/);
  await rejects(t, saveImage(planar(3, 2, 2), p, { range: [0, NaN] }), /saveImage: range must be \[lo, hi\] of two finite numbers, got \[0, NaN\]/);
  await rejects(t, saveImage(planar(3, 2, 2), p, { rng: [0, 1] } as never), /saveImage: unknown option "rng"; the options are range/);
  const nan = planar(1, 2, 3);
  nan.data[4] = NaN;
  await rejects(t, saveImage(nan, p), /saveImage: t holds NaN at channel 0, row 1, column 1/);
  mkdirSync(file('blocker'));
  writeFileSync(file('blocker/file'), 'x');
  await rejects(t, saveImage(planar(3, 2, 2), file('blocker/file/x.png')), /saveImage: cannot write .*x\.png: /, 'a parent that is a file');
  await rejects(t, encodeImage(planar(3, 2, 2), 'gif' as 'png'), /encodeImage: format must be 'png' or 'jpeg', got "gif"/);
  await rejects(t, encodeImage(planar(4, 2, 2), 'png'), /encodeImage: img must have 1 or 3 channels, got 4/);
  await rejects(t, encodeImage(null as unknown as Planar, 'png'), /encodeImage: img must be a planar image/);
});

test('tensorToPlanar and planarToTensor', async (t) => {
  const img = randomBytesImage(3, 2, 3, 9);
  const x = planarToTensor(img);
  t.deepEqual(x.shape, [1, 3, 2, 3]);
  const back = await tensorToPlanar(x);
  t.deepEqual([back.channels, back.height, back.width], [3, 2, 3]);
  t.deepEqual(Array.from(back.data), Array.from(img.data));
  x.dispose();
  await rejects(t, tensorToPlanar(img as unknown as Tensor), /tensorToPlanar: t must be a Tensor, got Object/);
});

// ------------------------------------------------------------------ heatmaps

const map = (height: number, width: number, values: number[]): MapLike => ({ width, height, data: Float32Array.from(values) });
const pixel = (p: Planar, i: number) => [p.data[i], p.data[p.height * p.width + i], p.data[2 * p.height * p.width + i]];
const near = (a: number[], b: number[], tol = 1e-3) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

test('colorize gray: a ramp stays a ramp; normalised by the maximum', (t) => {
  const ramp = Array.from({ length: 256 }, (_, i) => i / 255);
  const g = colorize(map(1, 256, ramp));
  t.deepEqual([g.channels, g.height, g.width], [3, 1, 256]);
  const want = ramp.map((v) => v * 255);
  t.ok(maxAbsDiff(g.data.subarray(0, 256), want) < 1e-3 && maxAbsDiff(g.data.subarray(256, 512), want) < 1e-3 &&
    maxAbsDiff(g.data.subarray(512), want) < 1e-3, 'gray (the default) of a 0..1 ramp is 0..255 in each channel');
  const scaled = colorize(map(2, 2, [0, 0.001, 0.002, 0.004]), { colormap: 'gray' });
  t.ok(near(Array.from(scaled.data.subarray(0, 4)), [0, 63.75, 127.5, 255]), 'divided by the maximum: a tiny map fills 0..255');
  t.end();
});

test('colorize jet: dark blue, blue, green, red, dark red', (t) => {
  const j = colorize(map(1, 5, [0, 0.25, 0.5, 0.75, 1]), { colormap: 'jet' });
  t.ok(near(pixel(j, 0), [0, 0, 127.5]), `0 -> dark blue ${pixel(j, 0)}`);
  t.ok(near(pixel(j, 1), [0, 127.5, 255]), `0.25 -> (0, 127.5, 255) ${pixel(j, 1)}`);
  t.ok(near(pixel(j, 2), [127.5, 255, 127.5]), `0.5 -> greenish (127.5, 255, 127.5) ${pixel(j, 2)}`);
  t.ok(near(pixel(j, 3), [255, 127.5, 0]), `0.75 -> (255, 127.5, 0) ${pixel(j, 3)}`);
  t.ok(near(pixel(j, 4), [127.5, 0, 0]), `1 -> dark red ${pixel(j, 4)}`);
  const k = colorize(map(1, 3, [0, 0.125, 1]), { colormap: 'jet' });
  t.ok(near(pixel(k, 1), [0, 0, 255]), `0.125 -> pure blue ${pixel(k, 1)}`);
  t.end();
});

test('colorize inferno: near black to pale yellow, through the anchor colours', (t) => {
  const values = Array.from({ length: 9 }, (_, i) => i / 8);
  const f = colorize(map(1, 9, values), { colormap: 'inferno' });
  const lo = pixel(f, 0), hi = pixel(f, 8);
  t.ok(lo.every((v) => v < 5), `0 -> near black ${lo.map((v) => v.toFixed(1))}`);
  t.ok(hi[0] > 245 && hi[1] > 250 && hi[2] > 150 && hi[2] < 180, `1 -> pale yellow ${hi.map((v) => v.toFixed(1))}`);
  t.ok(near(pixel(f, 4), [0.735683 * 255, 0.215906 * 255, 0.330245 * 255]), `0.5 -> matplotlib's inferno(0.5) ${pixel(f, 4).map((v) => v.toFixed(1))}`);
  const luma = (p: number[]) => 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  const lumas = values.map((_, i) => luma(pixel(f, i)));
  t.ok(lumas.every((v, i) => i === 0 || v > lumas[i - 1]), 'brightness increases along the map');
  const mid = colorize(map(1, 3, [0, 1 / 16, 1]), { colormap: 'inferno' });
  const a = pixel(f, 0), b = pixel(f, 1);
  t.ok(near(pixel(mid, 1), a.map((v, i) => (v + b[i]) / 2)), 'linear between anchors');
  t.end();
});

test('colorize: an all-zero map, clipPercentile, bad maps', (t) => {
  for (const cmap of ['gray', 'jet', 'inferno'] as const) {
    const z = colorize(map(3, 4, new Array(12).fill(0)), { colormap: cmap });
    const first = pixel(z, 0);
    const low = pixel(colorize(map(1, 2, [0, 1]), { colormap: cmap }), 0);
    t.ok(z.data.every((v) => Number.isFinite(v)), `${cmap}: all-zero map has no NaN`);
    t.ok(near(first, low) && Array.from({ length: 12 }, (_, i) => near(pixel(z, i), low)).every(Boolean), `${cmap}: all low end`);
  }
  const hundred = Array.from({ length: 100 }, (_, i) => i); // 0..99; the 50th percentile is 49.5
  const c = colorize(map(10, 10, hundred), { clipPercentile: 50 });
  t.ok(Math.abs(c.data[20] - (255 * 20) / 49.5) < 1e-3, `20 -> 255 * 20 / 49.5 (${c.data[20].toFixed(3)})`);
  t.ok(Array.from(c.data.subarray(50, 100)).every((v) => v === 255), 'values above the 50th percentile saturate');
  t.equal(c.data[0], 0, '0 stays 0');
  const c100 = colorize(map(10, 10, hundred), { clipPercentile: 100 });
  t.ok(Math.abs(c100.data[99] - 255) < 1e-4 && Math.abs(c100.data[33] - (255 * 33) / 99) < 1e-3, 'clipPercentile 100 is the maximum');
  const sparse = colorize(map(1, 5, [0, 0, 0, 0, 3]), { clipPercentile: 50 });
  t.deepEqual(Array.from(sparse.data.subarray(0, 5)), [0, 0, 0, 0, 255], 'percentile 0: positive values are the high end, no NaN');

  t.throws(() => colorize(map(1, 3, [0, NaN, 1])), /^Error: colorize: map holds NaN at row 0, column 1$/);
  t.throws(() => colorize(map(2, 2, [0, 1, 2, Infinity])), /colorize: map holds Infinity at row 1, column 1/);
  t.throws(() => colorize(map(1, 2, [0, -0.5])), /colorize: map holds a negative value \(-0.5\) at row 0, column 1; heatmaps show non-negative maps/);
  t.throws(() => colorize({ width: 3, height: 2, data: new Float32Array(5) }), /colorize: map.data holds 5 values, but a 2x3 map \(height x width\) needs 6/);
  t.throws(() => colorize({ width: 0, height: 2, data: new Float32Array(0) }), /colorize: map.width must be a positive integer, got 0/);
  t.throws(() => colorize({ width: 1, height: 1, data: [1] } as unknown as MapLike), /colorize: map.data must be a Float32Array, got Array/);
  t.throws(() => colorize(map(1, 1, [1]), { colormap: 'viridis' as 'jet' }), /colorize: opts.colormap must be one of 'gray', 'jet', 'inferno', got "viridis"/);
  t.throws(() => colorize(map(1, 1, [1]), { clipPercentile: 101 }), /colorize: opts.clipPercentile must be a number in \[0, 100\], got 101/);
  t.throws(() => colorize(map(1, 1, [1]), { alpha: 2 }), /colorize: opts.alpha must be a number in \[0, 1\], got 2/);
  t.throws(() => colorize(map(1, 1, [1]), { cmap: 'jet' } as never), /colorize: unknown option "cmap"/);
  t.end();
});

test('colorize overlay: (1 - alpha) * image + alpha * colour', (t) => {
  const m = map(4, 5, Array.from(uniform([20], 12, 0, 3)));
  const img = randomBytesImage(3, 4, 5, 13);
  for (const [cmap, alpha] of [['jet', 0.3], ['gray', undefined], ['inferno', 1], ['jet', 0]] as const) {
    const heat = colorize(m, { colormap: cmap });
    const blend = colorize(m, { colormap: cmap, overlay: img, alpha });
    const a = alpha ?? 0.5;
    const want = heat.data.map((h, i) => (1 - a) * img.data[i] + a * h);
    t.ok(maxAbsDiff(blend.data, want) < 1e-3, `${cmap}, alpha ${alpha ?? 'default 0.5'}`);
  }
  const grey = randomBytesImage(1, 4, 5, 14);
  const heat = colorize(m, { colormap: 'jet' });
  const gb = colorize(m, { colormap: 'jet', overlay: grey, alpha: 0.25 });
  const want = heat.data.map((h, i) => 0.75 * grey.data[i % 20] + 0.25 * h);
  t.ok(maxAbsDiff(gb.data, want) < 1e-3, 'a greyscale overlay counts as three equal channels');
  t.throws(() => colorize(m, { overlay: randomBytesImage(3, 4, 4, 15) }), /^Error: colorize: the overlay is 4x4 but the map is 4x5 \(height x width\)$/);
  t.throws(() => colorize(m, { overlay: planar(2, 4, 5) }), /colorize: opts.overlay must have 1 or 3 channels, got 2/);
  const x = tensor(img.data, [1, 3, 4, 5]);
  t.throws(() => colorize(m, { overlay: x }), /colorize: opts.overlay is a Tensor; colorize works on the host/);
  x.dispose();
  t.end();
});

test('saveHeatmap writes the rounded colours; a Tensor overlay works', async (t) => {
  const m = map(6, 7, Array.from(uniform([42], 16, 0, 1)));
  await saveHeatmap(m, file('heat/jet.png'), { colormap: 'jet' });
  const back = await decodeImage(file('heat/jet.png'));
  t.deepEqual(Array.from(back.data), rounded(colorize(m, { colormap: 'jet' })), 'PNG holds round(colorize)');
  await saveHeatmap(m, file('heat/gray.png'));
  t.deepEqual(Array.from((await decodeImage(file('heat/gray.png'))).data), rounded(colorize(m)), 'default gray');

  const img = randomBytesImage(3, 6, 7, 17);
  const x = tensor(img.data, [1, 3, 6, 7]);
  await saveHeatmap(m, file('heat/overlay.png'), { colormap: 'inferno', overlay: x, alpha: 0.4 });
  t.deepEqual(Array.from((await decodeImage(file('heat/overlay.png'))).data),
    rounded(colorize(m, { colormap: 'inferno', overlay: img, alpha: 0.4 })), 'Tensor overlay = Planar overlay');
  await saveHeatmap(m, file('heat/overlay.jpg'), { overlay: x });
  t.equal((await sharp(file('heat/overlay.jpg')).metadata()).format, 'jpeg', '.jpg writes JPEG');
  const small = tensor(new Float32Array(3 * 5 * 7), [1, 3, 5, 7]);
  await rejects(t, saveHeatmap(m, file('heat/bad.png'), { overlay: small }), /saveHeatmap: the overlay is 5x7 but the map is 6x7/);
  const batch = tensor(new Float32Array(2 * 3 * 6 * 7), [2, 3, 6, 7]);
  await rejects(t, saveHeatmap(m, file('heat/bad.png'), { overlay: batch }), /saveHeatmap: opts.overlay must be an image of shape/);
  await rejects(t, saveHeatmap(m, file('heat/bad.tif')), /saveHeatmap: cannot tell the format of .*bad\.tif/);
  await rejects(t, saveHeatmap(map(1, 2, [NaN, 1]), file('heat/nan.png')), /saveHeatmap: map holds NaN at row 0, column 0/);
  await rejects(t, saveHeatmap(m, file('heat/x.png'), { colormap: 'hot' as 'jet' }), /saveHeatmap: opts.colormap must be one of/);
  for (const y of [x, small, batch]) y.dispose();
});

test('close; loadImage without a backend says so', async (t) => {
  await close();
  await rejects(t, loadImage(file('big.png')), /loadImage: no backend is open; call `await init\(\)` first/);
  t.deepEqual((await decodeImage(file('big.png'))).height, 30, 'decodeImage needs no backend');
});
