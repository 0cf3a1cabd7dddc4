// The Gaussian mixture fit and log-likelihood of the localisation colour models (native/src/segment.cc through
// src/localise/gmm.ts): recovery of a sampled known mixture, EM's non-decreasing log-likelihood, the density
// against a direct float64 evaluation, the degenerate cases (identical points, one point, K > n, K = 1), the
// argument checks, and a timing line for the 224x224 foreground / background fits of the localisation pipeline.

import test from 'tape';
import { loadNative } from '../../src/backend/cpu/native.js';
import { GMM_DEFAULTS, gmmFit, gmmLogLikelihood, type Gmm } from '../../src/localise/gmm.js';

let loaded = true;
try {
  loadNative();
} catch (e) {
  loaded = false;
  test('native addon: built', (t) => {
    t.fail(`the native addon does not load: ${(e as Error).message}`);
    t.end();
  });
}

// ---- helpers: a seeded generator, normals, 3x3 algebra in float64 ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (((z ^ (z >>> 14)) >>> 0) + 0.5) / 4294967296;  // in (0, 1)
  };
}

function normals(u: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(u())), a = 2 * Math.PI * u();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}

type M3 = number[];  // row-major 3x3

function aat(a: M3): M3 {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[3 * i + j] += a[3 * i + k] * a[3 * j + k];
  return out;
}

function cholesky(c: M3): M3 {
  const l = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let s = c[3 * i + j];
      for (let k = 0; k < j; k++) s -= l[3 * i + k] * l[3 * j + k];
      l[3 * i + j] = i === j ? Math.sqrt(s) : s / l[3 * j + j];
    }
  }
  return l;
}

function det3(c: M3): number {
  return c[0] * (c[4] * c[8] - c[5] * c[7]) - c[1] * (c[3] * c[8] - c[5] * c[6]) + c[2] * (c[3] * c[7] - c[4] * c[6]);
}

/** Inverse by the adjugate (independent of the addon's Cholesky). */
function inv3(c: M3): M3 {
  const d = det3(c);
  return [
    (c[4] * c[8] - c[5] * c[7]) / d, (c[2] * c[7] - c[1] * c[8]) / d, (c[1] * c[5] - c[2] * c[4]) / d,
    (c[5] * c[6] - c[3] * c[8]) / d, (c[0] * c[8] - c[2] * c[6]) / d, (c[2] * c[3] - c[0] * c[5]) / d,
    (c[3] * c[7] - c[4] * c[6]) / d, (c[1] * c[6] - c[0] * c[7]) / d, (c[0] * c[4] - c[1] * c[3]) / d,
  ];
}

/** log sum_k w_k N(x | mu_k, Sigma_k), evaluated directly in float64 (log-sum-exp over the components). */
function directLogDensity(model: Gmm, x: number[]): number {
  const terms: number[] = [];
  for (let k = 0; k < model.weights.length; k++) {
    if (model.weights[k] === 0) continue;
    const c = Array.from(model.covariances.subarray(9 * k, 9 * k + 9));
    const p = inv3(c);
    const d = [0, 1, 2].map((i) => x[i] - model.means[3 * k + i]);
    let q = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += d[i] * p[3 * i + j] * d[j];
    terms.push(Math.log(model.weights[k]) - 0.5 * (3 * Math.log(2 * Math.PI) + Math.log(det3(c)) + q));
  }
  const m = Math.max(...terms);
  return m + Math.log(terms.reduce((s, v) => s + Math.exp(v - m), 0));
}

interface Truth {
  weights: number[];
  means: number[][];
  covariances: M3[];
}

function sample(truth: Truth, n: number, seed: number): Float32Array {
  const u = rng(seed), z = normals(u);
  const factors = truth.covariances.map(cholesky);
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let r = u(), acc = truth.weights[0]; r > acc && k < truth.weights.length - 1; ) acc += truth.weights[++k];
    const l = factors[k], e = [z(), z(), z()];
    for (let c = 0; c < 3; c++) out[3 * i + c] = truth.means[k][c] + l[3 * c] * e[0] + l[3 * c + 1] * e[1] + l[3 * c + 2] * e[2];
  }
  return out;
}

