// The Fig. 3-style figure: four panels side by side (image with its box, saliency, seeds, mask), their layout,
// the seed colours of the paper (foreground blue, background cyan, unused red), the box outline, the mask, the
// saved file, and mismatched sizes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { decodeImage, localisationFigure, saveLocalisationFigure } from '../../src/index.js';

const W = 6, H = 5, n = W * H;
const image = { channels: 3, height: H, width: W, data: Float32Array.from({ length: 3 * n }, (_, i) => (i * 13) % 200 + 20) };
const map = { width: W, height: H, data: Float32Array.from({ length: n }, (_, i) => i) };
const seeds = Uint8Array.from({ length: n }, (_, i) => i % 3);
const mask = Uint8Array.from({ length: n }, (_, i) => (i % W >= 2 && i % W <= 4 && Math.floor(i / W) >= 1 ? 1 : 0));
const loc = { box: { x: 2, y: 1, width: 3, height: 4 }, mask, seeds };
const px = (img: { width: number; height: number; data: Float32Array }, x: number, y: number) =>
  [0, 1, 2].map((k) => img.data[k * img.width * img.height + y * img.width + x]);

test('localisationFigure: four panels, the box, seeds in the paper\'s colours, the mask', (t) => {
  const fig = localisationFigure(image, map, loc);
  t.equal(fig.width, 4 * W + 3 * 4, 'four panels and three 4-pixel gaps');
  t.equal(fig.height, H);
  t.deepEqual(px(fig, W, 0), [255, 255, 255], 'the gap is white');
  t.deepEqual(px(fig, 0, 0), px(image, 0, 0), 'panel 1 outside the box: the image');
  t.deepEqual(px(fig, 2, 1), [0, 255, 0], 'panel 1: the box outline is green (top-left corner)');
  t.deepEqual(px(fig, 4, 4), [0, 255, 0], 'bottom-right corner');
  t.deepEqual(px(fig, 3, 2), px(image, 3, 2), 'inside the box: the image');
  const off2 = W + 4;
  t.deepEqual(px(fig, off2 + W - 1, H - 1), [255, 255, 255], 'panel 2: the map\'s maximum is white');
  t.deepEqual(px(fig, off2, 0), [0, 0, 0], 'its zero is black');
  const off3 = 2 * (W + 4);
  const colours: Record<number, number[]> = { 0: [255, 0, 0], 1: [0, 0, 255], 2: [0, 255, 255] };
  let seedsOk = true;
  for (let i = 0; i < n; i++) if (px(fig, off3 + (i % W), Math.floor(i / W)).join() !== colours[seeds[i]].join()) seedsOk = false;
  t.ok(seedsOk, 'panel 3: foreground blue, background cyan, unused red');
  const off4 = 3 * (W + 4);
  let maskOk = true;
  for (let i = 0; i < n; i++) {
    const want = mask[i] ? px(image, i % W, Math.floor(i / W)) : [0, 0, 0];
    if (px(fig, off4 + (i % W), Math.floor(i / W)).join() !== want.join()) maskOk = false;
  }
  t.ok(maskOk, 'panel 4: the image inside the mask, black outside');
  t.throws(() => localisationFigure(image, { ...map, width: 5 }, loc), /localisationFigure: the map is 5x5, the image 6x5/);
  t.throws(() => localisationFigure(image, map, { ...loc, mask: new Uint8Array(3) }), /localisationFigure: mask and seeds must hold 30 values/);
  t.end();
});

test('saveLocalisationFigure writes a PNG of the figure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convis-figure-'));
  try {
    const path = join(dir, 'sub', 'fig.png');
    await saveLocalisationFigure(path, image, map, loc);
    const back = await decodeImage(path);
    const fig = localisationFigure(image, map, loc);
    t.equal(back.width, fig.width);
    t.deepEqual(Array.from(back.data), Array.from(fig.data, (v) => Math.round(v)), 'the saved pixels are the figure\'s');
    await saveLocalisationFigure(join(dir, 'fig.bmp'), image, map, loc).then(() => t.fail('bmp accepted'), (e) => t.match(e.message, /saveLocalisationFigure: cannot tell the format/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
