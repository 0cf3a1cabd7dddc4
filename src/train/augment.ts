// Training-time augmentation on the host, on planar batches [N, C, H, W] (0..255 RGB, what loadImage and the
// procedural dataset give): a random crop from the image padded by `pad` pixels (edge pixels repeated), a
// horizontal mirror with probability 1/2, and zeroing out random rectangles ("erase"): each one filled with `fill`,
// by default the preprocessing's mean colour, which is zero in the model's input space. Every choice comes from
// the caller's random source, so a seed fixes a run.

export interface AugmentOptions {
  /** crop an H x W window from the image padded by this many pixels on each side (edge-replicated); 0: none */
  pad?: number;
  /** mirror each image left-right with probability 1/2 (default true) */
  mirror?: boolean;
  /** rectangles zeroed out per image (default 0) */
  erase?: number;
  /** each rectangle's side as a fraction of the image's, drawn from [0.1, eraseMax] (default 0.4) */
  eraseMax?: number;
  /** the value per channel written into erased rectangles (default 0 for every channel) */
  fill?: readonly number[];
}

const fn = 'augment';

function int(arg: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${fn}: ${arg} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/**
 * An augmented copy of the batch. `shape` is [N, C, H, W]; `random` returns uniform numbers in [0, 1).
 */
export function augment(images: Float32Array, shape: readonly number[], random: () => number, opts: AugmentOptions = {}): Float32Array {
  if (!(images instanceof Float32Array)) throw new Error(`${fn}: images must be a Float32Array`);
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${fn}: shape must be [N, C, H, W] of positive integers, got ${JSON.stringify(shape)}`);
  }
  const [N, C, H, W] = shape;
  if (images.length !== N * C * H * W) throw new Error(`${fn}: images has ${images.length} values, shape [${shape.join(', ')}] needs ${N * C * H * W}`);
  if (typeof random !== 'function') throw new Error(`${fn}: random must be a function returning numbers in [0, 1)`);
  if (typeof opts !== 'object' || opts === null) throw new Error(`${fn}: opts must be an object`);
  const pad = int('opts.pad', opts.pad, 0, 0);
  if (pad >= Math.min(H, W)) throw new Error(`${fn}: opts.pad must be smaller than the image (${H}x${W}), got ${pad}`);
  const mirror = opts.mirror ?? true;
  if (typeof mirror !== 'boolean') throw new Error(`${fn}: opts.mirror must be a boolean, got ${String(mirror)}`);
  const erase = int('opts.erase', opts.erase, 0, 0);
  const eraseMax = opts.eraseMax ?? 0.4;
  if (typeof eraseMax !== 'number' || !(eraseMax >= 0.1 && eraseMax <= 1)) throw new Error(`${fn}: opts.eraseMax must be in [0.1, 1], got ${String(eraseMax)}`);
  const fill = opts.fill ?? new Array<number>(C).fill(0);
  if (!Array.isArray(fill) || fill.length !== C || fill.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new Error(`${fn}: opts.fill must be ${C} finite numbers (one per channel), got ${JSON.stringify(opts.fill)}`);
  }

  const out = new Float32Array(images.length);
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    const dy = pad > 0 ? Math.floor(random() * (2 * pad + 1)) - pad : 0;
    const dx = pad > 0 ? Math.floor(random() * (2 * pad + 1)) - pad : 0;
    const flip = mirror && random() < 0.5;
    for (let c = 0; c < C; c++) {
      const src = (n * C + c) * plane;
      for (let y = 0; y < H; y++) {
        // output (y, x) shows padded-image pixel (y + dy, x' + dx), x' the mirrored column; edges repeat
        const sy = Math.min(H - 1, Math.max(0, y + dy));
        for (let x = 0; x < W; x++) {
          const xm = flip ? W - 1 - x : x;
          const sx = Math.min(W - 1, Math.max(0, xm + dx));
          out[src + y * W + x] = images[src + sy * W + sx];
        }
      }
    }
    for (let e = 0; e < erase; e++) {
      const h = Math.max(1, Math.round(H * (0.1 + random() * (eraseMax - 0.1))));
      const w = Math.max(1, Math.round(W * (0.1 + random() * (eraseMax - 0.1))));
      const y0 = Math.floor(random() * (H - h + 1));
      const x0 = Math.floor(random() * (W - w + 1));
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * plane;
        for (let y = y0; y < y0 + h; y++) out.fill(fill[c], base + y * W + x0, base + y * W + x0 + w);
      }
    }
  }
  return out;
}
