// Pooling against the float64 references: maxPool2d (forward, backward by finite differences and by the
// analytic routing, switches checked exactly), maxUnpool2d, avgPool2d with both divisors, globalAvgPool2d.
// Shapes are odd on purpose: 1x1 maps, overlapping windows (kernel 3 stride 2), stride > kernel, asymmetric
// padding, ceil mode with a partial last window and with a dropped one, batch > 1, 1 and 3 channels.
// Ties and NaN get explicit values and exact assertions (finite differences are not valid at a tie).

import type test from 'tape';
import { memory, ops, type Tensor, tensor } from '../../src/index.js';
import type { Body } from '../helpers/backends.js';
import { onEachBackend } from '../helpers/backends.js';
import { relErr, size, uniform } from '../helpers/numeric.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import * as ref from '../reference/pool.js';
import type { PoolGeom } from '../reference/pool.js';

type GeomSpec = Omit<PoolGeom, 'sh' | 'sw' | 'pt' | 'pl' | 'pb' | 'pr' | 'ceil'> & Partial<PoolGeom>;

/** Defaults as in the ops: stride = kernel, symmetric padding, floor mode. */
function geom(s: GeomSpec): PoolGeom {
  const pt = s.pt ?? 0, pl = s.pl ?? 0;
  return { sh: s.kh, sw: s.kw, pt, pl, pb: pt, pr: pl, ceil: false, ...s };
}

function poolOpts(g: PoolGeom) {
  return { kernel: [g.kh, g.kw] as [number, number], stride: [g.sh, g.sw] as [number, number],
           padding: [g.pt, g.pl, g.pb, g.pr] as [number, number, number, number], ceilMode: g.ceil };
}

const inShape = (g: PoolGeom) => [g.N, g.C, g.H, g.W];
const outShape = (g: PoolGeom) => [g.N, g.C, ...ref.poolOut(g)];
const f32 = (v: ArrayLike<number>) => Array.from(Float32Array.from(v));

async function noLeak(t: test.Test, name: string, fn: () => Promise<void>): Promise<void> {
  const before = memory().liveStorages;
  await fn();
  t.equal(memory().liveStorages, before, `${name}: no storage left alive`);
}

// ------------------------------------------------------------------ max pooling

const maxCases: { name: string; g: PoolGeom }[] = [
  { name: '2x2 stride 2, odd 7x9 map, 3 channels', g: geom({ N: 1, C: 3, H: 7, W: 9, kh: 2, kw: 2 }) },
  { name: 'kernel 3 stride 2 (overlapping), pad 1, batch 2', g: geom({ N: 2, C: 1, H: 9, W: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 }) },
  { name: '1x1 map, kernel 1', g: geom({ N: 2, C: 3, H: 1, W: 1, kh: 1, kw: 1 }) },
  { name: '1x1 map, kernel 2 with padding 1', g: geom({ N: 1, C: 1, H: 1, W: 1, kh: 2, kw: 2, pt: 1, pl: 1 }) },
  { name: 'stride 3 > kernel 2', g: geom({ N: 1, C: 2, H: 10, W: 11, kh: 2, kw: 2, sh: 3, sw: 3 }) },
  { name: 'asymmetric padding [1, 0, 0, 1], kernel 3x2, stride [2, 1]', g: geom({ N: 1, C: 3, H: 6, W: 5, kh: 3, kw: 2, sh: 2, sw: 1, pt: 1, pl: 0, pb: 0, pr: 1 }) },
  { name: 'ceil mode, partial last window (8x6, kernel 3 stride 2)', g: geom({ N: 2, C: 1, H: 8, W: 6, kh: 3, kw: 3, sh: 2, sw: 2, ceil: true }) },
  { name: 'ceil mode with padding: partial last window in the padding', g: geom({ N: 1, C: 2, H: 6, W: 7, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, ceil: true }) },
  { name: 'ceil mode: a last window starting in the trailing padding is dropped', g: geom({ N: 1, C: 1, H: 5, W: 5, kh: 2, kw: 2, sh: 2, sw: 2, pt: 1, pl: 1, ceil: true }) },
  { name: 'VGG-like 3x3 stride 2 on 13x13, 3 channels, batch 2', g: geom({ N: 2, C: 3, H: 13, W: 13, kh: 3, kw: 3, sh: 2, sw: 2 }) },
];

