// Training: the weight gradients of a model (conv and linear, through the cross-entropy) against central finite
// differences of the loss; trainable() on and off; syncWeights; train() fitting a separable problem from a seed,
// reproducibly; batch norm in training mode (batch statistics against float64, running statistics, gradients
// against finite differences, folded on ONNX load); augment() against its definition; bad input.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOnnx, models, nn, ops, saveOnnx, tensor } from '../../src/index.js';
import { noGrad } from '../../src/autograd/graph.js';
import { augment } from '../../src/train/augment.js';
import { accuracy, train } from '../../src/train/train.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';

await availableBackends();

/** Smooth everywhere (sigmoid, average pooling), so that finite differences see no kink. */
const smoothNet = (seed: number) => nn.sequential(
  nn.conv2d(2, 3, 3, { padding: 1 }), nn.sigmoid(), nn.avgPool2d({ kernel: 2 }), nn.flatten(), nn.linear(12, 4),
  { inputShape: [2, 4, 4], seed },
);

await onEachBackend('train: weight gradients', [
  ['conv and linear weight gradients of the cross-entropy equal central finite differences', async (t) => {
    const m = smoothNet(3);
    const x = uniform([3, 2, 4, 4], 11, -2, 2);
    const labels = [0, 3, 1];
    m.trainable(true);
    const params = m.parameters();
    t.deepEqual(params.map((p) => `${p.layer}.${p.name}`), ['conv0.w', 'conv0.b', 'linear4.w', 'linear4.b'], 'parameters in layer order');
    const loss = ops.crossEntropy(m.forward(tensor(x, [3, 2, 4, 4])), labels);
    loss.backward();
    const grads = await Promise.all(params.map((p) => p.tensor.grad!.data()));
    loss.dispose();
    m.trainable(false);
    const lossAt = async (): Promise<number> => {
      m.releaseWeights();
      const l = noGrad(() => ops.crossEntropy(m.forward(tensor(x, [3, 2, 4, 4])), labels));
      const v = (await l.data())[0];
      l.dispose();
      return v;
    };
    const eps = 1e-2;
    for (const [pi, p] of params.entries()) {
      const host = m.layer(p.layer).params[p.name].data;
      const fd = new Float64Array(host.length);
      for (let i = 0; i < host.length; i++) {
        const v = host[i];
        host[i] = v + eps;
        const up = await lossAt();
        host[i] = v - eps;
        const down = await lossAt();
        host[i] = v;
        fd[i] = (up - down) / (2 * eps);
      }
      const err = relErr(grads[pi], fd);
      t.ok(err < 5e-3, `${p.layer}.${p.name} (${host.length} values): relative error ${err.toExponential(2)}`);
    }
    m.releaseWeights();
  }],
  ['without trainable() no weight records a gradient; parameters() asks for it', async (t) => {
    const m = smoothNet(4);
    t.throws(() => m.parameters(), /parameters: call trainable\(\) first/);
    const x = tensor(uniform([1, 2, 4, 4], 5), [1, 2, 4, 4]);
    x.requiresGrad = true;
    const loss = ops.crossEntropy(m.forward(x), [2]);
    loss.backward();
    t.ok(x.grad !== null, 'the input gets its gradient');
    m.trainable(true);
    t.ok(m.parameters().every((p) => p.tensor.grad === null), 'no weight got one');
    m.trainable(false);
    t.throws(() => m.trainable('yes' as unknown as boolean), /trainable: on must be a boolean/);
    loss.dispose();
    m.releaseWeights();
  }],
  ['syncWeights copies trained device weights to the host', async (t) => {
    const m = smoothNet(5);
    m.trainable(true);
    const before = Float32Array.from(m.layer('linear4').params.w.data);
    const p = m.parameters().find((q) => q.layer === 'linear4' && q.name === 'w')!;
    const { SGD } = await import('../../src/train/optim.js');
    const opt = new SGD(m.parameters().map((q) => q.tensor), { lr: 0.5 });
    const loss = ops.crossEntropy(m.forward(tensor(uniform([2, 2, 4, 4], 6), [2, 2, 4, 4])), [1, 2]);
    loss.backward();
    opt.step();
    const device = await p.tensor.data();
    t.ok(relErr(device, before) > 1e-4, 'the step moved the device weights');
    t.ok(relErr(m.layer('linear4').params.w.data, before) === 0, 'the host copy is untouched until synced');
    await m.syncWeights();
    t.ok(relErr(m.layer('linear4').params.w.data, device) === 0, 'after syncWeights the host equals the device');
    loss.dispose();
    opt.dispose();
    m.trainable(false);
    m.releaseWeights();
  }],
]);

