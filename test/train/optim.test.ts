// SGD (momentum, Nesterov, weight decay) and Adam against float64 implementations of PyTorch's update rules,
// written here, over three steps with changing gradients; in-place updates; zeroGrad; a quadratic minimised;
// and bad input.

import { Adam, SGD } from '../../src/train/optim.js';
import { ops, tensor } from '../../src/index.js';
import { availableBackends, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';

await availableBackends();

const N = 37;
const grads = [uniform([N], 2), uniform([N], 3), uniform([N], 4)];

function sgdRef(p0: Float32Array, lr: number, momentum: number, wd: number, nesterov: boolean): Float64Array {
  const p = Float64Array.from(p0);
  let buf: Float64Array | null = null;
  for (const gr of grads) {
    const g = Float64Array.from(gr, (v, i) => v + wd * p[i]);
    if (momentum) {
      buf = buf ? buf.map((b, i) => momentum * b + g[i]) : Float64Array.from(g);
      const d = nesterov ? g.map((v, i) => v + momentum * buf![i]) : buf;
      for (let i = 0; i < N; i++) p[i] -= lr * d[i];
    } else {
      for (let i = 0; i < N; i++) p[i] -= lr * g[i];
    }
  }
  return p;
}

function adamRef(p0: Float32Array, lr: number, b1: number, b2: number, eps: number, wd: number): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(N), v = new Float64Array(N);
  grads.forEach((gr, k) => {
    const t = k + 1;
    for (let i = 0; i < N; i++) {
      const g = gr[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      p[i] -= (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
    }
  });
  return p;
}

async function run(make: (p: ReturnType<typeof tensor>) => SGD | Adam): Promise<Float32Array> {
  const p = tensor(uniform([N], 1), [N], { requiresGrad: true });
  const view = p.share();
  const opt = make(p);
  for (const g of grads) {
    opt.zeroGrad();
    p.grad = tensor(g, [N]);
    opt.step();
  }
  const out = await p.data();
  const viaView = await view.data();
  if (relErr(out, viaView) !== 0) throw new Error('a view of the parameter does not see the update');
  opt.zeroGrad();
  opt.dispose();
  view.dispose();
  p.dispose();
  return out;
}

await onEachBackend('optimisers', [
  ['SGD: plain, momentum, Nesterov, weight decay = float64 PyTorch rules over three steps (in place)', async (t) => {
    for (const [momentum, wd, nesterov] of [[0, 0, false], [0.9, 0, false], [0.9, 5e-4, false], [0.8, 1e-2, true]] as const) {
      const got = await run((p) => new SGD([p], { lr: 0.1, momentum, weightDecay: wd, nesterov }));
      const want = sgdRef(uniform([N], 1), 0.1, momentum, wd, nesterov);
      t.ok(relErr(got, want) < 1e-6, `momentum ${momentum}, weight decay ${wd}, nesterov ${nesterov}: rel ${relErr(got, want).toExponential(1)}`);
    }
  }],
  ['Adam = float64 PyTorch rule over three steps, with and without weight decay', async (t) => {
    for (const wd of [0, 1e-2]) {
      const got = await run((p) => new Adam([p], { lr: 0.01, betas: [0.9, 0.99], eps: 1e-6, weightDecay: wd }));
      const want = adamRef(uniform([N], 1), 0.01, 0.9, 0.99, 1e-6, wd);
      t.ok(relErr(got, want) < 1e-5, `weight decay ${wd}: rel ${relErr(got, want).toExponential(1)}`);
    }
  }],
  ['both minimise a quadratic through the tape', async (t) => {
    for (const make of [(p: ReturnType<typeof tensor>) => new SGD([p], { lr: 0.1, momentum: 0.5 }), (p: ReturnType<typeof tensor>) => new Adam([p], { lr: 0.1 })]) {
      const target = tensor([1, -2, 3], [3]);
      const p = tensor([0, 0, 0], [3], { requiresGrad: true });
      const opt = make(p);
      for (let i = 0; i < 200; i++) {
        opt.zeroGrad();
        const loss = ops.sum(ops.square(ops.sub(p, target)));
        loss.backward();
        loss.dispose();
        opt.step();
      }
      const v = await p.data();
      t.ok(relErr(v, [1, -2, 3]) < 1e-2, `${opt.constructor.name}: [${Array.from(v, (x) => x.toFixed(3)).join(', ')}] -> [1, -2, 3]`);
      opt.zeroGrad();
      opt.dispose();
      p.dispose();
      target.dispose();
    }
  }],
  ['bad input', (t) => {
    const p = tensor([1, 2], [2], { requiresGrad: true });
    const q = tensor([1, 2], [2]);
    t.throws(() => new SGD([], { lr: 0.1 }), /SGD: params must be a non-empty array of tensors/);
    t.throws(() => new SGD([q], { lr: 0.1 }), /SGD: params\[0\] must be a leaf tensor with requiresGrad/);
    t.throws(() => new SGD([p], { lr: 0 }), /SGD: lr must be a number > 0, got 0/);
    t.throws(() => new SGD([p], { lr: 0.1, momentum: 1 }), /SGD: momentum must be in \[0, 1\), got 1/);
    t.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /SGD: nesterov needs a momentum > 0/);
    t.throws(() => new Adam([p], { betas: [0.9, 1] }), /Adam: betas must be two numbers in \[0, 1\)/);
    t.throws(() => new Adam([p], { eps: -1 }), /Adam: eps must be a number > 0, got -1/);
    t.throws(() => new Adam([p], { weightDecay: Number.NaN }), /Adam: weightDecay must be a number >= 0, got NaN/);
    p.dispose();
    q.dispose();
    t.end();
  }],
]);
