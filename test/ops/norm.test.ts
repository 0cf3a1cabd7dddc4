// localResponseNorm, batchNorm and dropout.
// LRN and batchNorm: forward against the float64 reference, backward against finite differences and the
// analytic VJP. LRN runs with alpha large enough that the cross-channel term of its gradient is not lost in the
// tolerance, sizes 3, 4 and 5, channel counts below the size, 1x1 maps and batch > 1; on WebGPU it runs again
// on a device opened with a 4 KiB binding limit, so that it splits over samples.
// Dropout has no float64 reference (its mask is the backend's hash): the tests check the statistics of the
// mask, the exact scale of kept values, determinism per seed, and that the gradient uses the same mask.

import type test from 'tape';
import { memory, ops, type Tensor, tensor } from '../../src/index.js';
import { backend as currentBackend } from '../../src/runtime.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { type Body, onEachBackend } from '../helpers/backends.js';
import { relErr, uniform } from '../helpers/numeric.js';
import { batchNorm, batchNormVjp, lrn, type LrnRef, lrnVjp } from '../reference/norm.js';

// ------------------------------------------------------------------ local response normalisation

interface LrnCase { name: string; shape: number[]; p: LrnRef; range?: number; defaults?: boolean }

const lrnCases: LrnCase[] = [
  { name: 'size 5, alpha 2, 7 channels, odd 3x4 map', shape: [1, 7, 3, 4], p: { size: 5, alpha: 2, beta: 0.75, k: 1 } },
  { name: 'size 3, batch 2, 5 channels', shape: [2, 5, 3, 3], p: { size: 3, alpha: 1, beta: 0.75, k: 1 } },
  { name: 'size 5 > 3 channels, beta 0.5, k 1.5', shape: [2, 3, 2, 5], p: { size: 5, alpha: 3, beta: 0.5, k: 1.5 } },
  { name: 'size 5 on 1 channel, 1x1 maps, batch 3', shape: [3, 1, 1, 1], p: { size: 5, alpha: 4, beta: 0.75, k: 1 } },
  { name: 'size 3 on 2 channels, 1x1 map', shape: [1, 2, 1, 1], p: { size: 3, alpha: 2, beta: 1, k: 1 } },
  { name: 'even size 4 (window [c - 1, c + 2])', shape: [1, 6, 2, 3], p: { size: 4, alpha: 2, beta: 0.75, k: 1 } },
  { name: '3-D input [N, C, L]', shape: [2, 4, 5], p: { size: 3, alpha: 1.5, beta: 0.75, k: 2 } },
  // AlexNet's parameters on inputs of the size a ReLU hands it, where the denominator departs from k
  { name: 'defaults (size 5, alpha 1e-4, beta 0.75, k 2) on values up to 300', shape: [1, 8, 3, 3],
    p: { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }, range: 300, defaults: true },
];

function lrnOpCase(c: LrnCase, seed = 1): OpCase {
  const values = c.range ? uniform(c.shape, seed * 13, 0, c.range) : undefined;
  return {
    name: c.name,
    inputs: [{ shape: c.shape, values }],
    shape: c.shape,
    run: ([x]) => ops.localResponseNorm(x, c.defaults ? {} : c.p),
    ref: ([x]) => lrn(x, c.shape, c.p),
    vjp: ([x], r) => [lrnVjp(x, r, c.shape, c.p)],
    fwdTol: 1e-5,
    gradTol: 1e-4,
  };
}

// ------------------------------------------------------------------ batch normalisation

interface BatchNormCase { name: string; shape: number[]; eps?: number }

const batchNormCases: BatchNormCase[] = [
  { name: '3 channels, batch 2, odd 4x5 maps', shape: [2, 3, 4, 5] },
  { name: '1 channel, 1x1 map, eps 1e-3', shape: [1, 1, 1, 1], eps: 1e-3 },
  { name: '7 channels, 3x1 maps, batch 3', shape: [3, 7, 3, 1] },
  { name: '2-D [N, C] after a linear layer', shape: [4, 5] },
];

function batchNormOpCase(c: BatchNormCase): OpCase {
  const C = c.shape[1];
  const eps = c.eps ?? 1e-5;
  return {
    name: c.name,
    inputs: [
      { shape: c.shape },
      { shape: [C] },                                   // mean
      { shape: [C], values: uniform([C], 17, 0.2, 2) },  // var: positive
      { shape: [C] },                                   // gamma
      { shape: [C] },                                   // beta
    ],
    shape: c.shape,
    run: ([x, m, v, g, b]) => ops.batchNorm(x, m, v, g, b, c.eps),
    ref: ([x, m, v, g, b]) => batchNorm(x, m, v, g, b, c.shape, eps),
    vjp: ([x, m, v, g], r) => batchNormVjp(x, m, v, g, r, c.shape, eps),
    fwdTol: 1e-5,
    gradTol: 1e-4,
  };
}

// ------------------------------------------------------------------ dropout

const leakFree = (t: test.Test, before: number, what: string) =>
  t.equal(memory().liveStorages, before, `${what}: no storage left alive`);