/** Two classes an 8x8 image shows: a bright left half (0) or a bright right half (1), under noise. */
function halves(count: number, seed: number): { images: Float32Array; labels: Int32Array } {
  const noise = uniform([count, 1, 8, 8], seed, 0, 60);
  const images = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const bright = (x < 4) === (labels[i] === 0);
      images[i * 64 + y * 8 + x] = (bright ? 150 : 40) + noise[i * 64 + y * 8 + x];
    }
  }
  return { images, labels };
}

async function rejects(t: import('tape').Test, p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
    t.fail(`expected a rejection matching ${re}`);
  } catch (e) {
    t.match((e as Error).message, re);
  }
}

const tinyNet = () => nn.sequential(
  nn.conv2d(1, 4, 3, { padding: 1 }), nn.relu(), nn.maxPool2d({ kernel: 2 }), nn.flatten(), nn.dropout(0.2), nn.linear(64, 2),
  { inputShape: [1, 8, 8], seed: 9, preprocess: { mean: [0.4], std: [0.25], channelOrder: 'RGB', scale: 1 } },
);

/** conv -> batch norm -> sigmoid -> pool -> linear: batch norm in training mode inside a model. */
const bnNet = (seed: number) => {
  const m = nn.sequential(
    nn.conv2d(2, 3, 3, { padding: 1 }), nn.batchNorm(3, { name: 'bn' }), nn.sigmoid(), nn.avgPool2d({ kernel: 2 }), nn.flatten(), nn.linear(12, 4),
    { inputShape: [2, 4, 4], seed },
  );
  return m;
};

/** float64 batch norm over [N, C, H, W] with the batch's statistics (biased variance). */
function bnReference(x: Float32Array, shape: number[], gamma: Float32Array, beta: Float32Array, eps: number) {
  const [N, C, H, W] = shape, P = H * W;
  const y = new Float64Array(x.length), mean = new Float64Array(C), varB = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) s += x[(n * C + c) * P + p];
    mean[c] = s / (N * P);
    let v = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) v += (x[(n * C + c) * P + p] - mean[c]) ** 2;
    varB[c] = v / (N * P);
    for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) {
      const i = (n * C + c) * P + p;
      y[i] = ((x[i] - mean[c]) / Math.sqrt(varB[c] + eps)) * gamma[c] + beta[c];
    }
  }
  return { y, mean, varB };
}

