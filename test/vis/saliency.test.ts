// saliency(): the linear case of eq. 2 exactly, a float64 finite-difference gradient on a small ConvNet (through
// the model's preprocessing), batches against single images, the ten-crop geometry against a reimplementation
// of the documented protocol, mirror symmetry, SmoothGrad and gradient x input on linear models, the DeconvNet
// and guided rules against float64 references, and bad input.

import test from 'tape';
import { nn, saliency, tensor } from '../../src/index.js';
import type { Model, Preprocess } from '../../src/index.js';
import type { HostTensor } from '../../src/models/layers.js';
import { preprocessAffine, tenCropOrigins } from '../../src/vis/index.js';
import { resize, centerCrop } from '../../src/image/transform.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';
import * as ref from '../reference/ref.js';
import * as poolRef from '../reference/pool.js';
import { rejects } from '../helpers/assert.js';

await availableBackends();

const host = (shape: number[], data: Float32Array): HostTensor => ({ shape, data });

/** S = W flatten(I) + b: eq. 2's linear model, with weights W [K, C*H*W]. */
function linearModel(C: number, H: number, W: number, K: number, seed: number, preprocess?: Preprocess): { model: Model; w: Float32Array; b: Float32Array } {
  const w = uniform([K, C * H * W], seed);
  const b = uniform([K], seed + 1);
  const model = nn.sequential(
    nn.flatten(1),
    { ...nn.linear(C * H * W, K), params: { w: host([K, C * H * W], w), b: host([K], b) } },
    { inputShape: [C, H, W], preprocess },
  );
  return { model, w, b };
}

/** max_c |v[c, i, j]| for v [C, H, W] */
function channelMax(v: ArrayLike<number>, C: number, plane: number): Float64Array {
  const m = new Float64Array(plane);
  for (let j = 0; j < plane; j++) for (let c = 0; c < C; c++) m[j] = Math.max(m[j], Math.abs(v[c * plane + j]));
  return m;
}

// A small ConvNet described once, built as a convis model and evaluated in float64 by the references.
const CONV = { C: 3, H: 8, W: 8, O: 4, K: 5 };
const PRE: Preprocess = { mean: [0.4, 0.5, 0.6], std: [0.25, 0.5, 0.2], channelOrder: 'BGR', scale: 1 };

function smallConvNet(preprocess?: Preprocess): Model {
  return nn.sequential(
    nn.conv2d(CONV.C, CONV.O, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }),
    nn.flatten(1), nn.linear(CONV.O * 16, CONV.K),
    { inputShape: [CONV.C, CONV.H, CONV.W], seed: 7, preprocess },
  );
}

