// Float64 references for the layout ops, written from the definitions with index arithmetic spelled out,
// and their adjoints (both ops are linear: the VJP is the transpose of the copy).

export type F64 = Float64Array;
export type Pads = [number, number, number, number];   // top, left, bottom, right

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** y[n, c, h, w] = x[n, c, h - top, w - left] inside x, else value */
export function pad(x: F64, [N, C, H, W]: readonly number[], [top, left, bottom, right]: Pads, value: number): F64 {
  const OH = H + top + bottom, OW = W + left + right;
  const y = new Float64Array(N * C * OH * OW).fill(value);
  for (let p = 0; p < N * C; p++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    y[(p * OH + h + top) * OW + w + left] = x[(p * H + h) * W + w];
  }
  return y;
}

/** d(Σ pad(x) ⊙ r)/dx: the interior of r (the border holds constants, which have no gradient) */
export function padVjp(r: F64, [N, C, H, W]: readonly number[], [top, left, bottom, right]: Pads): F64 {
  const OH = H + top + bottom, OW = W + left + right;
  const gx = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    gx[(p * H + h) * W + w] = r[(p * OH + h + top) * OW + w + left];
  }
  return gx;
}

/** The coordinates of flat index i in `shape`, row-major. */
function coords(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

function flat(c: readonly number[], shape: readonly number[]): number {
  return c.reduce((acc, v, d) => acc * shape[d] + v, 0);
}

export function concatShape(shapes: readonly number[][], axis: number): number[] {
  const a = axis < 0 ? axis + shapes[0].length : axis;
  const s = [...shapes[0]];
  s[a] = shapes.reduce((t, sh) => t + sh[a], 0);
  return s;
}

/** Element x_k[c] lands at y[c + offset_k along axis], offset_k the sizes of the inputs before it. */
export function concat(xs: F64[], shapes: readonly number[][], axis: number): F64 {
  const a = axis < 0 ? axis + shapes[0].length : axis;
  const yShape = concatShape(shapes, axis);
  const y = new Float64Array(size(yShape));
  let offset = 0;
  xs.forEach((x, k) => {
    for (let i = 0; i < x.length; i++) {
      const c = coords(i, shapes[k]);
      c[a] += offset;
      y[flat(c, yShape)] = x[i];
    }
    offset += shapes[k][a];
  });
  return y;
}

/** d(Σ concat(xs) ⊙ r)/dx_k: the slab of r where x_k landed */
export function concatVjp(r: F64, shapes: readonly number[][], axis: number): F64[] {
  const a = axis < 0 ? axis + shapes[0].length : axis;
  const yShape = concatShape(shapes, axis);
  let offset = 0;
  return shapes.map((shape) => {
    const g = new Float64Array(size(shape));
    for (let i = 0; i < g.length; i++) {
      const c = coords(i, shape);
      c[a] += offset;
      g[i] = r[flat(c, yShape)];
    }
    offset += shape[a];
    return g;
  });
}