await onEachBackend('train: batch norm in training mode', [
  ['the batch\'s statistics normalise, the running ones move by momentum 0.1 (unbiased variance)', async (t) => {
    const m = nn.sequential(nn.batchNorm(3, { name: 'bn' }), { inputShape: [3, 2, 5], seed: 2 });
    const p = m.layer('bn').params;
    const mean0 = Float32Array.from(p.mean.data), var0 = Float32Array.from(p.var.data);
    const x = uniform([4, 3, 2, 5], 8, -3, 5);
    const y = m.run(tensor(x, [4, 3, 2, 5]), { training: true }).output;
    const ref = bnReference(x, [4, 3, 2, 5], p.gamma.data, p.beta.data, 1e-5);
    const err = relErr(await y.data(), ref.y);
    t.ok(err < 1e-5, `output against float64: relative error ${err.toExponential(2)}`);
    y.dispose();
    await m.syncWeights();
    const n = 4 * 2 * 5;
    const wantMean = Array.from(mean0, (v, c) => 0.9 * v + 0.1 * ref.mean[c]);
    const wantVar = Array.from(var0, (v, c) => 0.9 * v + 0.1 * ref.varB[c] * (n / (n - 1)));
    t.ok(relErr(p.mean.data, wantMean) < 1e-5, `running mean ${Array.from(p.mean.data, (v) => v.toFixed(4)).join(', ')}`);
    t.ok(relErr(p.var.data, wantVar) < 1e-5, `running variance ${Array.from(p.var.data, (v) => v.toFixed(4)).join(', ')}`);
    // inference mode uses the running statistics: no longer zero-mean per channel
    const yi = noGrad(() => m.forward(tensor(x, [4, 3, 2, 5])));
    const inf = await yi.data();
    yi.dispose();
    const want = Array.from(x, (v, i) => {
      const c = Math.floor(i / 10) % 3;
      return ((v - p.mean.data[c]) / Math.sqrt(p.var.data[c] + 1e-5)) * p.gamma.data[c] + p.beta.data[c];
    });
    t.ok(relErr(inf, want) < 1e-5, 'inference mode: the running statistics');
    const one = nn.sequential(nn.batchNorm(3), { inputShape: [3, 1, 1] });
    t.throws(() => one.run(tensor(new Float32Array(3), [1, 3, 1, 1]), { training: true }), /needs at least 2 values per channel/, 'one value per channel: an error');
    one.releaseWeights();
    m.releaseWeights();
  }],
  ['weight and input gradients through it equal central finite differences', async (t) => {
    const m = bnNet(6);
    // gamma and beta away from 1 and 0, so that their gradients are exercised
    const bp = m.layer('bn').params;
    bp.gamma.data.set([0.7, 1.3, -0.9]);
    bp.beta.data.set([0.2, -0.4, 0.1]);
    const x = uniform([3, 2, 4, 4], 21, -2, 2);
    const labels = [1, 3, 0];
    m.trainable(true);
    const params = m.parameters();
    t.deepEqual(params.map((p) => `${p.layer}.${p.name}`), ['conv0.w', 'conv0.b', 'bn.gamma', 'bn.beta', 'linear5.w', 'linear5.b'],
      'the running statistics are not parameters');
    const xt = tensor(x, [3, 2, 4, 4]);
    xt.requiresGrad = true;
    const loss = ops.crossEntropy(m.run(xt, { training: true }).output, labels);
    loss.backward();
    const grads = await Promise.all(params.map((p) => p.tensor.grad!.data()));
    const gx = await xt.grad!.data();
    loss.dispose();
    m.trainable(false);
    const lossAt = async (xs: Float32Array): Promise<number> => {
      m.releaseWeights();
      const l = noGrad(() => ops.crossEntropy(m.run(tensor(xs, [3, 2, 4, 4]), { training: true }).output, labels));
      const v = (await l.data())[0];
      l.dispose();
      return v;
    };
    const eps = 1e-2;
    const fdOf = async (host: Float32Array, xs: Float32Array) => {
      const fd = new Float64Array(host.length);
      for (let i = 0; i < host.length; i++) {
        const v = host[i];
        host[i] = v + eps;
        const up = await lossAt(xs);
        host[i] = v - eps;
        const down = await lossAt(xs);
        host[i] = v;
        fd[i] = (up - down) / (2 * eps);
      }
      return fd;
    };
    for (const [pi, p] of params.entries()) {
      if (p.name === 'b' && p.layer === 'conv0') continue; // a per-channel constant before batch norm: gradient 0
      const err = relErr(grads[pi], await fdOf(m.layer(p.layer).params[p.name].data, x));
      t.ok(err < 5e-3, `${p.layer}.${p.name}: relative error ${err.toExponential(2)}`);
    }
    const convB = grads[1];
    t.ok(Math.max(...Array.from(convB, Math.abs)) < 1e-4, 'the conv bias before batch norm gets (close to) no gradient');
    const xs = Float32Array.from(x);
    const errX = relErr(gx, await fdOf(xs, xs));
    t.ok(errX < 5e-3, `input: relative error ${errX.toExponential(2)}`);
    m.releaseWeights();
  }],
  ['saveOnnx writes BatchNormalization, loadOnnx folds it: the same inference outputs', async (t) => {
    const m = models.shapesNet({ width: 2, inputSize: 16, batchNorm: true, dropout: 0, seed: 3 });
    // one training-mode pass moves the running statistics away from 0 and 1
    const x = uniform([4, 3, 16, 16], 9, 0, 255);
    m.run(tensor(x, [4, 3, 16, 16]), { training: true }).output.dispose();
    await m.syncWeights();
    const path = join(mkdtempSync(join(tmpdir(), 'convis-bn-')), 'bn.onnx');
    await saveOnnx(m, path);
    const back = await loadOnnx(path);
    t.notOk(back.layers.some((l) => l.kind === 'batchnorm'), 'no batch-norm layer after loading (folded into the convolutions)');
    const a = noGrad(() => m.forward(tensor(x, [4, 3, 16, 16])));
    const b = noGrad(() => back.forward(tensor(x, [4, 3, 16, 16])));
    const err = relErr(await b.data(), await a.data());
    t.ok(err < 1e-4, `scores agree: relative error ${err.toExponential(2)}`);
    a.dispose();
    b.dispose();
    m.releaseWeights();
    back.releaseWeights();
  }],
]);