/** The float64 class scores of smallConvNet for one image given as 0..255 RGB (preprocessing included). */
function smallConvNetScores(model: Model, img: Float64Array): Float64Array {
  const { C, H, W, O } = CONV;
  const plane = H * W;
  let x = img;
  if (model.preprocess) {
    const { a, b } = preprocessAffine(model.preprocess, C);
    x = new Float64Array(img.length);
    for (let o = 0; o < C; o++) for (let j = 0; j < plane; j++) {
      let s = b[o];
      for (let c = 0; c < C; c++) s += a[o * C + c] * img[c * plane + j];
      x[o * plane + j] = s;
    }
  }
  const conv = model.layers[0].params, lin = model.layers[4].params;
  const geom = { N: 1, C, H, W, O, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
  const y = ref.conv2d(x, Float64Array.from(conv.w.data), Float64Array.from(conv.b.data), geom).map((v) => Math.max(v, 0));
  const { y: p } = poolRef.maxPool2d(y, { N: 1, C: O, H, W, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0, pb: 0, pr: 0, ceil: false });
  const K = lin.w.shape[0], F = lin.w.shape[1];
  const scores = ref.matmul(p, ref.transpose(Float64Array.from(lin.w.data), K, F), 1, F, K);
  return scores.map((s, k) => s + lin.b.data[k]);
}

await onEachBackend('saliency', [
  ['eq. 2: a linear model\'s map is max_c |w_c| exactly, for every target and for top1', async (t) => {
    const [C, H, W, K] = [3, 5, 6, 4];
    const { model, w, b } = linearModel(C, H, W, K, 11);
    const imgs = uniform([2, C, H, W], 12, 0, 255);
    const x = tensor(imgs, [2, C, H, W]);
    const maps = await saliency(model, x, { target: [2, 0] });
    [2, 0].forEach((c, i) => {
      const expected = channelMax(w.subarray(c * C * H * W, (c + 1) * C * H * W), C, H * W);
      t.equal(maps[i].width, W);
      t.equal(maps[i].height, H);
      t.equal(maps[i].target, c);
      t.deepEqual(Array.from(maps[i].data), Array.from(Float32Array.from(expected)), `image ${i}, class ${c}: the map is max_c |w_c|, exactly`);
      let score = b[c];
      for (let j = 0; j < C * H * W; j++) score += w[c * C * H * W + j] * imgs[i * C * H * W + j];
      t.ok(Math.abs(maps[i].score - score) <= 1e-4 * Math.abs(score) + 1e-3, `image ${i}: score ${maps[i].score} = w_c . I + b_c (${score})`);
    });
    // top1: the class with the highest float64 score
    const top = await saliency(model, x);
    for (let i = 0; i < 2; i++) {
      const s = Array.from({ length: K }, (_, c) => {
        let v = b[c];
        for (let j = 0; j < C * H * W; j++) v += w[c * C * H * W + j] * imgs[i * C * H * W + j];
        return v;
      });
      t.equal(top[i].target, s.indexOf(Math.max(...s)), `image ${i}: top1 is the highest-scoring class`);
    }
    x.dispose();
  }],
  ['the gradient equals float64 central finite differences of a small ConvNet, through a BGR/std preprocessing', async (t) => {
    const model = smallConvNet(PRE);
    const { C, H, W } = CONV;
    const img = uniform([1, C, H, W], 21, 0, 255);
    const x = tensor(img, [1, C, H, W]);
    const [map] = await saliency(model, x, { target: 3, returnGradient: true });
    x.dispose();
    const base = Float64Array.from(img);
    const fd = new Float64Array(base.length);
    const h = 1e-3;
    for (let i = 0; i < base.length; i++) {
      const keepV = base[i];
      base[i] = keepV + h;
      const up = smallConvNetScores(model, base)[3];
      base[i] = keepV - h;
      const down = smallConvNetScores(model, base)[3];
      base[i] = keepV;
      fd[i] = (up - down) / (2 * h);
    }
    const err = relErr(map.gradient!, fd);
    t.ok(err < 1e-3, `gradient vs finite differences: relative error ${err.toExponential(2)} < 1e-3`);
    const mapErr = relErr(map.data, channelMax(fd, C, H * W));
    t.ok(mapErr < 1e-3, `map vs max_c |finite differences|: relative error ${mapErr.toExponential(2)}`);
    const s64 = smallConvNetScores(model, base)[3];
    t.ok(Math.abs(map.score - s64) <= 1e-4 * (1 + Math.abs(s64)), `score ${map.score} matches the float64 forward ${s64}`);
  }],
  ['a batch with one target per image gives each image\'s own map', async (t) => {
    const model = smallConvNet(PRE);
    const { C, H, W } = CONV;
    const imgs = uniform([3, C, H, W], 31, 0, 255);
    const batch = tensor(imgs, [3, C, H, W]);
    const targets = [1, 4, 1];
    const together = await saliency(model, batch, { target: targets });
    const split = await saliency(model, batch, { target: targets, batchSize: 1 });
    for (let i = 0; i < 3; i++) {
      const one = tensor(imgs.slice(i * C * H * W, (i + 1) * C * H * W), [1, C, H, W]);
      const [alone] = await saliency(model, one, { target: targets[i] });
      one.dispose();
      t.ok(relErr(together[i].data, alone.data) < 1e-5, `image ${i}: batch map = single-image map (rel ${relErr(together[i].data, alone.data).toExponential(1)})`);
      t.ok(relErr(split[i].data, alone.data) < 1e-5, `image ${i}: batchSize 1 map = single-image map`);
      t.ok(Math.abs(together[i].score - alone.score) < 1e-4 * (1 + Math.abs(alone.score)), `image ${i}: same score`);
    }
    const top = await saliency(model, batch);
    const topSplit = await saliency(model, batch, { batchSize: 2 });
    t.deepEqual(top.map((m) => m.target), topSplit.map((m) => m.target), 'top1 per image does not depend on the batching');
    batch.dispose();
  }],
  ['ten crops: the averaged map of a linear model follows the documented geometry', async (t) => {
    const [C, H, W, K] = [3, 14, 14, 3];
    const { model, w } = linearModel(C, H, W, K, 41);
    // a 20x24 image: rescaled so that it covers 16x16 (round(14 * 256 / 224) = 16), then its centre kept
    const img = uniform([1, C, 20, 24], 42, 0, 255);
    const x = tensor(img, [1, C, 20, 24]);
    const [m] = await saliency(model, x, { crops: 10, target: 1 });
    x.dispose();
    t.equal(m.height, 16);
    t.equal(m.width, 16);
    // every crop's map is max_c |w_1| at the crop's position (mirrored for mirrored crops); average where they overlap
    const wmap = channelMax(w.subarray(1 * C * H * W, 2 * C * H * W), C, H * W);
    const sum = new Float64Array(16 * 16), cover = new Float64Array(16 * 16);
    const corners = [[0, 0], [0, 2], [2, 0], [2, 2], [1, 1]];
    for (const mirror of [false, true]) {
      for (const [top, left] of corners) {
        for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
          sum[(top + y) * 16 + left + xx] += wmap[y * W + (mirror ? W - 1 - xx : xx)];
          cover[(top + y) * 16 + left + xx]++;
        }
      }
    }
    const expected = sum.map((s, i) => s / cover[i]);
    t.ok(relErr(m.data, expected) < 1e-6, `map matches the ten-crop average (rel ${relErr(m.data, expected).toExponential(1)})`);
    t.deepEqual(tenCropOrigins(16, 16, 14, 14).map((o) => [o.top, o.left, o.mirror]),
      [...corners.map(([a, b]) => [a, b, false]), ...corners.map(([a, b]) => [a, b, true])], 'crop origins: four corners, centre, then their mirrors');
    // the score is the mean over the ten crops of w_1 . crop + b_1, on the resized image
    const resized = centerCrop(resize({ channels: C, height: 20, width: 24, data: img }, 16, Math.round(24 * 16 / 20)), 16, 16);
    let mean = 0;
    for (const mirror of [false, true]) {
      for (const [top, left] of corners) {
        let s = model.layers[1].params.b.data[1];
        for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
          const sx = mirror ? W - 1 - xx : xx;
          s += w[C * H * W + (c * H + y) * W + xx] * resized.data[(c * 16 + top + y) * 16 + left + sx];
        }
        mean += s / 10;
      }
    }
    t.ok(Math.abs(m.score - mean) < 1e-3 * (1 + Math.abs(mean)), `score ${m.score} is the ten crops' mean score ${mean}`);
  }],
  ['ten crops: a mirror-symmetric model on a mirror-symmetric image gives a mirror-symmetric map', async (t) => {
    const [C, S] = [3, 14];
    const conv = uniform([4, C, 3, 3], 51);
    for (let o = 0; o < 4; o++) for (let c = 0; c < C; c++) for (let i = 0; i < 3; i++) {
      conv[((o * C + c) * 3 + i) * 3 + 2] = conv[((o * C + c) * 3 + i) * 3];   // kernels symmetric left-right
    }
    const model = nn.sequential(
      { ...nn.conv2d(C, 4, 3, { padding: 1 }), params: { w: host([4, C, 3, 3], conv), b: host([4], uniform([4], 52)) } },
      nn.relu(), nn.globalAvgPool2d(), nn.flatten(1),
      { ...nn.linear(4, 3), params: { w: host([3, 4], uniform([3, 4], 53)), b: host([3], uniform([3], 54)) } },
      { inputShape: [C, S, S] },
    );
    const img = uniform([1, C, 16, 16], 55, 0, 255);
    for (let c = 0; c < C; c++) for (let y = 0; y < 16; y++) for (let x = 0; x < 8; x++) img[(c * 16 + y) * 16 + 15 - x] = img[(c * 16 + y) * 16 + x];
    const t0 = tensor(img, [1, C, 16, 16]);
    const [m] = await saliency(model, t0, { crops: 10 });
    t0.dispose();
    let asym = 0, mag = 0;
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) {
      asym = Math.max(asym, Math.abs(m.data[y * 16 + x] - m.data[y * 16 + 15 - x]));
      mag = Math.max(mag, m.data[y * 16 + x]);
    }
    t.ok(mag > 0, 'the map is not zero');
    t.ok(asym <= 1e-5 * mag, `map symmetric left-right: max asymmetry ${asym.toExponential(2)} (max ${mag.toExponential(2)})`);
  }],
  ['SmoothGrad on a linear model equals the plain map (the gradient is constant); gradient x input is |x w| per channel max', async (t) => {
    const [C, H, W, K] = [3, 4, 4, 3];
    const { model, w } = linearModel(C, H, W, K, 61, PRE);
    const img = uniform([2, C, H, W], 62, 0, 255);
    const x = tensor(img, [2, C, H, W]);
    const plain = await saliency(model, x, { target: 2 });
    const smooth = await saliency(model, x, { target: 2, smoothGrad: { samples: 4, sigma: 0.2, seed: 3 } });
    for (let i = 0; i < 2; i++) t.ok(relErr(smooth[i].data, plain[i].data) < 1e-5, `image ${i}: SmoothGrad = plain map`);
    t.notOk(Math.abs(smooth[0].score - plain[0].score) < 1e-6, 'SmoothGrad scores are those of the noisy copies');
    // gradient x input: x_m = A I + b (the preprocessing), dS/dx_m = w_2; map = max_o |x_m,o w_2,o|
    const { a, b } = preprocessAffine(PRE, C);
    const times = await saliency(model, x, { target: 2, timesInput: true });
    for (let i = 0; i < 2; i++) {
      const prod = new Float64Array(C * H * W);
      for (let o = 0; o < C; o++) for (let j = 0; j < H * W; j++) {
        let xm = b[o];
        for (let c = 0; c < C; c++) xm += a[o * C + c] * img[(i * C + c) * H * W + j];
        prod[o * H * W + j] = xm * w[2 * C * H * W + o * H * W + j];
      }
      t.ok(relErr(times[i].data, channelMax(prod, C, H * W)) < 1e-5, `image ${i}: gradient x input`);
    }
    // the raw-image gradient includes the preprocessing: dS/dI = A^T w_2
    const [g] = await saliency(model, x, { target: 2, returnGradient: true });
    const expect = new Float64Array(C * H * W);
    for (let c = 0; c < C; c++) for (let o = 0; o < C; o++) for (let j = 0; j < H * W; j++) expect[c * H * W + j] += a[o * C + c] * w[2 * C * H * W + o * H * W + j];
    t.ok(relErr(g.gradient!, expect) < 1e-5, 'dS/dI = A^T w through the BGR/std preprocessing');
    x.dispose();
  }],
  ['deconvnet and guided rules against float64 references on conv -> relu -> linear', async (t) => {
    const [C, H, W, O, K] = [2, 5, 5, 3, 2];
    const model = nn.sequential(
      nn.conv2d(C, O, 3, { padding: 1 }), nn.relu(), nn.flatten(1), nn.linear(O * H * W, K),
      { inputShape: [C, H, W], seed: 71 },
    );
    const img = uniform([1, C, H, W], 72);
    const x = tensor(img, [1, C, H, W]);
    const geom = { N: 1, C, H, W, O, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
    const cw = Float64Array.from(model.layers[0].params.w.data), cb = Float64Array.from(model.layers[0].params.b.data);
    const pre = ref.conv2d(Float64Array.from(img), cw, cb, geom);
    const R = Float64Array.from(model.layers[3].params.w.data.subarray(1 * O * H * W, 2 * O * H * W));   // dS_1 / d relu output
    const rules = {
      gradient: R.map((r, j) => (pre[j] > 0 ? r : 0)),
      deconvnet: R.map((r) => (r > 0 ? r : 0)),
      guided: R.map((r, j) => (pre[j] > 0 && r > 0 ? r : 0)),
    };
    const maps: Record<string, Float32Array> = {};
    for (const [method, signal] of Object.entries(rules)) {
      const [gx] = ref.conv2dVjp(Float64Array.from(img), cw, signal, geom);
      const [m] = await saliency(model, x, { target: 1, method: method as 'gradient' });
      maps[method] = m.data;
      t.ok(relErr(m.data, channelMax(gx, C, H * W)) < 1e-5, `${method}: map matches the float64 reference`);
    }
    t.ok(relErr(maps.deconvnet, maps.gradient) > 1e-3, 'the DeconvNet map differs from the gradient map here');
    x.dispose();
  }],
  ['bad input: errors that say what and where', async (t) => {
    const model = smallConvNet();
    const { C, H, W } = CONV;
    const x = tensor(uniform([1, C, H, W], 81), [1, C, H, W]);
    await rejects(t, saliency(model, x, { target: 5 }), /saliency: target must be a class index in 0\.\.4 \(the model has 5 classes\), got 5/);
    await rejects(t, saliency(model, x, { target: [1, 2] }), /saliency: target lists 2 classes for 1 images/);
    await rejects(t, saliency(model, x, { target: -1 }), /saliency: target must be a class index/);
    const wrongC = tensor(new Float32Array(1 * 1 * H * W), [1, 1, H, W]);
    await rejects(t, saliency(model, wrongC), /saliency: images has 1 channels, model .* wants 3/);
    const wrongSize = tensor(new Float32Array(3 * 9 * 9), [1, 3, 9, 9]);
    await rejects(t, saliency(model, wrongSize), /saliency: images is 9x9, model .* wants 8x8 images/);
    const empty = tensor(new Float32Array(0), [0, 3, 8, 8]);
    await rejects(t, saliency(model, empty), /saliency: images is an empty batch/);
    await rejects(t, saliency(model, tensor(new Float32Array(64), [8, 8])), /saliency: images must be 4-D/);
    await rejects(t, saliency({} as Model, x), /saliency: model must be a Model/);
    await rejects(t, saliency(model, x, { method: 'occlusion' as 'gradient' }), /saliency: method must be 'gradient', 'deconvnet' or 'guided'/);
    await rejects(t, saliency(model, x, { crops: 5 as 1 }), /saliency: crops must be 1 or 10/);
    await rejects(t, saliency(model, x, { smoothGrad: { samples: 0, sigma: 0.1 } }), /saliency: smoothGrad.samples must be an integer >= 1/);
    await rejects(t, saliency(model, x, { smoothGrad: { samples: 2 } as { samples: number; sigma: number } }), /saliency: smoothGrad.sigma is required/);
    await rejects(t, saliency(model, x, { colour: true } as object), /saliency: unknown option "colour"/);
    await rejects(t, saliency(model, x, { crops: 10, returnGradient: true }), /saliency: returnGradient is available with crops: 1 only/);
    await rejects(t, saliency(model, x, { crops: 10, resize: 4 }), /saliency: resize 4x4 is smaller than the model's 8x8 input/);
    const gone = tensor(new Float32Array(3 * 64), [1, 3, 8, 8]);
    gone.dispose();
    await rejects(t, saliency(model, gone), /saliency: images \(shape \[1, 3, 8, 8\]\) was disposed/);
    const classless = nn.sequential(nn.conv2d(3, 2, 1), { inputShape: [3, 8, 8] });
    await rejects(t, saliency(classless, x), /saliency: model .* outputs \[1, 2, 8, 8\] per image, not class scores/);
    for (const tt of [x, wrongC, wrongSize, empty]) tt.dispose();
  }],
]);

