// The class-model ascent's frequency-domain preconditioner: fft() against a float64 direct DFT for power-of-two,
// smooth, prime and mixed lengths (and the inverse as a round trip), spectralFilter() against a float64 2-D
// DFT-multiply-inverse, and classModel's frequencyDecay: one step from zero on a linear model is the filtered
// w_c, the ascent still raises S_c monotonically at a small step on a ConvNet (the preconditioner is positive
// definite), and a linear model's ascent still converges to eq. 1's maximiser w_c / (2 lambda) (the objective
// is unchanged; only the path is); bad values are rejected.

import test from 'tape';
import { classModel, Model, nn } from '../../src/index.js';
import type { HostTensor } from '../../src/index.js';
import { fft, spectralFilter } from '../../src/vis/spectrum.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';
import { rejects } from '../helpers/assert.js';

await availableBackends();

/** float64 direct DFT, sign -1 forward. */
function dft(re: ArrayLike<number>, im: ArrayLike<number>, inverse: boolean): [Float64Array, Float64Array] {
  const n = re.length;
  const or = new Float64Array(n), oi = new Float64Array(n);
  const sign = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = (sign * 2 * Math.PI * ((j * k) % n)) / n;
      sr += re[j] * Math.cos(a) - im[j] * Math.sin(a);
      si += re[j] * Math.sin(a) + im[j] * Math.cos(a);
    }
    or[k] = inverse ? sr / n : sr;
    oi[k] = inverse ? si / n : si;
  }
  return [or, oi];
}

/** float64 reference of spectralFilter: 2-D DFT of each plane, times weight(|f|), inverse, real part. */
function filterRef(img: ArrayLike<number>, C: number, H: number, W: number, weight: (f: number) => number): Float64Array {
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    const Xr = new Float64Array(H * W), Xi = new Float64Array(H * W);
    for (let ky = 0; ky < H; ky++) {
      for (let kx = 0; kx < W; kx++) {
        let sr = 0, si = 0;
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            const a = -2 * Math.PI * ((ky * y) / H + (kx * x) / W);
            const v = img[c * H * W + y * W + x];
            sr += v * Math.cos(a);
            si += v * Math.sin(a);
          }
        }
        const fy = Math.min(ky, H - ky) / H, fx = Math.min(kx, W - kx) / W;
        const g = weight(Math.hypot(fy, fx));
        Xr[ky * W + kx] = g * sr;
        Xi[ky * W + kx] = g * si;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let ky = 0; ky < H; ky++) {
          for (let kx = 0; kx < W; kx++) {
            const a = 2 * Math.PI * ((ky * y) / H + (kx * x) / W);
            s += Xr[ky * W + kx] * Math.cos(a) - Xi[ky * W + kx] * Math.sin(a);
          }
        }
        out[c * H * W + y * W + x] = s / (H * W);
      }
    }
  }
  return out;
}

test('fft: equals a float64 direct DFT for lengths 1..17, 24, 30, 96, 97, 224; the inverse undoes it', (t) => {
  for (const n of [...Array.from({ length: 17 }, (_, i) => i + 1), 24, 30, 96, 97, 224]) {
    const re = Float64Array.from(uniform([n], 100 + n)), im = Float64Array.from(uniform([n], 200 + n));
    const [er, ei] = dft(re, im, false);
    const xr = Float64Array.from(re), xi = Float64Array.from(im);
    fft(xr, xi);
    const scale = Math.sqrt(n);
    let err = 0;
    for (let k = 0; k < n; k++) err = Math.max(err, Math.abs(xr[k] - er[k]), Math.abs(xi[k] - ei[k]));
    t.ok(err < 1e-12 * scale * n, `n = ${n}: max |fft - dft| = ${err.toExponential(2)}`);
    fft(xr, xi, true);
    let back = 0;
    for (let k = 0; k < n; k++) back = Math.max(back, Math.abs(xr[k] - re[k]), Math.abs(xi[k] - im[k]));
    t.ok(back < 1e-13 * n, `n = ${n}: inverse(fft(x)) = x (${back.toExponential(2)})`);
  }
  // an analytic case: a pure tone lands in one bin
  const n = 12, f = 5;
  const re = Float64Array.from({ length: n }, (_, j) => Math.cos((2 * Math.PI * f * j) / n)), im = new Float64Array(n);
  fft(re, im);
  t.ok(Math.abs(re[f] - n / 2) < 1e-12 && Math.abs(re[n - f] - n / 2) < 1e-12, 'cos(2 pi 5 j / 12): bins 5 and 7 hold n / 2');
  t.throws(() => fft(new Float64Array(3), new Float64Array(2)), /fft: re and im must have the same length >= 1, got 3 and 2/);
  t.end();
});