function maxPoolCase(name: string, g: PoolGeom, values: Float32Array): OpCase {
  return {
    name: `maxPool2d ${name}`,
    inputs: [{ shape: inShape(g), values }],
    shape: outShape(g),
    run: ([x]) => ops.maxPool2d(x, poolOpts(g)),
    ref: ([x]) => ref.maxPool2d(x, g).y,
    vjp: ([x], r) => [ref.maxPool2dVjp(x, r, g)],
  };
}

/** maxPool2d without a gradient (the kernel without switches) and maxPool2dWithSwitches, both exact. */
async function checkExactForward(t: test.Test, name: string, g: PoolGeom, values: Float32Array): Promise<void> {
  await noLeak(t, name, async () => {
    const expected = ref.maxPool2d(Float64Array.from(values), g);
    const x = tensor(values, inShape(g));
    const plain = ops.maxPool2d(x, poolOpts(g));
    const { y, switches } = ops.maxPool2dWithSwitches(x, poolOpts(g));
    t.deepEqual([...switches.shape], outShape(g), `${name}: switches shaped like y`);
    t.deepEqual(Array.from(await plain.data()).map(String), f32(expected.y).map(String), `${name}: maxPool2d values exact`);
    t.deepEqual(Array.from(await y.data()).map(String), f32(expected.y).map(String), `${name}: maxPool2dWithSwitches values exact`);
    t.deepEqual(Array.from(await switches.data()), Array.from(expected.switches), `${name}: switches exact`);
    for (const v of [x, plain, y, switches]) v.dispose();
  });
}

/** The gradient through maxPool2d (and maxPool2dWithSwitches) against the analytic routing, for inputs with ties. */
async function checkRoutedGradient(t: test.Test, name: string, g: PoolGeom, values: Float32Array): Promise<void> {
  await noLeak(t, name, async () => {
    const r = uniform(outShape(g), 5);
    const expected = ref.maxPool2dVjp(Float64Array.from(values), Float64Array.from(r), g);
    for (const withSwitches of [false, true]) {
      const x = tensor(values, inShape(g), { requiresGrad: true });
      const seed = tensor(r, outShape(g));
      let y: Tensor, extra: Tensor | null = null;
      if (withSwitches) ({ y, switches: extra } = ops.maxPool2dWithSwitches(x, poolOpts(g)));
      else y = ops.maxPool2d(x, poolOpts(g));
      y.backward(seed);
      const gx = await x.grad!.data();
      const e = relErr(gx, expected);
      t.ok(e < 1e-6, `${name}: ${withSwitches ? 'maxPool2dWithSwitches' : 'maxPool2d'} gradient routed to the first max, rel err ${e.toExponential(2)}`);
      // every input pixel that no output picked gets exactly zero
      t.ok(Array.from(expected).every((v, i) => v !== 0 || gx[i] === 0), `${name}: unpicked pixels get zero`);
      for (const v of [x.grad!, x, seed, y, extra]) v?.dispose();
    }
  });
}

const maxBodies: [string, Body][] = maxCases.map((c, i) => [`maxPool2d ${c.name}`, async (t) => {
  const values = uniform(inShape(c.g), 1000 + i);
  await checkOp(t, maxPoolCase(c.name, c.g, values));
  await checkExactForward(t, c.name, c.g, values);
}]);

