// Training: the weight gradients of a model (conv and linear, through the cross-entropy) against central finite
// differences of the loss; trainable() on and off; syncWeights; train() fitting a separable problem from a seed,
// reproducibly; augment() against its definition; bad input.

import { nn, ops, tensor } from '../../src/index.js';
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
        t.equal(progress.length, 16, 'onProgress once per step (4 epochs x 4 steps)');
        t.ok(res[3].loss < res[0].loss, `the loss fell (${res[0].loss.toFixed(3)} -> ${res[3].loss.toFixed(3)})`);
        t.equal(res[3].valAccuracy, 1, `validation accuracy 1 after training (${before} before)`);
        t.throws(() => m.parameters(), /call trainable\(\) first/, 'train() leaves the model not trainable');
      }
      m.releaseWeights();
    }
    t.deepEqual(runs[1].map((e) => e.loss), runs[0].map((e) => e.loss), 'a second run from the same seed has the same losses');
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