test('spectralFilter: equals a float64 2-D DFT, weight, inverse for odd, even and mixed sizes; weight 1 is the identity', (t) => {
  const weight = (f: number) => 1 / (0.05 + f) ** 1.5;
  for (const [C, H, W] of [[3, 6, 10], [1, 7, 5], [2, 8, 8], [3, 9, 12]]) {
    const img = uniform([C, H, W], 7 + H * W);
    const got = spectralFilter(img, C, H, W, weight);
    const want = filterRef(img, C, H, W, weight);
    t.ok(relErr(got, want) < 1e-6, `[${C}, ${H}, ${W}]: rel ${relErr(got, want).toExponential(2)}`);
  }
  const img = uniform([3, 12, 12], 5);
  t.ok(relErr(spectralFilter(img, 3, 12, 12, () => 1), img) < 1e-7, 'weight 1: the identity');
  // a constant plane is all DC: weight(0) scales it
  const flat = new Float32Array(2 * 4 * 6).fill(3);
  const scaled = spectralFilter(flat, 2, 4, 6, (f) => (f === 0 ? 0.5 : 9));
  t.ok(scaled.every((v) => Math.abs(v - 1.5) < 1e-6), 'a constant image is multiplied by weight(0)');
  t.end();
});

const host = (shape: number[], data: Float32Array): HostTensor => ({ shape, data });

function linearModel(C: number, H: number, W: number, w: Float32Array, b: Float32Array): Model {
  const K = b.length;
  return nn.sequential(nn.flatten(1), { ...nn.linear(C * H * W, K), params: { w: host([K, C * H * W], w), b: host([K], b) } }, { inputShape: [C, H, W] });
}


