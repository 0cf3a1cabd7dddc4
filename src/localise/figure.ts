// A figure in the style of the paper's Fig. 3, one PNG (or JPEG) of four panels side by side, 4 white pixels
// apart: the image with the box drawn in green, the saliency map (grey, scaled by its maximum), the seeds
// (foreground blue, background cyan, unused red, as in the paper) and the mask (the object's pixels of the
// image on black).

import { colorize, type MapLike } from '../image/heatmap.js';
import { tensorToPlanar, writePlanar } from '../image/io.js';
import type { Planar } from '../image/transform.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Localisation } from './localise.js';

const GAP = 4;
const SEED_COLOURS: Record<number, [number, number, number]> = { 0: [255, 0, 0], 1: [0, 0, 255], 2: [0, 255, 255] };

/** The four panels as one planar RGB image. */
export function localisationFigure(image: Planar, map: MapLike, loc: Pick<Localisation, 'box' | 'mask' | 'seeds'>): Planar {
  const fn = 'localisationFigure';
  const { width: W, height: H } = image;
  if (image.channels !== 3) throw new Error(`${fn}: image must have 3 channels, got ${image.channels}`);
  if (map.width !== W || map.height !== H) throw new Error(`${fn}: the map is ${map.width}x${map.height}, the image ${W}x${H}`);
  if (loc.mask.length !== W * H || loc.seeds.length !== W * H) {
    throw new Error(`${fn}: mask and seeds must hold ${W * H} values (the image's ${W}x${H}), got ${loc.mask.length} and ${loc.seeds.length}`);
  }
  const n = W * H;
  const panels: Planar[] = [];
  // 1: the image with its box
  const boxed = { channels: 3, height: H, width: W, data: Float32Array.from(image.data) };
  const { x, y, width, height } = loc.box;
  const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(W - 1, Math.round(x + width) - 1), y1 = Math.min(H - 1, Math.round(y + height) - 1);
  const paint = (px: number, py: number) => {
    const p = py * W + px;
    boxed.data[p] = 0;
    boxed.data[n + p] = 255;
    boxed.data[2 * n + p] = 0;
  };
  if (x1 >= x0 && y1 >= y0) {
    for (let px = x0; px <= x1; px++) { paint(px, y0); paint(px, y1); }
    for (let py = y0; py <= y1; py++) { paint(x0, py); paint(x1, py); }
  }
  panels.push(boxed);
  // 2: the saliency map
  panels.push(colorize(map, { colormap: 'gray' }));
  // 3: the seeds
  const seeds = { channels: 3, height: H, width: W, data: new Float32Array(3 * n) };
  for (let p = 0; p < n; p++) {
    const c = SEED_COLOURS[loc.seeds[p]] ?? SEED_COLOURS[0];
    for (let k = 0; k < 3; k++) seeds.data[k * n + p] = c[k];
  }
  panels.push(seeds);
  // 4: the mask
  const masked = { channels: 3, height: H, width: W, data: new Float32Array(3 * n) };
  for (let p = 0; p < n; p++) if (loc.mask[p]) for (let k = 0; k < 3; k++) masked.data[k * n + p] = image.data[k * n + p];
  panels.push(masked);

  const outW = panels.length * W + (panels.length - 1) * GAP;
  const out = { channels: 3, height: H, width: outW, data: new Float32Array(3 * H * outW).fill(255) };
  panels.forEach((panel, i) => {
    for (let k = 0; k < 3; k++) {
      for (let row = 0; row < H; row++) {
        out.data.set(panel.data.subarray(k * n + row * W, k * n + (row + 1) * W), k * H * outW + row * outW + i * (W + GAP));
      }
    }
  });
  return out;
}

/** Saves localisationFigure(image, map, loc) as PNG or JPEG (by extension). `image` is [1, 3, H, W], 0..255 RGB. */
export async function saveLocalisationFigure(path: string, image: Tensor | Planar, map: MapLike,
                                             loc: Pick<Localisation, 'box' | 'mask' | 'seeds'>): Promise<void> {
  const fn = 'saveLocalisationFigure';
  const img = 'channels' in image ? image : await tensorToPlanar(image, fn, 'image');
  await writePlanar(fn, localisationFigure(img, map, loc), path);
}
