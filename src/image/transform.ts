// Host-side geometric transforms on planar (CHW) float images: resize, shorter-side resize, crops and the
// horizontal mirror. Pure functions: every one returns a new image and leaves its input alone, and none needs
// a backend.
//
// Resampling (resize) is separable: the width is resampled first, then the height, each axis on its own and
// accumulated in float64. For each axis with input size n and output size m, s = n / m:
//
//   s <= 2 (upscaling, identity, or shrinking by at most 2x): bilinear interpolation with half-pixel centres,
//     the convention of PyTorch's interpolate(mode='bilinear', align_corners=false, antialias=false) and of
//     OpenCV's INTER_LINEAR. Output pixel i samples the input at x = (i + 0.5) * s - 0.5; x < 0 is clamped to
//     0, and with i0 = floor(x), i1 = min(i0 + 1, n - 1) the value is (1 - (x - i0)) * in[i0] + (x - i0) * in[i1].
//     With s = 1 this is the identity.
//
//   s > 2 (shrinking by more than 2x): plain bilinear would read only two input pixels per output and skip
//     the rest (aliasing), so the axis is box-averaged instead: output pixel i is the mean of the input over
//     the interval [i * s, (i + 1) * s) in pixel-edge coordinates, each input pixel j (covering [j, j + 1))
//     weighted by the length of its overlap with that interval (so pixels cut by an interval edge count in
//     part, and every input pixel contributes). This is exact area averaging (OpenCV's INTER_AREA) and is
//     the same as box-averaging the axis down to 2m pixels and then applying the bilinear rule above at
//     exactly 2x. The interval is centred on the bilinear sample point, so both rules share one geometry.
//
// Each axis picks its rule independently (a 1000x100 image resized to 100x100 is box-averaged along the
// height only).

/** A planar (CHW) float image on the host. */
export interface Planar { channels: number; height: number; width: number; data: Float32Array }

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const show = (v: unknown): string =>
  typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null'
    : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;

/** @internal throws unless v is a positive integer */
export function checkPositiveInt(fn: string, arg: string, v: unknown): number {
  if (!isPosInt(v)) throw new Error(`${fn}: ${arg} must be a positive integer, got ${show(v)}`);
  return v;
}

/** @internal checks that `img` is a well-formed Planar: positive integer sizes and a Float32Array of C*H*W values */
export function checkPlanar(fn: string, arg: string, img: unknown): Planar {
  if (img === null || typeof img !== 'object') throw new Error(`${fn}: ${arg} must be a planar image { channels, height, width, data }, got ${show(img)}`);
  if ('shape' in img && !('channels' in img)) {
    throw new Error(`${fn}: ${arg} must be a planar image { channels, height, width, data }, got a Tensor; read it to the host with tensorToPlanar first`);
  }
  const p = img as Partial<Planar>;
  for (const k of ['channels', 'height', 'width'] as const) {
    if (!isPosInt(p[k])) throw new Error(`${fn}: ${arg}.${k} must be a positive integer, got ${show(p[k])}`);
  }
  if (!(p.data instanceof Float32Array)) throw new Error(`${fn}: ${arg}.data must be a Float32Array, got ${show(p.data)}`);
  const n = p.channels! * p.height! * p.width!;
  if (p.data.length !== n) {
    throw new Error(`${fn}: ${arg}.data holds ${p.data.length} values, but ${p.channels} channels of ${p.height}x${p.width} need ${n}`);
  }
  return p as Planar;
}

/** A planar image of the given size: `data` (checked to hold channels * height * width values) or zeros. */
export function planar(channels: number, height: number, width: number, data?: Float32Array): Planar {
  checkPositiveInt('planar', 'channels', channels);
  checkPositiveInt('planar', 'height', height);
  checkPositiveInt('planar', 'width', width);
  const n = channels * height * width;
  if (data === undefined) return { channels, height, width, data: new Float32Array(n) };
  if (!(data instanceof Float32Array)) throw new Error(`planar: data must be a Float32Array, got ${data === null ? 'null' : typeof data}`);
  if (data.length !== n) throw new Error(`planar: data holds ${data.length} values, but ${channels} channels of ${height}x${width} need ${n}`);
  return { channels, height, width, data };
}

// ------------------------------------------------------------------ resampling

/** The input pixels and weights that make each output pixel along one axis (flattened, with offsets). */
interface Taps { start: Int32Array; index: Int32Array; weight: Float64Array }

