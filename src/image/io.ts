// Reading and writing image files. Decoding and encoding go through sharp (libvips); every geometric step
// (shorter-side resize, centre crop) is done by src/image/transform.ts on the host, so a loaded image is
// exactly the host transforms applied to the decoded pixels.
//
// Decoding: any format sharp reads (PNG, JPEG, WebP, TIFF, GIF's first frame, ...). The EXIF orientation is
// applied (the pixels come out the way a viewer shows them), an alpha channel is removed (not composited),
// greyscale becomes three equal channels, 16-bit and other colour spaces are converted to 8-bit sRGB. The
// result is RGB, values 0..255 as float32, planar CHW.
//
// Encoding: PNG (lossless, 8-bit) or JPEG (quality 95, no chroma subsampling), 1 channel (greyscale) or 3
// (RGB). Values v are mapped with (v - lo) / (hi - lo) * 255 for range [lo, hi] (default [0, 255]), then
// clamped to 0..255 and rounded to the nearest integer.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { hasBackend } from '../runtime.js';
import { tensor } from '../tensor/create.js';
import { Tensor } from '../tensor/tensor.js';
import { centerCrop, checkPlanar, type Planar, resizeShorterSide } from './transform.js';

export interface LoadImageOptions {
  /** resize so that the shorter side is `size` pixels (resizeShorterSide) */
  size?: number;
  /** 'center' (needs `size`): then take the size x size centre crop (centerCrop); default 'none' */
  crop?: 'center' | 'none';
}

export interface SaveImageOptions {
  /** the values mapped to 0 and 255; default [0, 255] */
  range?: [number, number];
}

export type ImageFormat = 'png' | 'jpeg';

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const describe = (v: unknown): string =>
  v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? String(v)
    : Array.isArray(v) ? `[${v.map(describe).join(', ')}]` : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;

function checkOptions(fn: string, opts: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new Error(`${fn}: opts must be an object, got ${describe(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) throw new Error(`${fn}: unknown option ${JSON.stringify(k)}; the options are ${allowed.join(', ')}`);
  }
  return opts as Record<string, unknown>;
}

// ------------------------------------------------------------------ decoding

function checkLoadOptions(fn: string, opts: unknown): { size?: number; crop: 'center' | 'none' } {
  const o = checkOptions(fn, opts, ['size', 'crop']);
  const size = o.size;
  if (size !== undefined && !(typeof size === 'number' && Number.isInteger(size) && size >= 1)) {
    throw new Error(`${fn}: opts.size must be a positive integer (the shorter side in pixels), got ${describe(size)}`);
  }
  const crop = o.crop ?? 'none';
  if (crop !== 'center' && crop !== 'none') throw new Error(`${fn}: opts.crop must be 'center' or 'none', got ${describe(crop)}`);
  if (crop === 'center' && size === undefined) throw new Error(`${fn}: opts.crop 'center' needs opts.size (the side of the square crop)`);
  return { size: size as number | undefined, crop };
}

function readError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return 'no such file';
    case 'EISDIR': return 'it is a directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    default: return err?.message ?? String(e);
  }
}

async function decode(fn: string, source: unknown, opts: unknown): Promise<Planar> {
  const o = checkLoadOptions(fn, opts);
  let bytes: Uint8Array;
  let what: string;
  if (typeof source === 'string') {
    if (source.length === 0) throw new Error(`${fn}: source is an empty path`);
    try {
      bytes = await readFile(source);
    } catch (e) {
      throw new Error(`${fn}: cannot read ${source}: ${readError(e)}`);
    }
    what = source;
  } else if (source instanceof Uint8Array) {
    bytes = source;
    what = `the ${source.length}-byte buffer`;
  } else {
    throw new Error(`${fn}: source must be a file path, a Buffer or a Uint8Array, got ${describe(source)}`);
  }
  if (bytes.length === 0) throw new Error(`${fn}: ${what} is not an image sharp can decode (it is empty)`);

  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes)
      .autoOrient() // apply the EXIF orientation (same as .rotate() with no angle)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${fn}: ${what} is not an image sharp can decode (${(e as Error)?.message ?? String(e)})`);
  }
  const { width: W, height: H, channels: n } = raw.info;
  if (raw.data.length !== W * H * n || n < 1) {
    throw new Error(`${fn}: sharp decoded ${what} to ${raw.data.length} bytes, not ${W}x${H}x${n}`);
  }
  // HWC uint8 -> CHW float32, three channels (grey replicated; any extra channel beyond RGB dropped)
  const plane = W * H;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    const px = i * n;
    if (n >= 3) {
      data[i] = raw.data[px];
      data[plane + i] = raw.data[px + 1];
      data[2 * plane + i] = raw.data[px + 2];
    } else {
      const g = raw.data[px];
      data[i] = g;
      data[plane + i] = g;
      data[2 * plane + i] = g;
    }
  }
  let img: Planar = { channels: 3, height: H, width: W, data };
  if (o.size !== undefined) img = resizeShorterSide(img, o.size);
  if (o.crop === 'center') img = centerCrop(img, o.size!, o.size!);
  return img;
}