const tieBodies: [string, Body][] = [
  ['maxPool2d ties: a constant map, kernel 3 stride 2 pad 1', async (t) => {
    const g = geom({ N: 2, C: 1, H: 5, W: 6, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 });
    const values = new Float32Array(size(inShape(g))).fill(0.5);
    await checkExactForward(t, 'constant map', g, values);
    await checkRoutedGradient(t, 'constant map', g, values);
  }],
  ['maxPool2d ties: repeated values, kernel 2 stride 1 (overlapping), 3 channels', async (t) => {
    const g = geom({ N: 1, C: 3, H: 4, W: 7, kh: 2, kw: 2, sh: 1, sw: 1 });
    const values = Float32Array.from({ length: size(inShape(g)) }, (_, i) => Math.floor(i / 3) % 4 - 1);
    await checkExactForward(t, 'repeated values', g, values);
    await checkRoutedGradient(t, 'repeated values', g, values);
    // the forward is still checked by checkOp; finite differences are not valid at these ties
    await checkOp(t, { ...maxPoolCase('repeated values (forward only)', g, values), forwardOnly: true });
  }],
  ['maxPool2d ties: ceil mode, a partial window of equal values', async (t) => {
    const g = geom({ N: 1, C: 1, H: 5, W: 5, kh: 2, kw: 2, sh: 2, sw: 2, ceil: true });
    const values = Float32Array.from({ length: 25 }, (_, i) => (i % 5 >= 3 || i >= 15 ? 2 : i / 10));
    await checkExactForward(t, 'ceil-mode ties', g, values);
    await checkRoutedGradient(t, 'ceil-mode ties', g, values);
  }],
  ['maxPool2d NaN and -infinity: NaN wins (its first occurrence), all -inf keeps the first pixel', async (t) => {
    const g = geom({ N: 1, C: 1, H: 4, W: 4, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1 });
    const values = new Float32Array(16).fill(-Infinity);
    values[6] = NaN;   // (1, 2)
    values[9] = NaN;   // (2, 1)
    values[15] = 3;    // (3, 3)
    values[0] = -Infinity;
    await checkExactForward(t, 'NaN and -inf', g, values);
    const expected = ref.maxPool2d(Float64Array.from(values), g);
    t.ok(Number.isNaN(expected.y[5]) && expected.switches[5] === 6, 'reference: the window around (1, 1) names the first NaN');
    t.ok(expected.y[0] === -Infinity && expected.switches[0] === 0, 'reference: an all -inf window names its first pixel');
  }],
];

// ------------------------------------------------------------------ max unpooling

interface UnpoolCase { name: string; g: PoolGeom; withOpts: boolean; switches?: Float32Array }

const unpoolCases: UnpoolCase[] = [
  { name: 'switches of a 3x3 stride 2 pooling (collisions), with the pooling options', withOpts: true,
    g: geom({ N: 2, C: 2, H: 7, W: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 }) },
  { name: 'the same without options (whole-plane scan)', withOpts: false,
    g: geom({ N: 2, C: 2, H: 7, W: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 }) },
  { name: 'ceil mode 2x2, 3 channels, with options', withOpts: true,
    g: geom({ N: 1, C: 3, H: 5, W: 7, kh: 2, kw: 2, sh: 2, sw: 2, ceil: true }) },
  // kernel = stride, no padding: on webgpu the kernel whose invocations each write one window (max_unpool_disjoint)
  { name: '2x2 stride 2, floor mode (the last row and column lie in no window), with options', withOpts: true,
    g: geom({ N: 2, C: 2, H: 5, W: 7, kh: 2, kw: 2, sh: 2, sw: 2 }) },
  { name: '3x2 stride 3x2, a partial last window (ceil mode), with options', withOpts: true,
    g: geom({ N: 1, C: 2, H: 7, W: 6, kh: 3, kw: 2, sh: 3, sw: 2, ceil: true }) },
  { name: '2x2 stride 2, arbitrary switches: fractional, NaN, negative and out-of-range ones dropped, with options', withOpts: true,
    g: geom({ N: 1, C: 2, H: 4, W: 4, kh: 2, kw: 2, sh: 2, sw: 2 }),
    switches: Float32Array.from([5, 2, 13, 10.5, /* plane 2 */ NaN, 7, -1, 16]) },
  { name: 'arbitrary switches: collisions on pixel 0, out-of-range and fractional ones dropped', withOpts: false,
    g: geom({ N: 1, C: 2, H: 3, W: 6, kh: 2, kw: 2, sh: 1, sw: 2 }),
    switches: Float32Array.from([0, 0, 17, 0, 5, 5, /* plane 2 */ -1, 18, 2.5, 7, 7, NaN]) },
];

