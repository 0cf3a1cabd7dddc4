// classModel() (paper Sect. 2, eq. 1): monotonic plain ascent on a small ConvNet, the closed-form maximiser
// w_c / (2 lambda) of a linear model (and the score trajectory of the iteration), the paper's score-versus-
// posterior argument on orthogonal class rows, the preprocessing's inverse on the result, the regularisers
// (Gaussian blur against a float64 2-D convolution, percentile clipping, decay, the Yosinski preset, seeded
// jitter), and bad input.

import test from 'tape';
import { classModel, Model, nn, tensor } from '../../src/index.js';
import type { HostTensor, Preprocess } from '../../src/index.js';
import { gaussianBlur } from '../../src/vis/classModel.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { normals, relErr, uniform } from '../helpers/numeric.js';
import { rejects } from '../helpers/assert.js';

await availableBackends();

const host = (shape: number[], data: Float32Array): HostTensor => ({ shape, data });


/** S = W flatten(I) + b, no preprocessing unless given. */
function linearModel(C: number, H: number, W: number, w: Float32Array, b: Float32Array, preprocess?: Preprocess): Model {
  const K = b.length;
  return nn.sequential(
    nn.flatten(1),
    { ...nn.linear(C * H * W, K), params: { w: host([K, C * H * W], w), b: host([K], b) } },
    { inputShape: [C, H, W], preprocess },
  );
}

/** A small ConvNet without max pooling (so that the zero image is not a tie point of the score). */
function smallConvNet(preprocess?: Preprocess): Model {
  return nn.sequential(
    nn.conv2d(3, 4, 3, { padding: 1 }), nn.relu(), nn.conv2d(4, 4, 3, { padding: 1, stride: 2 }), nn.relu(),
    nn.flatten(1), nn.linear(4 * 8 * 8, 5),
    { inputShape: [3, 16, 16], seed: 17, preprocess },
  );
}

const dot = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): number => {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
};