function component(model: Gmm, k: number): { w: number; mean: number[]; cov: M3 } {
  return { w: model.weights[k], mean: Array.from(model.means.subarray(3 * k, 3 * k + 3)), cov: Array.from(model.covariances.subarray(9 * k, 9 * k + 9)) };
}

const dist = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]));
const frob = (a: number[]) => Math.hypot(...a);

function nonDecreasing(h: Float64Array): { ok: boolean; worst: number } {
  let worst = 0;
  for (let t = 1; t < h.length; t++) worst = Math.min(worst, (h[t] - h[t - 1]) / Math.abs(h[t - 1]));
  return { ok: worst >= -1e-9, worst };
}

/** The maximum-likelihood mean and covariance of the points, two passes in float64. */
function sampleMoments(p: Float32Array): { mean: number[]; cov: M3 } {
  const n = p.length / 3, mean = [0, 0, 0], cov = new Array<number>(9).fill(0);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) mean[c] += p[3 * i + c];
  for (let c = 0; c < 3; c++) mean[c] /= n;
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[3 * a + b] += (p[3 * i + a] - mean[a]) * (p[3 * i + b] - mean[b]);
  }
  return { mean, cov: cov.map((v) => v / n) };
}

const TRUTH: Truth = {
  weights: [0.5, 0.3, 0.2],
  means: [[60, 80, 200], [200, 60, 60], [120, 210, 90]],
  covariances: [
    aat([12, 0, 0, 4, 9, 0, -3, 2, 7]),
    aat([8, 3, -2, 0, 10, 4, 1, 0, 6]),
    aat([6, -2, 1, 3, 7, 0, 0, 2, 11]),
  ],
};

