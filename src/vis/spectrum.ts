// Host-side discrete Fourier transforms for the class-model ascent's gradient preconditioner.
//
// fft() is a mixed-radix decimation-in-time transform for any length: n is split by its smallest prime factor
// p into p interleaved subsequences of length n/p, each transformed recursively, and combined with twiddles
// from one table of the n-th roots of unity; a prime length is a direct O(n^2) sum. Image sides are small
// (32..512) and mostly smooth numbers (96 = 2^5 * 3, 224 = 2^5 * 7), so this is O(n log n) where it matters.
//
// spectralFilter() multiplies the 2-D spectrum of each channel plane by a real weight that depends only on the
// frequency's magnitude, so the result of filtering a real image is real (weights at k and -k are equal).

interface Plan { n: number; cos: Float64Array; sin: Float64Array; xr: Float64Array; xi: Float64Array; tr: Float64Array; ti: Float64Array }

const plans = new Map<number, Plan>();

function plan(n: number): Plan {
  let p = plans.get(n);
  if (p === undefined) {
    const cos = new Float64Array(n), sin = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      cos[t] = Math.cos((2 * Math.PI * t) / n);
      sin[t] = Math.sin((2 * Math.PI * t) / n);
    }
    p = { n, cos, sin, xr: new Float64Array(n), xi: new Float64Array(n), tr: new Float64Array(n), ti: new Float64Array(n) };
    if (plans.size > 16) plans.clear();
    plans.set(n, p);
  }
  return p;
}

function smallestFactor(n: number): number {
  if (n % 2 === 0) return 2;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return f;
  return n;
}

// Transforms x[off + k*stride], k < n, into y[yoff .. yoff + n). `step` = N / n indexes the length-N table.
function rec(
  pl: Plan, sign: number, xr: Float64Array, xi: Float64Array, off: number, stride: number, n: number,
  yr: Float64Array, yi: Float64Array, yoff: number, step: number, tr: Float64Array, ti: Float64Array,
): void {
  if (n === 1) {
    yr[yoff] = xr[off];
    yi[yoff] = xi[off];
    return;
  }
  const N = pl.n;
  const p = smallestFactor(n);
  if (p === n) {
    for (let k = 0; k < n; k++) {
      let sr = 0, si = 0;
      for (let j = 0; j < n; j++) {
        const t = ((j * k) % n) * step;
        const c = pl.cos[t], s = sign * pl.sin[t];
        const ar = xr[off + j * stride], ai = xi[off + j * stride];
        sr += ar * c - ai * s;
        si += ar * s + ai * c;
      }
      yr[yoff + k] = sr;
      yi[yoff + k] = si;
    }
    return;
  }
  const m = n / p;
  for (let j = 0; j < p; j++) rec(pl, sign, xr, xi, off + j * stride, stride * p, m, yr, yi, yoff + j * m, step * p, tr, ti);
  if (p === 2) {
    // the radix-2 butterfly: Y[k] = A + w^k B, Y[k + m] = A - w^k B
    for (let k = 0; k < m; k++) {
      const t = k * step, c = pl.cos[t], s = sign * pl.sin[t];
      const ar = yr[yoff + k], ai = yi[yoff + k], br = yr[yoff + m + k], bi = yi[yoff + m + k];
      const wr = br * c - bi * s, wi = br * s + bi * c;
      yr[yoff + k] = ar + wr;
      yi[yoff + k] = ai + wi;
      yr[yoff + m + k] = ar - wr;
      yi[yoff + m + k] = ai - wi;
    }
    return;
  }
  // Y[k + q m] = sum_j w^(j (k + q m)) Sub_j[k], w = exp(sign 2 pi i / n)
  for (let k = 0; k < m; k++) {
    for (let j = 0; j < p; j++) {
      tr[j] = yr[yoff + j * m + k];
      ti[j] = yi[yoff + j * m + k];
    }
    for (let q = 0; q < p; q++) {
      const idx = k + q * m;
      let sr = 0, si = 0;
      for (let j = 0; j < p; j++) {
        const t = (((j * idx) % n) * step) % N;
        const c = pl.cos[t], s = sign * pl.sin[t];
        sr += tr[j] * c - ti[j] * s;
        si += tr[j] * s + ti[j] * c;
      }
      yr[yoff + idx] = sr;
      yi[yoff + idx] = si;
    }
  }
}

/**
 * The discrete Fourier transform of (re, im), length n >= 1, in place: X_k = sum_j x_j exp(-2 pi i j k / n);
 * `inverse` uses exp(+2 pi i j k / n) and divides by n.
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n === 0 || im.length !== n) throw new Error(`fft: re and im must have the same length >= 1, got ${re.length} and ${im.length}`);
  const pl = plan(n);
  pl.xr.set(re);
  pl.xi.set(im);
  rec(pl, inverse ? 1 : -1, pl.xr, pl.xi, 0, 1, n, re, im, 0, 1, pl.tr, pl.ti);
  if (inverse) {
    for (let k = 0; k < n; k++) {
      re[k] /= n;
      im[k] /= n;
    }
  }
}

/**
 * Filters each [h, w] plane of a [channels, h, w] image in the frequency domain: the 2-D spectrum at
 * frequency (fy, fx) in cycles per pixel (|fy|, |fx| <= 1/2, wrapped) is multiplied by weight(sqrt(fy^2 + fx^2)).
 * Returns a new array; the input is not changed.
 */
export function spectralFilter(img: Float32Array, channels: number, h: number, w: number, weight: (f: number) => number): Float32Array {
  const wts = new Float64Array(h * w);
  for (let ky = 0; ky < h; ky++) {
    const fy = (ky <= h / 2 ? ky : ky - h) / h;
    for (let kx = 0; kx < w; kx++) {
      const fx = (kx <= w / 2 ? kx : kx - w) / w;
      wts[ky * w + kx] = weight(Math.sqrt(fy * fy + fx * fx));
    }
  }
  const out = new Float32Array(img.length);
  const re = new Float64Array(h * w), im = new Float64Array(h * w);
  const rowR = new Float64Array(w), rowI = new Float64Array(w), colR = new Float64Array(h), colI = new Float64Array(h);
  const pass = (inverse: boolean) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) { rowR[x] = re[y * w + x]; rowI[x] = im[y * w + x]; }
      fft(rowR, rowI, inverse);
      for (let x = 0; x < w; x++) { re[y * w + x] = rowR[x]; im[y * w + x] = rowI[x]; }
    }
    for (let x = 0; x < w; x++) {
      for (let y = 0; y < h; y++) { colR[y] = re[y * w + x]; colI[y] = im[y * w + x]; }
      fft(colR, colI, inverse);
      for (let y = 0; y < h; y++) { re[y * w + x] = colR[y]; im[y * w + x] = colI[y]; }
    }
  };
  // The filter is linear and maps real planes to real planes, so two channels go through one complex
  // transform: filter(a + i b) = filter(a) + i filter(b).
  const plane = h * w;
  for (let c = 0; c < channels; c += 2) {
    const a = c * plane, two = c + 1 < channels;
    for (let i = 0; i < plane; i++) { re[i] = img[a + i]; im[i] = two ? img[a + plane + i] : 0; }
    pass(false);
    for (let i = 0; i < plane; i++) { re[i] *= wts[i]; im[i] *= wts[i]; }
    pass(true);
    for (let i = 0; i < plane; i++) out[a + i] = re[i];
    if (two) for (let i = 0; i < plane; i++) out[a + plane + i] = im[i];
  }
  return out;
}