function bilinearTaps(n: number, m: number): Taps {
  const s = n / m;
  const start = new Int32Array(m + 1), index = new Int32Array(2 * m), weight = new Float64Array(2 * m);
  for (let i = 0; i < m; i++) {
    const x = Math.max(0, (i + 0.5) * s - 0.5);
    const i0 = Math.min(Math.floor(x), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    const f = Math.min(x - i0, 1);
    start[i] = 2 * i;
    index[2 * i] = i0;
    weight[2 * i] = 1 - f;
    index[2 * i + 1] = i1;
    weight[2 * i + 1] = f;
  }
  start[m] = 2 * m;
  return { start, index, weight };
}

function areaTaps(n: number, m: number): Taps {
  const s = n / m;
  const start = new Int32Array(m + 1);
  const index: number[] = [], weight: number[] = [];
  for (let i = 0; i < m; i++) {
    start[i] = index.length;
    const a = i * s, b = Math.min((i + 1) * s, n);
    let total = 0;
    const first = index.length;
    for (let j = Math.floor(a); j < Math.ceil(b) && j < n; j++) {
      const w = Math.min(j + 1, b) - Math.max(j, a);
      if (w <= 1e-12) continue;
      index.push(j);
      weight.push(w);
      total += w;
    }
    for (let k = first; k < weight.length; k++) weight[k] /= total;
  }
  start[m] = index.length;
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

function axisTaps(n: number, m: number): Taps {
  return n > 2 * m ? areaTaps(n, m) : bilinearTaps(n, m);
}

/**
 * Bilinear resize with half-pixel centres (PyTorch align_corners=false, OpenCV INTER_LINEAR). An axis shrunk
 * by more than 2x is box-averaged instead (exact area averaging over each output pixel's footprint), so that
 * every input pixel contributes; see the header of src/image/transform.ts for the exact rules.
 */
export function resize(img: Planar, height: number, width: number): Planar {
  const p = checkPlanar('resize', 'img', img);
  checkPositiveInt('resize', 'height', height);
  checkPositiveInt('resize', 'width', width);
  const { channels: C, height: H, width: W } = p;
  if (H === height && W === width) return { channels: C, height: H, width: W, data: p.data.slice() };
  const tx = axisTaps(W, width), ty = axisTaps(H, height);
  // width pass: [C, H, W] -> [C, H, width]
  const tmp = new Float64Array(C * H * width);
  for (let r = 0; r < C * H; r++) {
    const src = r * W, dst = r * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = tx.start[x]; k < tx.start[x + 1]; k++) acc += tx.weight[k] * p.data[src + tx.index[k]];
      tmp[dst + x] = acc;
    }
  }
  // height pass: [C, H, width] -> [C, height, width], accumulated in float64 one output row at a time
  const out = new Float32Array(C * height * width);
  const acc = new Float64Array(width);
  for (let c = 0; c < C; c++) {
    const src = c * H * width, dst = c * height * width;
    for (let y = 0; y < height; y++) {
      acc.fill(0);
      for (let k = ty.start[y]; k < ty.start[y + 1]; k++) {
        const w = ty.weight[k], from = src + ty.index[k] * width;
        for (let x = 0; x < width; x++) acc[x] += w * tmp[from + x];
      }
      out.set(acc, dst + y * width);
    }
  }
  return { channels: C, height, width, data: out };
}

/**
 * Scales the image so that its shorter side equals `size` and the longer side keeps the aspect ratio,
 * truncated to an integer (at least 1), as torchvision's Resize(int) does. A square image becomes
 * size x size. Uses resize().
 */
export function resizeShorterSide(img: Planar, size: number): Planar {
  const p = checkPlanar('resizeShorterSide', 'img', img);
  checkPositiveInt('resizeShorterSide', 'size', size);
  const { height: H, width: W } = p;
  const [h, w] = H <= W
    ? [size, Math.max(1, Math.floor((size * W) / H))]
    : [Math.max(1, Math.floor((size * H) / W)), size];
  return resize(p, h, w);
}

// ------------------------------------------------------------------ crops and flips

/** The height x width window whose top-left pixel is (top, left); an Error if it does not lie inside the image. */
export function crop(img: Planar, top: number, left: number, height: number, width: number): Planar {
  const p = checkPlanar('crop', 'img', img);
  if (!isNonNegInt(top)) throw new Error(`crop: top must be a non-negative integer, got ${show(top)}`);
  if (!isNonNegInt(left)) throw new Error(`crop: left must be a non-negative integer, got ${show(left)}`);
  checkPositiveInt('crop', 'height', height);
  checkPositiveInt('crop', 'width', width);
  const { channels: C, height: H, width: W } = p;
  if (top + height > H || left + width > W) {
    throw new Error(`crop: the ${height}x${width} window at (${top}, ${left}) does not fit the ${H}x${W} image`);
  }
  const out = new Float32Array(C * height * width);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * H + top + y) * W + left;
      out.set(p.data.subarray(from, from + width), (c * height + y) * width);
    }
  }
  return { channels: C, height, width, data: out };
}

/** The centred height x width window: top = floor((H - height) / 2), left = floor((W - width) / 2). */
export function centerCrop(img: Planar, height: number, width: number): Planar {
  const p = checkPlanar('centerCrop', 'img', img);
  checkPositiveInt('centerCrop', 'height', height);
  checkPositiveInt('centerCrop', 'width', width);
  if (height > p.height || width > p.width) {
    throw new Error(`centerCrop: the ${height}x${width} window is larger than the ${p.height}x${p.width} image`);
  }
  return crop(p, Math.floor((p.height - height) / 2), Math.floor((p.width - width) / 2), height, width);
}

/** The mirror image: column x of the result is column W - 1 - x of the input. */
export function flipHorizontal(img: Planar): Planar {
  const p = checkPlanar('flipHorizontal', 'img', img);
  const { channels: C, height: H, width: W } = p;
  const out = new Float32Array(C * H * W);
  for (let r = 0; r < C * H; r++) {
    const base = r * W;
    for (let x = 0; x < W; x++) out[base + x] = p.data[base + W - 1 - x];
  }
  return { channels: C, height: H, width: W, data: out };
}