async function dropoutStatistics(t: test.Test): Promise<void> {
  const before = memory().liveStorages;
  const shape = [2, 4, 64, 64];
  // values in [1, 2): a dropped element (0) cannot be mistaken for a kept one
  const xv = uniform(shape, 5, 1, 2);
  const x = tensor(xv, shape);
  for (const p of [0.1, 0.5, 0.9]) {
    const y = ops.dropout(x, p, { seed: 11 });
    const yv = await y.data();
    y.dispose();
    let kept = 0, worst = 0;
    for (let i = 0; i < yv.length; i++) {
      if (yv[i] === 0) continue;
      kept++;
      const want = xv[i] / (1 - p);
      worst = Math.max(worst, Math.abs(yv[i] - want) / want);
    }
    // the kept fraction's standard deviation is sqrt(p (1 - p) / n) < 0.003 here
    const fraction = kept / yv.length;
    t.ok(Math.abs(fraction - (1 - p)) < 0.015, `p ${p}: kept fraction ${fraction.toFixed(4)} near ${(1 - p).toFixed(1)}`);
    t.ok(worst < 1e-6, `p ${p}: kept values are x / (1 - p) up to float32 rounding (worst rel err ${worst.toExponential(2)})`);
  }
  x.dispose();
  leakFree(t, before, 'statistics');
}

async function dropoutSeeds(t: test.Test): Promise<void> {
  const before = memory().liveStorages;
  const shape = [3, 5, 17, 19];
  const x = tensor(uniform(shape, 6, 1, 2), shape);
  const run = async (seed: number) => {
    const y = ops.dropout(x, 0.5, { seed });
    const v = await y.data();
    y.dispose();
    return v;
  };
  const a = await run(3), b = await run(3), c = await run(4);
  t.ok(a.every((v, i) => v === b[i]), 'the same seed drops the same elements');
  let differ = 0;
  for (let i = 0; i < a.length; i++) if ((a[i] === 0) !== (c[i] === 0)) differ++;
  // independent masks at p = 0.5 disagree on half the elements
  t.ok(differ > 0.4 * a.length && differ < 0.6 * a.length, `another seed gives another mask (${differ} of ${a.length} differ)`);
  x.dispose();
  leakFree(t, before, 'seeds');
}

async function dropoutGradient(t: test.Test): Promise<void> {
  const before = memory().liveStorages;
  const shape = [2, 3, 7, 5];
  const p = 0.4;
  const x = tensor(uniform(shape, 7, 1, 2), shape, { requiresGrad: true });
  const r = uniform(shape, 8);
  const y = ops.dropout(x, p, { seed: 21 });
  const yv = await y.data();
  const seed = tensor(r, shape);
  y.backward(seed);
  const gv = await (x.grad as Tensor).data();
  const want = r.map((v, i) => (yv[i] === 0 ? 0 : v / (1 - p)));
  t.ok(gv.every((v, i) => (v === 0) === (want[i] === 0)), 'the gradient is zero exactly where the output was dropped');
  const e = relErr(gv, want);
  t.ok(e < 1e-6, `the gradient is the upstream gradient through the same mask and scale (rel err ${e.toExponential(2)})`);
  for (const u of [seed, y, x.grad as Tensor, x]) u.dispose();
  leakFree(t, before, 'gradient');
}

async function dropoutIdentity(t: test.Test): Promise<void> {
  const before = memory().liveStorages;
  const shape = [2, 3, 4, 5];
  const xv = uniform(shape, 9);
  const r = uniform(shape, 10);
  for (const [what, p, opts] of [['training false', 0.5, { training: false }], ['p = 0', 0, {}]] as const) {
    const x = tensor(xv, shape, { requiresGrad: true });
    const storages = memory().liveStorages;
    const y = ops.dropout(x, p, opts);
    t.equal(memory().liveStorages, storages, `${what}: the output is a view of x (no copy)`);
    const yv = await y.data();
    t.ok(yv.every((v, i) => v === xv[i]), `${what}: the output is x`);
    const seed = tensor(r, shape);
    y.backward(seed);
    const gv = await (x.grad as Tensor).data();
    t.ok(gv.every((v, i) => v === r[i]), `${what}: the gradient passes unchanged`);
    for (const u of [seed, y, x.grad as Tensor, x]) u.dispose();
  }
  leakFree(t, before, 'identity');
}

// ------------------------------------------------------------------ bad inputs and split paths