/** Decodes an image file or buffer to a 3-channel planar RGB image (0..255), optionally resized and centre-cropped. */
export function decodeImage(source: string | Buffer | Uint8Array, opts?: LoadImageOptions): Promise<Planar> {
  return decode('decodeImage', source, opts);
}

/** Loads an image as a [1, 3, H, W] tensor of RGB values 0..255 on the current backend (see decodeImage). */
export async function loadImage(source: string | Buffer | Uint8Array, opts?: LoadImageOptions): Promise<Tensor> {
  if (!hasBackend()) throw new Error('loadImage: no backend is open; call `await init()` first');
  const img = await decode('loadImage', source, opts);
  return tensor(img.data, [1, 3, img.height, img.width]);
}

// ------------------------------------------------------------------ tensors <-> planar images

/**
 * Reads an image tensor back to the host: [1, C, H, W], [C, H, W] (C = 1 or 3) or [H, W] (greyscale).
 * `fn` and `arg` name the caller in errors.
 */
export async function tensorToPlanar(t: Tensor, fn = 'tensorToPlanar', arg = 't'): Promise<Planar> {
  if (!(t instanceof Tensor)) throw new Error(`${fn}: ${arg} must be a Tensor, got ${describe(t)}`);
  if (t.disposed) throw new Error(`${fn}: ${arg} (shape ${fmtShape(t.shape)}) was disposed`);
  const s = t.shape;
  let c: number, h: number, w: number;
  if (s.length === 4 && s[0] === 1) [c, h, w] = [s[1], s[2], s[3]];
  else if (s.length === 3) [c, h, w] = [s[0], s[1], s[2]];
  else if (s.length === 2) [c, h, w] = [1, s[0], s[1]];
  else {
    const why = s.length === 4 ? `a batch of ${s[0]} images; save one at a time` : `${s.length} dimensions`;
    throw new Error(`${fn}: ${arg} must be an image of shape [1, 3, H, W], [3, H, W], [1, 1, H, W], [1, H, W] or [H, W], got ${fmtShape(s)} (${why})`);
  }
  if (c !== 1 && c !== 3) throw new Error(`${fn}: ${arg} must have 1 or 3 channels, got shape ${fmtShape(s)} (${c} channels)`);
  if (h < 1 || w < 1) throw new Error(`${fn}: ${arg} is an empty image, shape ${fmtShape(s)}`);
  const data = await t.data();
  return { channels: c, height: h, width: w, data: data.slice(0, c * h * w) };
}

/** A [1, C, H, W] tensor on the current backend holding the planar image. */
export function planarToTensor(img: Planar): Tensor {
  const p = checkPlanar('planarToTensor', 'img', img);
  if (!hasBackend()) throw new Error('planarToTensor: no backend is open; call `await init()` first');
  return tensor(p.data.slice(), [1, p.channels, p.height, p.width]);
}

// ------------------------------------------------------------------ encoding

function checkRange(fn: string, range: unknown): [number, number] {
  if (range === undefined) return [0, 255];
  if (!Array.isArray(range) || range.length !== 2 || !range.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`${fn}: range must be [lo, hi] of two finite numbers, got ${describe(range)}`);
  }
  if (!(range[0] < range[1])) throw new Error(`${fn}: range [${range[0]}, ${range[1]}] must have lo < hi`);
  return [range[0], range[1]];
}

