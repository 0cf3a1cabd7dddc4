// The two backends against each other: a small VGG-style net (random weights, batch 2) forward and backward on
// every backend available, every output and gradient compared (relative error < 1e-4). The weights are seeded
// host-side draws, so each backend sees the same numbers.

import test from 'tape';
import { close, init, ones, ops, randn, type Tensor, tensor, tidy } from '../../src/index.js';
import { availableBackends, type BackendName } from '../helpers/backends.js';
import { relErr } from '../helpers/numeric.js';

interface Run { logits: Float32Array; grads: Float32Array[] }

const names = ['x', 'conv1.w', 'conv1.b', 'conv2.w', 'conv2.b', 'conv3.w', 'conv3.b', 'fc.w', 'fc.b'];

async function runNet(backend: BackendName): Promise<Run> {
  await init({ backend });
  try {
    const shapes: number[][] = [[2, 3, 20, 20], [8, 3, 3, 3], [8], [8, 8, 3, 3], [8], [16, 8, 3, 3], [16], [10, 16 * 5 * 5], [10]];
    const scale = [1, 0.3, 0.1, 0.15, 0.1, 0.15, 0.1, 0.05, 0.1];
    const params: Tensor[] = [];
    for (const [i, s] of shapes.entries()) {
      const draw = randn(s, { seed: 100 + i });
      const values = (await draw.data()).map((v) => v * scale[i]);
      draw.dispose();
      params.push(tensor(values, s, { requiresGrad: true }));
    }
    const [x, w1, b1, w2, b2, w3, b3, wf, bf] = params;
    const mix = randn([2, 10], { seed: 7 });
    const logits = tidy(() => {
      let h: Tensor = ops.relu(ops.conv2d(x, w1, b1, { padding: 1 }));
      h = ops.relu(ops.conv2d(h, w2, b2, { padding: 1 }));
      h = ops.maxPool2d(h, { kernel: 2 });
      h = ops.relu(ops.conv2d(h, w3, b3, { padding: 1 }));
      h = ops.maxPool2d(h, { kernel: 2 });
      return ops.linear(ops.flatten(h), wf, bf);
    });
    tidy(() => ops.sum(ops.mul(logits, mix)).backward());
    const grads = [];
    for (const p of [x, w1, b1, w2, b2, w3, b3, wf, bf]) grads.push(await p.grad!.data());
    const out = { logits: await logits.data(), grads };
    for (const t of [...params, mix, logits]) {
      t.grad?.dispose();
      t.dispose();
    }
    return out;
  } finally {
    await close();
  }
}


const backends = await availableBackends();

test('cross-backend: a VGG-style net forward and backward agrees on every backend', async (t) => {
  if (backends.length < 2) {
    t.fail(`needs two backends, found ${backends.join(', ') || 'none'}`);
    return;
  }
  const runs = new Map<BackendName, Run>();
  for (const b of backends) runs.set(b, await runNet(b));
  const [first, ...rest] = backends;
  const ref = runs.get(first)!;
  for (const b of rest) {
    const r = runs.get(b)!;
    t.equal(r.logits.length, 20, `${b}: 2 x 10 logits`);
    const e = relErr(r.logits, ref.logits);
    t.ok(e < 1e-4, `logits: ${b} vs ${first} relative error ${e.toExponential(2)}`);
    names.forEach((name, i) => {
      const ge = relErr(r.grads[i], ref.grads[i]);
      t.ok(ge < 1e-4 && ref.grads[i].some((v) => v !== 0), `d/d${name}: ${b} vs ${first} relative error ${ge.toExponential(2)}`);
    });
  }
});

test('cross-backend: dropout draws the same mask on every backend, whatever the seed', async (t) => {
  if (backends.length < 2) {
    t.fail(`needs two backends, found ${backends.join(', ') || 'none'}`);
    return;
  }
  for (const seed of [0, 7, 3_000_000_123, 0xffffffff]) {
    const masks: Float32Array[] = [];
    for (const b of backends) {
      await init({ backend: b });
      const y = ops.dropout(ones([4, 1000]), 0.3, { seed });
      masks.push(await y.data());
      await close();
    }
    const kept = masks[0].filter((v) => v !== 0).length / masks[0].length;
    t.ok(Math.abs(kept - 0.7) < 0.03, `seed ${seed}: ${(kept * 100).toFixed(1)}% kept`);
    for (let i = 1; i < masks.length; i++) {
      t.ok(masks[i].every((v, j) => v === masks[0][j]), `seed ${seed}: ${backends[i]} mask equals ${backends[0]}'s`);
    }
  }
});