function softmax(s: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(s));
  const e = Array.from(s, (v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

/** float64 2-D Gaussian convolution with the (2r+1)^2 window of the product kernel, r = max(1, ceil(3 sigma)). */
function blur2d(img: ArrayLike<number>, C: number, H: number, W: number, sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  let z = 0;
  for (let i = -r; i <= r; i++) for (let j = -r; j <= r; j++) z += Math.exp(-(i * i + j * j) / (2 * sigma * sigma));
  const out = new Float64Array(C * H * W);
  const cl = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0;
    for (let i = -r; i <= r; i++) for (let j = -r; j <= r; j++) {
      s += Math.exp(-(i * i + j * j) / (2 * sigma * sigma)) * img[(c * H + cl(y + i, H - 1)) * W + cl(x + j, W - 1)];
    }
    out[(c * H + y) * W + x] = s / z;
  }
  return out;
}

test('gaussianBlur: a constant image stays constant; the interior matches a float64 2-D Gaussian convolution', (t) => {
  const [C, H, W] = [2, 14, 12];
  const flat = new Float32Array(C * H * W).fill(3.25);
  for (const sigma of [0.5, 1, 1.7]) {
    const b = gaussianBlur(flat, C, H, W, sigma);
    const worst = b.reduce((m, v) => Math.max(m, Math.abs(v - 3.25)), 0);
    t.ok(worst <= 3.25 * 1e-6, `sigma ${sigma}: constant image kept, max deviation ${worst.toExponential(2)}`);
  }
  const img = uniform([C, H, W], 7, -2, 5);
  for (const sigma of [0.7, 1, 1.3]) {
    const r = Math.max(1, Math.ceil(3 * sigma));
    const got = gaussianBlur(img, C, H, W, sigma);
    const want = blur2d(img, C, H, W, sigma);
    let worst = 0, scale = 0, inner = 0;
    for (let c = 0; c < C; c++) for (let y = r; y < H - r; y++) for (let x = r; x < W - r; x++) {
      const i = (c * H + y) * W + x;
      worst = Math.max(worst, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
      inner++;
    }
    t.ok(inner > 0 && worst <= 1e-5 * scale, `sigma ${sigma}: ${inner} interior pixels within ${worst.toExponential(2)} of the 2-D convolution`);
    // with the clamped edges the 2-D convolution is the same everywhere
    t.ok(relErr(got, want) < 1e-6, `sigma ${sigma}: whole image, clamped edges: rel ${relErr(got, want).toExponential(2)}`);
    t.ok(relErr(got, img) > 1e-2, `sigma ${sigma}: the blur changes a random image`);
  }
  // a delta in the interior spreads into the normalised Gaussian and keeps its mass
  const delta = new Float32Array(1 * 15 * 15);
  delta[7 * 15 + 7] = 1;
  const spread = gaussianBlur(delta, 1, 15, 15, 1);
  const mass = spread.reduce((a, v) => a + v, 0);
  t.ok(Math.abs(mass - 1) < 1e-6, `mass kept: ${mass}`);
  t.ok(Math.abs(spread[7 * 15 + 8] / spread[7 * 15 + 7] - Math.exp(-0.5)) < 1e-5, 'neighbour / centre = exp(-1 / (2 sigma^2))');
  t.ok(Math.abs(spread[8 * 15 + 8] / spread[7 * 15 + 7] - Math.exp(-1)) < 1e-5, 'diagonal / centre = exp(-2 / (2 sigma^2))');
  t.end();
});

await onEachBackend('classModel', [
  ['plain ascent (l2 0, no normalisation, small steps) raises S_c monotonically; onStep sees each score', async (t) => {
    const model = smallConvNet();
    const seen: [number, number][] = [];
    const steps = 12;
    const res = await classModel(model, 2, { preset: 'simonyan2013',
      steps, l2: 0, normalizeGradient: false, learningRate: 0.02, onStep: (i, s) => seen.push([i, s]),
    });
    t.equal(res.scores.length, steps + 1, 'one score per step plus the final one');
    t.equal(seen.length, steps, 'onStep called once per step');
    t.deepEqual(seen.map(([i]) => i), Array.from({ length: steps }, (_, i) => i), 'with step indices 0..steps-1');
    t.deepEqual(seen.map(([, s]) => s), res.scores.slice(0, steps), 'and the score before each step');
    let worst = 0;
    for (let i = 1; i < res.scores.length; i++) {
      const drop = res.scores[i - 1] - res.scores[i];
      worst = Math.max(worst, drop / Math.max(1, Math.abs(res.scores[i - 1])));
    }
    t.ok(worst <= 1e-5, `no decrease beyond 1e-5 relative (worst ${worst.toExponential(2)})`);
    const gain = res.scores[steps] - res.scores[0];
    t.ok(gain > 1e-3 * (1 + Math.abs(res.scores[0])), `S_c rose from ${res.scores[0].toFixed(4)} to ${res.scores[steps].toFixed(4)}`);
    t.deepEqual(res.input.shape, [1, 3, 16, 16]);
    t.deepEqual(res.image.shape, [1, 3, 16, 16]);
    t.equal(res.classScores.length, 5, 'every class score of the final image');
    t.ok(Math.abs(res.classScores[2] - res.scores[steps]) <= 1e-6 * (1 + Math.abs(res.scores[steps])), 'classScores[c] is the final score');
    // the scores are those of the model on the returned input
    const fwd = await model.forward(res.input).data();
    t.ok(relErr(res.classScores, fwd) < 1e-5, 'classScores = model.forward(input)');
    t.deepEqual(Array.from(await res.image.data()), Array.from(await res.input.data()), 'no preprocess, no mean: image = input');
  }],
  ['a linear model: the ascent converges to eq. 1\'s maximiser w_c / (2 l2) along the analytic trajectory', async (t) => {
    const [C, H, W, K] = [3, 4, 5, 3];
    const F = C * H * W;
    const w = uniform([K, F], 21), b = uniform([K], 22);
    const model = linearModel(C, H, W, w, b);
    const l2 = 0.1, lr = 2, steps = 40, c = 1;
    const q = 1 - 2 * lr * l2;                       // 0.6: I_n = (1 - q^n) w_c / (2 l2)
    const mean = uniform([C, H, W], 23, 0, 255);
    const meanT = tensor(mean, [C, H, W]);
    const res = await classModel(model, c, { preset: 'simonyan2013', steps, l2, learningRate: lr, normalizeGradient: false, mean: meanT });
    const input = await res.input.data();
    const star = Float64Array.from(w.subarray(c * F, (c + 1) * F), (v) => v / (2 * l2));
    t.ok(relErr(input, star) < 1e-4, `input = w_c / (2 l2): rel ${relErr(input, star).toExponential(2)}`);
    const ww = dot(w, c * F, w, c * F, F);
    const expected = Array.from({ length: steps + 1 }, (_, n) => b[c] + (1 - q ** n) * ww / (2 * l2));
    t.ok(relErr(res.scores, expected) < 1e-5, `scores follow b_c + (1 - q^n) ||w_c||^2 / (2 l2): rel ${relErr(res.scores, expected).toExponential(2)}`);
    for (let k = 0; k < K; k++) {
      const s = b[k] + dot(w, k * F, star, 0, F);
      t.ok(Math.abs(res.classScores[k] - s) <= 1e-4 * (1 + Math.abs(s)), `class ${k}: score ${res.classScores[k]} = w_k . I* + b_k (${s})`);
    }
    const image = await res.image.data();
    const plus = Float64Array.from(input, (v, i) => v + mean[i]);
    t.ok(relErr(image, plus) < 1e-6, 'image = input + mean');
    // a [1, C, H, W] mean works the same
    const mean4 = tensor(mean, [1, C, H, W]);
    const res4 = await classModel(model, c, { preset: 'simonyan2013', steps: 3, l2, learningRate: lr, normalizeGradient: false, mean: mean4 });
    const in4 = await res4.input.data();
    t.ok(relErr(await res4.image.data(), Float64Array.from(in4, (v, i) => v + mean[i])) < 1e-6, '[1, C, H, W] mean: image = input + mean');
    // the normalised step (the default): one step from zero is lr w_c / rms(w_c) (the penalty's gradient is 0 there)
    const one = await classModel(model, c, { preset: 'simonyan2013', steps: 1, l2, learningRate: 0.05 });
    const i1 = await one.input.data();
    const rms = Math.sqrt(dot(w, c * F, w, c * F, F) / F);
    const step1 = Float64Array.from(w.subarray(c * F, (c + 1) * F), (v) => 0.05 * v / rms);
    t.ok(relErr(i1, step1) < 1e-5, 'one normalised step from zero: lr w_c / rms(w_c)');
    // L2 decay alone: I <- (1 - d)(I + lr w): I_n = lr (1 - d) w (1 - (1 - d)^n) / d
    const d = 0.25, n = 6;
    const dec = await classModel(model, c, { preset: 'simonyan2013', steps: n, l2: 0, learningRate: 0.5, normalizeGradient: false, regularisers: { decay: d } });
    const want = Float64Array.from(w.subarray(c * F, (c + 1) * F), (v) => 0.5 * (1 - d) * v * (1 - (1 - d) ** n) / d);
    t.ok(relErr(await dec.input.data(), want) < 1e-5, `decay ${d}: I_${n} = lr (1 - d) w (1 - (1 - d)^n) / d`);
    // blur every step: one step from zero is the blurred gradient
    const blurred = await classModel(model, c, { preset: 'simonyan2013', steps: 1, l2: 0, learningRate: 1, normalizeGradient: false, regularisers: { blurEvery: 1, blurSigma: 0.8 } });
    const wb = blur2d(w.subarray(c * F, (c + 1) * F), C, H, W, 0.8);
    t.ok(relErr(await blurred.input.data(), wb) < 1e-5, 'blurEvery 1: one step from zero is blur(w_c)');
    meanT.dispose();
    mean4.dispose();
  }],
  ['Sect. 2: with orthogonal class rows the score objective leaves other classes alone; the posterior pushes them down', async (t) => {
    const [C, H, W, K] = [2, 4, 4, 4];
    const F = C * H * W;
    const target = 1;
    // Gram-Schmidt in float64 over all rows (the target first), then float32 for the model
    const rows = Array.from({ length: K }, (_, k) => Float64Array.from(normals(F, 300 + k)));
    const order = [target, ...Array.from({ length: K }, (_, k) => k).filter((k) => k !== target)];
    for (let a = 0; a < K; a++) {
      const r = rows[order[a]];
      for (let p = 0; p < a; p++) {
        const q = rows[order[p]];
        const proj = dot(r, 0, q, 0, F) / dot(q, 0, q, 0, F);
        for (let i = 0; i < F; i++) r[i] -= proj * q[i];
      }
    }
    const w = new Float32Array(K * F);
    rows.forEach((r, k) => w.set(r, k * F));
    t.ok(Math.abs(dot(w, 0, w, F, F)) < 1e-5 * dot(w, 0, w, 0, F), 'rows orthogonal (float32)');
    const model = linearModel(C, H, W, w, new Float32Array(K));
    const opts = { steps: 12, l2: 0, learningRate: 0.02 };
    const score = await classModel(model, target, { preset: 'simonyan2013', ...opts, objective: 'score' });
    const post = await classModel(model, target, { preset: 'simonyan2013', ...opts, objective: 'posterior' });
    t.equal(score.scores[0], 0, 'S_target of the zero image is 0 (no biases)');
    const sT = score.classScores[target];
    t.ok(sT > 1 && score.scores.every((s, i) => i === 0 || s > score.scores[i - 1]), `score objective: S_target rises every step to ${sT.toFixed(3)}`);
    for (let k = 0; k < K; k++) {
      if (k === target) continue;
      t.ok(Math.abs(score.classScores[k]) <= 1e-4 * sT, `score objective: class ${k} stays at 0 (${score.classScores[k].toExponential(2)})`);
    }
    const pT = post.classScores[target];
    t.ok(pT > 0 && post.scores.every((s, i) => i === 0 || s > post.scores[i - 1]), `posterior objective: S_target rises every step to ${pT.toFixed(3)}`);
    let sumOthers = 0;
    for (let k = 0; k < K; k++) {
      if (k === target) continue;
      sumOthers += post.classScores[k];
      t.ok(post.classScores[k] < -1e-2 * pT, `posterior objective: class ${k} pushed down to ${post.classScores[k].toFixed(4)}`);
    }
    t.ok(sumOthers < 0, `posterior objective: other classes' scores sum to ${sumOthers.toFixed(4)} < 0`);
    const p0 = 1 / K, p1 = softmax(post.classScores)[target];
    t.ok(p1 > p0 + 0.1, `P_target rose from ${p0} to ${p1.toFixed(4)}`);
  }],
  ['preprocess: the zero input maps to the per-channel mean colour in 0..255 RGB; the inverse map holds after steps', async (t) => {
    const pre: Preprocess = { mean: [0.5, 0.25, 0.125], std: [0.5, 0.5, 0.25], channelOrder: 'BGR', scale: 1 };
    const model = smallConvNet(pre);
    const res = await classModel(model, 0, { steps: 0 });
    t.equal(res.scores.length, 1, 'steps 0: only the final score');
    t.ok((await res.input.data()).every((v) => v === 0), 'steps 0: the input is the zero image');
    // model channel o reads RGB channel 2 - o: RGB channel 2 - o is 255 mean_o
    const rgb = [255 * 0.125, 255 * 0.25, 255 * 0.5];
    const image = await res.image.data();
    const plane = 16 * 16;
    for (let c = 0; c < 3; c++) {
      t.ok(image.subarray(c * plane, (c + 1) * plane).every((v) => v === rgb[c]), `RGB channel ${c} is ${rgb[c]} everywhere`);
    }
    // a mean image replaces the per-channel mean
    const meanImg = uniform([3, 16, 16], 61, 0, 255);
    const mT = tensor(meanImg, [3, 16, 16]);
    const withMean = await classModel(model, 0, { steps: 0, mean: mT });
    t.deepEqual(Array.from(await withMean.image.data()), Array.from(meanImg), 'steps 0 with a mean image: the mean image');
    mT.dispose();
    // after some steps on a linear model: image = 255 (std_o input_o + mean_o) in RGB channel 2 - o, and the scores
    // are those of the model input
    const [C, H, W, K] = [3, 3, 4, 2];
    const F = C * H * W;
    const w = uniform([K, F], 62), b = uniform([K], 63);
    const lin = linearModel(C, H, W, w, b, pre);
    const r = await classModel(lin, 1, { steps: 5, learningRate: 0.3 });
    const inp = await r.input.data(), img = await r.image.data();
    const expect = new Float64Array(F);
    for (let o = 0; o < C; o++) for (let j = 0; j < H * W; j++) expect[(2 - o) * H * W + j] = 255 * (pre.std[o] * inp[o * H * W + j] + pre.mean[o]);
    t.ok(relErr(img, expect) < 1e-6, 'image = 255 (std input + mean), channels reversed');
    t.ok(inp.some((v) => v !== 0), 'the input moved');
    for (let k = 0; k < K; k++) {
      const s = b[k] + dot(w, k * F, inp, 0, F);
      t.ok(Math.abs(r.classScores[k] - s) <= 1e-5 * (1 + Math.abs(s)), `class ${k}: score of the model input`);
    }
  }],
  ['regularisers: percentile clipping, the yosinski2015 preset, seeded jitter', async (t) => {
    const model = smallConvNet();
    const plane = 16 * 16;
    // one step from zero without and with clipping at the 50th percentile: the clipped run zeroes the half of the
    // pixels with the smallest norm over channels and keeps the rest unchanged
    const base = { steps: 1, l2: 0, learningRate: 0.1 };
    const free = await (await classModel(model, 3, { preset: 'simonyan2013', ...base })).input.data();
    const clipped = await (await classModel(model, 3, { preset: 'simonyan2013', ...base, regularisers: { clipPercentile: 50 } })).input.data();
    const norms = Array.from({ length: plane }, (_, j) => Math.hypot(free[j], free[plane + j], free[2 * plane + j]));
    const zero: number[] = [], kept: number[] = [];
    for (let j = 0; j < plane; j++) {
      const z = clipped[j] === 0 && clipped[plane + j] === 0 && clipped[2 * plane + j] === 0;
      (z ? zero : kept).push(j);
    }
    t.ok(zero.length >= 0.45 * plane && zero.length <= 0.55 * plane, `${zero.length} of ${plane} pixels zeroed (about half)`);
    t.ok(Math.max(...zero.map((j) => norms[j])) <= Math.min(...kept.map((j) => norms[j])), 'the zeroed pixels are the ones with the smallest norm');
    t.ok(kept.every((j) => [0, 1, 2].every((c) => clipped[c * plane + j] === free[c * plane + j])), 'the others are untouched');
    t.ok(free.filter((v) => v === 0).length < 0.05 * free.length, 'without clipping almost nothing is zero');

    // the preset runs with finite scores; explicit options override it
    const y = await classModel(model, 3, { steps: 8, preset: 'yosinski2015', learningRate: 0.1 });
    t.ok(y.scores.length === 9 && y.scores.every(Number.isFinite), 'yosinski2015: finite scores');
    t.ok((await y.input.data()).every(Number.isFinite), 'yosinski2015: finite image');
    t.ok(y.scores[8] > y.scores[0], `yosinski2015: S_c rose (${y.scores[0].toFixed(3)} -> ${y.scores[8].toFixed(3)})`);
    const plain = await (await classModel(model, 3, { preset: 'simonyan2013', steps: 8, l2: 0, learningRate: 0.1 })).input.data();
    const off = await (await classModel(model, 3, { steps: 8, preset: 'yosinski2015', learningRate: 0.1, regularisers: { decay: 0, blurEvery: 0 } })).input.data();
    t.deepEqual(Array.from(off), Array.from(plain), 'preset with decay 0 and blurEvery 0 = the plain ascent with l2 0');
    t.ok(relErr(await y.input.data(), plain) > 1e-3, 'the preset changes the result');

    // jitter: a seed makes it deterministic; another seed moves it
    const jit = (seed: number) => classModel(model, 3, { preset: 'simonyan2013', steps: 4, l2: 0, learningRate: 0.1, regularisers: { jitter: 2 }, seed });
    const a = await jit(5), b = await jit(5), c = await jit(6);
    t.deepEqual(Array.from(await a.input.data()), Array.from(await b.input.data()), 'same seed: same image');
    t.deepEqual(a.scores, b.scores, 'same seed: same scores');
    t.ok(relErr(await a.input.data(), await c.input.data()) > 1e-4, 'another seed: another image');
    t.ok(relErr(await a.input.data(), await (await classModel(model, 3, { preset: 'simonyan2013', steps: 4, l2: 0, learningRate: 0.1 })).input.data()) > 1e-4, 'jitter changes the result');
  }],
  ['jitter on a one-pixel linear model: each step adds the gradient shifted back by the offset the score was taken at', async (t) => {
    // w_c is a at pixel p only: the gradient at the image shifted by d is a delta at p, shifted back a delta at p - d;
    // the score taken at the shifted image is b_c + a I[p - d]. Runs of 1..N steps share their offsets (same seed).
    const [H, W, J, a, lr, N] = [8, 8, 2, 2, 0.5, 6];
    const p = 3 * W + 4;
    const w = new Float32Array(2 * H * W);
    w[p] = a;
    w.set(uniform([H * W], 81), H * W);
    const b = Float32Array.from([0.25, -0.5]);
    const model = linearModel(1, H, W, w, b);
    const opts = { l2: 0, learningRate: lr, normalizeGradient: false, regularisers: { jitter: J }, seed: 11 };
    const inputs: Float32Array[] = [new Float32Array(H * W)];
    let last: Awaited<ReturnType<typeof classModel>> | null = null;
    for (let n = 1; n <= N; n++) {
      last = await classModel(model, 0, { preset: 'simonyan2013', ...opts, steps: n });
      inputs.push(await last.input.data());
    }
    const where: number[] = [];
    let oneDelta = true, inWindow = true;
    for (let n = 1; n <= N; n++) {
      const changed: number[] = [];
      for (let j = 0; j < H * W; j++) if (inputs[n][j] !== inputs[n - 1][j]) changed.push(j);
      const at = changed[0];
      if (changed.length !== 1 || Math.abs(inputs[n][at] - inputs[n - 1][at] - lr * a) > 1e-6) oneDelta = false;
      where.push(at);
      if (Math.abs(Math.floor(at / W) - 3) > J || Math.abs((at % W) - 4) > J) inWindow = false;
    }
    t.ok(oneDelta, 'every step adds lr * a at one pixel');
    t.ok(inWindow, `within ${J} pixels of p: ${where.map((q) => `(${Math.floor(q / W)}, ${q % W})`).join(' ')}`);
    t.ok(new Set(where).size > 1, 'the offsets vary');
    const expected = where.map((at, k) => b[0] + a * inputs[k][at]);
    t.ok(relErr(last!.scores.slice(0, N), expected) < 1e-6, `scores taken at the shifted images: ${last!.scores.slice(0, N).join(', ')}`);
  }],
  ['bad input: errors name the option and the valid range', async (t) => {
    const model = smallConvNet();
    await rejects(t, classModel(model, 5), /classModel: target must be a class index in 0\.\.4 \(the model has 5 classes\), got 5/);
    await rejects(t, classModel(model, -1), /classModel: target must be a class index in 0\.\.4/);
    await rejects(t, classModel(model, 1.5), /classModel: target must be a class index in 0\.\.4 .*got 1\.5/);
    await rejects(t, classModel(model, 0, { steps: -1 }), /classModel: steps must be an integer >= 0, got -1/);
    await rejects(t, classModel(model, 0, { steps: 2.5 }), /classModel: steps must be an integer >= 0, got 2\.5/);
    await rejects(t, classModel(model, 0, { step: 3 } as object), /classModel: unknown option "step"; options are steps, learningRate/);
    await rejects(t, classModel(model, 0, { regularisers: { sharpen: 1 } as object }), /classModel: unknown regulariser "sharpen"; regularisers are jitter, blurEvery, blurSigma, clipPercentile, decay/);
    await rejects(t, classModel(model, 0, { objective: 'logit' as 'score' }), /classModel: objective must be 'score' or 'posterior', got "logit"/);
    await rejects(t, classModel(model, 0, { preset: 'simonyan' as 'yosinski2015' }), /classModel: preset must be 'simonyan2013' or 'yosinski2015', got "simonyan"/);
    await rejects(t, classModel(model, 0, { learningRate: 0 }), /classModel: learningRate must be a finite number > 0, got 0/);
    await rejects(t, classModel(model, 0, { l2: -1 }), /classModel: l2 must be a finite number >= 0, got -1/);
    await rejects(t, classModel(model, 0, { regularisers: { clipPercentile: 101 } }), /classModel: regularisers.clipPercentile must be in 0\.\.100, got 101/);
    await rejects(t, classModel(model, 0, { regularisers: { decay: 1 } }), /classModel: regularisers.decay must be below 1, got 1/);
    await rejects(t, classModel(model, 0, { regularisers: { blurSigma: 0 } }), /classModel: regularisers.blurSigma must be a finite number > 0, got 0/);
    await rejects(t, classModel(model, 0, { normalizeGradient: 1 as unknown as boolean }), /classModel: normalizeGradient must be true or false, got 1/);
    await rejects(t, classModel(model, 0, { onStep: 'log' as unknown as () => void }), /classModel: onStep must be a function, got string/);
    const wrong = tensor(new Float32Array(3 * 8 * 8), [3, 8, 8]);
    await rejects(t, classModel(model, 0, { mean: wrong }), /classModel: mean must be \[3, 16, 16\] or \[1, 3, 16, 16\], got \[3, 8, 8\]/);
    const flat = tensor(new Float32Array(3 * 16 * 16), [3, 256]);
    await rejects(t, classModel(model, 0, { mean: flat }), /classModel: mean must be \[3, 16, 16\] or \[1, 3, 16, 16\], got \[3, 256\]/);
    await rejects(t, classModel(model, 0, { mean: [1, 2, 3] as unknown as never }), /classModel: mean must be a live Tensor \[3, 16, 16\]/);
    await rejects(t, classModel({} as Model, 0), /classModel: model must be a Model/);
    const classless = nn.sequential(nn.conv2d(3, 2, 1), { inputShape: [3, 8, 8] });
    await rejects(t, classModel(classless, 0), /classModel: model .* outputs \[1, 2, 8, 8\] per image, not class scores/);
    wrong.dispose();
    flat.dispose();
  }],
]);
