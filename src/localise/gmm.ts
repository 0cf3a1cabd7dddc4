// Gaussian mixture colour models for weakly supervised localisation (Simonyan et al. 2013, Sect. 3.2): one
// mixture is fitted to the colours of the confident foreground pixels, one to the background, and the negative
// per-pixel log-likelihood under each is the data term of the GraphCut. The work is done by the native addon
// (native/src/segment.cc), in double precision, synchronously on the calling thread.

import { loadNative } from '../backend/cpu/native.js';

/** A mixture of K full-covariance Gaussians in RGB. */
export interface Gmm {
  /** [K], non-negative, summing to 1; a component of weight 0 was dropped and is ignored. */
  weights: Float64Array;
  /** [K*3], row k is the mean of component k. */
  means: Float64Array;
  /** [K*9], row-major 3x3 covariance of each component (symmetric, positive definite). */
  covariances: Float64Array;
}

/** What gmmFit returns: the mixture and how the fit went. */
export interface GmmFit extends Gmm {
  /** Total log-likelihood sum_i log p(x_i) of the points under the returned mixture. */
  logLikelihood: number;
  /** EM iterations run (fewer than asked when `tolerance` stopped the fit). */
  iterations: number;
  /** [iterations+1]: history[t] is the total log-likelihood after t EM iterations (history[0]: the initial model). */
  history: Float64Array;
}

export interface GmmFitOptions {
  /** EM iterations after the k-means++ / Lloyd initialisation (default 10; 0 returns the initial model). */
  iterations?: number;
  /** Seed of the k-means++ draws, an integer >= 0 (default 0): the same seed gives the same mixture. */
  seed?: number;
  /**
   * Added to the diagonal of every covariance at every M-step, in the points' units squared; must be > 0.
   * Default 1/12: the variance of the rounding error of an 8-bit colour (uniform on [-0.5, 0.5]), so a component
   * fitted to one flat colour is as wide as the quantisation that produced it, and it is negligible against
   * real colour spreads (tens to hundreds).
   */
  regularisation?: number;
  /**
   * Stop early once an iteration improves the mean log-likelihood per point by less than this (default 0: run
   * every iteration).
   */
  tolerance?: number;
}

export const GMM_DEFAULTS: Readonly<Required<GmmFitOptions>> = Object.freeze({ iterations: 10, seed: 0, regularisation: 1 / 12, tolerance: 0 });

/** The addon's segment.cc exports used here. */
interface GmmAddon {
  gmmFit(points: Float32Array, components: number, iterations: number, seed: number, regularisation: number,
         tolerance: number): GmmFit;
  gmmLogLikelihood(weights: Float64Array, means: Float64Array, covariances: Float64Array, points: Float32Array): Float64Array;
}

function addon(): GmmAddon {
  return loadNative() as unknown as GmmAddon;
}

/**
 * Fits a K-component full-covariance Gaussian mixture to `points` ([n*3] RGB rows, any finite values; 0..255
 * for 8-bit colours) by EM, after k-means++ seeding and Lloyd iterations. Deterministic for a given seed.
 * n must be >= 1; K may exceed the number of distinct points, in which case the surplus components are returned
 * with weight 0 (so are components whose responsibilities vanish during EM). Throws an Error naming the argument
 * for bad input (lengths, K < 1, negative iterations, NaN / Infinity in points, regularisation <= 0, ...).
 */
export function gmmFit(points: Float32Array, components: number, options: GmmFitOptions = {}): GmmFit {
  const o = { ...GMM_DEFAULTS, ...stripUndefined(options) };
  return addon().gmmFit(points, components, o.iterations, o.seed, o.regularisation, o.tolerance);
}

/**
 * log sum_k w_k N(x | mu_k, Sigma_k) for every point of `points` ([n*3]): [n]. The GraphCut data term is its
 * negative. The model's weights must be non-negative and sum to 1 (within 1e-6); components of weight 0 are
 * skipped; every other covariance must be symmetric and positive definite.
 */
export function gmmLogLikelihood(model: Gmm, points: Float32Array): Float64Array {
  return addon().gmmLogLikelihood(model.weights, model.means, model.covariances, points);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
