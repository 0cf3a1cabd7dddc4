// The tape: backward, grad(), accumulation, noGrad, tidy interplay, ReLU rules, graph freeing, and
// 1,000 training steps that must leave device memory where it started.

import { grad, keep, memory, noGrad, ops, randn, type Tensor, tensor, tidy, zeros } from '../../src/index.js';
import { onEachBackend } from '../helpers/backends.js';

const arr = async (t: Tensor) => Array.from(await t.data());

await onEachBackend('tape', [
  ['grad(f) of Σ x² is 2x', async (t) => {
    const x = tensor([1, -2, 3.5], [3]);
    const g = grad((v) => ops.sum(ops.mul(v, v)))(x);
    t.deepEqual(await arr(g), [2, -4, 7]);
    g.dispose();
    x.dispose();
  }],
  ['grad(f) of a function that ignores x is zero', async (t) => {
    const x = tensor([1, 2], [2]);
    const c = tensor([5], [1]);
    const g = grad(() => ops.sum(c))(x);
    t.deepEqual(await arr(g), [0, 0]);
    g.dispose();
    x.dispose();
    c.dispose();
  }],
  ['gradients accumulate across backward calls and along shared paths', async (t) => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    // x used twice in one graph: d/dx (x * x + x) = 2x + 1
    tidy(() => ops.sum(ops.add(ops.mul(x, x), x)).backward());
    t.deepEqual(await arr(x.grad!), [3, 5], 'shared path summed');
    tidy(() => ops.sum(ops.scale(x, 10)).backward());
    t.deepEqual(await arr(x.grad!), [13, 15], 'second backward accumulates');
    x.grad!.dispose();
    x.dispose();
  }],
  ['noGrad records nothing', async (t) => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = noGrad(() => ops.sum(ops.mul(x, x)));
    t.equal(y.node, null, 'no graph node');
    t.throws(() => y.backward(), /backward: the tensor of shape \[\] does not require grad/);
    y.dispose();
    x.dispose();
  }],
  ['backward on a non-scalar needs a seed of the same shape', async (t) => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = ops.scale(x, 2);
    t.throws(() => y.backward(), /backward: the output has shape \[3\]; a non-scalar output needs a seed/);
    const bad = tensor([1, 1], [2]);
    t.throws(() => y.backward(bad), /backward: seed shape \[2\] differs from the output's \[3\]/);
    const seed = tensor([1, 0, -1], [3]);
    y.backward(seed);
    t.deepEqual(await arr(x.grad!), [2, 0, -2]);
    for (const v of [x.grad!, x, y, bad, seed]) v.dispose();
  }],
  ['a second backward through a freed graph is an error', (t) => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = ops.sum(ops.mul(x, x));
    y.backward();
    t.throws(() => y.backward(), /backward: the graph through 'sum' was already used by a backward pass and freed/);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
  }],
  ['tidy disposes intermediates but backward still works through them', async (t) => {
    const before = memory().liveStorages;
    const x = tensor([0.5, -1, 2], [3], { requiresGrad: true });
    const y = tidy(() => ops.sum(ops.exp(ops.scale(x, 2))));
    // x, y, and exp's output (saved for its backward: d e^u = e^u du); scale's output was disposed by tidy
    t.equal(memory().liveStorages, before + 3, 'only x, y and the tensor saved for backward stay alive');
    y.backward();
    const want = [0.5, -1, 2].map((v) => 2 * Math.exp(2 * v));
    const got = await arr(x.grad!);
    t.ok(got.every((g, i) => Math.abs(g - want[i]) < 1e-5 * Math.abs(want[i])), `d/dx Σ e^{2x}: ${got}`);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
    t.equal(memory().liveStorages, before, 'all storages released');
  }],
  ['tidy keeps returned arrays and objects, and keep() escapes a scope', async (t) => {
    const before = memory().liveStorages;
    let kept: Tensor | null = null;
    const { a, list } = tidy(() => {
      const tmp = zeros([4]);
      kept = keep(ops.add(tmp, tmp));
      return { a: ops.scale(tmp, 2), list: [zeros([2]), zeros([3])] };
    });
    t.equal(memory().liveStorages, before + 4, 'returned + kept tensors survive');
    t.throws(() => tidy(() => Promise.resolve(1) as unknown as number), /tidy: fn must be synchronous/);
    for (const v of [a, ...list, kept!]) v.dispose();
    t.equal(memory().liveStorages, before);
  }],
  ['ReLU backward rules: gradient, deconvnet, guided', async (t) => {
    const xv = [-1, 2, 3, -0.5], gv = [1, -1, 2, 3];
    const want = {
      gradient: xv.map((x, i) => (x > 0 ? gv[i] : 0)),        // 1(X > 0)
      deconvnet: gv.map((g) => (g > 0 ? g : 0)),                // 1(R > 0)
      guided: xv.map((x, i) => (x > 0 && gv[i] > 0 ? gv[i] : 0)),
    } as const;
    for (const rule of ['gradient', 'deconvnet', 'guided'] as const) {
      const x = tensor(xv, [4], { requiresGrad: true });
      const y = ops.relu(x);
      const seed = tensor(gv, [4]);
      y.backward(seed, { reluRule: rule });
      t.deepEqual(await arr(x.grad!), [...want[rule]], rule);
      for (const v of [x.grad!, x, y, seed]) v.dispose();
    }
    const x = tensor([1], [1], { requiresGrad: true });
    const y = ops.relu(x);
    t.throws(() => y.backward(undefined, { reluRule: 'bogus' as 'guided' }), /backward: reluRule must be/);
    x.dispose();
    y.dispose();
  }],
  ['use after dispose names the op', (t) => {
    const x = tensor([1, 2], [2]);
    x.dispose();
    t.throws(() => ops.relu(x), /relu: x \(shape \[2\]\) was disposed/);
    t.throws(() => ops.add(x, x), /add: a \(shape \[2\]\) was disposed/);
    t.throws(() => x.reshape([2, 1]), /reshape: x \(shape \[2\]\) was disposed/);
    return x.data().then(() => t.fail('data() after dispose resolved'), (e: Error) => t.match(e.message, /Tensor.data: the tensor of shape \[2\] was disposed/));
  }],
  ['bad tensor construction is rejected', (t) => {
    t.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: 3 values do not fill shape \[2, 2\] \(4 elements\)/);
    t.throws(() => tensor([1], [1.5]), /tensor: shape must hold non-negative integers/);
    t.throws(() => zeros([-1]), /full: shape must hold non-negative integers/);
    t.throws(() => randn([2], { seed: NaN }), /rng: seed must be a finite number/);
  }],
  ['randn and rand are seeded', async (t) => {
    const a = randn([100], { seed: 7 }), b = randn([100], { seed: 7 }), c = randn([100], { seed: 8 });
    t.deepEqual(await arr(a), await arr(b), 'same seed, same values');
    t.notDeepEqual(await arr(a), await arr(c), 'another seed, other values');
    const v = await arr(a);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    t.ok(Math.abs(mean) < 0.3, `mean near 0: ${mean.toFixed(3)}`);
    for (const x of [a, b, c]) x.dispose();
  }],
  ['1,000 forward+backward training steps return memory to the baseline', async (t) => {
    const w1 = randn([4, 3, 3, 3], { seed: 1 }), b1 = zeros([4]);
    const w2 = randn([5, 4 * 6 * 6], { seed: 2 }), b2 = zeros([5]);
    let params = [w1, b1, w2, b2].map((p) => tidy(() => keep(ops.scale(p, 0.1))));
    for (const p of [w1, b1, w2, b2]) p.dispose();
    const x = randn([2, 3, 6, 6], { seed: 3 });
    // warm the pool and the pipelines once, then take the baseline
    const step = () => tidy(() => {
      for (const p of params) p.requiresGrad = true;
      const h = ops.relu(ops.conv2d(x, params[0], params[1], { padding: 1 }));
      const loss = ops.crossEntropy(ops.linear(ops.flatten(h), params[2], params[3]), [1, 3]);
      loss.backward();
      const next = noGrad(() => params.map((p) => keep(ops.sub(p, ops.scale(p.grad!, 0.01)))));
      for (const p of params) {
        p.grad!.dispose();
        p.dispose();
      }
      params = next;
      return noGrad(() => keep(ops.scale(loss, 1)));
    });
    const first = step();
    const firstLoss = await first.item();
    first.dispose();
    await (await import('../../src/index.js')).sync();
    const base = memory();
    let last = 0;
    for (let i = 1; i < 1000; i++) {
      const l = step();
      if (i % 250 === 0 || i === 999) last = await l.item();
      l.dispose();
    }
    const end = memory();
    t.equal(end.liveStorages, base.liveStorages, `live storages back to ${base.liveStorages}`);
    t.equal(end.liveBytes, base.liveBytes, `live bytes back to ${base.liveBytes}`);
    t.ok(end.pooledBytes <= base.pooledBytes * 2 + (1 << 20), `pool did not grow without bound (${end.pooledBytes} B)`);
    t.ok(last < firstLoss, `the loss fell: ${firstLoss.toFixed(4)} -> ${last.toFixed(4)}`);
    for (const p of params) p.dispose();
    x.dispose();
  }],
]);
