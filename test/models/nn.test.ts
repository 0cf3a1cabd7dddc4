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

/** The op names on the tape from `y` down to the leaves. */
function tapeOps(y: Tensor): string[] {
  const seen = new Set<object>(), names: string[] = [];
  const walk = (n: unknown) => {
    if (!n || typeof n !== 'object' || seen.has(n) || !('edges' in n)) return;
    seen.add(n);
    const node = n as { op: string; edges: unknown[] };
    names.push(node.op);
    node.edges.forEach(walk);
  };
  walk(y.node);
  return names;
}

// run()'s conv + ReLU fusion: values and input gradients equal to the unfused run under every ReLU rule; a conv
// whose output another layer also reads (a residual add), or that is captured, keeps its own ReLU.
for (const backend of backends) {
  test(`${backend} Model: a conv and the ReLU after it run fused, with the same values and gradients`, async (t) => {
    await init({ backend });
    const g = nn.graph([3, 10, 10], { seed: 4, name: 'branchy' });
    const c1 = g.add(nn.conv2d(3, 5, 3, { padding: 1, name: 'c1' }));
    const r1 = g.add(nn.relu({ name: 'r1' }), c1);
    const c2 = g.add(nn.conv2d(5, 5, 3, { padding: 1, name: 'c2' }), r1);
    g.add(nn.relu({ name: 'r2' }), c2);
    const s = g.add(nn.add({ name: 'res' }), 'r2', c2); // c2's output is read twice: not fused
    g.add(nn.flatten(), s);
    g.add(nn.linear(5 * 10 * 10, 4, { name: 'fc' }));
    const m = g.build();
    const x = randn([2, 3, 10, 10], { seed: 9 });
    const seed = tensor(Float32Array.from({ length: 8 }, (_, i) => (i % 3) - 0.7), [2, 4]);
    const run = async (fuse: boolean, rule: 'gradient' | 'deconvnet' | 'guided') => {
      const leaf = x.share();
      leaf.requiresGrad = true;
      const y = m.run(leaf, { fuse }).output;
      const ops = tapeOps(y);
      y.backward(seed, { reluRule: rule });
      const out = { y: await y.data(), gx: await leaf.grad!.data(), ops };
      for (const v of [y, leaf.grad!, leaf]) v.dispose();
      return out;
    };
    for (const rule of ['gradient', 'deconvnet', 'guided'] as const) {
      const a = await run(true, rule), b = await run(false, rule);
      t.ok(relErr(a.y, b.y) < 1e-6, `${rule}: the same scores (rel err ${relErr(a.y, b.y).toExponential(1)})`);
      t.ok(relErr(a.gx, b.gx) < 1e-6, `${rule}: the same input gradient (rel err ${relErr(a.gx, b.gx).toExponential(1)})`);
      t.ok(a.gx.some((v) => v !== 0), `${rule}: the gradient is not all zero`);
      if (rule === 'gradient') {
        t.deepEqual([a.ops.filter((o) => o === 'conv2dRelu').length, a.ops.filter((o) => o === 'relu').length], [1, 1],
          'fused: c1 + r1 one node; c2 read twice keeps its own conv and ReLU');
        t.deepEqual([b.ops.filter((o) => o === 'conv2dRelu').length, b.ops.filter((o) => o === 'relu').length], [0, 2], 'fuse: false: none fused');
      }
    }
    const cap = m.run(x, { capture: ['c1', 'r1'] });
    const want = await ops.relu(cap.captured.c1).data();
    t.ok(relErr(await cap.captured.r1.data(), want) < 1e-7, 'a captured conv output is kept, and its ReLU applied after it');
    t.throws(() => m.run(x, { fuse: 1 as unknown as boolean }), /branchy\.run: fuse must be a boolean, got 1/, 'fuse is checked');
    await close();
  });
}