await onEachBackend('train: fitting', [
  ['train() fits a separable problem, and the same seed gives the same run', async (t) => {
    const data = halves(64, 1), val = halves(32, 2);
    const runs = [];
    for (let r = 0; r < 2; r++) {
      const m = tinyNet();
      const progress: number[] = [];
      const before = await accuracy(m, val);
      const res = await train(m, data, {
        epochs: 4, batchSize: 16, lr: 0.05, seed: 7, val, augment: { mirror: false, erase: 0 },
        onProgress: (p) => progress.push(p.step),
      });
      runs.push(res);
      if (r === 0) {
        t.deepEqual(progress, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], 'onProgress once per step, in order (4 epochs x 4 steps)');
        t.ok(res[3].loss < res[0].loss, `the loss fell (${res[0].loss.toFixed(3)} -> ${res[3].loss.toFixed(3)})`);
        t.equal(res[3].valAccuracy, 1, `validation accuracy 1 after training (${before} before)`);
        t.throws(() => m.parameters(), /call trainable\(\) first/, 'train() leaves the model not trainable');
      }
      m.releaseWeights();
    }
    t.deepEqual(runs[1].map((e) => e.loss), runs[0].map((e) => e.loss), 'a second run from the same seed has the same losses');
  }],
  ['a non-finite loss stops train() with the step it arose at, and leaves no tensor behind', async (t) => {
    const { memory } = await import('../../src/index.js');
    const live = memory().liveStorages;
    const m = tinyNet();
    const data = halves(32, 4);
    data.images.fill(NaN);
    const progress: number[] = [];
    await rejects(t, train(m, data, { epochs: 2, batchSize: 8, seed: 1, augment: false, onProgress: (p) => progress.push(p.step) }),
      /train: the loss became NaN at epoch 1, step 1 \(lower opts.lr\)/);
    t.deepEqual(progress, [], 'no step reported');
    t.throws(() => m.parameters(), /call trainable\(\) first/, 'the model is left not trainable');
    m.releaseWeights();
    t.equal(memory().liveStorages, live, 'live storages as before the model');
  }],
  ['train() rejects bad input', async (t) => {
    const m = tinyNet();
    const data = halves(8, 3);
    await rejects(t, train(m, data, { epochs: 0 }), /train: opts.epochs must be a positive integer, got 0/);
    await rejects(t, train(m, { images: data.images, labels: [0, 1] }, { epochs: 1 }), /train: data.labels must hold one class per image \(8\), got 2/);
    await rejects(t, train(m, { images: data.images, labels: Int32Array.from(data.labels, () => 5) }, { epochs: 1 }), /train: data.labels\[0\] = 5 is not a class in \[0, 2\)/);
    await rejects(t, train(m, { images: new Float32Array(10), labels: [0] }, { epochs: 1 }), /train: data.images has 10 values, not a whole number of \[1, 8, 8\] images/);
    await rejects(t, train(m, data, { epochs: 1, optimizer: 'rmsprop' as 'sgd' }), /train: opts.optimizer must be 'sgd' or 'adam'/);
    await rejects(t, train(m, data, { epochs: 1, lr: -1 }), /train: opts.lr must be a positive number, got -1/);
    m.releaseWeights();
  }],
]);

