// Rendering a saliency map (one non-negative value per pixel) as a colour image, the way the paper's Fig. 2
// shows its maps: the map is scaled by its own maximum, so every map uses the colormap's full range.
//
// Normalisation. Let m be the map's maximum, or with clipPercentile = p < 100 its p-th percentile (linear
// interpolation between the sorted values, numpy's default). Each value v becomes t = min(v / m, 1): 0 maps
// to the low end of the colormap, m (and, with a percentile, everything above it) to the high end. When
// m = 0 (an all-zero map, or a percentile that falls on zeros) t is 0 for v = 0 and 1 for v > 0, so an
// all-zero map renders as all low end and nothing is NaN. The map must be non-negative and finite (a
// saliency map is max_c |dS/dI|); NaN, infinities and negative values are Errors.
//
// Colormaps, t in [0, 1] -> RGB in 0..255:
//   gray     t * 255 in each channel (black to white; the default, as in the paper's figures).
//   jet      the standard piecewise-linear jet: r = clamp(1.5 - |4t - 3|), g = clamp(1.5 - |4t - 2|),
//            b = clamp(1.5 - |4t - 1|), clamp to [0, 1]: dark blue (0, 0, 0.5) at 0, blue, cyan, green
//            (0.5, 1, 0.5) at 0.5, yellow, red, dark red (0.5, 0, 0) at 1.
//   inferno  matplotlib's inferno: linear interpolation between nine of its colours, those at
//            t = 0, 1/8, ..., 1 (entries 0, 32, ..., 224, 255 of its 256-entry table); near black to pale yellow.
//
// Overlay. With an RGB image (0..255) of the map's size, each pixel is (1 - alpha) * image + alpha * colour
// (alpha default 0.5). A greyscale overlay is used as three equal channels.

import type { Tensor } from '../tensor/tensor.js';
import { imageFormatOf, tensorToPlanar, writePlanar } from './io.js';
import { checkPlanar, type Planar } from './transform.js';

/** A saliency map's shape: width x height values, row-major. */
export interface MapLike { width: number; height: number; data: Float32Array }

export type Colormap = 'gray' | 'jet' | 'inferno';

export interface HeatmapOptions {
  /** default 'gray' */
  colormap?: Colormap;
  /** an RGB image of 0..255 values of the map's size to blend under the colours: a Planar (1 or 3 channels), or
   *  (saveHeatmap only) a Tensor [1, 3, H, W] / [3, H, W] */
  overlay?: Tensor | Planar;
  /** the weight of the heat colour in the overlay blend, in [0, 1]; default 0.5 */
  alpha?: number;
  /** normalise by this percentile of the map instead of its maximum (values above it saturate); in [0, 100], default 100 */
  clipPercentile?: number;
}

const COLORMAPS: readonly Colormap[] = ['gray', 'jet', 'inferno'];

/** matplotlib's inferno at t = 0, 1/8, ..., 1 (RGB in 0..1). */
const INFERNO: readonly (readonly [number, number, number])[] = [
  [0.001462, 0.000466, 0.013866],
  [0.129285, 0.047293, 0.290788],
  [0.341500, 0.062325, 0.429425],
  [0.540920, 0.134729, 0.415123],
  [0.735683, 0.215906, 0.330245],
  [0.894305, 0.353399, 0.193584],
  [0.978422, 0.557937, 0.034931],
  [0.974638, 0.797692, 0.206332],
  [0.988362, 0.998364, 0.644924],
];

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** One colour, RGB in 0..1, for t in [0, 1]. */
function colour(cmap: Colormap, t: number, out: number[]): void {
  if (cmap === 'gray') {
    out[0] = out[1] = out[2] = t;
  } else if (cmap === 'jet') {
    out[0] = clamp01(1.5 - Math.abs(4 * t - 3));
    out[1] = clamp01(1.5 - Math.abs(4 * t - 2));
    out[2] = clamp01(1.5 - Math.abs(4 * t - 1));
  } else {
    const x = t * (INFERNO.length - 1);
    const i = Math.min(Math.floor(x), INFERNO.length - 2);
    const f = x - i;
    const a = INFERNO[i], b = INFERNO[i + 1];
    for (let c = 0; c < 3; c++) out[c] = a[c] + f * (b[c] - a[c]);
  }
}

const describe = (v: unknown): string =>
  v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? String(v)
    : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;

function checkMap(fn: string, map: unknown): MapLike {
  if (map === null || typeof map !== 'object') throw new Error(`${fn}: map must be { width, height, data }, got ${describe(map)}`);
  const m = map as Partial<MapLike>;
  for (const k of ['width', 'height'] as const) {
    const v = m[k];
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new Error(`${fn}: map.${k} must be a positive integer, got ${describe(v)}`);
  }
  if (!(m.data instanceof Float32Array)) throw new Error(`${fn}: map.data must be a Float32Array, got ${describe(m.data)}`);
  if (m.data.length !== m.width! * m.height!) {
    throw new Error(`${fn}: map.data holds ${m.data.length} values, but a ${m.height}x${m.width} map (height x width) needs ${m.width! * m.height!}`);
  }
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i];
    if (!(v >= 0) || v === Infinity) {
      const where = `row ${Math.floor(i / m.width!)}, column ${i % m.width!}`;
      if (Number.isNaN(v)) throw new Error(`${fn}: map holds NaN at ${where}`);
      if (v === Infinity) throw new Error(`${fn}: map holds Infinity at ${where}`);
      throw new Error(`${fn}: map holds a negative value (${v}) at ${where}; heatmaps show non-negative maps such as saliency (take the absolute value first)`);
    }
  }
  return m as MapLike;
}

