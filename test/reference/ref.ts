// Float64 reference implementations, written plainly from the definitions (loops, no tiling), and the
// analytic vector-Jacobian products of the ones whose gradients have closed forms worth checking.

export type F64 = Float64Array;

export function matmul(a: F64, b: F64, M: number, K: number, N: number): F64 {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    c[i * N + j] = s;
  }
  return c;
}

export function transpose(a: F64, R: number, C: number): F64 {
  const t = new Float64Array(R * C);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) t[j * R + i] = a[i * C + j];
  return t;
}

export interface ConvGeom {
  N: number; C: number; H: number; W: number; O: number; KH: number; KW: number;
  sh: number; sw: number; pt: number; pl: number; pb: number; pr: number; dh: number; dw: number; groups: number;
}

export function convOut(g: ConvGeom): [number, number] {
  return [
    Math.floor((g.H + g.pt + g.pb - g.dh * (g.KH - 1) - 1) / g.sh) + 1,
    Math.floor((g.W + g.pl + g.pr - g.dw * (g.KW - 1) - 1) / g.sw) + 1,
  ];
}

/** y[n, o, oh, ow] = b[o] + Σ_{c in o's group, kh, kw} x[n, c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] w[o, c', kh, kw] */
export function conv2d(x: F64, w: F64, b: F64 | null, g: ConvGeom): F64 {
  const [OH, OW] = convOut(g);
  const cg = g.C / g.groups, og = g.O / g.groups;
  const y = new Float64Array(g.N * g.O * OH * OW);
  for (let n = 0; n < g.N; n++) for (let o = 0; o < g.O; o++) {
    const grp = Math.floor(o / og);
    for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let s = b ? b[o] : 0;
      for (let c = 0; c < cg; c++) for (let kh = 0; kh < g.KH; kh++) for (let kw = 0; kw < g.KW; kw++) {
        const ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
        if (ih < 0 || iw < 0 || ih >= g.H || iw >= g.W) continue;
        s += x[((n * g.C + grp * cg + c) * g.H + ih) * g.W + iw] * w[((o * cg + c) * g.KH + kh) * g.KW + kw];
      }
      y[((n * g.O + o) * OH + oh) * OW + ow] = s;
    }
  }
  return y;
}

/** The adjoint of conv2d: gradients of Σ y ⊙ r with respect to x, w and b. */
export function conv2dVjp(x: F64, w: F64, r: F64, g: ConvGeom): [F64, F64, F64] {
  const [OH, OW] = convOut(g);
  const cg = g.C / g.groups, og = g.O / g.groups;
  const gx = new Float64Array(x.length), gw = new Float64Array(w.length), gb = new Float64Array(g.O);
  for (let n = 0; n < g.N; n++) for (let o = 0; o < g.O; o++) {
    const grp = Math.floor(o / og);
    for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      const rv = r[((n * g.O + o) * OH + oh) * OW + ow];
      gb[o] += rv;
      for (let c = 0; c < cg; c++) for (let kh = 0; kh < g.KH; kh++) for (let kw = 0; kw < g.KW; kw++) {
        const ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
        if (ih < 0 || iw < 0 || ih >= g.H || iw >= g.W) continue;
        const xi = ((n * g.C + grp * cg + c) * g.H + ih) * g.W + iw;
        const wi = ((o * cg + c) * g.KH + kh) * g.KW + kw;
        gx[xi] += rv * w[wi];
        gw[wi] += rv * x[xi];
      }
    }
  }
  return [gx, gw, gb];
}

/** softmax (or log-softmax) over the middle axis of [outer, n, inner] */
export function softmax(x: F64, outer: number, n: number, inner: number, log: boolean): F64 {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const at = (k: number) => (o * n + k) * inner + i;
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = Math.max(m, x[at(k)]);
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(x[at(k)] - m);
    for (let k = 0; k < n; k++) y[at(k)] = log ? x[at(k)] - m - Math.log(s) : Math.exp(x[at(k)] - m) / s;
  }
  return y;
}

/** numpy-style broadcast of a binary function */
export function broadcast2(a: F64, as: number[], b: F64, bs: number[], f: (x: number, y: number) => number): { y: F64; shape: number[] } {
  const rank = Math.max(as.length, bs.length);
  const pa = [...Array(rank - as.length).fill(1), ...as], pb = [...Array(rank - bs.length).fill(1), ...bs];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const total = shape.reduce((p, d) => p * d, 1);
  const y = new Float64Array(total);
  const idx = (coords: number[], s: number[]) => coords.reduce((acc, c, d) => acc * s[d] + (s[d] === 1 ? 0 : c), 0);
  const coords = new Array(rank).fill(0);
  for (let i = 0; i < total; i++) {
    let rem = i;
    for (let d = rank - 1; d >= 0; d--) {
      coords[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    y[i] = f(a[idx(coords, pa)], b[idx(coords, pb)]);
  }
  return { y, shape };
}

/** sum over the middle axis of [outer, r, inner] */
export function sumAxis(x: F64, outer: number, r: number, inner: number): F64 {
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let k = 0; k < r; k++) for (let i = 0; i < inner; i++) y[o * inner + i] += x[(o * r + k) * inner + i];
  return y;
}