function unpoolCase(c: UnpoolCase): OpCase {
  const { g } = c;
  const ys = outShape(g);
  const planes = g.N * g.C, pixels = g.H * g.W;
  const switches = c.switches ?? Float32Array.from(ref.maxPool2d(Float64Array.from(uniform(inShape(g), 77)), g).switches);
  return {
    name: `maxUnpool2d ${c.name}`,
    inputs: [{ shape: ys }, { shape: ys, values: switches, grad: false }],
    shape: inShape(g),
    run: ([y, s]) => ops.maxUnpool2d(y, s, inShape(g), c.withOpts ? poolOpts(g) : undefined),
    ref: ([y, s]) => ref.maxUnpool2d(y, s, planes, pixels),
    vjp: ([, s], r) => [ref.maxUnpool2dVjp(s, r, planes, pixels), null],
  };
}

const unpoolBodies: [string, Body][] = [
  ...unpoolCases.map((c): [string, Body] => [`maxUnpool2d ${c.name}`, (t) => checkOp(t, unpoolCase(c))]),
  ['maxUnpool2d with device switches equals maxPool2d backward exactly (DeconvNet unpooling)', async (t) => {
    const g = geom({ N: 2, C: 3, H: 9, W: 7, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 0, pb: 1, pr: 1, ceil: true });
    await noLeak(t, 'unpool vs backward', async () => {
      const values = uniform(inShape(g), 31);
      const r = uniform(outShape(g), 32);
      const x = tensor(values, inShape(g), { requiresGrad: true });
      const { y, switches } = ops.maxPool2dWithSwitches(x, poolOpts(g));
      const seed = tensor(r, outShape(g));
      y.backward(seed);
      const viaBackward = await x.grad!.data();
      const withOpts = ops.maxUnpool2d(seed, switches, inShape(g), poolOpts(g));
      const withoutOpts = ops.maxUnpool2d(seed, switches, inShape(g));
      t.deepEqual(Array.from(await withOpts.data()), Array.from(viaBackward), 'maxUnpool2d(g, switches, opts) == d maxPool2d');
      t.deepEqual(Array.from(await withoutOpts.data()), Array.from(viaBackward), 'maxUnpool2d(g, switches) == d maxPool2d');
      const expected = ref.maxPool2dVjp(Float64Array.from(values), Float64Array.from(r), g);
      const e = relErr(viaBackward, expected);
      t.ok(e < 1e-6, `maxPool2d backward vs analytic routing, rel err ${e.toExponential(2)}`);
      for (const v of [x.grad!, x, y, switches, seed, withOpts, withoutOpts]) v.dispose();
    });
  }],
];

// ------------------------------------------------------------------ average pooling

const avgCases: { name: string; g: PoolGeom; countIncludePad: boolean }[] = [
  { name: '2x2 stride 2, odd 7x9 map, 3 channels', g: geom({ N: 1, C: 3, H: 7, W: 9, kh: 2, kw: 2 }), countIncludePad: true },
  { name: 'kernel 3 stride 2 pad 1, batch 2, padding counted', g: geom({ N: 2, C: 1, H: 9, W: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 }), countIncludePad: true },
  { name: 'kernel 3 stride 2 pad 1, batch 2, padding not counted', g: geom({ N: 2, C: 1, H: 9, W: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1 }), countIncludePad: false },
  { name: '1x1 map, kernel 1', g: geom({ N: 2, C: 3, H: 1, W: 1, kh: 1, kw: 1 }), countIncludePad: true },
  { name: 'stride 3 > kernel 2', g: geom({ N: 1, C: 2, H: 10, W: 11, kh: 2, kw: 2, sh: 3, sw: 3 }), countIncludePad: true },
  { name: 'asymmetric padding [1, 0, 0, 1], kernel 3x2, padding counted', g: geom({ N: 1, C: 3, H: 6, W: 5, kh: 3, kw: 2, sh: 2, sw: 1, pt: 1, pl: 0, pb: 0, pr: 1 }), countIncludePad: true },
  { name: 'asymmetric padding [1, 0, 0, 1], kernel 3x2, padding not counted', g: geom({ N: 1, C: 3, H: 6, W: 5, kh: 3, kw: 2, sh: 2, sw: 1, pt: 1, pl: 0, pb: 0, pr: 1 }), countIncludePad: false },
  { name: 'ceil mode with padding, padding counted (divisor clipped at the padded edge)', g: geom({ N: 1, C: 2, H: 6, W: 7, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, ceil: true }), countIncludePad: true },
  { name: 'ceil mode with padding, padding not counted', g: geom({ N: 1, C: 2, H: 6, W: 7, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, ceil: true }), countIncludePad: false },
  { name: 'ceil mode, partial last window, no padding', g: geom({ N: 2, C: 1, H: 8, W: 6, kh: 3, kw: 3, sh: 2, sw: 2, ceil: true }), countIncludePad: true },
];