await onEachBackend('classModel frequencyDecay', [
  ['one step from zero on a linear model is lr times the filtered w_c', async (t) => {
    const [C, H, W, K] = [3, 6, 8, 4];
    const F = C * H * W;
    const w = uniform([K, F], 31), b = uniform([K], 32);
    const model = linearModel(C, H, W, w, b);
    for (const p of [1, 2, 3.5]) {
      const res = await classModel(model, 2, { steps: 1, l2: 0.01, learningRate: 0.5, normalizeGradient: false, frequencyDecay: p, regularisers: { jitter: 0 } });
      const f0 = 1 / Math.max(H, W);
      const want = filterRef(w.subarray(2 * F, 3 * F), C, H, W, (f) => (f0 / Math.max(f, f0)) ** p).map((v) => 0.5 * v);
      t.ok(relErr(await res.input.data(), want) < 1e-5, `p = ${p}: rel ${relErr(await res.input.data(), want).toExponential(2)}`);
      res.image.dispose();
      res.input.dispose();
    }
  }],
  ['the preconditioned ascent raises S_c monotonically at a small step on a ConvNet', async (t) => {
    const model = nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.conv2d(4, 4, 3, { padding: 1, stride: 2 }), nn.relu(),
      nn.flatten(1), nn.linear(4 * 8 * 8, 5),
      { inputShape: [3, 16, 16], seed: 17 },
    );
    const res = await classModel(model, 2, { steps: 12, l2: 0, normalizeGradient: false, learningRate: 0.02, frequencyDecay: 2, regularisers: { jitter: 0 } });
    let worst = 0;
    for (let i = 1; i < res.scores.length; i++) worst = Math.max(worst, (res.scores[i - 1] - res.scores[i]) / Math.max(1, Math.abs(res.scores[i - 1])));
    t.ok(worst <= 1e-5, `no decrease beyond 1e-5 relative (worst ${worst.toExponential(2)})`);
    t.ok(res.scores[12] - res.scores[0] > 1e-3 * (1 + Math.abs(res.scores[0])), `S_c rose from ${res.scores[0].toFixed(4)} to ${res.scores[12].toFixed(4)}`);
  }],
  ['a linear model: the preconditioned ascent converges to the same maximiser w_c / (2 l2)', async (t) => {
    const [C, H, W, K] = [2, 4, 6, 3];
    const F = C * H * W;
    const w = uniform([K, F], 41), b = uniform([K], 42);
    const model = linearModel(C, H, W, w, b);
    const l2 = 0.5, c = 0;
    // the slowest mode contracts by 1 - 2 lr l2 min(weight) per step; min(weight) = (f0 / fmax)^1 here
    const res = await classModel(model, c, { steps: 400, l2, learningRate: 0.9, normalizeGradient: false, frequencyDecay: 1, regularisers: { jitter: 0 } });
    const star = Float64Array.from(w.subarray(c * F, (c + 1) * F), (v) => v / (2 * l2));
    t.ok(relErr(await res.input.data(), star) < 1e-4, `input = w_c / (2 l2): rel ${relErr(await res.input.data(), star).toExponential(2)}`);
    const plain = await classModel(model, c, { steps: 3, l2, learningRate: 0.9, normalizeGradient: false, frequencyDecay: 0, regularisers: { jitter: 0 } });
    const fil = await classModel(model, c, { steps: 3, l2, learningRate: 0.9, normalizeGradient: false, frequencyDecay: 1, regularisers: { jitter: 0 } });
    t.ok(relErr(await plain.input.data(), await fil.input.data()) > 1e-3, 'but along another path');
  }],
  ['the defaults are frequencyDecay 1.5 and jitter max(H, W) / 24; the presets turn both off', async (t) => {
    const model = nn.sequential(
      nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.flatten(1), nn.linear(4 * 48 * 48, 3),
      { inputShape: [3, 48, 48], seed: 5 },
    );
    const run = async (o: Parameters<typeof classModel>[2]) => {
      const r = await classModel(model, 1, { steps: 3, ...o });
      const d = await r.input.data();
      r.image.dispose();
      r.input.dispose();
      return Array.from(d);
    };
    const byDefault = await run({});
    t.deepEqual(byDefault, await run({ frequencyDecay: 1.5, regularisers: { jitter: 2 } }), 'default = frequencyDecay 1.5, jitter 2 at 48x48');
    t.notDeepEqual(byDefault, await run({ frequencyDecay: 1.5, regularisers: { jitter: 0 } }), 'the jitter is on by default');
    const paper = await run({ preset: 'simonyan2013' });
    t.deepEqual(paper, await run({ frequencyDecay: 0, regularisers: { jitter: 0 } }), "preset 'simonyan2013' = frequencyDecay 0, no jitter");
    t.deepEqual(await run({ preset: 'yosinski2015', regularisers: { decay: 0, blurEvery: 0 }, l2: 1e-3 }), paper, "preset 'yosinski2015' without its regularisers = the paper's ascent");
  }],
  ['bad frequencyDecay values are rejected', async (t) => {
    const model = linearModel(1, 4, 4, uniform([2, 16], 1), uniform([2], 2));
    await rejects(t, classModel(model, 0, { frequencyDecay: -1 }), /classModel: frequencyDecay must be a finite number >= 0, got -1/);
    await rejects(t, classModel(model, 0, { frequencyDecay: 5 }), /classModel: frequencyDecay must be in 0\.\.4, got 5/);
    await rejects(t, classModel(model, 0, { frequencyDecay: Number.NaN }), /classModel: frequencyDecay must be a finite number >= 0, got NaN/);
  }],
]);