// ------------------------------------------------------------------ augment (host only)

import test from 'tape';

test('augment: mirror, shifted crop with repeated edges, erased rectangles, bad input', (t) => {
  const [N, C, H, W] = [2, 2, 4, 5];
  const x = Float32Array.from({ length: N * C * H * W }, (_, i) => i);
  const at = (a: Float32Array, n: number, c: number, y: number, xx: number) => a[((n * C + c) * H + y) * W + xx];
  // a source that always says "mirror" (0.1 < 0.5)
  const flipped = augment(x, [N, C, H, W], () => 0.1, { mirror: true });
  let ok = true;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    if (at(flipped, n, c, y, xx) !== at(x, n, c, y, W - 1 - xx)) ok = false;
  }
  t.ok(ok, 'mirror: out[y, x] = in[y, W - 1 - x]');
  t.deepEqual(Array.from(augment(x, [N, C, H, W], () => 0.9, { mirror: true })), Array.from(x), 'no mirror when the draw is >= 0.5');
  // pad 2: the draw 0.99 gives the shift floor(0.99 * 5) - 2 = +2 in y and x
  const shifted = augment(x, [N, C, H, W], () => 0.99, { pad: 2, mirror: false });
  ok = true;
  for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    if (at(shifted, 1, 1, y, xx) !== at(x, 1, 1, Math.min(H - 1, y + 2), Math.min(W - 1, xx + 2))) ok = false;
  }
  t.ok(ok, 'crop: out[y, x] = in[min(H-1, y+2), min(W-1, x+2)] for a shift of +2');
  const erased = augment(new Float32Array(100), [1, 1, 10, 10], () => 0, { mirror: false, erase: 1, eraseMax: 0.4, fill: [-7] });
  // draw 0: side 0.1 of the image (1 pixel) at (0, 0)
  t.equal(erased.filter((v) => v === -7).length, 1, 'erase: one 1x1 rectangle filled');
  t.equal(erased[0], -7, 'at the drawn corner');
  t.throws(() => augment(x, [N, C, H], () => 0), /augment: shape must be \[N, C, H, W\]/);
  t.throws(() => augment(x, [N, C, H, W + 1], () => 0), /augment: images has 80 values, shape \[2, 2, 4, 6\] needs 96/);
  t.throws(() => augment(x, [N, C, H, W], () => 0, { pad: 4 }), /augment: opts.pad must be smaller than the image \(4x5\), got 4/);
  t.throws(() => augment(x, [N, C, H, W], () => 0, { fill: [1] }), /augment: opts.fill must be 2 finite numbers/);
  t.throws(() => augment(x, [N, C, H, W], () => 0, { erase: -1 }), /augment: opts.erase must be an integer >= 0, got -1/);
  t.end();
});
