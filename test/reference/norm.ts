// Float64 references for the normalisation ops, written from the definitions, and their analytic
// vector-Jacobian products written as the plain sum Σ_c r_c ∂y_c/∂x_j (no reuse of the kernels' algebra).

export type F64 = Float64Array;

export interface LrnRef { size: number; alpha: number; beta: number; k: number }

/** The channels in the window of c: [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] inside [0, C) */
export function lrnWindow(c: number, C: number, size: number): [number, number] {
  return [Math.max(0, c - Math.floor((size - 1) / 2)), Math.min(C - 1, c + Math.ceil((size - 1) / 2))];
}

/** d_c = k + alpha / size * Σ_{j in window(c)} x_j^2 at every element of x viewed as [N, C, S] */
function lrnDenominators(x: F64, N: number, C: number, S: number, p: LrnRef): F64 {
  const d = new Float64Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) {
    const [lo, hi] = lrnWindow(c, C, p.size);
    let sum = 0;
    for (let j = lo; j <= hi; j++) sum += x[(n * C + j) * S + s] ** 2;
    d[(n * C + c) * S + s] = p.k + (p.alpha / p.size) * sum;
  }
  return d;
}

function nchs(shape: readonly number[]): [number, number, number] {
  return [shape[0], shape[1], shape.slice(2).reduce((a, b) => a * b, 1)];
}

/** y_c = x_c / d_c^beta */
export function lrn(x: F64, shape: readonly number[], p: LrnRef): F64 {
  const [N, C, S] = nchs(shape);
  const d = lrnDenominators(x, N, C, S, p);
  return x.map((v, i) => v / d[i] ** p.beta);
}

/**
 * ∂y_c/∂x_j = [c = j] d_c^-beta - beta x_c d_c^(-beta-1) ∂d_c/∂x_j, with ∂d_c/∂x_j = 2 alpha / size x_j when j is
 * in c's window. Summed over c against r.
 */
export function lrnVjp(x: F64, r: F64, shape: readonly number[], p: LrnRef): F64 {
  const [N, C, S] = nchs(shape);
  const d = lrnDenominators(x, N, C, S, p);
  const gx = new Float64Array(x.length);
  for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) {
    const ic = (n * C + c) * S + s;
    gx[ic] += r[ic] * d[ic] ** -p.beta;
    const [lo, hi] = lrnWindow(c, C, p.size);
    for (let j = lo; j <= hi; j++) {
      const ij = (n * C + j) * S + s;
      const dDdXj = (2 * p.alpha / p.size) * x[ij];
      gx[ij] += r[ic] * -p.beta * x[ic] * d[ic] ** (-p.beta - 1) * dDdXj;
    }
  }
  return gx;
}

/** y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c over channel axis 1 of x [N, C, ...] */
export function batchNorm(x: F64, mean: F64, variance: F64, gamma: F64, beta: F64, shape: readonly number[], eps: number): F64 {
  const [, C, S] = nchs(shape);
  return x.map((v, i) => {
    const c = Math.floor(i / S) % C;
    return ((v - mean[c]) / Math.sqrt(variance[c] + eps)) * gamma[c] + beta[c];
  });
}

/** Gradients of Σ batchNorm ⊙ r with respect to x, mean, var, gamma and beta. */
export function batchNormVjp(x: F64, mean: F64, variance: F64, gamma: F64, r: F64, shape: readonly number[], eps: number): F64[] {
  const [, C, S] = nchs(shape);
  const gx = new Float64Array(x.length);
  const gMean = new Float64Array(C), gVar = new Float64Array(C), gGamma = new Float64Array(C), gBeta = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / S) % C;
    const sd = Math.sqrt(variance[c] + eps);
    const centred = x[i] - mean[c];
    gx[i] = (r[i] * gamma[c]) / sd;
    gMean[c] -= (r[i] * gamma[c]) / sd;
    gVar[c] += r[i] * centred * gamma[c] * -0.5 * (variance[c] + eps) ** -1.5;
    gGamma[c] += (r[i] * centred) / sd;
    gBeta[c] += r[i];
  }
  return [gx, gMean, gVar, gGamma, gBeta];
}
