// The convolution autotuner (src/backend/webgpu/autotune.ts), turned on for these tests on whatever WebGPU adapter
// is here (it is on by default on GPUs only): a shape seen for the first time is tuned at the next read-back, its
// forward and backward-input each get a choice, results stay equal to the float64 reference under the fixed rule
// and under the choice, the choices persist in the cache file, a new context reads them back instead of tuning,
// cached 'winograd4:large' and 'winograd' choices route the layer through their transforms (the first's GEMM on
// the tile it names), and a corrupt file is replaced.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type test from 'tape';
import { close, grad, init, ops, tensor } from '../../src/index.js';
import { backend } from '../../src/runtime.js';
import type { GpuContext } from '../../src/backend/webgpu/context.js';
import { TUNE_VERSION } from '../../src/backend/webgpu/autotune.js';
import { rejects } from '../helpers/assert.js';
import { onEachBackend } from '../helpers/backends.js';
import { maxAbsDiff, uniform } from '../helpers/numeric.js';
import { type ConvGeom, conv2d as refConv, conv2dVjp, convOut } from '../reference/ref.js';

const g: ConvGeom = { N: 2, C: 6, H: 6, W: 7, O: 5, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
const [OH, OW] = convOut(g);
const xs = uniform([g.N, g.C, g.H, g.W], 301), ws = uniform([g.O, g.C, 3, 3], 302), rs = uniform([g.N, g.O, OH, OW], 303);
const f64 = (a: Float32Array) => Float64Array.from(a);
const wantY = refConv(f64(xs), f64(ws), null, g);
const wantGx = conv2dVjp(f64(xs), f64(ws), f64(rs), g)[0];
const FWD = `fwd x${g.N}x${g.C}x${g.H}x${g.W} w${g.O}x${g.C}x3x3 y${g.N}x${g.O}x${OH}x${OW} s1,1 p1,1 d1,1 g1`;
const DX = FWD.replace('fwd', 'dx');

/** The forward output and the input gradient of Σ conv(x, w) ⊙ r, read back (the read-back tunes queued shapes). */
async function run(): Promise<{ y: Float32Array; gx: Float32Array }> {
  const x = tensor(xs, [g.N, g.C, g.H, g.W]), w = tensor(ws, [g.O, g.C, 3, 3]), r = tensor(rs, [g.N, g.O, OH, OW]);
  const y = ops.conv2d(x, w, null, { padding: 1 });
  const yData = await y.data();
  const gxT = grad((xx) => ops.sum(ops.mul(ops.conv2d(xx, w, null, { padding: 1 }), r)))(x);
  const gx = await gxT.data();
  for (const t of [x, w, r, y, gxT]) t.dispose();
  return { y: yData, gx };
}

function gpu(): GpuContext | null {
  return (backend() as unknown as { ctx?: GpuContext }).ctx ?? null;
}

/** The tuner on, writing to `path`, from no choices; the test runner's pinned tile (CONVIS_GEMM_TILE) lifted, since a pinned tile turns tuning off. */
function tuneInto(ctx: GpuContext, path: string): void {
  ctx.tileOverride = null;
  ctx.autotune = true;
  ctx.tuneCachePath = path;
  ctx.tuneLoaded = false;
  ctx.convChoices.clear();
  ctx.pendingConv.clear();
}

function close1(t: test.Test, got: Float32Array, want: Float64Array, what: string): void {
  const scale = Math.max(...Array.from(want, Math.abs));
  t.ok(maxAbsDiff(got, want) <= 1e-5 * scale, `${what} equals the float64 reference (max |diff| ${maxAbsDiff(got, want).toExponential(2)})`);
}

const dir = mkdtempSync(join(tmpdir(), 'convis-tune-'));
const cacheFile = join(dir, 'tune.json');

await onEachBackend('conv2d autotuner', [
  ['first sight queues the shape, the read-back tunes it, results equal the reference', async (t) => {
    const ctx = gpu();
    if (!ctx) return t.pass('the tuner is a WebGPU matter');
    tuneInto(ctx, cacheFile);
    const before = ctx.tuneRuns;
    const { y, gx } = await run();
    close1(t, y, wantY, 'the forward output (fixed rule, then tuned)');
    close1(t, gx, wantGx, 'the input gradient');
    t.equal(ctx.tuneRuns - before, 2, 'two shapes tuned: the forward and the backward-input');
    t.ok(/^(winograd4?|subgroup|direct:\w+)$/.test(ctx.convChoices.get(FWD) ?? ''), `forward choice ${ctx.convChoices.get(FWD)}`);
    t.ok(/^(winograd4?|subgroup|direct:\w+)$/.test(ctx.convChoices.get(DX) ?? ''), `backward-input choice ${ctx.convChoices.get(DX)}`);
    const timed = ctx.tuneTimings.get(FWD) ?? {};
    t.ok('winograd' in timed && 'winograd4' in timed && Object.keys(timed).some((c) => c.startsWith('direct:')),
      'both Winograd variants and the direct kernel were timed');
    // the small-chunk variant is a GPU's candidate, and only where it splits the batch more finely (not this shape)
    t.notOk('winograd4@16' in timed, 'no small-chunk candidate for a batch this small');
    t.equal('subgroup' in timed, ctx.subgroupSize === 8, `the subgroup kernel timed exactly where the adapter runs it (subgroup size ${ctx.subgroupSize})`);
    t.ok(Object.values(timed).every((ms) => ms > 0 && Number.isFinite(ms)), 'every timing is a positive number of ms');
    const again = await run();
    close1(t, again.y, wantY, 'the forward output under the tuned choice');
    close1(t, again.gx, wantGx, 'the input gradient under the tuned choice');
    t.equal(ctx.tuneRuns - before, 2, 'a shape is tuned once');
    const file = JSON.parse(readFileSync(cacheFile, 'utf8'));
    t.equal(file.adapters[ctx.adapterName][FWD], ctx.convChoices.get(FWD), 'the cache file holds the forward choice under this adapter');
    t.equal(file.adapters[ctx.adapterName][DX], ctx.convChoices.get(DX), 'and the backward-input choice');
  }],
  ['a new context reads the cache instead of tuning; cached Winograd choices are followed', async (t, name) => {
    if (!gpu()) return t.pass('the tuner is a WebGPU matter');
    await close();
    await init({ backend: name });
    const ctx = gpu()!;
    const file = JSON.parse(readFileSync(cacheFile, 'utf8'));
    file.adapters[ctx.adapterName][FWD] = 'winograd4:large';
    file.adapters[ctx.adapterName][DX] = 'winograd';
    writeFileSync(cacheFile, JSON.stringify(file));
    tuneInto(ctx, cacheFile);
    const labels: string[] = [];
    ctx.timestampWrites = (label) => { labels.push(label); return undefined; };
    try {
      const { y, gx } = await run();
      close1(t, y, wantY, 'the forward output through Winograd');
      close1(t, gx, wantGx, 'the input gradient through Winograd');
    } finally {
      ctx.timestampWrites = null;
    }
    t.equal(ctx.tuneRuns, 0, 'nothing tuned: both choices came from the file');
    // forward twice (the value, then inside grad) through F(4x4), and backward-input once through F(2x2)
    t.equal(labels.filter((l) => l === 'winograd4:input').length, 2, 'both forward passes ran through F(4x4, 3x3)');
    t.equal(labels.filter((l) => l === 'winograd:input').length, 1, 'backward-input ran through F(2x2, 3x3)');
    const { tileConfigs, tileKey } = await import('../../src/backend/webgpu/gemm.js');
    const large = labels.filter((l) => l.startsWith('winogradGemm:4x') && l.endsWith(`tile=${tileKey(tileConfigs.large)}`));
    t.equal(large.length, 2, 'both F(4x4) GEMMs ran on the 128x128 tile the cached choice names');
  }],
  ['a corrupt cache file is replaced; an unknown tile or algorithm in it is tuned anew', async (t) => {
    const ctx = gpu();
    if (!ctx) return t.pass('the tuner is a WebGPU matter');
    writeFileSync(cacheFile, '{ not json');
    tuneInto(ctx, cacheFile);
    const before = ctx.tuneRuns;
    const first = await run();
    close1(t, first.y, wantY, 'the forward output');
    t.equal(ctx.tuneRuns - before, 2, 'both shapes tuned');
    t.equal(JSON.parse(readFileSync(cacheFile, 'utf8')).version, TUNE_VERSION, 'the file is valid JSON again, of this version');
    /** The cache file with `key`'s choice replaced, then the tuner started from it. */
    const recache = (key: string, choice: string) => {
      const file = JSON.parse(readFileSync(cacheFile, 'utf8'));
      file.adapters[ctx.adapterName][key] = choice;
      writeFileSync(cacheFile, JSON.stringify(file));
      tuneInto(ctx, cacheFile);
    };
    recache(FWD, 'direct:nosuchtile');
    const second = await run();
    close1(t, second.y, wantY, 'the forward output');
    t.equal(ctx.tuneRuns - before, 3, 'the forward shape, whose cached tile does not exist, was tuned again; backward-input was not');
    t.notEqual(ctx.convChoices.get(FWD), 'direct:nosuchtile', `the new choice: ${ctx.convChoices.get(FWD)}`);
    recache(DX, 'winograd3');
    const last = await run();
    close1(t, last.gx, wantGx, 'the input gradient');
    t.equal(ctx.tuneRuns - before, 4, 'the backward-input shape, cached as an algorithm that does not exist, was tuned again');
    t.notEqual(ctx.convChoices.get(DX), 'winograd3', `the new choice: ${ctx.convChoices.get(DX)}`);
  }],
]);

await onEachBackend('conv2d autotuner: a failing candidate', [
  ['a candidate that throws is left out, and the others are still timed', async (t) => {
    const ctx = gpu();
    if (!ctx) return t.pass('the tuner is a WebGPU matter');
    const { tunePending } = await import('../../src/backend/webgpu/autotune.js');
    const { conv2d } = await import('../../src/backend/webgpu/conv.js');
    tuneInto(ctx, join(dir, 'failing.json'));
    const p = { strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1 };
    const key = 'fwd x1x4x5x5 w4x4x3x3 y1x4x5x5 s1,1 p1,1 d1,1 g1';
    ctx.pendingConv.set(key, { direction: 'forward', x: [1, 4, 5, 5], w: [4, 4, 3, 3], y: [1, 4, 5, 5], p, candidates: ['direct:small', 'winograd'] });
    let thrown = 0;
    await tunePending(ctx, (spec, x, w, y) => {
      if (ctx.forcedConv === 'winograd') {
        thrown++;
        throw new Error('this candidate cannot run here');
      }
      conv2d(ctx, x, w, null, spec.p, y);
    });
    t.equal(thrown, 1, 'the failing candidate was tried once');
    t.equal(ctx.convChoices.get(key), 'direct:small', 'the working candidate is chosen');
    t.deepEqual(Object.keys(ctx.tuneTimings.get(key) ?? {}), ['direct:small'], 'only it was timed');
    t.equal(ctx.forcedConv, null, 'no candidate stays forced');
  }],
]);

await onEachBackend('conv2d autotuner settings', [
  ['CONVIS_AUTOTUNE takes 0 or 1 only', async (t, name) => {
    if (name !== 'webgpu') return t.pass('the tuner is a WebGPU matter');
    await close();
    process.env.CONVIS_AUTOTUNE = 'yes';
    try {
      await rejects(t, init({ backend: name }), /init: CONVIS_AUTOTUNE=yes is not 0 \(off\) or 1 \(on\)/);
    } finally {
      delete process.env.CONVIS_AUTOTUNE;
    }
    await init({ backend: name });
    t.equal(gpu()!.autotune, !gpu()!.isCpuAdapter, 'unset, the tuner runs on GPUs and not on CPU adapters');
  }],
  ['CONVIS_CONV and CONVIS_GEMM_TILE take known names only, checked before a device opens', async (t, name) => {
    if (name !== 'webgpu') return t.pass('kernel choices are a WebGPU matter');
    await close();
    const tile = process.env.CONVIS_GEMM_TILE;
    try {
      process.env.CONVIS_CONV = 'fft';
      await rejects(t, init({ backend: name }), /init: CONVIS_CONV=fft is not direct, winograd, winograd4 or subgroup/);
      delete process.env.CONVIS_CONV;
      process.env.CONVIS_GEMM_TILE = 'huge';
      await rejects(t, init({ backend: name }), /init: CONVIS_GEMM_TILE=huge is not a tile; use one of large, /);
      process.env.CONVIS_CONV = 'subgroup';
      process.env.CONVIS_GEMM_TILE = 'medium';
      await init({ backend: name });
      t.equal(gpu()!.convAlgorithm, 'subgroup', 'CONVIS_CONV=subgroup pins the subgroup kernel');
      t.equal(gpu()!.tileOverride, (await import('../../src/backend/webgpu/gemm.js')).tileConfigs.medium, 'CONVIS_GEMM_TILE=medium pins that tile');
    } finally {
      delete process.env.CONVIS_CONV;
      if (tile === undefined) delete process.env.CONVIS_GEMM_TILE;
      else process.env.CONVIS_GEMM_TILE = tile;
    }
    await close();
    await init({ backend: name });
  }],
]);