/** Planar -> HWC bytes, (v - lo) / (hi - lo) * 255 clamped and rounded; NaN is an Error. */
function toBytes(fn: string, arg: string, img: Planar, [lo, hi]: [number, number]): Buffer {
  const { channels: C, height: H, width: W, data } = img;
  const plane = H * W;
  const out = Buffer.alloc(C * plane);
  const k = 255 / (hi - lo);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < plane; i++) {
      const v = data[c * plane + i];
      if (Number.isNaN(v)) {
        throw new Error(`${fn}: ${arg} holds NaN at channel ${c}, row ${Math.floor(i / W)}, column ${i % W}`);
      }
      const b = Math.round((v - lo) * k);
      out[i * C + c] = b < 0 ? 0 : b > 255 ? 255 : b;
    }
  }
  return out;
}

async function encode(fn: string, arg: string, img: Planar, format: unknown, range: [number, number]): Promise<Buffer> {
  if (format !== 'png' && format !== 'jpeg') throw new Error(`${fn}: format must be 'png' or 'jpeg', got ${describe(format)}`);
  if (img.channels !== 1 && img.channels !== 3) throw new Error(`${fn}: ${arg} must have 1 or 3 channels, got ${img.channels}`);
  const bytes = toBytes(fn, arg, img, range);
  let s = sharp(bytes, { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (img.channels === 1) s = s.toColourspace('b-w');
  s = format === 'png' ? s.png() : s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' });
  try {
    return await s.toBuffer();
  } catch (e) {
    throw new Error(`${fn}: sharp could not encode the ${img.height}x${img.width} image as ${format} (${(e as Error)?.message ?? String(e)})`);
  }
}

/** Encodes a planar image (1 or 3 channels) as PNG or JPEG; `range` is mapped to 0..255 (default [0, 255]). */
export function encodeImage(img: Planar, format: ImageFormat, range?: [number, number]): Promise<Buffer> {
  return (async () => {
    const p = checkPlanar('encodeImage', 'img', img);
    return encode('encodeImage', 'img', p, format, checkRange('encodeImage', range));
  })();
}

function formatOf(fn: string, path: string): ImageFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  throw new Error(`${fn}: cannot tell the format of ${path} from its extension ${ext ? JSON.stringify(ext) : '(none)'}; use .png, .jpg or .jpeg`);
}

/** @internal writes encoded bytes, creating the parent directories */
export async function writeImageFile(fn: string, path: string, bytes: Buffer): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  } catch (e) {
    throw new Error(`${fn}: cannot write ${path}: ${readError(e)}`);
  }
}

/**
 * Saves an image tensor ([1, 3, H, W], [3, H, W], [1, 1, H, W], [1, H, W] or [H, W]) or a planar image with
 * 1 or 3 channels as PNG or JPEG, chosen by the extension (.png, .jpg, .jpeg). Values in opts.range (default
 * [0, 255]) are mapped to 0..255, clamped and rounded. Parent directories are created.
 */
export async function saveImage(t: Tensor | Planar, path: string, opts?: SaveImageOptions): Promise<void> {
  const fn = 'saveImage';
  if (typeof path !== 'string' || path.length === 0) throw new Error(`${fn}: path must be a non-empty string, got ${describe(path)}`);
  const o = checkOptions(fn, opts, ['range']);
  const range = checkRange(fn, o.range);
  const format = formatOf(fn, path);
  let img: Planar;
  if (t instanceof Tensor) img = await tensorToPlanar(t, fn, 't');
  else {
    img = checkPlanar(fn, 't', t);
    if (img.channels !== 1 && img.channels !== 3) throw new Error(`${fn}: t must have 1 or 3 channels, got ${img.channels}`);
  }
  await writeImageFile(fn, path, await encode(fn, 't', img, format, range));
}

/** @internal encodes a checked planar image by the path's extension and writes it; errors name `fn` */
export async function writePlanar(fn: string, img: Planar, path: string): Promise<void> {
  const format = formatOf(fn, path);
  await writeImageFile(fn, path, await encode(fn, 'the image', img, format, [0, 255]));
}

/** @internal the extension check shared with saveHeatmap */
export { formatOf as imageFormatOf };