const avgBodies: [string, Body][] = avgCases.map((c) => [`avgPool2d ${c.name}`, (t) => checkOp(t, {
  name: `avgPool2d ${c.name}`,
  inputs: [{ shape: inShape(c.g) }],
  shape: outShape(c.g),
  run: ([x]) => ops.avgPool2d(x, { ...poolOpts(c.g), countIncludePad: c.countIncludePad }),
  ref: ([x]) => ref.avgPool2d(x, c.g, c.countIncludePad),
  vjp: (_xs, r) => [ref.avgPool2dVjp(r, c.g, c.countIncludePad)],
})]);

avgBodies.push(['avgPool2d countIncludePad defaults to true', async (t) => {
  const g = geom({ N: 1, C: 1, H: 3, W: 3, kh: 2, kw: 2, sh: 2, sw: 2, pt: 1, pl: 1 });
  await noLeak(t, 'default divisor', async () => {
    const x = tensor(new Float32Array(9).fill(1), inShape(g));
    const y = ops.avgPool2d(x, { kernel: 2, padding: 1 });
    // the corner window holds one input pixel and three of padding
    t.deepEqual(Array.from(await y.data()), [0.25, 0.5, 0.5, 1], 'padding counted in the divisor');
    x.dispose();
    y.dispose();
  });
}]);

const globalBodies: [string, Body][] = [[2, 3, 5, 7], [1, 1, 1, 1], [1, 4, 1, 6]].map((shape) => [
  `globalAvgPool2d [${shape}]`, (t) => checkOp(t, {
    name: `globalAvgPool2d [${shape}]`,
    inputs: [{ shape }],
    shape: [shape[0], shape[1], 1, 1],
    run: ([x]) => ops.globalAvgPool2d(x),
    ref: ([x]) => ref.globalAvgPool2d(x, shape[0] * shape[1], shape[2] * shape[3]),
    vjp: (_xs, r) => [Float64Array.from({ length: size(shape) }, (_, i) => r[Math.floor(i / (shape[2] * shape[3]))] / (shape[2] * shape[3]))],
  }),
]);

// ------------------------------------------------------------------ bad inputs

