// nn.* builders and Model: wiring, shape checks and their errors, run() with capture and until, seeded weights,
// a model that outlives close() / init(), and forward against the same layers applied by hand through ops.*.

import test from 'tape';
import { close, init, type Model, nn, ops, randn, type Tensor, tensor, tidy } from '../../src/index.js';
import { availableBackends } from '../helpers/backends.js';
import { relErr } from '../helpers/numeric.js';

const backends = await availableBackends();


function small(seed = 1): Model {
  return nn.sequential(
    nn.conv2d(3, 6, 3, { padding: 1, name: 'c1' }), nn.relu({ name: 'r1' }), nn.maxPool2d({ kernel: 2, name: 'p1' }),
    nn.conv2d(6, 4, 3, { stride: 2, name: 'c2' }), nn.relu(), nn.flatten(), nn.linear(4 * 3 * 3, 5, { name: 'fc' }),
    { inputShape: [3, 14, 14], seed, name: 'small' },
  );
}

test('nn: layers are named, wired and shaped', (t) => {
  const m = small();
  t.deepEqual(m.layers.map((l) => l.name), ['c1', 'r1', 'p1', 'c2', 'relu4', 'flatten5', 'fc']);
  t.deepEqual(m.layers.map((l) => l.kind), ['conv', 'relu', 'maxpool', 'conv', 'relu', 'flatten', 'linear']);
  t.deepEqual(m.layers[1].inputs, ['c1'], 'each layer reads the previous one');
  t.deepEqual(m.layers[0].inputs, ['input'], 'the first reads the model input');
  t.deepEqual(m.outputShape, [1, 5]);
  t.deepEqual(m.layers[0].params.w.shape, [6, 3, 3, 3]);
  t.end();
});

test('nn: weights are seeded', (t) => {
  const a = small(1), b = small(1), c = small(2);
  t.deepEqual(Array.from(a.layers[0].params.w.data), Array.from(b.layers[0].params.w.data), 'same seed, same weights');
  t.notDeepEqual(Array.from(a.layers[0].params.w.data), Array.from(c.layers[0].params.w.data), 'another seed, other weights');
  const w = a.layers[3].params.w.data;
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  t.ok(Math.abs(std - Math.sqrt(2 / 54)) < 0.05, `He-normal scale: std ${std.toFixed(3)} for fan-in 54`);
  t.end();
});

test('nn: wiring and shape errors name the layer', (t) => {
  t.throws(() => nn.sequential(nn.conv2d(3, 4, 3), nn.linear(10, 2), { inputShape: [3, 8, 8] }),
    /layer linear1 \(linear\): weight \[2, 10\] expects input \[N, 10\], got \[1, 4, 6, 6\]/, 'linear on a 4-D input');
  t.throws(() => nn.sequential(nn.conv2d(4, 4, 3), { inputShape: [3, 8, 8] }),
    /layer conv0 \(conv\): weight \[4, 4, 3, 3\] with 1 group\(s\) expects 4 input channels, got \[1, 3, 8, 8\]/, 'channel mismatch');
  t.throws(() => nn.sequential(nn.conv2d(3, 4, 9), { inputShape: [3, 8, 8] }), /the 9x9 kernel does not fit the 8x8 input/, 'kernel too large');
  const g = nn.graph([3, 8, 8]);
  g.add(nn.relu(), 'nowhere');
  t.throws(() => g.build(), /layer relu0 \(relu\) reads "nowhere", which no earlier layer produces/, 'unknown input value');
  const h = nn.graph([3, 8, 8]);
  const a = h.add(nn.conv2d(3, 4, 3, { padding: 1 }));
  h.add(nn.add(), a, 'input');
  t.throws(() => h.build(), /layer add1 \(add\): shapes \[1, 4, 8, 8\] and \[1, 3, 8, 8\] do not broadcast/, 'residual shapes differ');
  t.throws(() => nn.conv2d(3, 4, 3, { groups: 2 }), /nn.conv2d: groups 2 must divide cin 3 and cout 4/);
  t.throws(() => nn.conv2d(3, 0, 3), /nn.conv2d: cout must be an integer >= 1, got 0/);
  t.throws(() => nn.maxPool2d({ kernel: 0 }), /nn.maxPool2d: kernel must be an integer >= 1, got 0/);
  t.throws(() => nn.dropout(1), /nn.dropout: p must be in \[0, 1\), got 1/);
  t.throws(() => nn.sequential(), /nn.sequential: no layers/);
  t.end();
});

for (const backend of backends) {
  test(`${backend} Model: forward equals the layers applied by hand`, async (t) => {
    await init({ backend });
    const m = small(3);
    const x = randn([2, 3, 14, 14], { seed: 5 });
    const y = m.forward(x);
    const p = (i: number, k: string) => {
      const h = m.layers[i].params[k];
      return tensor(h.data, [...h.shape]);
    };
    const ref = tidy(() => {
      let h: Tensor = ops.relu(ops.conv2d(x, p(0, 'w'), p(0, 'b'), { padding: 1 }));
      h = ops.maxPool2d(h, { kernel: 2 });
      h = ops.relu(ops.conv2d(h, p(3, 'w'), p(3, 'b'), { stride: 2 }));
      return ops.linear(ops.flatten(h), p(6, 'w'), p(6, 'b'));
    });
    const e = relErr(await y.data(), await ref.data());
    t.ok(e < 1e-6, `relative error ${e.toExponential(2)}`);

    const r = m.run(x, { capture: ['r1', 2], until: 'c2' });
    t.deepEqual(r.output.shape, [2, 4, 3, 3], 'until stops at c2');
    t.deepEqual(Object.keys(r.captured).sort(), ['p1', 'r1'], 'captured by name and by index');
    t.deepEqual(r.captured.p1.shape, [2, 6, 7, 7]);
    t.throws(() => m.run(x, { until: 'nope' }), /Model small: no layer "nope"; layers are 0..6: c1, r1/);
    t.throws(() => m.forward(randn([2, 3, 15, 14])), /small.forward: x must be \[N, 3, 14, 14\], got \[2, 3, 15, 14\]/);

    const before = Array.from(await y.data());
    await close();
    await init({ backend });
    const again = m.forward(randn([2, 3, 14, 14], { seed: 5 }));
    t.deepEqual(Array.from(await again.data()), before, 'the model works again after close() and init()');
    m.releaseWeights();
    await close();
  });
}