/**
 * @internal The p-th percentile of the values, linear interpolation between order statistics (p >= 100: the
 * maximum, and at least 0, as a map's normaliser).
 */
export function percentile(data: Float32Array, p: number): number {
  if (p >= 100) {
    let m = 0;
    for (let i = 0; i < data.length; i++) if (data[i] > m) m = data[i];
    return m;
  }
  const sorted = Float32Array.from(data).sort();
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * @internal The range a class model is shown in: its 0.5th to 99.5th percentile (gradient ascent leaves 0..255 far
 * behind, and a few extreme pixels would grey out a min-max stretch); a constant image gets its value +- 1.
 */
export function displayRange(data: Float32Array): [number, number] {
  const lo = percentile(data, 0.5), hi = percentile(data, 99.5);
  return hi > lo ? [lo, hi] : [lo - 1, lo + 1];
}

function checkHeatmapOptions(fn: string, opts: unknown): HeatmapOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new Error(`${fn}: opts must be an object, got ${describe(opts)}`);
  const allowed = ['colormap', 'overlay', 'alpha', 'clipPercentile'];
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) throw new Error(`${fn}: unknown option ${JSON.stringify(k)}; the options are ${allowed.join(', ')}`);
  }
  const o = opts as HeatmapOptions;
  if (o.colormap !== undefined && !COLORMAPS.includes(o.colormap)) {
    throw new Error(`${fn}: opts.colormap must be one of ${COLORMAPS.map((c) => `'${c}'`).join(', ')}, got ${describe(o.colormap)}`);
  }
  if (o.alpha !== undefined && !(typeof o.alpha === 'number' && o.alpha >= 0 && o.alpha <= 1)) {
    throw new Error(`${fn}: opts.alpha must be a number in [0, 1], got ${describe(o.alpha)}`);
  }
  if (o.clipPercentile !== undefined && !(typeof o.clipPercentile === 'number' && o.clipPercentile >= 0 && o.clipPercentile <= 100)) {
    throw new Error(`${fn}: opts.clipPercentile must be a number in [0, 100], got ${describe(o.clipPercentile)}`);
  }
  return o;
}

function render(fn: string, map: unknown, opts: HeatmapOptions, overlay: Planar | undefined): Planar {
  const m = checkMap(fn, map);
  const cmap = opts.colormap ?? 'gray';
  const alpha = opts.alpha ?? 0.5;
  const { width: W, height: H, data } = m;
  if (overlay) {
    if (overlay.channels !== 1 && overlay.channels !== 3) {
      throw new Error(`${fn}: opts.overlay must have 1 or 3 channels, got ${overlay.channels}`);
    }
    if (overlay.height !== H || overlay.width !== W) {
      throw new Error(`${fn}: the overlay is ${overlay.height}x${overlay.width} but the map is ${H}x${W} (height x width)`);
    }
  }
  const scale = percentile(data, opts.clipPercentile ?? 100);
  const plane = W * H;
  const out = new Float32Array(3 * plane);
  const rgb = [0, 0, 0];
  for (let i = 0; i < plane; i++) {
    const v = data[i];
    const t = scale > 0 ? Math.min(v / scale, 1) : v > 0 ? 1 : 0;
    colour(cmap, t, rgb);
    for (let c = 0; c < 3; c++) {
      const heat = 255 * rgb[c];
      if (overlay) {
        const base = overlay.data[(overlay.channels === 3 ? c * plane : 0) + i];
        out[c * plane + i] = (1 - alpha) * base + alpha * heat;
      } else {
        out[c * plane + i] = heat;
      }
    }
  }
  return { channels: 3, height: H, width: W, data: out };
}

/**
 * Colours a non-negative map: a 3-channel planar image of 0..255 values (not rounded), optionally blended over
 * an overlay image (a Planar; for a Tensor overlay use saveHeatmap or read it with tensorToPlanar first).
 * See the header of src/image/heatmap.ts for the normalisation and the colormaps.
 */
export function colorize(map: MapLike, opts?: HeatmapOptions): Planar {
  const fn = 'colorize';
  const o = checkHeatmapOptions(fn, opts);
  let overlay: Planar | undefined;
  if (o.overlay !== undefined) {
    const ov = o.overlay as unknown;
    if (ov !== null && typeof ov === 'object' && 'shape' in ov && !('channels' in ov)) {
      throw new Error(`${fn}: opts.overlay is a Tensor; colorize works on the host, so pass a Planar (await tensorToPlanar(t)) or use saveHeatmap`);
    }
    overlay = checkPlanar(fn, 'opts.overlay', ov);
  }
  return render(fn, map, o, overlay);
}

/** Colours a map (see colorize) and saves it as PNG or JPEG by the path's extension; parent directories are created. */
export async function saveHeatmap(map: MapLike, path: string, opts?: HeatmapOptions): Promise<void> {
  const fn = 'saveHeatmap';
  const o = checkHeatmapOptions(fn, opts);
  if (typeof path !== 'string' || path.length === 0) throw new Error(`${fn}: path must be a non-empty string, got ${describe(path)}`);
  imageFormatOf(fn, path);
  let overlay: Planar | undefined;
  if (o.overlay !== undefined) {
    const ov = o.overlay as unknown;
    overlay = ov !== null && typeof ov === 'object' && 'shape' in ov && !('channels' in ov)
      ? await tensorToPlanar(ov as Tensor, fn, 'opts.overlay')
      : checkPlanar(fn, 'opts.overlay', ov);
  }
  const img = render(fn, map, o, overlay);
  await writePlanar(fn, img, path);
}