const badInputs: Body = async (t) => {
  await noLeak(t, 'bad inputs', async () => {
    const x = tensor(new Float32Array(9), [1, 1, 3, 3]);
    const x3 = tensor(new Float32Array(9), [1, 3, 3]);
    const y = tensor(new Float32Array(4), [1, 1, 2, 2]);
    const sw = tensor(new Float32Array(4), [1, 1, 2, 2]);
    const sw1 = tensor(new Float32Array(4), [1, 1, 4]);
    const gone = tensor(new Float32Array(9), [1, 1, 3, 3]);
    gone.dispose();
    const bad = <T>(v: unknown) => v as T;

    t.throws(() => ops.maxPool2d(x3, { kernel: 2 }), /maxPool2d: x must be 4-D \[N, C, H, W\], got shape \[1, 3, 3\]/, 'wrong rank');
    t.throws(() => ops.maxPool2d(x, { kernel: 5 }), /maxPool2d: the 5x5 kernel does not fit the 3x3 input \[1, 1, 3, 3\]/, 'kernel larger than the input');
    t.throws(() => ops.maxPool2d(x, { kernel: [2, 6], padding: 1 }), /maxPool2d: the 2x6 kernel does not fit .* \(5x5\)/, 'kernel larger than the padded input');
    t.throws(() => ops.maxPool2d(x, { kernel: -1 }), /maxPool2d: kernel must be an integer >= 1, got -1/, 'negative kernel');
    t.throws(() => ops.maxPool2d(x, { kernel: [2, 1.5] }), /maxPool2d: kernel must be an integer >= 1, got 1.5/, 'non-integer kernel');
    t.throws(() => ops.maxPool2d(x, { kernel: 2, stride: 0 }), /maxPool2d: stride must be an integer >= 1, got 0/, 'zero stride');
    t.throws(() => ops.maxPool2d(x, { kernel: 2, stride: 1.5 }), /maxPool2d: stride must be an integer >= 1, got 1.5/, 'non-integer stride');
    t.throws(() => ops.maxPool2d(x, { kernel: 2, padding: -1 }), /maxPool2d: padding must be an integer >= 0, got -1/, 'negative padding');
    t.throws(() => ops.maxPool2d(x, { kernel: 3, padding: [0, 0, 2, 0] }), /maxPool2d: padding \[0, 0, 2, 0\] must be at most half the 3x3 kernel/, 'padding over half the kernel');
    t.throws(() => ops.maxPool2d(x, bad({ kernel: [2, 2, 2] })), /maxPool2d: kernel must be an integer or \[h, w\]/, 'kernel of 3 numbers');
    t.throws(() => ops.maxPool2d(x, bad(undefined)), /maxPool2d: opts must be an object with a kernel/, 'no options');
    t.throws(() => ops.maxPool2d(x, bad({ stride: 2 })), /maxPool2d: opts must be an object with a kernel/, 'no kernel');
    t.throws(() => ops.maxPool2d(x, bad({ kernel: 2, ceilMode: 'yes' })), /maxPool2d: ceilMode must be true or false, got "yes"/, 'ceilMode not boolean');
    t.throws(() => ops.maxPool2d(gone, { kernel: 2 }), /maxPool2d: x \(shape \[1, 1, 3, 3\]\) was disposed/, 'disposed tensor');
    t.throws(() => ops.maxPool2d(bad(null), { kernel: 2 }), /maxPool2d: x must be a Tensor/, 'not a tensor');

    t.throws(() => ops.maxPool2dWithSwitches(x3, { kernel: 2 }), /maxPool2dWithSwitches: x must be 4-D/, 'with switches: wrong rank');
    t.throws(() => ops.maxPool2dWithSwitches(gone, { kernel: 2 }), /maxPool2dWithSwitches: x \(shape \[1, 1, 3, 3\]\) was disposed/, 'with switches: disposed');
    t.throws(() => ops.maxPool2dWithSwitches(x, { kernel: 4 }), /maxPool2dWithSwitches: the 4x4 kernel does not fit/, 'with switches: kernel too large');

    t.throws(() => ops.maxUnpool2d(y, sw1, [1, 1, 3, 3]), /maxUnpool2d: switches shape \[1, 1, 4\] differs from y's \[1, 1, 2, 2\]/, 'unpool: switches shape mismatch');
    t.throws(() => ops.maxUnpool2d(x3, sw, [1, 1, 3, 3]), /maxUnpool2d: y must be 4-D/, 'unpool: wrong rank');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, 3]), /maxUnpool2d: inputShape must be 4 positive integers \[N, C, H, W\], got \[1,1,3\]/, 'unpool: inputShape rank');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, -3, 3]), /maxUnpool2d: inputShape must be 4 positive integers/, 'unpool: negative size');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, 3.5, 3]), /maxUnpool2d: inputShape must be 4 positive integers/, 'unpool: non-integer size');
    t.throws(() => ops.maxUnpool2d(y, sw, [2, 1, 3, 3]), /maxUnpool2d: inputShape \[2, 1, 3, 3\] must have y's batch and channels/, 'unpool: batch mismatch');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, 3, 3], { kernel: 2 }), /maxUnpool2d: pooling an input of \[1, 1, 3, 3\] with these options gives 1x1 outputs, but y is \[1, 1, 2, 2\]/, 'unpool: geometry mismatch');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, 3, 3], { kernel: 0 }), /maxUnpool2d: kernel must be an integer >= 1, got 0/, 'unpool: bad options');
    t.throws(() => ops.maxUnpool2d(y, sw, [1, 1, 4097, 4097]), /maxUnpool2d: a 4097x4097 plane .* too large for float32 switches/, 'unpool: plane too large for switches');
    t.throws(() => ops.maxUnpool2d(gone, sw, [1, 1, 3, 3]), /maxUnpool2d: y \(shape \[1, 1, 3, 3\]\) was disposed/, 'unpool: disposed y');
    t.throws(() => ops.maxUnpool2d(y, gone, [1, 1, 3, 3]), /maxUnpool2d: switches \(shape \[1, 1, 3, 3\]\) was disposed/, 'unpool: disposed switches');

    t.throws(() => ops.avgPool2d(x3, { kernel: 2 }), /avgPool2d: x must be 4-D/, 'avg: wrong rank');
    t.throws(() => ops.avgPool2d(x, { kernel: [2, 0] }), /avgPool2d: kernel must be an integer >= 1, got 0/, 'avg: zero kernel');
    t.throws(() => ops.avgPool2d(x, { kernel: 4 }), /avgPool2d: the 4x4 kernel does not fit/, 'avg: kernel too large');
    t.throws(() => ops.avgPool2d(x, { kernel: 2, padding: 2 }), /avgPool2d: padding \[2, 2, 2, 2\] must be at most half/, 'avg: padding over half the kernel');
    t.throws(() => ops.avgPool2d(x, bad({ kernel: 2, countIncludePad: 1 })), /avgPool2d: countIncludePad must be true or false, got 1/, 'avg: countIncludePad not boolean');
    t.throws(() => ops.avgPool2d(gone, { kernel: 2 }), /avgPool2d: x \(shape \[1, 1, 3, 3\]\) was disposed/, 'avg: disposed');

    t.throws(() => ops.globalAvgPool2d(x3), /globalAvgPool2d: x must be 4-D/, 'global: wrong rank');
    t.throws(() => ops.globalAvgPool2d(gone), /globalAvgPool2d: x \(shape \[1, 1, 3, 3\]\) was disposed/, 'global: disposed');

    for (const v of [x, x3, y, sw, sw1]) v.dispose();
  });
};