function badInputs(t: test.Test): void {
  const before = memory().liveStorages;
  const x = tensor(new Float32Array(2 * 3 * 2 * 2).fill(1), [2, 3, 2, 2]);
  const c3 = tensor([1, 1, 1], [3]);
  const c4 = tensor([1, 1, 1, 1], [4]);
  const row = tensor([1, 1, 1], [1, 3]);
  t.throws(() => ops.dropout(x, 1), /dropout: p must be in \[0, 1\), got 1/, 'dropout: p = 1');
  t.throws(() => ops.dropout(x, -0.1), /dropout: p must be in \[0, 1\), got -0.1/, 'dropout: p < 0');
  t.throws(() => ops.dropout(x, NaN), /dropout: p must be a number, got NaN/, 'dropout: p NaN');
  t.throws(() => ops.dropout(x, '0.5' as never), /dropout: p must be a number, got 0.5/, 'dropout: p a string');
  t.throws(() => ops.dropout(x, 0.5, { seed: -1 }), /dropout: seed must be an integer >= 0, got -1/, 'dropout: negative seed');
  t.throws(() => ops.dropout(x, 0.5, { seed: 2 ** 32 }), /dropout: seed must fit in 32 bits/, 'dropout: seed too large');
  t.throws(() => ops.dropout(x, 0.5, { training: 'yes' as never }), /dropout: training must be a boolean/, 'dropout: training not a boolean');
  t.throws(() => ops.batchNorm(x, c3, c3, c4, c3), /batchNorm: gamma must have shape \[3\] \(the channels of x \[2, 3, 2, 2\]\), got \[4\]/, 'batchNorm: gamma of 4 channels');
  t.throws(() => ops.batchNorm(x, row, c3, c3, c3), /batchNorm: mean must have shape \[3\] .*got \[1, 3\]/, 'batchNorm: mean not 1-D');
  t.throws(() => ops.batchNorm(x, c3, c4, c3, c3), /batchNorm: var must have shape \[3\]/, 'batchNorm: var of 4 channels');
  t.throws(() => ops.batchNorm(x, c3, c3, c3, c4), /batchNorm: beta must have shape \[3\]/, 'batchNorm: beta of 4 channels');
  t.throws(() => ops.batchNorm(c3, c3, c3, c3, c3), /batchNorm: x must be \[N, C, \.\.\.\] \(at least 2-D\), got \[3\]/, 'batchNorm: 1-D x');
  t.throws(() => ops.batchNorm(x, c3, c3, c3, c3, -1), /batchNorm: eps must be >= 0, got -1/, 'batchNorm: negative eps');
  t.throws(() => ops.localResponseNorm(x, { size: 0 }), /localResponseNorm: size must be an integer >= 1, got 0/, 'LRN: size 0');
  t.throws(() => ops.localResponseNorm(x, { size: 2.5 }), /localResponseNorm: size must be an integer >= 1, got 2.5/, 'LRN: fractional size');
  t.throws(() => ops.localResponseNorm(x, { alpha: NaN }), /localResponseNorm: alpha must be a number, got NaN/, 'LRN: alpha NaN');
  t.throws(() => ops.localResponseNorm(x, { beta: Infinity }), /localResponseNorm: beta must be finite, got Infinity/, 'LRN: beta infinite');
  t.throws(() => ops.localResponseNorm(row, {}), /localResponseNorm: x must be \[N, C, H, W\] \(at least 3-D\), got \[1, 3\]/, 'LRN: 2-D x');
  for (const u of [x, c3, c4, row]) u.dispose();
  t.equal(memory().liveStorages, before, 'bad inputs allocate nothing');
}

/** Samples of 4 * 8 * 8 = 256 elements under a binding of under 1,000: five samples in two dispatches. */
async function lrnSplitOverSamples(t: test.Test, backend: string): Promise<void> {
  if (backend === 'webgpu') {
    const elements = currentBackend().maxBindingElements;
    t.ok(elements < 1000, `storage bindings hold ${elements} elements`);
  }
  await checkOp(t, lrnOpCase({ name: 'split over samples', shape: [5, 4, 8, 8], p: { size: 3, alpha: 2, beta: 0.75, k: 1 } }));
}

/** The channel window spans a whole sample, so a sample larger than a binding is refused, by name. */
function lrnSampleTooLarge(t: test.Test, backend: string): void {
  if (backend !== 'webgpu') {
    t.pass('binding windows are a WebGPU concern');
    return;
  }
  const x = tensor(new Float32Array(2 * 30 * 40), [1, 2, 30, 40]);
  const before = memory().liveStorages;
  t.throws(() => ops.localResponseNorm(x), /lrn: one sample of 2400 elements .* exceeds a storage binding/, 'refused with the sample size');
  t.equal(memory().liveStorages, before, 'the refused call leaves nothing allocated');
  x.dispose();
}

const cases: [string, Body][] = [
  ...lrnCases.map((c): [string, Body] => [`localResponseNorm: ${c.name}`, (t) => checkOp(t, lrnOpCase(c))]),
  ...batchNormCases.map((c): [string, Body] => [`batchNorm: ${c.name}`, (t) => checkOp(t, batchNormOpCase(c))]),
  ['dropout: kept fraction and scale', dropoutStatistics],
  ['dropout: equal seeds agree, different seeds differ', dropoutSeeds],
  ['dropout: the gradient goes through the same mask', dropoutGradient],
  ['dropout: identity when not training or p = 0', dropoutIdentity],
  ['bad inputs throw errors that name the op', badInputs],
];

await onEachBackend('norm', cases);
// 4 KiB bindings (under 1,000 floats): LRN splits over samples
await onEachBackend('norm (split bindings)', [
  ['localResponseNorm: split over samples', lrnSplitOverSamples],
  ['localResponseNorm: a sample larger than a binding', lrnSampleTooLarge],
], { maxStorageBufferBindingSize: 4096 });