if (loaded) {
  test('gmmFit: recovers a sampled 3-component mixture with full covariances', (t) => {
    const points = sample(TRUTH, 30000, 7);
    const fit = gmmFit(points, 3, { iterations: 50 });
    t.equal(fit.weights.length, 3, 'K weights');
    t.equal(fit.means.length, 9, 'K*3 means');
    t.equal(fit.covariances.length, 27, 'K*9 covariances');
    t.ok(Math.abs(fit.weights.reduce((s, w) => s + w, 0) - 1) < 1e-12, 'weights sum to 1');
    const used = new Set<number>();
    for (let j = 0; j < 3; j++) {
      let best = -1;
      for (let k = 0; k < 3; k++) if (best < 0 || dist(component(fit, k).mean, TRUTH.means[j]) < dist(component(fit, best).mean, TRUTH.means[j])) best = k;
      used.add(best);
      const c = component(fit, best);
      const covErr = frob(c.cov.map((v, i) => v - TRUTH.covariances[j][i])) / frob(TRUTH.covariances[j]);
      t.ok(Math.abs(c.w - TRUTH.weights[j]) < 0.02, `component ${j}: weight ${c.w.toFixed(4)} vs ${TRUTH.weights[j]}`);
      t.ok(dist(c.mean, TRUTH.means[j]) < 1, `component ${j}: mean off by ${dist(c.mean, TRUTH.means[j]).toFixed(3)}`);
      t.ok(covErr < 0.06, `component ${j}: covariance off by ${(100 * covErr).toFixed(2)}% (Frobenius)`);
      let sym = 0;
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) sym = Math.max(sym, Math.abs(c.cov[3 * a + b] - c.cov[3 * b + a]));
      t.equal(sym, 0, `component ${j}: covariance exactly symmetric`);
    }
    t.equal(used.size, 3, 'each true component matched by a distinct fitted one');
    t.equal(fit.iterations, 50, 'tolerance 0 runs every iteration');
    t.equal(fit.history.length, 51, 'history holds the initial model and every iteration');
    t.equal(fit.logLikelihood, fit.history[50], 'logLikelihood is the last entry of the history');
    const mono = nonDecreasing(fit.history);
    t.ok(mono.ok, `log-likelihood non-decreasing over EM (worst relative step ${mono.worst.toExponential(2)})`);
    const perPoint = gmmLogLikelihood(fit, points);
    const total = perPoint.reduce((s, v) => s + v, 0);
    t.ok(Math.abs(total - fit.logLikelihood) <= 1e-9 * Math.abs(total), 'gmmLogLikelihood sums to the fit\'s logLikelihood');
    t.end();
  });

  test('gmmFit: EM never lowers the log-likelihood; runs are deterministic and resumable', (t) => {
    // overlapping clusters, more components than clusters: a slow, non-trivial EM
    const truth: Truth = {
      weights: [0.4, 0.35, 0.25],
      means: [[100, 100, 100], [112, 104, 96], [140, 90, 120]],
      covariances: [aat([10, 0, 0, 3, 8, 0, 1, -2, 9]), aat([7, 2, 0, 0, 12, 1, 3, 0, 5]), aat([20, 0, 0, 5, 15, 0, 0, 5, 25])],
    };
    const points = sample(truth, 5000, 11);
    let worst = 0, allOk = true;
    for (const seed of [0, 1, 2, 3, 4]) {
      for (const K of [2, 4, 6]) {
        const fit = gmmFit(points, K, { iterations: 40, seed });
        const mono = nonDecreasing(fit.history);
        worst = Math.min(worst, mono.worst);
        allOk &&= mono.ok;
        allOk &&= Math.abs(fit.weights.reduce((s, w) => s + w, 0) - 1) < 1e-12;
      }
    }
    t.ok(allOk, `non-decreasing within 1e-9 relative and weights summing to 1 for 5 seeds x K in {2, 4, 6} (worst step ${worst.toExponential(2)})`);
    const long = gmmFit(points, 4, { iterations: 40, seed: 3 });
    t.ok(long.history[40] > long.history[0], 'EM improved on the k-means initialisation');
    for (const iterations of [0, 1, 2, 3]) {
      const short = gmmFit(points, 4, { iterations, seed: 3 });
      t.equal(short.logLikelihood, long.history[iterations], `iterations ${iterations}: logLikelihood equals history[${iterations}] of a longer run`);
      t.equal(short.iterations, iterations, `iterations ${iterations} reported`);
    }
    const again = gmmFit(points, 4, { iterations: 40, seed: 3 });
    t.deepEqual([again.weights, again.means, again.covariances], [long.weights, long.means, long.covariances], 'the same seed gives the same mixture');
    const stopped = gmmFit(points, 4, { iterations: 200, seed: 3, tolerance: 1e-4 });
    t.ok(stopped.iterations < 200 && stopped.iterations >= 1, `tolerance 1e-4 stops early (after ${stopped.iterations} iterations)`);
    const h = stopped.history;
    t.equal(h.length, stopped.iterations + 1, 'history length follows the iterations run');
    t.ok((h[h.length - 1] - h[h.length - 2]) / 5000 < 1e-4, 'the last step improved by less than the tolerance per point');
    t.ok((h[h.length - 2] - h[h.length - 3]) / 5000 >= 1e-4 || h.length === 2, 'the step before did not');
    t.end();
  });

  test('gmmLogLikelihood: equals the density evaluated directly in float64', (t) => {
    const model: Gmm = {
      weights: new Float64Array([0.2, 0.5, 0.3]),
      means: new Float64Array(TRUTH.means.flat()),
      covariances: new Float64Array(TRUTH.covariances.flat()),
    };
    const u = rng(5);
    const pts: number[][] = [[0, 0, 0], [255, 255, 255], [60, 80, 200], [200, 60, 60], [130, 140, 130], [-50, 400, 3.25]];
    for (let i = 0; i < 14; i++) pts.push([255 * u(), 255 * u(), 255 * u()]);
    const got = gmmLogLikelihood(model, new Float32Array(pts.flat()));
    t.equal(got.length, pts.length, 'one value per point');
    let worst = 0;
    for (let i = 0; i < pts.length; i++) {
      const want = directLogDensity(model, Array.from(new Float32Array(pts[i])));
      worst = Math.max(worst, Math.abs(got[i] - want) / Math.max(1, Math.abs(want)));
    }
    t.ok(worst < 1e-10, `${pts.length} points agree to ${worst.toExponential(2)} relative`);

    const fit = gmmFit(sample(TRUTH, 3000, 3), 4);
    const probe = new Float32Array([60, 80, 200, 200, 61, 59, 17, 230, 4]);
    const fromFit = gmmLogLikelihood(fit, probe);
    let worstFit = 0;
    for (let i = 0; i < 3; i++) {
      const want = directLogDensity(fit, Array.from(probe.subarray(3 * i, 3 * i + 3)));
      worstFit = Math.max(worstFit, Math.abs(fromFit[i] - want) / Math.max(1, Math.abs(want)));
    }
    t.ok(worstFit < 1e-10, `a fitted model agrees too (${worstFit.toExponential(2)})`);

    const dropped: Gmm = {
      weights: new Float64Array([1, 0]),
      means: new Float64Array([10, 20, 30, 0, 0, 0]),
      covariances: new Float64Array([4, 1, 0, 1, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    };
    const one = gmmLogLikelihood(dropped, new Float32Array([11, 19, 30]))[0];
    t.ok(Math.abs(one - directLogDensity(dropped, [11, 19, 30])) < 1e-12, 'a weight-0 component is ignored (even with a singular covariance)');
    t.equal(gmmLogLikelihood(model, new Float32Array(0)).length, 0, 'no points, no values');
    t.end();
  });

  test('gmmFit: degenerate inputs give defined results', (t) => {
    const reg = GMM_DEFAULTS.regularisation;
    t.ok(reg > 0 && reg < 1, `default regularisation ${reg}`);

    // all points identical
    const same = new Float32Array(600);
    for (let i = 0; i < 200; i++) same.set([10, 20.5, 30], 3 * i);
    for (const K of [1, 3]) {
      const fit = gmmFit(same, K);
      t.deepEqual(Array.from(fit.weights), [1, ...new Array(K - 1).fill(0)], `identical points, K=${K}: one component of weight 1`);
      t.deepEqual(Array.from(fit.means.subarray(0, 3)), [10, 20.5, 30], `identical points, K=${K}: the mean is the point`);
      const c = Array.from(fit.covariances.subarray(0, 9));
      t.ok(c.every((v, i) => Math.abs(v - (i % 4 === 0 ? reg : 0)) < 1e-12), `identical points, K=${K}: covariance is the regularisation only`);
      const want = 200 * -1.5 * Math.log(2 * Math.PI * reg);
      t.ok(Number.isFinite(fit.logLikelihood) && Math.abs(fit.logLikelihood - want) < 1e-9 * Math.abs(want),
        `identical points, K=${K}: finite log-likelihood ${fit.logLikelihood.toFixed(4)} = n log N(x | x, reg I)`);
      t.ok(Array.from(fit.means).every(Number.isFinite) && Array.from(fit.covariances).every(Number.isFinite), 'dropped components are finite placeholders');
    }

    // a single point
    const single = new Float32Array([100, 150, 200]);
    for (const K of [1, 2]) {
      const fit = gmmFit(single, K, { regularisation: 0.5 });
      t.deepEqual(Array.from(fit.weights), K === 1 ? [1] : [1, 0], `one point, K=${K}: weights`);
      t.deepEqual(Array.from(fit.means.subarray(0, 3)), [100, 150, 200], `one point, K=${K}: mean`);
      t.deepEqual(Array.from(fit.covariances.subarray(0, 9)), [0.5, 0, 0, 0, 0.5, 0, 0, 0, 0.5], `one point, K=${K}: covariance = regularisation I`);
      t.ok(Math.abs(fit.logLikelihood - -1.5 * Math.log(2 * Math.PI * 0.5)) < 1e-12, `one point, K=${K}: log-likelihood`);
    }

    // K > n, and K above the number of distinct points
    const three = new Float32Array([0, 0, 0, 50, 50, 50, 200, 10, 90]);
    const many = gmmFit(three, 6);
    const live = [0, 1, 2, 3, 4, 5].filter((k) => many.weights[k] > 0);
    t.equal(live.length, 3, 'K=6 on 3 points: 3 components in use, 3 dropped with weight 0');
    t.ok(live.every((k) => Math.abs(many.weights[k] - 1 / 3) < 1e-12), 'each in-use component holds one point');
    const liveMeans = live.map((k) => Array.from(many.means.subarray(3 * k, 3 * k + 3)).join(',')).sort();
    t.deepEqual(liveMeans, ['0,0,0', '200,10,90', '50,50,50'], 'their means are the points');
    t.ok(gmmLogLikelihood(many, three).every(Number.isFinite), 'the result is a valid model for gmmLogLikelihood');
    const dup = new Float32Array(40 * 3);
    for (let i = 0; i < 40; i++) dup.set(i < 10 ? [1, 2, 3] : [9, 8, 7], 3 * i);
    const dupFit = gmmFit(dup, 5);
    const w = Array.from(dupFit.weights).filter((v) => v > 0).sort();
    t.ok(w.length === 2 && Math.abs(w[0] - 0.25) < 1e-12 && Math.abs(w[1] - 0.75) < 1e-12, 'K=5 on 2 distinct colours (10 and 30 copies): weights 0.25 and 0.75');

    // K = 1: the sample mean and maximum-likelihood covariance plus the regularisation
    const cloud = sample(TRUTH, 1000, 21);
    const { mean, cov } = sampleMoments(cloud);
    for (const iterations of [0, 10]) {
      const one = gmmFit(cloud, 1, { iterations, regularisation: 0.25 });
      const gotMean = Array.from(one.means), gotCov = Array.from(one.covariances);
      const meanErr = Math.max(...gotMean.map((v, i) => Math.abs(v - mean[i])));
      const covErr = Math.max(...gotCov.map((v, i) => Math.abs(v - cov[i] - (i % 4 === 0 ? 0.25 : 0)) / Math.max(1, Math.abs(cov[i]))));
      t.equal(one.weights[0], 1, `K=1, ${iterations} iterations: weight 1`);
      t.ok(meanErr < 1e-9, `K=1, ${iterations} iterations: sample mean (${meanErr.toExponential(2)})`);
      t.ok(covErr < 1e-9, `K=1, ${iterations} iterations: sample covariance + regularisation (${covErr.toExponential(2)} relative)`);
    }
    t.end();
  });

  test('gmmFit / gmmLogLikelihood: bad arguments throw Errors naming the function and the argument', (t) => {
    const pts = new Float32Array([1, 2, 3, 4, 5, 6]);
    const raw = loadNative() as unknown as Record<string, (...a: unknown[]) => unknown>;
    t.throws(() => gmmFit(new Float64Array(6) as unknown as Float32Array, 1), /gmmFit: points must be a Float32Array, got a Float64Array/, 'points of the wrong type');
    t.throws(() => gmmFit([1, 2, 3] as unknown as Float32Array, 1), /gmmFit: points must be a Float32Array, got an Array/, 'points as a plain array');
    t.throws(() => gmmFit(new Float32Array(4), 1), /gmmFit: points must hold n\*3 values \(RGB rows\), got length 4/, 'length not a multiple of 3');
    t.throws(() => gmmFit(new Float32Array(0), 1), /gmmFit: points must hold at least one point/, 'no points');
    t.throws(() => gmmFit(new Float32Array([1, 2, 3, 4, NaN, 6]), 1), /gmmFit: points\[4\] must be finite, got NaN/, 'NaN in points');
    t.throws(() => gmmFit(new Float32Array([1, 2, -Infinity]), 1), /gmmFit: points\[2\] must be finite, got -Infinity/, 'Infinity in points');
    const detached = new Float32Array(3);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    t.throws(() => gmmFit(detached, 1), /gmmFit: points's ArrayBuffer is detached/, 'detached points');
    t.throws(() => gmmFit(pts, 0), /gmmFit: components must be an integer >= 1, got 0/, 'K = 0');
    t.throws(() => gmmFit(pts, 1.5), /gmmFit: components must be an integer >= 1, got 1.5/, 'fractional K');
    t.throws(() => gmmFit(pts, NaN), /gmmFit: components must be an integer >= 1, got NaN/, 'NaN K');
    t.throws(() => gmmFit(pts, 5000), /gmmFit: components must be at most 4096, got 5000/, 'huge K');
    t.throws(() => gmmFit(pts, 1, { iterations: -1 }), /gmmFit: iterations must be an integer >= 0, got -1/, 'negative iterations');
    t.throws(() => gmmFit(pts, 1, { iterations: 2.5 }), /gmmFit: iterations must be an integer >= 0, got 2.5/, 'fractional iterations');
    t.throws(() => gmmFit(pts, 1, { seed: -3 }), /gmmFit: seed must be an integer >= 0, got -3/, 'negative seed');
    t.throws(() => gmmFit(pts, 1, { regularisation: 0 }), /gmmFit: regularisation must be a finite number > 0, got 0/, 'zero regularisation');
    t.throws(() => gmmFit(pts, 1, { regularisation: -1 }), /gmmFit: regularisation must be a finite number > 0, got -1/, 'negative regularisation');
    t.throws(() => gmmFit(pts, 1, { regularisation: NaN }), /gmmFit: regularisation must be a finite number > 0, got NaN/, 'NaN regularisation');
    t.throws(() => gmmFit(pts, 1, { regularisation: Infinity }), /gmmFit: regularisation must be a finite number > 0, got Infinity/, 'infinite regularisation');
    t.throws(() => gmmFit(pts, 1, { tolerance: -1e-3 }), /gmmFit: tolerance must be a finite number >= 0, got -0.001/, 'negative tolerance');
    t.throws(() => gmmFit(pts, 1, { tolerance: '1' as unknown as number }), /gmmFit: tolerance must be a number, got 1/, 'tolerance as a string');
    t.throws(() => raw.gmmFit(pts, 1), /gmmFit: iterations must be a number, got undefined/, 'missing arguments to the binding');

    const model = (): Gmm => ({
      weights: new Float64Array([0.5, 0.5]),
      means: new Float64Array([0, 0, 0, 10, 10, 10]),
      covariances: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 0, 0, 2, 0, 0, 0, 2]),
    });
    const bad = (change: (m: Gmm) => Gmm | void): Gmm => {
      const m = model();
      return change(m) ?? m;
    };
    const ll = (m: Gmm, p: Float32Array = pts) => () => gmmLogLikelihood(m, p);
    t.doesNotThrow(ll(model()), 'the reference model is accepted');
    t.throws(ll(bad((m) => ({ ...m, weights: new Float32Array([0.5, 0.5]) as unknown as Float64Array }))),
      /gmmLogLikelihood: weights must be a Float64Array, got a Float32Array/, 'weights of the wrong type');
    t.throws(ll(bad((m) => ({ ...m, means: [0, 0, 0, 10, 10, 10] as unknown as Float64Array }))),
      /gmmLogLikelihood: means must be a Float64Array, got an Array/, 'means as a plain array');
    t.throws(ll(bad((m) => ({ ...m, covariances: undefined as unknown as Float64Array }))),
      /gmmLogLikelihood: covariances must be a Float64Array, got undefined/, 'missing covariances');
    t.throws(ll({ weights: new Float64Array(0), means: new Float64Array(0), covariances: new Float64Array(0) }),
      /gmmLogLikelihood: weights must hold between 1 and 4096 components, got 0/, 'no components');
    t.throws(ll(bad((m) => ({ ...m, means: new Float64Array(5) }))), /gmmLogLikelihood: means must hold 6 values \(K\*3\), got 5/, 'means length');
    t.throws(ll(bad((m) => ({ ...m, covariances: new Float64Array(9) }))), /gmmLogLikelihood: covariances must hold 18 values \(K\*9\), got 9/, 'covariances length');
    t.throws(ll(bad((m) => { m.weights.set([1.5, -0.5]); })), /gmmLogLikelihood: weights\[1\] must be a finite number >= 0, got -0.5/, 'negative weight');
    t.throws(ll(bad((m) => { m.weights[0] = NaN; })), /gmmLogLikelihood: weights\[0\] must be a finite number >= 0, got NaN/, 'NaN weight');
    t.throws(ll(bad((m) => { m.weights.set([0.5, 0.6]); })), /gmmLogLikelihood: weights must sum to 1, got 1.1/, 'weights not summing to 1');
    t.throws(ll(bad((m) => { m.means[2] = Infinity; })), /gmmLogLikelihood: means\[2\] must be finite, got Infinity/, 'infinite mean');
    t.throws(ll(bad((m) => { m.covariances[13] = NaN; })), /gmmLogLikelihood: covariances\[13\] must be finite, got NaN/, 'NaN covariance');
    t.throws(ll(bad((m) => { m.covariances[11] = 0.5; })), /gmmLogLikelihood: covariance 1 is not symmetric: \[2\]\[0\] = 0 but \[0\]\[2\] = 0.5/, 'asymmetric covariance');
    t.throws(ll(bad((m) => { m.covariances.set([1, 2, 0, 2, 1, 0, 0, 0, 1]); })), /gmmLogLikelihood: covariance 0 is not positive definite/, 'indefinite covariance');
    t.throws(ll(bad((m) => { m.covariances.set([0, 0, 0, 0, 0, 0, 0, 0, 0], 9); })), /gmmLogLikelihood: covariance 1 is not positive definite/, 'zero covariance');
    t.throws(ll(model(), new Float32Array([1, 2])), /gmmLogLikelihood: points must hold n\*3 values \(RGB rows\), got length 2/, 'points length');
    t.throws(ll(model(), new Float32Array([NaN, 2, 3])), /gmmLogLikelihood: points\[0\] must be finite, got NaN/, 'NaN point');
    t.throws(ll(model(), new Uint8Array(3) as unknown as Float32Array), /gmmLogLikelihood: points must be a Float32Array, got a Uint8Array/, 'points of the wrong type');
    t.end();
  });

  test('gmmFit: timing of the localisation colour models (224x224, 5% / 30% split, K=5, 10 iterations)', (t) => {
    // a synthetic photo: two-tone background with gradients, a textured elliptical object, sensor noise
    const W = 224, H = 224, u = rng(99), z = normals(u);
    const image = new Float32Array(W * H * 3), saliency = new Float64Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x, e = ((x - 120) / 55) ** 2 + ((y - 100) / 40) ** 2;
        const inside = e < 1;
        const base = inside ? [180 + 40 * Math.sin(x / 9), 60 + 30 * Math.cos(y / 7), 40] : y < 150 ? [90 + x / 4, 140, 200 - y / 3] : [70, 110 - x / 8, 50];
        for (let c = 0; c < 3; c++) image[3 * i + c] = Math.min(255, Math.max(0, Math.round(base[c] + 6 * z())));
        saliency[i] = Math.exp(-e) + 0.05 * u();
      }
    }
    const order = Array.from(saliency.keys()).sort((a, b) => saliency[b] - saliency[a]);
    const pick = (idx: number[]) => {
      const out = new Float32Array(idx.length * 3);
      idx.forEach((p, j) => out.set(image.subarray(3 * p, 3 * p + 3), 3 * j));
      return out;
    };
    const fg = pick(order.slice(0, Math.round(0.05 * W * H))), bg = pick(order.slice(Math.round(0.7 * W * H)));
    const fits: number[] = [], lls: number[] = [];
    let models: Gmm[] = [], values: Float64Array[] = [];
    for (let rep = 0; rep < 8; rep++) {
      const t0 = performance.now();
      models = [gmmFit(fg, 5, { iterations: 10 }), gmmFit(bg, 5, { iterations: 10 })];
      const t1 = performance.now();
      values = models.map((m) => gmmLogLikelihood(m, image));
      const t2 = performance.now();
      if (rep > 0) {
        fits.push(t1 - t0);
        lls.push(t2 - t1);
      }
    }
    t.ok(values.every((v) => v.length === W * H && v.every(Number.isFinite)), 'log-likelihoods of all pixels are finite');
    t.ok(models.every((m) => Math.abs(m.weights.reduce((s, w) => s + w, 0) - 1) < 1e-12), 'both models\' weights sum to 1');
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    t.comment(`timing: gmmFit fg ${fg.length / 3} px + bg ${bg.length / 3} px (K=5, 10 EM iterations): ${median(fits).toFixed(2)} ms for both; ` +
      `gmmLogLikelihood over ${W * H} px for each model: ${median(lls).toFixed(2)} ms for both (median of ${fits.length}, one core)`);
    t.end();
  });
}
