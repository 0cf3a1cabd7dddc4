// Float64 pooling references, written plainly from the definitions (a loop over every window position,
// padding skipped), and their analytic vector-Jacobian products. PyTorch's conventions: output size with
// ceil mode, ties to the first maximum in row-major window order, the average's two divisors.

export type F64 = Float64Array;

export interface PoolGeom {
  N: number; C: number; H: number; W: number;
  kh: number; kw: number; sh: number; sw: number;
  pt: number; pl: number; pb: number; pr: number;
  ceil: boolean;
}

function outSize(size: number, k: number, s: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const exact = (size + padBefore + padAfter - k) / s;
  let n = (ceil ? Math.ceil(exact) : Math.floor(exact)) + 1;
  // PyTorch: the last window must start inside the input or its leading padding
  if (ceil && (n - 1) * s >= size + padBefore) n--;
  return n;
}

export function poolOut(g: PoolGeom): [number, number] {
  return [outSize(g.H, g.kh, g.sh, g.pt, g.pb, g.ceil), outSize(g.W, g.kw, g.sw, g.pl, g.pr, g.ceil)];
}

/** Visits each output (plane, oh, ow, flat output index) with the input positions of its window, row-major. */
function eachWindow(g: PoolGeom, visit: (plane: number, oh: number, ow: number, o: number, cells: [number, number][]) => void): void {
  const [OH, OW] = poolOut(g);
  for (let plane = 0; plane < g.N * g.C; plane++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const cells: [number, number][] = [];
    for (let i = 0; i < g.kh; i++) for (let j = 0; j < g.kw; j++) {
      const h = oh * g.sh - g.pt + i, w = ow * g.sw - g.pl + j;
      if (h >= 0 && h < g.H && w >= 0 && w < g.W) cells.push([h, w]);
    }
    visit(plane, oh, ow, (plane * OH + oh) * OW + ow, cells);
  }
}

/** y = the window maximum (NaN above every number, the first NaN kept), switches = its flat index h * W + w. */
export function maxPool2d(x: F64, g: PoolGeom): { y: F64; switches: F64 } {
  const [OH, OW] = poolOut(g);
  const y = new Float64Array(g.N * g.C * OH * OW), switches = new Float64Array(y.length);
  eachWindow(g, (plane, _oh, _ow, o, cells) => {
    let best = -Infinity, at = -1;
    for (const [h, w] of cells) {
      const v = x[plane * g.H * g.W + h * g.W + w];
      if (at < 0 || (!Number.isNaN(best) && (Number.isNaN(v) || v > best))) {
        best = v;
        at = h * g.W + w;
      }
    }
    y[o] = best;
    switches[o] = at;
  });
  return { y, switches };
}

/** Gradient of Σ maxPool2d(x) ⊙ r: each r goes to its window's switch; shared switches sum. */
export function maxPool2dVjp(x: F64, r: F64, g: PoolGeom): F64 {
  return maxUnpool2d(r, maxPool2d(x, g).switches, g.N * g.C, g.H * g.W);
}

/** A zero [planes, pixels] array with each y placed at its switch (collisions sum). */
export function maxUnpool2d(y: F64, switches: ArrayLike<number>, planes: number, pixels: number): F64 {
  const x = new Float64Array(planes * pixels);
  const perPlane = y.length / planes;
  for (let o = 0; o < y.length; o++) {
    const s = switches[o];
    if (Number.isInteger(s) && s >= 0 && s < pixels) x[Math.floor(o / perPlane) * pixels + s] += y[o];
  }
  return x;
}

/** Gradient of Σ maxUnpool2d(y) ⊙ r with respect to y: r read at the switches. */
export function maxUnpool2dVjp(switches: ArrayLike<number>, r: F64, planes: number, pixels: number): F64 {
  const gy = new Float64Array(switches.length);
  const perPlane = switches.length / planes;
  for (let o = 0; o < gy.length; o++) {
    const s = switches[o];
    if (Number.isInteger(s) && s >= 0 && s < pixels) gy[o] = r[Math.floor(o / perPlane) * pixels + s];
  }
  return gy;
}

/** The divisor of one window: PyTorch counts padding (but not what ceil mode adds past it), or inputs only. */
function avgDivisor(g: PoolGeom, oh: number, ow: number, cells: number, countIncludePad: boolean): number {
  if (!countIncludePad) return cells;
  const h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
  const h1 = Math.min(h0 + g.kh, g.H + g.pb), w1 = Math.min(w0 + g.kw, g.W + g.pr);
  return (h1 - h0) * (w1 - w0);
}

export function avgPool2d(x: F64, g: PoolGeom, countIncludePad: boolean): F64 {
  const [OH, OW] = poolOut(g);
  const y = new Float64Array(g.N * g.C * OH * OW);
  eachWindow(g, (plane, oh, ow, o, cells) => {
    let s = 0;
    for (const [h, w] of cells) s += x[plane * g.H * g.W + h * g.W + w];
    y[o] = s / avgDivisor(g, oh, ow, cells.length, countIncludePad);
  });
  return y;
}

/** Gradient of Σ avgPool2d(x) ⊙ r: each window spreads r / divisor over its input pixels. */
export function avgPool2dVjp(r: F64, g: PoolGeom, countIncludePad: boolean): F64 {
  const gx = new Float64Array(g.N * g.C * g.H * g.W);
  eachWindow(g, (plane, oh, ow, o, cells) => {
    const share = r[o] / avgDivisor(g, oh, ow, cells.length, countIncludePad);
    for (const [h, w] of cells) gx[plane * g.H * g.W + h * g.W + w] += share;
  });
  return gx;
}

/** The mean of each of `planes` planes of `pixels` values. */
export function globalAvgPool2d(x: F64, planes: number, pixels: number): F64 {
  const y = new Float64Array(planes);
  for (let p = 0; p < planes; p++) {
    let s = 0;
    for (let i = 0; i < pixels; i++) s += x[p * pixels + i];
    y[p] = s / pixels;
  }
  return y;
}