// A 4 KiB storage binding limit (about 950 floats) makes every kernel split the 6 planes of 20x21 pixels
// into runs of two planes, each bound at an offset that is not a multiple of the binding alignment.
const splitGeom = geom({ N: 2, C: 3, H: 20, W: 21, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, ceil: true });
const splitBodies: [string, Body][] = [
  ['maxPool2d across split bindings', (t) => checkOp(t, maxPoolCase('split bindings', splitGeom, uniform(inShape(splitGeom), 41)))],
  ['maxPool2d switches across split bindings', (t) => checkExactForward(t, 'split bindings', splitGeom, uniform(inShape(splitGeom), 42))],
  ['maxUnpool2d across split bindings', (t) => checkOp(t, unpoolCase({ name: 'split bindings', g: splitGeom, withOpts: true }))],
  ['maxUnpool2d 2x2 stride 2 across split bindings', (t) => checkOp(t, unpoolCase({
    name: '2x2 stride 2, split bindings', g: geom({ N: 2, C: 3, H: 20, W: 21, kh: 2, kw: 2, sh: 2, sw: 2 }), withOpts: true,
  }))],
  ['avgPool2d across split bindings', (t) => checkOp(t, {
    name: 'avgPool2d split bindings',
    inputs: [{ shape: inShape(splitGeom) }],
    shape: outShape(splitGeom),
    run: ([x]) => ops.avgPool2d(x, { ...poolOpts(splitGeom), countIncludePad: false }),
    ref: ([x]) => ref.avgPool2d(x, splitGeom, false),
    vjp: (_xs, r) => [ref.avgPool2dVjp(r, splitGeom, false)],
  })],
];

await onEachBackend('pool', [
  ...maxBodies,
  ...tieBodies,
  ...unpoolBodies,
  ...avgBodies,
  ...globalBodies,
  ['bad inputs throw errors that name the op', badInputs],
]);

await onEachBackend('pool (split bindings)', splitBodies, { maxStorageBufferBindingSize: 4096 });
